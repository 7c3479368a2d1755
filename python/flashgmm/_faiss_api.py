"""What flashgmm.faiss asks of the user's own FAISS: only its public Python API, the parts that
have stayed the same from Debian's 1.7.3 to PyPI's faiss-cpu / faiss-gpu 1.15 (add_core with
precomputed lists, search / range_search, the inverted lists' sizes and ids, remove_ids, the
direct map type, indexIVF_stats, reset / add / reconstruct_n on the quantizer).

No C++ pointer of a user's FAISS object is ever handed to flashgmm's own C++ module: its FAISS
is another build (Debian's 1.7.3), whose class layout a PyPI FAISS does not share. Arrays cross
instead. swig_ptr keeps no reference to its array, so every array passed that way is held in a
local name for the whole call.
"""
import contextlib

import faiss as _faiss
import numpy as np

# Rows per add_core call: bounds the temporary copy of the rows being added (copies included).
ADD_CHUNK_ROWS = 16384


def version():
    return getattr(_faiss, "__version__", "unknown")


def is_index(obj):
    return isinstance(obj, _faiss.Index)


def downcast(index):
    return _faiss.downcast_index(index)


def as_ivf(obj):
    """The IndexIVF behind `obj` (a FAISS index made by the user), or None."""
    if not isinstance(obj, _faiss.Index):
        return None
    if isinstance(obj, _faiss.IndexIVF):
        return obj
    index = _faiss.downcast_index(obj)
    return index if isinstance(index, _faiss.IndexIVF) else None


def id_map_inner(obj):
    """For an IndexIDMap / IndexIDMap2: the index it wraps (downcast); else None."""
    maps = tuple(c for c in (getattr(_faiss, "IndexIDMap", None), getattr(_faiss, "IndexIDMap2", None)) if c)
    if maps and isinstance(obj, maps):
        return _faiss.downcast_index(obj.index)
    return None


def is_l2(index):
    return index.metric_type == _faiss.METRIC_L2


def centroids(ivf):
    """The nlist × d float32 centroids the quantizer holds (IndexFlat's own floats: the sidecar's
    fingerprint is taken over these bytes)."""
    q = ivf.quantizer
    if q.ntotal == 0:
        return np.zeros((0, ivf.d), np.float32)
    return np.ascontiguousarray(q.reconstruct_n(0, q.ntotal), dtype=np.float32)


def set_centroids(quantizer, c):
    """The quantizer holds exactly the rows of c (as faiss.Clustering.train leaves it)."""
    quantizer.reset()
    quantizer.add(np.ascontiguousarray(c, dtype=np.float32))


def add_copies(ivf, x, ids, lists):
    """Adds row i of x under ids[i] to each list lists[i, j] >= 0 (copy j), in row-major order,
    with IndexIVF.add_core: FAISS encodes each copy against its own list's centroid (Flat / PQ /
    SQ alike) and counts every copy in ntotal. Returns the entries written."""
    n, m = lists.shape
    written = 0
    for c0 in range(0, n, ADD_CHUNK_ROWS):
        c1 = min(n, c0 + ADD_CHUNK_ROWS)
        rows, cols = np.nonzero(lists[c0:c1] >= 0)  # row-major: a row's copies together
        if rows.size == 0:
            continue
        xs = np.ascontiguousarray(x[c0 + rows], dtype=np.float32)
        xi = np.ascontiguousarray(ids[c0 + rows], dtype=np.int64)
        xl = np.ascontiguousarray(lists[c0:c1][rows, cols], dtype=np.int64)
        try:
            ivf.add_core(int(rows.size), _faiss.swig_ptr(xs), _faiss.swig_ptr(xi), _faiss.swig_ptr(xl))
        except RuntimeError as e:  # FAISS's own exception, from the user's build
            raise RuntimeError(f"faiss {version()} failed to add to {type(ivf).__name__}: {e}") from e
        written += int(rows.size)
    return written


def stored_ids(ivf):
    """Every id in the inverted lists (copies included), int64."""
    il = ivf.invlists
    parts = []
    for lst in range(ivf.nlist):
        size = il.list_size(lst)
        if size == 0:
            continue
        ptr = il.get_ids(lst)
        try:
            parts.append(_faiss.rev_swig_ptr(ptr, size).copy())
        finally:
            il.release_ids(lst, ptr)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def list_sizes(ivf):
    il = ivf.invlists
    return np.array([il.list_size(lst) for lst in range(ivf.nlist)], dtype=np.int64)


def direct_map_type(ivf):
    return int(ivf.direct_map.type)


NO_MAP = int(_faiss.DirectMap.NoMap)
ARRAY_MAP = int(_faiss.DirectMap.Array)


def id_selector(ids):
    """(selector, array it reads): keep the array alive while the selector is used."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    return _faiss.IDSelectorBatch(len(ids), _faiss.swig_ptr(ids)), ids


def is_id_selector(obj):
    return isinstance(obj, _faiss.IDSelector)


@contextlib.contextmanager
def probing(index, nprobe):
    """index.nprobe = nprobe for the duration (restored after)."""
    old = index.nprobe
    index.nprobe = int(nprobe)
    try:
        yield
    finally:
        index.nprobe = old


class IvfCounters:
    """FAISS's global IVF search counters (faiss.cvar.indexIVF_stats) around one call: the
    distance computations (list entries scanned) and the lists visited."""

    def __enter__(self):
        self._stats = getattr(getattr(_faiss, "cvar", None), "indexIVF_stats", None)
        if self._stats is not None:
            self._stats.reset()
        self.ndis = None
        self.lists_probed = None
        return self

    def __exit__(self, *exc):
        if self._stats is not None:
            self.ndis = int(self._stats.ndis)
            self.lists_probed = int(self._stats.nlist)
        return False


def gpu_count():
    get = getattr(_faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def cpu_to_gpu(ivf, device, resources):
    if not hasattr(_faiss, "StandardGpuResources") or gpu_count() == 0:
        raise RuntimeError(f"the installed faiss ({version()}) has no GPU support or sees no GPU: install faiss-gpu "
                           "(or faiss-gpu-cuvs) on a machine with an NVIDIA GPU")
    res = resources if resources is not None else _faiss.StandardGpuResources()
    return _faiss.index_cpu_to_gpu(res, int(device), ivf), res


# FAISS's functions that make an index return a proxy that owns it; a proxy from downcast_index
# does not. Callers keep the owner alive as long as they use the downcast IVF.
def gpu_to_cpu(index):
    return _faiss.index_gpu_to_cpu(index)


def clone(ivf):
    return _faiss.clone_index(ivf)


def write(index, path):
    _faiss.write_index(index, path)


def read(path):
    return _faiss.read_index(path)
