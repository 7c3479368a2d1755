"""flashgmm.faiss: IVF indexes whose vectors live in several inverted lists, on your own FAISS.

Works with the `faiss` module you have — PyPI's faiss-cpu / faiss-gpu (1.7.3 to 1.15.x) or
Debian's python3-faiss — through FAISS's public Python API only:

>>> import faiss, flashgmm.faiss as gf
>>> index = gf.IndexIVFMultiAssign(d, "IVF1024,Flat")      # or wrap any L2 faiss.IndexIVF
>>> index.train(xt)                  # refined k-means centroids (+ a Gaussian mixture)
>>> index.add(xb)                    # each vector in the 1-3 lists its neighbours probe early
>>> index.nprobe = 16
>>> D, I = index.search(xq, 10)      # each id at most once; index.last_stats: ndis, ...
>>> gf.write_index(index, "ivf.index")          # stock FAISS file + "ivf.index.gmm" sidecar
>>> index = gf.read_index("ivf.index")

The functions of the earlier API (train_ivf, add_multi, search, range_search, remove_ids,
write_index, read_index, index_stats, mixture) work on the wrapper and on a plain
faiss.IndexIVF trained by train_ivf. FAISS's own `ivf.search` on such an index returns an id
once per stored copy; the wrapper's search and `gf.search` return it once.

The heavy work — k-means and the mixture, the assignment rule (the rows of an add are one
another's pseudo-queries), de-duplication of results, id bookkeeping — runs in flashgmm's C++
over NumPy arrays; your FAISS encodes and stores the copies (IndexIVF.add_core with our list
numbers), routes and scans queries. No pointer to your FAISS objects reaches flashgmm's C++.
"""
import math
import os
import time
import warnings
import weakref

import numpy as np

from . import _core
from . import _faiss_api as _api
from ._validation import check_int
from .mixture import GaussianMixture

if not getattr(_core, "has_faiss", False):
    raise ImportError("flashgmm was built without its IVF part (FLASHGMM_WITH_FAISS=OFF, or Debian's libfaiss-dev "
                      "was missing when it was built); flashgmm.faiss is unavailable")

__all__ = ["IndexIVFMultiAssign", "GmmClustering", "train_ivf", "add_multi", "search", "range_search", "remove_ids",
           "write_index", "read_index", "clone_index", "mixture", "index_stats", "sidecar_path", "ivf_defaults"]

#: The FAISS build flashgmm's C++ does its own work with (Debian's, linked privately); your
#: objects are only ever used through your `faiss` module, whatever its version.
FAISS_BUILD_VERSION = _core.faiss_build_version

# faiss::ClusteringParameters fields that carry over, and GaussianMixture parameters.
_CLUSTERING_FIELDS = ("niter", "nredo", "seed", "verbose", "min_points_per_centroid", "max_points_per_centroid")
_GMM_FIELDS = ("covariance_type", "tol", "reg_covar", "init_params", "device", "precision", "gpu_memory_budget")
_CENTROID_FIELDS = ("centroids", "centroid_niter", "centroid_max_points_per_centroid", "refine_centroids")
_SPILL_RULES = ("neighbors", "soar", "posterior")
_ADD_FIELDS = ("max_copies", "min_posterior", "spill", "soar_lambda", "candidates", "spill_fraction", "spill_ratio",
               "neighbors", "cost_weight", "probe_depth", "pseudo_query_fraction", "max_entries_ratio")


def ivf_defaults():
    """The C++ plugin's defaults (flashgmm::ivf::GmmIvfParams), which every None here means."""
    return _core.ivf_defaults()


# ------------------------------------------------------------------ inputs

