"""flashgmm.faiss: Gaussian-mixture coarse quantizers for FAISS indexes made with `import faiss`.

Works on the objects of FAISS's own Python package (Debian's python3-faiss, /usr/bin/python3):

>>> import faiss, flashgmm.faiss as gf
>>> index = faiss.index_factory(d, "IVF1024,Flat")
>>> gf.train_ivf(index, xt)              # refined k-means centroids + a Gaussian mixture
>>> gf.add_multi(index, xb)               # each vector in the 1-2 lists its neighbours' queries probe
>>> D, I, stats = gf.search(index, xq, 10, nprobe=16)           # duplicates removed
>>> gf.write_index(index, "ivf.index")               # + "ivf.index.gmm" sidecar
>>> index = gf.read_index("ivf.index")

The mixture and bookkeeping of each index (ids handed out, copies stored) are kept beside the
FAISS object while it lives, and in the sidecar file on disk (the C++ plugin's format: the
`flashgmm-ivf` tool and GmmIvfIndex::load read it). train_ivf and add_multi run the C++
plugin's own code with its defaults (flashgmm::ivf::GmmIvfParams: the same index as
`flashgmm-ivf build`). Queries are routed to lists by L2 distance to the centroids, as FAISS
does. Use `search` (not `index.search`) on an index filled by `add_multi`: FAISS's own search
returns a vector once per stored copy.

Implementation note: flashgmm's module holds its own copy of FAISS (Debian ships libfaiss.a),
next to the one inside python3-faiss. Objects are passed by address (int(obj.this)); virtual
calls run the code of the copy that made the object. FAISS globals (omp threads, verbosity,
indexIVF_stats) are per copy: search() reports its own statistics.
"""
import math
import os
import warnings
import weakref

import faiss as _faiss
import numpy as np

from . import _core
from ._validation import check_int
from .mixture import GaussianMixture

if not getattr(_core, "has_faiss", False):
    raise ImportError("flashgmm was built without the FAISS plugin (FLASHGMM_WITH_FAISS=OFF or libfaiss-dev "
                      "missing); flashgmm.faiss is unavailable")

__all__ = ["GmmClustering", "train_ivf", "add_multi", "search", "range_search", "remove_ids", "write_index",
           "read_index", "mixture", "index_stats", "sidecar_path"]

# faiss::ClusteringParameters fields that carry over, and GaussianMixture parameters.
_CLUSTERING_FIELDS = ("niter", "nredo", "seed", "verbose", "min_points_per_centroid", "max_points_per_centroid")
_GMM_FIELDS = ("covariance_type", "tol", "reg_covar", "init_params", "device", "precision", "gpu_memory_budget")


def _address(index, what="index"):
    if not isinstance(index, _faiss.Index):
        raise TypeError(f"{what} must be a FAISS index made by `import faiss`, got {type(index).__name__}")
    return int(index.this)


def _rows(x, d, name="x"):
    if isinstance(x, np.ndarray) and x.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)  # FAISS's convention; no copy when already so
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


# ------------------------------------------------------------------ per-index state

_STATES = {}  # address -> (weakref to the Python object that registered it, _core.IvfState)


def _set_state(index, state):
    addr = int(index.this)

    def forget(ref, addr=addr):
        entry = _STATES.get(addr)
        if entry is not None and entry[0] is ref:
            del _STATES[addr]

    _STATES[addr] = (weakref.ref(index, forget), state)


def _state(index, required=True):
    addr = _address(index)
    entry = _STATES.get(addr)
    if entry is not None and entry[0]() is not None:
        return entry[1]
    if required:
        raise ValueError("this index has no flashgmm mixture: train it with flashgmm.faiss.train_ivf or "
                         "read it with flashgmm.faiss.read_index")
    return None


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
        params = est._make_params(self.d)
        # GmmClustering overwrites n_components/max_iter/n_init/seed/verbose from (k, niter, nredo, ...).
        c.gmm = params
        return c

    def _collect(self, core, mixture_bytes):
        self.centroids = core.centroids()
        self.iteration_stats = core.iteration_stats()
        self.obj = np.array([s["obj"] for s in self.iteration_stats])
        self.mixture = GaussianMixture._from_model_bytes(mixture_bytes, device=self.device,
                                                         precision=self.precision)

    def train(self, x, index, weights=None):
        """Fit the mixture on x (n, d) and leave its means in `index` (any FAISS index of
        dimension d, e.g. faiss.IndexFlatL2(d)), like faiss.Clustering.train."""
        addr = _address(index)
        x = _rows(x, self.d)
        w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float32)
        core = self._make_core()
        core.train(x, addr, w)
        self._collect(core, core.mixture_bytes())


