"""Input checks: arrays are used in place (float32/float64, any order, memory maps); anything
that is not usable raises TypeError/ValueError naming the problem."""
import numbers

import numpy as np

from ._base import InvalidParameterError


def check_array(X, name="X"):
    """Returns X as a 2-D float32/float64 NumPy array, without copying a NumPy array.

    Lists and other array-likes are converted (to float64 when they hold integers). NumPy
    arrays of another dtype raise TypeError rather than being copied silently. NaN/inf are
    rejected by the C++ library (ValueError naming the row) during its first pass."""
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array")
    if not isinstance(X, np.ndarray):
        try:
            arr = np.asarray(X)
        except Exception as e:  # ragged lists and the like
            raise ValueError(f"{name} cannot be converted to an array: {e}") from None
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)
        X = arr
    if X.dtype.kind != "f" or X.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} must have dtype float32 or float64, got {X.dtype}; convert it with "
                        f"{name}.astype(np.float32)")
    if not X.dtype.isnative:
        raise TypeError(f"{name} has non-native byte order ({X.dtype.str}); convert it with "
                        f"{name}.astype(np.float32)")
    if X.ndim != 2:
        hint = " Reshape your data with array.reshape(-1, 1) for a single feature or " \
               "array.reshape(1, -1) for a single sample." if X.ndim == 1 else ""
        raise ValueError(f"Expected 2D array for {name}, got {X.ndim}D array of shape {X.shape} instead.{hint}")
    if X.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
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


def check_init_array(value, name, shape):
    """A user-supplied initial parameter array of exactly `shape`, as flat float64."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise ValueError(f"The parameter '{name}' should have the shape of {tuple(shape)}, but got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(arr).ravel()
