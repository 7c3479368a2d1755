"""Estimator conventions of scikit-learn (get_params / set_params / repr) and its exception
classes (subclassed when scikit-learn is installed; nothing else of it is used)."""
import inspect
import numbers

import numpy as np

from . import _core

#: Raised for errors reported by the C++ library (bad parameters, bad data, ...): a ValueError.
Error = _core.Error


def _sklearn_bases():
    """scikit-learn's exception and warning classes when it is installed (so that code catching
    sklearn.exceptions.NotFittedError / ConvergenceWarning catches ours), else stand-ins with
    the same bases. This loads scikit-learn's package once at import (about a second on a busy
    machine); flashgmm uses none of its estimators."""
    try:
        from sklearn.exceptions import ConvergenceWarning as cw, NotFittedError as nf
    except ImportError:
        return (ValueError, AttributeError), (UserWarning,), (ValueError, TypeError)
    try:
        from sklearn.utils._param_validation import InvalidParameterError as ip
        ipe = (ip,)
    except ImportError:  # scikit-learn < 1.2
        ipe = (ValueError, TypeError)
    return (nf,), (cw,), ipe


_NF, _CW, _IP = _sklearn_bases()


class NotFittedError(*_NF):
    """Raised when an estimator is used before fit (a subclass of scikit-learn's NotFittedError
    when scikit-learn is installed; else of its bases ValueError and AttributeError)."""


class ConvergenceWarning(*_CW):
    """An initialisation reached max_iter without converging (a subclass of scikit-learn's
    ConvergenceWarning when scikit-learn is installed)."""


class InvalidParameterError(*_IP):
    """A constructor parameter has the wrong type or value: scikit-learn's InvalidParameterError
    when installed (>= 1.2), else caught as ValueError or TypeError like it."""


class ParamsMixin:
    """get_params / set_params / __repr__ following scikit-learn's BaseEstimator: the
    parameters are exactly the keyword arguments of __init__, stored unmodified under the same
    names, so sklearn.base.clone, Pipeline and GridSearchCV work."""

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        names = []
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise RuntimeError(f"{cls.__name__} must not take *args or **kwargs")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep=True):
        out = {}
        for key in self._get_param_names():
            value = getattr(self, key)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for k, v in value.get_params().items():
                    out[f"{key}__{k}"] = v
            out[key] = value
        return out

    def set_params(self, **params):
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested = {}
        for key, value in params.items():
            key, delim, sub = key.partition("__")
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. Valid parameters are: "
                                 f"{self._get_param_names()!r}.")
            if delim:
                nested.setdefault(key, {})[sub] = value
            else:
                setattr(self, key, value)
                valid[key] = value
        for key, sub in nested.items():
            valid[key].set_params(**sub)
        return self

    def __repr__(self):
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        shown = []
        for key in self._get_param_names():
            value = getattr(self, key)
            default = defaults.get(key, inspect.Parameter.empty)
            if _same(value, default):
                continue
            shown.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(a, b):
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def seed_from_random_state(random_state):
    """A 63-bit seed from scikit-learn's random_state: None (NumPy's global generator), an int,
    a numpy RandomState or Generator."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**63:
            raise InvalidParameterError(f"random_state must be in [0, 2**63), got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise InvalidParameterError(f"random_state must be None, an int, a numpy RandomState or Generator, "
                                f"got {type(random_state).__name__}")


def random_state_generator(random_state):
    """scikit-learn's check_random_state: NumPy's global RandomState for None, a new
    RandomState(seed) for an int, the object itself for a RandomState or Generator."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= int(random_state) < 2**32:
            raise InvalidParameterError(f"random_state must be in [0, 2**32) to draw samples, got {random_state}")
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    raise InvalidParameterError(f"random_state must be None, an int, a numpy RandomState or Generator, "
                                f"got {type(random_state).__name__}")