def _rows(x, d, name="x"):
    """x as C-contiguous float32 (n, d) without NaN/inf; no copy when it already is one."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    try:
        x = np.ascontiguousarray(x, dtype=np.float32)  # FAISS's convention
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array: {e}") from None
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {x.shape}")
    step = max(1, (1 << 24) // max(d, 1))  # finiteness in slices: no n × d temporary
    for r0 in range(0, x.shape[0], step):
        if not np.isfinite(x[r0:r0 + step]).all():
            bad = r0 + int(np.nonzero(~np.isfinite(x[r0:r0 + step]).all(axis=1))[0][0])
            raise ValueError(f"{name} contains NaN or infinity (row {bad})")
    return x


def _ids(ids, n):
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"ids must have shape ({n},), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _ivf(index):
    """The user's faiss.IndexIVF behind `index` (our wrapper or a FAISS index), checked: L2."""
    if isinstance(index, IndexIVFMultiAssign):
        return index.index
    if not _api.is_index(index):
        raise TypeError(f"index must be a faiss.IndexIVF (e.g. faiss.index_factory(d, 'IVF1024,Flat')) or an "
                        f"IndexIVFMultiAssign, got {type(index).__name__}")
    ivf = _api.as_ivf(index)
    if ivf is None:
        if _api.id_map_inner(index) is not None:
            raise TypeError("index is a faiss.IndexIDMap: an IndexIVF stores ids itself (add_with_ids); pass the IVF "
                            "index, or wrap the empty IndexIDMap in IndexIVFMultiAssign, which takes the IVF out of it")
        raise TypeError(f"index must be a faiss.IndexIVF (e.g. faiss.index_factory(d, 'IVF1024,Flat')), got "
                        f"{type(_api.downcast(index)).__name__}")
    if not _api.is_l2(ivf):
        raise ValueError("only METRIC_L2 IVF indexes are supported (this one uses inner product or another metric)")
    return ivf


# ------------------------------------------------------------------ per-index state

_STATES = {}  # C++ address of the user's IndexIVF -> (weakref to a Python proxy, _core.IvfState)


def _key(ivf):
    return int(ivf.this)  # a dictionary key only: never handed to C++


def _set_state(ivf, state):
    key = _key(ivf)

    def forget(ref, key=key):
        entry = _STATES.get(key)
        if entry is not None and entry[0] is ref:
            del _STATES[key]

    _STATES[key] = (weakref.ref(ivf, forget), state)


def _state(index, required=True):
    if isinstance(index, IndexIVFMultiAssign):
        if index._state is None and required:
            raise ValueError("this index is not trained: call train(x) first")
        return index._state
    ivf = _ivf(index)
    entry = _STATES.get(_key(ivf))
    if entry is not None and entry[0]() is not None:
        return entry[1]
    if required:
        raise ValueError("this index has no flashgmm mixture: train it with flashgmm.faiss.train_ivf or "
                         "IndexIVFMultiAssign.train, or read it with flashgmm.faiss.read_index (an index copied with "
                         "faiss.clone_index loses it: use flashgmm.faiss.clone_index)")
    return None


def _sync(ivf, state):
    """Recounts the ids when the lists changed outside flashgmm (FAISS's own add / remove_ids)."""
    if state is not None and state.entries != ivf.ntotal:
        state.rebuild(_api.stored_ids(ivf), int(ivf.ntotal))


# ------------------------------------------------------------------ clustering

class GmmClustering:
    """Drop-in for ``faiss.Clustering`` that fits a Gaussian mixture (flashgmm EM).

    ``GmmClustering(d, k, **params)``; params are faiss.ClusteringParameters fields (niter,
    nredo, seed, verbose, min_points_per_centroid, max_points_per_centroid; FAISS's defaults)
    and GaussianMixture parameters (covariance_type='spherical', tol, reg_covar, init_params,
    device, precision, gpu_memory_budget). They can also be set as attributes before train().

    After ``train(x, index)``: ``centroids`` (k, d) float32 (the means; ``index`` holds them,
    as with FAISS), ``iteration_stats`` (FAISS's fields per EM iteration; obj is the negative
    log-likelihood of the training sample), ``obj``, and ``mixture`` (a fitted
    flashgmm.GaussianMixture with weights, variances, predict_proba, ...).
    """

    def __init__(self, d, k, **params):
        self.d = check_int(d, "d", minimum=1)
        self.k = check_int(k, "k", minimum=1)
        proto = _core.GmmClustering(self.d, self.k)
        for f in _CLUSTERING_FIELDS:
            setattr(self, f, getattr(proto, f))
        gmm = GaussianMixture(covariance_type=proto.gmm.covariance_type)
        for f in _GMM_FIELDS:
            setattr(self, f, getattr(gmm, f))
        for key, value in params.items():
            if key not in _CLUSTERING_FIELDS + _GMM_FIELDS:
                raise TypeError(f"GmmClustering got an unexpected parameter {key!r}; valid: "
                                f"{sorted(_CLUSTERING_FIELDS + _GMM_FIELDS)}")
            setattr(self, key, value)
        self.centroids = None
        self.iteration_stats = []
        self.obj = np.zeros(0)
        self.mixture = None

    def _make_core(self):
        c = _core.GmmClustering(self.d, self.k)
        c.niter = check_int(self.niter, "niter", minimum=1)
        c.nredo = check_int(self.nredo, "nredo", minimum=1)
        c.seed = check_int(self.seed, "seed")
        c.verbose = bool(self.verbose)
        c.min_points_per_centroid = check_int(self.min_points_per_centroid, "min_points_per_centroid", minimum=0)
        c.max_points_per_centroid = check_int(self.max_points_per_centroid, "max_points_per_centroid", minimum=0)
        est = GaussianMixture(self.k, **{f: getattr(self, f) for f in _GMM_FIELDS})
        # GmmClustering overwrites n_components/max_iter/n_init/seed/verbose from (k, niter, nredo, ...).
        c.gmm = est._make_params(self.d)
        return c

    def _collect(self, core, centroids, mixture_bytes):
        self.centroids = centroids
        self.iteration_stats = core.iteration_stats()
        self.obj = np.array([s["obj"] for s in self.iteration_stats])
        self.mixture = GaussianMixture._from_model_bytes(mixture_bytes, device=self.device,
                                                         precision=self.precision)

    def train(self, x, index, weights=None):
        """Fit the mixture on x (n, d) and leave its means in `index` (any FAISS index of
        dimension d, e.g. faiss.IndexFlatL2(d)), like faiss.Clustering.train."""
        if not _api.is_index(index):
            raise TypeError(f"index must be a FAISS index made by `import faiss`, got {type(index).__name__}")
        if index.d != self.d:
            raise ValueError(f"index has dimension {index.d}, the clustering {self.d}")
        x = _rows(x, self.d)
        w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
        core = self._make_core()
        centroids = core.train(x, w)
        _api.set_centroids(index, centroids)
        self._collect(core, centroids, core.mixture_bytes())


