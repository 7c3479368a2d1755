"""flashgmm: Gaussian mixture models at scale, scikit-learn's API, FAISS interop.

>>> from flashgmm import GaussianMixture
>>> gmm = GaussianMixture(n_components=8, covariance_type="diag").fit(X)

`flashgmm.faiss` (multi-assignment IVF indexes on your own `import faiss`) and `flashgmm.dedup`
(near-duplicate groups) are imported on first use, so `import flashgmm` does not load FAISS.
"""
import importlib
from . import _core
from ._base import ConvergenceWarning, Error, NotFittedError
from .mixture import GaussianMixture

__version__ = _core.__version__


def cuda_available():
    """True when flashgmm was built with CUDA and a CUDA device is visible."""
    return _core.cuda_available()


_LAZY_SUBMODULES = ("faiss", "dedup")


def __getattr__(name):
    # PEP 562: flashgmm.faiss / flashgmm.dedup on first use (faiss is imported only then)
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'flashgmm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))


__all__ = ["GaussianMixture", "Error", "NotFittedError", "ConvergenceWarning", "cuda_available",
           "__version__"]