# ------------------------------------------------------------------ IVF operations

def _ivf(index):
    if not isinstance(index, _faiss.IndexIVF):
        index = _faiss.downcast_index(index) if isinstance(index, _faiss.Index) else index
    if not isinstance(index, _faiss.IndexIVF):
        raise TypeError(f"index must be a faiss.IndexIVF (e.g. faiss.index_factory(d, 'IVF1024,Flat')), "
                        f"got {type(index).__name__}")
    return index


def train_ivf(index, x, centroids=None, centroid_niter=None, centroid_max_points_per_centroid=None,
              refine_centroids=None, **params):
    """Train an untrained, empty faiss.IndexIVF (L2, flat quantizer) as the C++ plugin does
    (flashgmm::ivf::train_ivf, same defaults as `flashgmm-ivf build`), then FAISS trains the
    codec (PQ/SQ residuals) and skips its own k-means.

    centroids: "kmeans" (default: FAISS k-means with centroid_niter (25) iterations on up to
    centroid_max_points_per_centroid (1000) points per list, then, if refine_centroids (True),
    one step that moves each centroid to the mean of the list the default "neighbors" rule gives
    it) or "mixture" (the mixture's means). A Gaussian mixture is fitted from the centroids
    either way and kept beside the index. params: as GmmClustering (FAISS's IVF default niter=10
    unless given). Returns the GmmClustering (centroids = the index's, iteration_stats, mixture)."""
    ivf = _ivf(index)
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
    state = _core.ivf_train(_address(ivf), x, core, centroids, niter, maxp, refine)
    clus._collect(core, state.mixture_bytes())
    _set_state(index, state)
    if ivf is not index:
        _set_state(ivf, state)
    return clus