# ------------------------------------------------------------------ train / add

def train_ivf(index, x, centroids=None, centroid_niter=None, centroid_max_points_per_centroid=None,
              refine_centroids=None, **params):
    """Train an untrained, empty L2 faiss.IndexIVF (or IndexIVFMultiAssign) as the C++ plugin
    does (flashgmm::ivf::train_ivf, same defaults as `flashgmm-ivf build`): the centroids are
    put into its quantizer, then your FAISS trains the codec (PQ/SQ residuals) and skips its own
    k-means.

    centroids: "kmeans" (default: k-means with centroid_niter (25) iterations on up to
    centroid_max_points_per_centroid (1000) points per list, then, if refine_centroids (True),
    one step that moves each centroid to the mean of the list the default "neighbors" rule gives
    it) or "mixture" (the mixture's means). A Gaussian mixture is fitted from the centroids
    either way and kept beside the index. params: as GmmClustering (FAISS's IVF default niter=10
    unless given). Returns the GmmClustering (centroids = the index's, iteration_stats, mixture)."""
    ivf = _ivf(index)
    if ivf.ntotal > 0:
        raise ValueError(f"train_ivf: the index already holds {ivf.ntotal} vectors")
    if not _api.is_l2(ivf.quantizer):
        raise ValueError("train_ivf: the coarse quantizer must use METRIC_L2")
    x = _rows(x, ivf.d)
    params.setdefault("niter", 10)  # FAISS trains IVF quantizers with 10 k-means iterations
    clus = GmmClustering(ivf.d, ivf.nlist, **params)
    core = clus._make_core()
    defaults = _core.ivf_defaults()
    centroids = defaults["centroids"] if centroids is None else centroids
    if centroids not in ("kmeans", "mixture"):
        raise ValueError(f"centroids must be 'kmeans' or 'mixture', got {centroids!r}")
    niter = -1 if centroid_niter is None else check_int(centroid_niter, "centroid_niter", minimum=0)
    maxp = -1 if centroid_max_points_per_centroid is None else check_int(
        centroid_max_points_per_centroid, "centroid_max_points_per_centroid", minimum=0)
    refine = defaults["refine_centroids"] if refine_centroids is None else bool(refine_centroids)
    state = _core.ivf_train(ivf.nlist, x, core, centroids, niter, maxp, refine)
    c = state.centroids()
    old = _api.centroids(ivf)
    try:
        _api.set_centroids(ivf.quantizer, c)
        # The quantizer is trained and holds nlist centroids: IndexIVF.train skips its k-means and
        # trains only the codec.
        ivf.is_trained = False
        ivf.train(x)
    except Exception:
        _api.set_centroids(ivf.quantizer, old)  # leave the index as it was
        ivf.is_trained = False
        raise
    if not np.array_equal(_api.centroids(ivf), c):
        raise RuntimeError("train_ivf: FAISS changed the centroids while training the codec")
    state.rebuild(np.zeros(0, np.int64), int(ivf.ntotal))
    clus._collect(core, c, state.mixture_bytes())
    if isinstance(index, IndexIVFMultiAssign):
        index._state = state
    else:
        _set_state(ivf, state)
    return clus


