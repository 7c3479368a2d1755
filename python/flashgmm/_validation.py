"""Input checks: arrays are used in place (float32/float64, any order, memory maps); anything
that is not usable raises TypeError/ValueError naming the problem."""
import numbers

import numpy as np

from ._base import InvalidParameterError


def check_array(X, name="X", min_samples=1, estimator="GaussianMixture"):
    """Returns X as a 2-D float32/float64 NumPy array, without copying float32/float64 arrays.

    As scikit-learn's check_array(dtype=[float64, float32]) does, every other numeric dtype
    (integers, bools, float16, numeric object arrays, non-native byte order) is converted to
    float64 (a copy), complex data raises ValueError, and sparse matrices raise TypeError.
    float32/float64 arrays in any order, memory maps included, are read in place by the C++
    code. NaN/inf are rejected by the C++ library (ValueError naming the row)."""
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(f"A sparse matrix was passed for {name}, but dense data is required (sparse input is "
                        "not supported). Use X.toarray() to convert to a dense numpy array.")
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except Exception as e:  # ragged lists and the like
            raise ValueError(f"{name} cannot be converted to an array: {e}") from None
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported\n{X}\n")
    if not (X.dtype.kind == "f" and X.dtype.itemsize in (4, 8) and X.dtype.isnative):
        # float() raises TypeError naming a non-numeric object, ValueError for a bad string.
        X = X.astype(np.float64)
    if X.ndim != 2:
        if X.ndim == 1:
            raise ValueError(f"Expected 2D array, got 1D array instead:\narray={X}.\nReshape your data either "
                             "using array.reshape(-1, 1) if your data has a single feature or "
                             "array.reshape(1, -1) if it contains a single sample.")
        if X.ndim == 0:
            raise ValueError(f"Expected 2D array, got scalar array instead:\narray={X}.\nReshape your data "
                             "either using array.reshape(-1, 1) if your data has a single feature or "
                             "array.reshape(1, -1) if it contains a single sample.")
        raise ValueError(f"Found array with dim {X.ndim}. {estimator} expected <= 2.")
    if X.shape[0] < min_samples:
        raise ValueError(f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum of "
                         f"{min_samples} is required by {estimator}.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required by "
                         f"{estimator}.")
    return X


def check_sample_weight(sample_weight, n_samples):
    """float32 C-contiguous weights of shape (n_samples,), finite, >= 0, not all zero; or None."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n_samples, float(w), dtype=np.float32)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity")
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be >= 0, got {w.min()} at index {int(np.argmin(w))}")
    if not np.any(w > 0):
        raise ValueError("sample_weight sums to zero")
    return w


def check_int(value, name, minimum=None, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name, minimum=None):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value) or (minimum is not None and value < minimum):
        raise InvalidParameterError(f"{name} must be a finite number >= {minimum}, got {value}")
    return value


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise InvalidParameterError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _init_array(value, shape, label, allow_nd=False):
    """scikit-learn's check of a user-supplied initial array: numeric, finite, exactly `shape`
    (its messages, which scikit-learn's tests match), as float64."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported in the parameter '{label}'")
    arr = arr.astype(np.float64)
    if arr.ndim > 2 and not allow_nd:
        raise ValueError(f"Found array with dim {arr.ndim} for the parameter '{label}'. Expected <= 2.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Input contains NaN or infinity: the parameter '{label}' must be finite")
    if arr.shape != tuple(shape):
        raise ValueError(f"The parameter '{label}' should have the shape of {tuple(shape)}, but got {arr.shape}")
    return arr


def check_weights(value, n_components):
    """weights_init: shape (K,), in [0, 1], summing to 1 (np.allclose, as scikit-learn)."""
    if value is None:
        return None
    w = _init_array(value, (n_components,), "weights")
    if np.any(w < 0.0) or np.any(w > 1.0):
        # scikit-learn's message, whose labels are swapped (its tests match it as it is).
        raise ValueError("The parameter 'weights' should be in the range [0, 1], but got max value "
                         f"{np.min(w):.5f}, min value {np.max(w):.5f}")
    if not np.allclose(np.abs(1.0 - np.sum(w)), 0.0):
        raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {np.sum(w):.5f}")
    return np.ascontiguousarray(w).ravel()


def check_means(value, n_components, n_features):
    if value is None:
        return None
    return np.ascontiguousarray(_init_array(value, (n_components, n_features), "means")).ravel()


def check_precisions(value, covariance_type, shape):
    """precisions_init: positive (spherical/diag) or symmetric positive definite (full/tied)
    precision matrices, as scikit-learn checks them."""
    if value is None:
        return None
    label = f"{covariance_type} precision"
    p = _init_array(value, shape, label, allow_nd=covariance_type == "full")
    if covariance_type in ("spherical", "diag"):
        if np.any(p <= 0.0):
            raise ValueError(f"'{label}' should be positive")
    else:
        for m in p.reshape(-1, shape[-1], shape[-1]):
            if not (np.allclose(m, m.T) and np.all(np.linalg.eigvalsh(m) > 0.0)):
                raise ValueError(f"'{label}' should be symmetric, positive-definite")
    return np.ascontiguousarray(p).ravel()