_SPILL_RULES = ("neighbors", "soar", "posterior")


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
    ids: int64 (n,) or None for sequential ids continuing from the previous adds. Returns
    statistics: n, entries (list entries written), copies_per_vector, ntotal, n_vectors."""
    ivf = _ivf(index)
    state = _state(index)
    x = _rows(x, ivf.d)
    if ids is not None:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.shape != (x.shape[0],):
            raise ValueError(f"ids must have shape ({x.shape[0]},), got {ids.shape}")
    defaults = _core.ivf_defaults()
    max_copies = check_int(defaults["max_copies"] if max_copies is None else max_copies, "max_copies",
                           minimum=1)
    min_posterior = defaults["min_posterior"] if min_posterior is None else min_posterior
    if spill is not None and spill not in _SPILL_RULES:
        raise ValueError(f"spill must be one of {_SPILL_RULES}, got {spill!r}")
    extra = {name: value for name, value in (("spill", spill), ("soar_lambda", soar_lambda),
                                             ("candidates", candidates), ("spill_fraction", spill_fraction),
                                             ("spill_ratio", spill_ratio), ("neighbors", neighbors),
                                             ("cost_weight", cost_weight), ("probe_depth", probe_depth),
                                             ("pseudo_query_fraction", pseudo_query_fraction),
                                             ("max_entries_ratio", max_entries_ratio))
             if value is not None}
    return _core.ivf_add_multi(state, _address(ivf), x, ids, max_copies, float(min_posterior), **extra)


def search(index, q, k, nprobe=None):
    """k nearest distinct ids of each query: (D float32 (nq, k), I int64 (nq, k), stats). Each
    id appears once (its best copy); missing results are -1. nprobe: lists to visit (None =
    index.nprobe). stats: nq, nprobe, ndis (distance computations), lists_probed,
    duplicates_removed, seconds."""
    ivf = _ivf(index)
    state = _state(index, required=False)
    q = _rows(q, ivf.d, "q")
    k = check_int(k, "k", minimum=1)
    nprobe = 0 if nprobe is None else check_int(nprobe, "nprobe", minimum=1)
    return _core.ivf_search(state, _address(ivf), q, k, nprobe)


def range_search(index, q, radius, nprobe=None):
    """Every distinct id within squared L2 distance < radius of each query, as FAISS's
    index.range_search returns it: (lims uint64 (nq + 1,), D float32, I int64, stats); the results
    of query i are D[lims[i]:lims[i+1]], I[lims[i]:lims[i+1]], each id once (its nearest copy),
    sorted by distance. FAISS's own range_search would return an id once per stored copy.
    nprobe: lists to visit (None = index.nprobe)."""
    ivf = _ivf(index)
    q = _rows(q, ivf.d, "q")
    radius = float(radius)
    if math.isnan(radius):
        raise ValueError("radius is NaN")
    nprobe = 0 if nprobe is None else check_int(nprobe, "nprobe", minimum=1)
    return _core.ivf_range_search(_address(ivf), q, radius, nprobe)


def remove_ids(index, ids):
    """Remove every stored copy of the given ids: `ids` is an array of int64 ids or a
    faiss.IDSelector. Returns the number of distinct ids removed. FAISS's own index.remove_ids
    also removes every copy while the index has no direct map (with a hashtable map it would
    remove one copy per id: here the map is rebuilt after the removal instead); flashgmm's counts
    are kept right either way."""
    ivf = _ivf(index)
    state = _state(index, required=False)
    if isinstance(ids, _faiss.IDSelector):
        return _core.ivf_remove_ids(state, _address(ivf), None, int(ids.this))
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers or a faiss.IDSelector, got {arr.dtype}")
    return _core.ivf_remove_ids(state, _address(ivf), np.ascontiguousarray(arr.reshape(-1), dtype=np.int64))


def sidecar_path(path):
    """Where write_index puts the mixture next to the FAISS index file."""
    return _core.ivf_sidecar_path(os.fspath(path))


def write_index(index, path):
    """faiss.write_index(index, path) (stock FAISS reads it back) plus the mixture sidecar
    sidecar_path(path). Both files are written under temporary names and renamed."""
    ivf = _ivf(index)
    state = _state(index)
    path = os.fspath(path)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        _faiss.write_index(index, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _core.ivf_write_sidecar(state, _address(ivf), sidecar_path(path))


def read_index(path):
    """Read an index written by write_index (or by the C++ plugin): faiss.read_index plus the
    sidecar, checked against the index (dimension, lists, entries, centroids)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such index file: '{path}'")
    index = _faiss.read_index(path)
    ivf = _ivf(index)
    state = _core.ivf_read_sidecar(_address(ivf), sidecar_path(path), path)
    if state.routes_by_mixture:
        warnings.warn(f"'{path}' was written with posterior-ordered or adaptive probing (C++ GmmIvfIndex "
                      "routing); flashgmm.faiss.search routes queries by L2 distance to the means", UserWarning)
    _set_state(ivf, state)
    return ivf


def mixture(index):
    """The index's Gaussian mixture as a fitted flashgmm.GaussianMixture (a copy)."""
    return GaussianMixture._from_model_bytes(_state(index).mixture_bytes())


def index_stats(index):
    """n_vectors (distinct ids), entries (= ntotal, copies included), copies_per_vector,
    max_copies_stored, imbalance_factor (FAISS's), list_sizes."""
    ivf = _ivf(index)
    state = _state(index, required=False)
    if state is not None:
        _core.ivf_sync(state, _address(ivf))  # the lists may have changed through FAISS's own add/remove_ids
    sizes = _core.ivf_list_sizes(_address(ivf))
    n_vectors = state.n_vectors if state is not None else int(ivf.ntotal)
    return {"n_vectors": n_vectors, "entries": int(ivf.ntotal),
            "copies_per_vector": ivf.ntotal / n_vectors if n_vectors else 0.0,
            "max_copies_stored": state.max_copies_stored if state is not None else 1,
            "imbalance_factor": _core.ivf_imbalance_factor(_address(ivf)), "list_sizes": sizes}