def _assign_params(state, max_copies=None, min_posterior=None, spill=None, **rule):
    defaults = _core.ivf_defaults()
    for name, value in rule.items():
        if value is None:
            rule[name] = defaults[name]
    max_copies = check_int(defaults["max_copies"] if max_copies is None else max_copies, "max_copies", minimum=1)
    min_posterior = defaults["min_posterior"] if min_posterior is None else min_posterior
    spill = defaults["spill"] if spill is None else spill
    if spill not in _SPILL_RULES:
        raise ValueError(f"spill must be one of {_SPILL_RULES}, got {spill!r}")
    return state.assign_params(max_copies, float(min_posterior), spill, float(rule["soar_lambda"]),
                               int(rule["candidates"]), float(rule["spill_fraction"]), float(rule["spill_ratio"]),
                               int(rule["neighbors"]), float(rule["cost_weight"]), int(rule["probe_depth"]),
                               float(rule["pseudo_query_fraction"]), float(rule["max_entries_ratio"]))


def add_multi(index, x, ids=None, max_copies=None, min_posterior=None, spill=None, soar_lambda=None,
              candidates=None, spill_fraction=None, spill_ratio=None, neighbors=None, cost_weight=None,
              probe_depth=None, pseudo_query_fraction=None, max_entries_ratio=None):
    """Add x (n, d) to a trained index, each vector to at most max_copies lists (None = the C++
    default, 3) chosen by `spill` (None = the C++ default, "neighbors"):
    "neighbors": the rows of this call are one another's queries; each vector takes the one to
    three of its `candidates` nearest lists that the rows having it among their `neighbors`
    nearest probe early, minus cost_weight times the scan cost of those lists (the primary list
    need not be the nearest; pseudo_query_fraction < 1 uses only that share of the rows as
    queries: a faster, slightly worse build); the cost weight rises until the call stores at most
    max_entries_ratio (1.5) entries per row. Add large batches (>= 32 rows per list; smaller
    calls use "soar" with at most two lists);
    "soar": its nearest list, and the candidate list with the lowest SOAR score
    ‖x − c‖² + soar_lambda·⟨r, x − c⟩²/‖r‖² (r = x's residual to its nearest list) for the
    vectors whose score is within spill_ratio × their primary distance, at most spill_fraction of
    them (threshold fixed at the first add);
    "posterior": its nearest list and further lists in posterior order while p(list | x) >=
    min_posterior. None keeps the C++ defaults.

    ids: int64 (n,) or None for sequential ids continuing after the largest id stored. An id
    already stored is refused (ValueError; nothing is added): remove it first to replace its
    vector. Returns statistics: n, entries (list entries written), copies_per_vector, ntotal
    (list entries in all), n_vectors (distinct ids), seconds (assign_seconds choosing the lists
    in flashgmm's C++, store_seconds in FAISS's add_core)."""
    t0 = time.perf_counter()
    ivf = _ivf(index)
    state = _state(index)
    x = _rows(x, ivf.d)
    n = x.shape[0]
    ids = None if ids is None else _ids(ids, n)
    params = _assign_params(state, max_copies, min_posterior, spill, soar_lambda=soar_lambda, candidates=candidates,
                            spill_fraction=spill_fraction, spill_ratio=spill_ratio, neighbors=neighbors,
                            cost_weight=cost_weight, probe_depth=probe_depth,
                            pseudo_query_fraction=pseudo_query_fraction, max_entries_ratio=max_entries_ratio)
    if params.max_copies > 1 and _api.direct_map_type(ivf) != _api.NO_MAP:
        raise ValueError("add: an index with a direct map cannot store a vector twice; use max_copies=1 or drop the "
                         "map (set_direct_map_type(faiss.DirectMap.NoMap))")
    _sync(ivf, state)
    state.check_new_ids(n, ids)
    t_assign = time.perf_counter()
    lists = state.assign(x, params)
    t_store = time.perf_counter()
    given = ids if ids is not None else np.arange(state.next_id, state.next_id + n, dtype=np.int64)
    entries = 0
    try:
        entries = _api.add_copies(ivf, x, given, lists)
    except BaseException:
        # nothing half-added: the ids of this call were not stored before, so removing them
        # restores the lists (without a direct map FAISS removes every copy)
        if ivf.ntotal != state.entries:
            sel, _keep = _api.id_selector(given)
            ivf.remove_ids(sel)
        raise
    state.record_add(n, ids, params.max_copies, int(ivf.ntotal))
    t_end = time.perf_counter()
    return {"n": n, "entries": entries, "copies_per_vector": entries / n if n else 0.0, "ntotal": int(ivf.ntotal),
            "n_vectors": state.n_vectors, "seconds": t_end - t0, "assign_seconds": t_store - t_assign,
            "store_seconds": t_end - t_store}


