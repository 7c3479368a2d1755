"""flashgmm: Gaussian mixture models at scale, scikit-learn's API, FAISS interop.

>>> from flashgmm import GaussianMixture
>>> gmm = GaussianMixture(n_components=8, covariance_type="diag").fit(X)

`flashgmm.faiss` (imported on its own) works on objects made by `import faiss`.
"""
from . import _core
from ._base import ConvergenceWarning, Error, NotFittedError
from .mixture import GaussianMixture

__version__ = _core.__version__


def cuda_available():
    """True when flashgmm was built with CUDA and a CUDA device is visible."""
    return _core.cuda_available()


__all__ = ["GaussianMixture", "Error", "NotFittedError", "ConvergenceWarning", "cuda_available",
           "__version__"]
