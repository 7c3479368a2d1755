"""flashgmm.dedup: near-duplicate groups of embeddings by Gaussian-mixture blocking.

>>> from flashgmm.dedup import deduplicate
>>> r = deduplicate(X, threshold=0.95)          # cosine similarity >= 0.95
>>> r = deduplicate("emb.npy", radius=0.3)      # L2, memory-mapped file (N may exceed RAM)
>>> r.representative      # per row: the smallest row of its group (itself when unique)
>>> r.groups()            # list of int64 arrays, groups of >= 2 rows, representative first
>>> r.keep                # rows to keep: one per group
>>> r.summary             # pairs compared vs N^2/2, groups, seconds, peak memory, quality

A mixture of K Gaussians is fitted on a sample; each row goes to its most probable components
(at most `max_assign`, posterior >= `min_posterior` at temperature `temperature`); pairs are
compared exactly only inside the components they share, each pair once; pairs within the
threshold are merged into groups. `check_sample=S` adds a quality report: S random rows are
compared against all rows by brute force (pair recall / precision in summary["quality"]).
The same engine as the `flashgmm-dedup` command-line tool.
"""
import os

import numpy as np

from . import _core  # noqa: F401  (registers flashgmm.Error before _dedup uses it)
from . import _dedup
from ._base import Error

__all__ = ["deduplicate", "DedupResult", "Error"]


class DedupResult:
    """What `deduplicate` found. `representative[i]` is the smallest row of row i's group."""

    def __init__(self, representative, summary):
        self.representative = representative
        self.summary = summary
        self._groups = None

    @property
    def keep(self):
        """Rows to keep (one per group, rows without duplicates included), ascending."""
        return _dedup.keep_list(self.representative)

    @property
    def duplicates(self):
        """Rows to drop: every row that is not its group's representative."""
        return np.flatnonzero(self.representative != np.arange(len(self.representative)))

    def groups(self):
        """Groups of >= 2 rows as int64 arrays (ascending, the representative first)."""
        if self._groups is None:
            offsets, members = _dedup.list_groups(self.representative)
            self._groups = [members[offsets[g]:offsets[g + 1]] for g in range(len(offsets) - 1)]
        return self._groups

    def __repr__(self):
        s = self.summary
        return (f"DedupResult(n={s['n']}, groups={s['groups']}, rows_kept={s['rows_kept']}, "
                f"pairs_compared={s['pairs_compared']}, reduction={s['reduction']:.1f}x)")


def deduplicate(X, threshold=None, *, radius=None, n_components=0, max_assign=3, min_posterior=0.01,
                temperature=2.0, covariance_type="tied", fit_sample=0, max_iter=30, tol=1e-3, seed=0,
                device="auto", n_threads=0, chunk_rows=16384, check_sample=0, progress=None):
    """Near-duplicate groups among the rows of X.

    X: 2-D float32/float64 array (any layout; np.memmap works without loading it), or a path to
    a .npy / .fvecs / .bvecs file (memory-mapped). Give `threshold` (cosine similarity in
    (0, 1], default 0.95) or `radius` (Euclidean distance >= 0), not both. `progress`, if
    given, is called as progress(stage, done, total) with stage in "fit", "assign", "compare",
    "check"; returning False stops the run (flashgmm.Error). Ctrl-C stops it too.
    Other parameters: see flashgmm_dedup/dedup.hpp (DedupParams). Returns a DedupResult.
    """
    if threshold is not None and radius is not None:
        raise ValueError("give either threshold (cosine) or radius (L2), not both")
    p = _dedup.Params()
    if radius is not None:
        p.metric, p.threshold = "l2", float(radius)
    else:
        p.metric, p.threshold = "cosine", 0.95 if threshold is None else float(threshold)
    p.n_components = int(n_components)
    p.max_assign = int(max_assign)
    p.min_posterior = float(min_posterior)
    p.temperature = float(temperature)
    p.covariance_type = covariance_type
    p.fit_sample = int(fit_sample)
    p.max_iter = int(max_iter)
    p.tol = float(tol)
    p.seed = int(seed)
    p.device = device
    p.n_threads = int(n_threads)
    p.chunk_rows = int(chunk_rows)
    p.check_sample = int(check_sample)
    p.validate()
    if not isinstance(X, (str, os.PathLike)) and not isinstance(X, np.ndarray):
        X = np.asarray(X, dtype=np.float32)
    rep, summary = _dedup.deduplicate(X, p, progress)
    return DedupResult(rep, summary)