# ------------------------------------------------------------------ search

def _probes(ivf, nprobe):
    if nprobe is None:
        return min(int(ivf.nprobe), int(ivf.nlist))
    return min(check_int(nprobe, "nprobe", minimum=1), int(ivf.nlist))


def _search(searcher, ivf_like, state, q, k, nprobe):
    """(D, I, stats): FAISS's search over-fetching k · (copies per id) entries, de-duplicated."""
    t0 = time.perf_counter()
    q = _rows(q, ivf_like.d, "q")
    k = check_int(k, "k", minimum=1)
    np_ = _probes(ivf_like, nprobe)
    copies = state.max_copies_stored if state is not None else 1
    with _api.probing(ivf_like, np_), _api.IvfCounters() as counters:
        Dr, Ir = searcher.search(q, k * copies)
    D, I, dropped = _core.ivf_distinct_topk(Dr, Ir, k)
    stats = {"nq": q.shape[0], "nprobe": np_, "ndis": counters.ndis, "lists_probed": counters.lists_probed,
             "duplicates_removed": int(dropped), "seconds": time.perf_counter() - t0}
    return D, I, stats


def search(index, q, k, nprobe=None):
    """k nearest distinct ids of each query: (D float32 (nq, k), I int64 (nq, k), stats). Each
    id appears once (its best copy); missing results are -1. nprobe: lists to visit (None =
    index.nprobe). stats: nq, nprobe, ndis (distance computations), lists_probed,
    duplicates_removed, seconds."""
    if isinstance(index, IndexIVFMultiAssign):
        D, I = index.search(q, k, nprobe=nprobe)
        return D, I, dict(index.last_stats)
    ivf = _ivf(index)
    return _search(ivf, ivf, _state(index, required=False), q, k, nprobe)


def _range_search(searcher, ivf_like, q, radius, nprobe):
    t0 = time.perf_counter()
    q = _rows(q, ivf_like.d, "q")
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise TypeError(f"radius must be a number, got {type(radius).__name__}") from None
    if math.isnan(radius):
        raise ValueError("radius is NaN")
    np_ = _probes(ivf_like, nprobe)
    with _api.probing(ivf_like, np_), _api.IvfCounters() as counters:
        lims, Dr, Ir = searcher.range_search(q, radius)
    lims, D, I, dropped = _core.ivf_distinct_ranges(lims, Dr, Ir)
    stats = {"nq": q.shape[0], "nprobe": np_, "ndis": counters.ndis, "lists_probed": counters.lists_probed,
             "duplicates_removed": int(dropped), "seconds": time.perf_counter() - t0}
    return lims, D, I, stats


def range_search(index, q, radius, nprobe=None):
    """Every distinct id within squared L2 distance < radius of each query, as FAISS's
    index.range_search returns it: (lims uint64 (nq + 1,), D float32, I int64, stats); the results
    of query i are D[lims[i]:lims[i+1]], I[lims[i]:lims[i+1]], each id once (its nearest copy),
    sorted by distance. FAISS's own range_search would return an id once per stored copy.
    nprobe: lists to visit (None = index.nprobe)."""
    if isinstance(index, IndexIVFMultiAssign):
        lims, D, I = index.range_search(q, radius, nprobe=nprobe)
        return lims, D, I, dict(index.last_stats)
    ivf = _ivf(index)
    return _range_search(ivf, ivf, q, radius, nprobe)


# ------------------------------------------------------------------ removal

def remove_ids(index, ids):
    """Remove every stored copy of the given ids: `ids` is an array of int64 ids or a
    faiss.IDSelector. Returns the number of distinct ids removed. FAISS's own index.remove_ids
    also removes every copy while the index has no direct map (with a hashtable map it would
    remove one copy per id: here the map is dropped for the removal and rebuilt); flashgmm's
    counts are kept right either way. An array direct map (which FAISS cannot remove from) is
    refused."""
    ivf = _ivf(index)
    state = _state(index, required=False)
    if _api.is_id_selector(ids):
        sel, arr = ids, None
    else:
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers or a faiss.IDSelector, got {arr.dtype}")
        arr = np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
        sel, arr = _api.id_selector(arr)
    kind = _api.direct_map_type(ivf)
    if kind == _api.ARRAY_MAP:
        raise ValueError("remove_ids: the index has an array direct map, which FAISS cannot remove from; switch it to "
                         "a hashtable (set_direct_map_type(faiss.DirectMap.Hashtable)) or drop it first")
    if state is None:
        before = np.unique(_api.stored_ids(ivf)).size
    else:
        _sync(ivf, state)
        before = state.n_vectors
    if kind != _api.NO_MAP:
        ivf.set_direct_map_type(_api.NO_MAP)
    try:
        ivf.remove_ids(sel)  # without a map: scans every list and removes every copy
    finally:
        if kind != _api.NO_MAP:
            ivf.set_direct_map_type(kind)  # rebuilt from the lists
    if state is None:
        return int(before - np.unique(_api.stored_ids(ivf)).size)
    if arr is not None:
        return int(state.record_removal(arr, int(ivf.ntotal)))
    state.rebuild(_api.stored_ids(ivf), int(ivf.ntotal))
    return int(before - state.n_vectors)


# ------------------------------------------------------------------ files

def sidecar_path(path):
    """Where write_index puts the mixture next to the FAISS index file."""
    return _core.ivf_sidecar_path(os.fspath(path))


def write_index(index, path):
    """faiss.write_index of the IVF (stock FAISS reads it back) plus the mixture sidecar
    sidecar_path(path) (the C++ plugin's format: `flashgmm-ivf` and GmmIvfIndex::load read it).
    Both are written under temporary names and renamed; a failure leaves existing files as
    they were."""
    ivf = _ivf(index)
    state = _state(index)
    if isinstance(index, IndexIVFMultiAssign) and index._on_gpu:
        raise ValueError("write_index: this is a GPU copy; write the CPU index it was made from")
    path = os.fspath(path)
    _sync(ivf, state)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        _api.write(ivf, tmp)
        state.write_sidecar(sidecar_path(path), int(ivf.ntotal))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_index(path):
    """Read an index written by write_index (or by the C++ plugin) as an IndexIVFMultiAssign:
    faiss.read_index plus the sidecar, checked against the index (dimension, lists, entries,
    centroids). Plain faiss.read_index still reads the file alone (routing by L2, copies not
    de-duplicated)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such index file: '{path}'")
    owner = _api.read(path)
    ivf = _api.as_ivf(owner)
    if ivf is None:
        raise ValueError(f"'{path}' does not hold a FAISS IVF index")
    state = _core.ivf_read_sidecar(sidecar_path(path), path, ivf.d, ivf.nlist, int(ivf.ntotal), _api.centroids(ivf))
    _sync(ivf, state)
    if state.routes_by_mixture:
        warnings.warn(f"'{path}' was written with posterior-ordered or adaptive probing (C++ GmmIvfIndex "
                      "routing); flashgmm.faiss routes queries by L2 distance to the means", UserWarning)
    return IndexIVFMultiAssign._adopt(ivf, state, owner)


def clone_index(index):
    """A deep copy with its mixture and counts (faiss.clone_index copies only the FAISS part)."""
    if isinstance(index, IndexIVFMultiAssign):
        return index.clone()
    ivf = _ivf(index)
    twin = _api.clone(ivf)  # owns the copy
    state = _state(index, required=False)
    if state is not None:
        _set_state(_api.as_ivf(twin), state.copy())
    return twin


def mixture(index):
    """The index's Gaussian mixture as a fitted flashgmm.GaussianMixture (a copy)."""
    return GaussianMixture._from_model_bytes(_state(index).mixture_bytes())


def index_stats(index):
    """n_vectors (distinct ids), entries (= FAISS's ntotal, copies included), copies_per_vector,
    max_copies_stored, imbalance_factor (FAISS's), list_sizes."""
    ivf = _ivf(index)
    state = _state(index, required=False)
    _sync(ivf, state)
    sizes = _api.list_sizes(ivf)
    n_vectors = state.n_vectors if state is not None else int(np.unique(_api.stored_ids(ivf)).size)
    total = int(sizes.sum())
    imbalance = float(len(sizes) * (sizes.astype(np.float64) ** 2).sum() / total ** 2) if total else 0.0
    return {"n_vectors": n_vectors, "entries": int(ivf.ntotal),
            "copies_per_vector": ivf.ntotal / n_vectors if n_vectors else 0.0,
            "max_copies_stored": state.max_copies_stored if state is not None else 1,
            "imbalance_factor": imbalance, "list_sizes": sizes}


# ------------------------------------------------------------------ the FAISS-style object

class IndexIVFMultiAssign:
    """A FAISS-style index over any L2 faiss.IndexIVF whose vectors may be stored in several
    inverted lists, searched so that each id comes back at most once.

    ``IndexIVFMultiAssign(d, "IVF1024,PQ16")`` (an index_factory key), or
    ``IndexIVFMultiAssign(ivf)`` around an IndexIVF you made (untrained, or read with
    read_index); an empty faiss.IndexIDMap around an IVF is unwrapped (the IVF stores the ids).
    Keyword parameters set ``train_params`` (GmmClustering fields and train_ivf's centroid
    options) and ``add_params`` (add_multi's rule options); None / absent = the C++ defaults.

    As a FAISS index: train(x), add(x), add_with_ids(x, ids), search(x, k) -> (D, I),
    range_search(x, radius) -> (lims, D, I), remove_ids(ids | IDSelector), reset(), nprobe,
    d, nlist, is_trained, ntotal (distinct vectors; ``n_entries`` counts the copies),
    ``last_stats`` (what the last add / search / range_search did: ndis, ...), ``index`` (the
    wrapped faiss.IndexIVF: FAISS's own search on it returns each copy). Other attributes are
    read from the wrapped index. Files: flashgmm.faiss.write_index / read_index; copies:
    clone(); GPU: to_gpu() where faiss-gpu is installed (search only).
    """

    def __init__(self, index, factory_key=None, **params):
        self._owner = None
        self._on_gpu = False
        self._gpu_resources = None
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            if not isinstance(factory_key, str):
                raise TypeError("IndexIVFMultiAssign(d, factory_key): factory_key must be a string such as "
                                "'IVF1024,Flat'")
            import faiss as _faiss
            try:
                made = _faiss.index_factory(int(index), factory_key, _faiss.METRIC_L2)
            except RuntimeError as e:
                raise ValueError(f"invalid FAISS index key {factory_key!r}: {e}") from None
            if _api.as_ivf(made) is None:
                raise ValueError(f"factory key {factory_key!r} does not make an IndexIVF (use e.g. 'IVF1024,Flat', "
                                 "'IVF1024,PQ16' or 'IVF1024,SQ8')")
            self._owner = made
            index = made
        elif factory_key is not None:
            raise TypeError("factory_key is given only with a dimension: IndexIVFMultiAssign(d, 'IVF1024,Flat')")
        inner = _api.id_map_inner(index) if _api.is_index(index) else None
        if inner is not None and _api.as_ivf(inner) is not None:
            if index.ntotal > 0:
                raise ValueError("the IndexIDMap already holds vectors: wrap an empty one, or the IVF itself")
            self._owner = index  # keeps the IVF it owns alive
            index = inner
        self.index = _ivf(index)
        self._state = _state(self.index, required=False)
        if self._state is None and self.index.is_trained:
            raise ValueError("this IndexIVF was trained without flashgmm (or copied with faiss.clone_index), so it has "
                             "no mixture: wrap an untrained index and call train(), or read a saved one with "
                             "flashgmm.faiss.read_index")
        train_fields = _CLUSTERING_FIELDS + _GMM_FIELDS + _CENTROID_FIELDS
        self.train_params, self.add_params = {}, {}
        for key, value in params.items():
            if key in train_fields:
                self.train_params[key] = value
            elif key in _ADD_FIELDS:
                self.add_params[key] = value
            else:
                raise TypeError(f"IndexIVFMultiAssign got an unexpected parameter {key!r}; valid: "
                                f"{sorted(train_fields + _ADD_FIELDS)}")
        self.last_stats = None
        self.clustering = None

    @classmethod
    def _adopt(cls, ivf, state, owner=None):
        self = cls.__new__(cls)
        self._owner, self._on_gpu, self._gpu_resources = owner, False, None
        self.index, self._state = ivf, state
        self.train_params, self.add_params = {}, {}
        self.last_stats, self.clustering = None, None
        return self

    # FAISS's attributes
    @property
    def d(self):
        return int(self.index.d)

    @property
    def nlist(self):
        return int(self.index.nlist)

    @property
    def is_trained(self):
        return bool(self.index.is_trained) and self._state is not None

    @property
    def metric_type(self):
        return self.index.metric_type

    @property
    def nprobe(self):
        return int(self.index.nprobe)

    @nprobe.setter
    def nprobe(self, value):
        self.index.nprobe = check_int(value, "nprobe", minimum=1)

    @property
    def ntotal(self):
        """Distinct vectors stored (FAISS's ntotal of the wrapped index counts every copy)."""
        if self._state is None:
            return 0
        if not self._on_gpu:
            _sync(self.index, self._state)
        return int(self._state.n_vectors)

    @property
    def n_entries(self):
        return int(self.index.ntotal)

    @property
    def mixture(self):
        return mixture(self)

    def __getattr__(self, name):
        # only reached for names this class lacks: read them from the wrapped faiss index
        index = self.__dict__.get("index")
        if index is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(index, name)

    def __repr__(self):
        kind = type(self.index).__name__
        return (f"IndexIVFMultiAssign({kind}, d={self.d}, nlist={self.nlist}, ntotal={self.ntotal if self._state else 0}"
                f", entries={self.n_entries}, nprobe={self.nprobe}{', GPU' if self._on_gpu else ''})")

    def _cpu_only(self, what):
        if self._on_gpu:
            raise ValueError(f"{what}: this is a GPU copy made for searching; {what} the CPU index and convert again")

    # training and adding
    def train(self, x):
        self._cpu_only("train")
        if self.is_trained:
            raise ValueError("the index is already trained (reset() keeps the training; make a new index to retrain)")
        t0 = time.perf_counter()
        self.clustering = train_ivf(self, x, **self.train_params)
        self.last_stats = {"n": int(np.shape(x)[0]), "seconds": time.perf_counter() - t0,
                           "em_iterations": len(self.clustering.iteration_stats)}

    def add(self, x):
        self._cpu_only("add")
        self.last_stats = add_multi(self, x, **self.add_params)

    def add_with_ids(self, x, ids):
        self._cpu_only("add_with_ids")
        self.last_stats = add_multi(self, x, ids=ids, **self.add_params)

    def search(self, x, k, nprobe=None):
        """(D, I): the k nearest distinct ids of each row of x (-1 / FLT_MAX where fewer)."""
        state = _state(self)
        D, I, self.last_stats = _search(self.index, self.index, state, x, k, nprobe)
        return D, I

    def range_search(self, x, radius, nprobe=None):
        """(lims, D, I) as FAISS's range_search, each id once per query at its nearest copy."""
        _state(self)
        lims, D, I, self.last_stats = _range_search(self.index, self.index, x, radius, nprobe)
        return lims, D, I

    def remove_ids(self, ids):
        """Removes every copy of the given ids (array or faiss.IDSelector); returns the number of
        distinct ids removed."""
        self._cpu_only("remove_ids")
        return remove_ids(self, ids)

    def reset(self):
        """Removes every vector, keeping the training (centroids, codec, mixture)."""
        self._cpu_only("reset")
        self.index.reset()
        if self._state is not None:
            self._state.rebuild(np.zeros(0, np.int64), int(self.index.ntotal))

    def stats(self):
        return index_stats(self)

    def clone(self):
        self._cpu_only("clone")
        owner = _api.clone(self.index)
        twin = IndexIVFMultiAssign._adopt(_api.as_ivf(owner), None if self._state is None else self._state.copy(),
                                          owner)
        twin.train_params, twin.add_params = dict(self.train_params), dict(self.add_params)
        return twin

    def __deepcopy__(self, memo):
        return self.clone()

    def __copy__(self):
        return self.clone()

    def to_gpu(self, device=0, resources=None):
        """A copy of this index on GPU `device` (faiss-gpu), searched the same way (each id once);
        adding, removing and writing stay on the CPU index. resources: a faiss.StandardGpuResources
        (one is made when None)."""
        self._cpu_only("to_gpu")
        gpu, res = _api.cpu_to_gpu(self.index, device, resources)
        twin = IndexIVFMultiAssign._adopt(gpu, self._state, gpu)
        twin._on_gpu, twin._gpu_resources = True, res
        return twin

    def to_cpu(self):
        if not self._on_gpu:
            return self
        owner = _api.gpu_to_cpu(self.index)
        return IndexIVFMultiAssign._adopt(_api.as_ivf(owner), self._state.copy(), owner)

