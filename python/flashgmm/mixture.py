"""flashgmm.GaussianMixture: scikit-learn's GaussianMixture API over the C++ estimator."""
import sys
import time
import warnings

import numpy as np

from . import _core
from ._base import (ConvergenceWarning, NotFittedError, ParamsMixin, random_state_generator,
                    seed_from_random_state)
from ._validation import (check_array, check_choice, check_float, check_int, check_means, check_precisions,
                          check_sample_weight, check_weights)

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
_DEVICES = ("cpu", "cuda", "auto")
_PRECISIONS = ("fast", "precise")
_FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "converged_",
           "n_iter_", "lower_bound_", "n_features_in_", "fit_info_")


def _precision_shape(covariance_type, k, d):
    return {"spherical": (k,), "diag": (k, d), "full": (k, d, d), "tied": (d, d)}[covariance_type]


class _VerbosePrinter:
    """scikit-learn's verbose output (same lines, on sys.stdout), fed by the C++ iteration
    callback: an initialisation's closing line is printed when the next one starts or the fit
    ends."""

    def __init__(self, verbose, interval, tol):
        self.verbose, self.interval, self.tol = verbose, interval, tol
        self.init = None
        self.last = None

    def _begin(self):
        self.init_start = self.iter_start = time.time()
        print(f"Initialization {self.init}", file=sys.stdout)

    def _end(self, converged):
        if self.verbose == 1:
            print(f"Initialization converged: {converged}", file=sys.stdout)
        else:
            ll = self.last["lower_bound"] if self.last else -np.inf
            print(f"Initialization converged: {converged}\t time lapse {time.time() - self.init_start:.5f}s\t "
                  f"ll {ll:.5f}", file=sys.stdout)

    def _converged(self):
        # The driver's rule: a change under tol, in an iteration that re-seeded nothing.
        return self.last is not None and abs(self.last["change"]) < self.tol and not self.last["reseeded"]

    def __call__(self, s):
        if s["init"] != self.init:
            if self.init is not None:
                self._end(self._converged())
                self.last = None
            self.init = s["init"]
            self._begin()
        self.last = s
        if s["iteration"] % self.interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {s['iteration']}", file=sys.stdout)
            else:
                now = time.time()
                print(f"  Iteration {s['iteration']}\t time lapse {now - self.iter_start:.5f}s\t ll change "
                      f"{s['change']:.5f}", file=sys.stdout)
                self.iter_start = now
        sys.stdout.flush()

    def finish(self):
        if self.init is None:  # max_iter=0: no iteration reported
            self.init = 0
            self._begin()
        self._end(self._converged())
        sys.stdout.flush()


class GaussianMixture(ParamsMixin):
    """Gaussian mixture fitted by EM without materialising the N×K responsibility matrix.

    Parameters follow scikit-learn's ``sklearn.mixture.GaussianMixture`` with the same names,
    defaults and meanings: n_components, covariance_type ('full', 'tied', 'diag', 'spherical'),
    tol, reg_covar, max_iter, n_init, init_params ('kmeans', 'k-means++', 'random',
    'random_from_data'), weights_init, means_init, precisions_init, random_state, warm_start,
    verbose, verbose_interval. Ours:

    device : 'auto' (CUDA when built with it and a device is visible, else CPU), 'cpu' or 'cuda'.
    precision : 'precise' (fp32-accurate E-step) or 'fast' (bf16 products on the GPU; the CPU
        ignores it).
    gpu_memory_budget : bytes of GPU memory a fit may use; None = 90% of the free memory.

    Input: float32 or float64 arrays in C or Fortran order (any strides), including memory
    maps (``np.load(..., mmap_mode='r')``, ``np.memmap``), which are streamed rather than loaded;
    other numeric dtypes (ints, bools, float16, numeric object arrays) are converted to float64
    first, as scikit-learn does, and complex data raises ValueError. Computation runs in float32
    with float64 accumulation; C-contiguous float32 data is used in place, float64 and other
    layouts are converted a chunk of rows at a time. The GIL is released while the
    C++ code runs, and Ctrl-C stops a fit at the end of the current iteration
    (KeyboardInterrupt).

    Attributes after fit: weights_, means_, covariances_, precisions_, precisions_cholesky_
    (scikit-learn's shapes, float64, read-only), converged_, n_iter_, lower_bound_,
    n_features_in_, and fit_info_ (backend, seconds, best_init, per-iteration history).
    """

    _estimator_type = "DensityEstimator"

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6, max_iter=100,
                 n_init=1, init_params="kmeans", weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10, device="auto",
                 precision="precise", gpu_memory_budget=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device
        self.precision = precision
        self.gpu_memory_budget = gpu_memory_budget

    # ---------------------------------------------------------------- fitting

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM. ``y`` is ignored (scikit-learn's signature);
        ``sample_weight`` (n_samples,) weighs each row's contribution (≥ 0). Returns self."""
        X = check_array(X, min_samples=2)  # scikit-learn refuses to fit one sample
        n, d = X.shape
        params = self._make_params(d)
        # scikit-learn's rule: a warm start continues only from an earlier fit of this object.
        warm = params.warm_start and "converged_" in self.__dict__
        if n < params.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {params.n_components}, "
                             f"n_samples = {n}")
        w = check_sample_weight(sample_weight, n)
        core = self.__dict__.get("_core_gmm")
        if core is None:
            core = _core.GaussianMixture()
            self._core_gmm = core
        core.set_params(params)
        printer = self._progress_printer(params.tol) if self.verbose else None
        core.fit(X, w, printer)
        self._store_fitted()
        if printer is not None:
            printer.finish()
        # scikit-learn numbers the initialisations from 1 here and names the last one run; a
        # fit with max_iter=0 asked for the initialisation only and is not warned about.
        if not self.converged_ and params.max_iter > 0:
            warnings.warn(f"Initialization {1 if warm else params.n_init} did not converge. Try different init "
                          "parameters, or increase max_iter, tol or check for degenerate data.",
                          ConvergenceWarning)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit(X) then predict(X): the labels agree with a later predict(X)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    # -------------------------------------------------------------- inference

    def predict(self, X):
        """Most probable component of each row (int64, shape (n_samples,))."""
        core = self._fitted_core()
        return core.predict(check_array(X)).astype(np.int64)

    def predict_proba(self, X):
        """Posterior of each component for each row (float64 like scikit-learn's, shape
        (n_samples, n_components); computed in float32, each row sums to 1 within 1e-6).
        predict_topk gives the best few without the N×K output."""
        core = self._fitted_core()
        return core.predict_proba(check_array(X)).astype(np.float64)

    def predict_topk(self, X, m=2):
        """The m most probable components of each row and their posteriors, best first:
        (ids int32 (n_samples, m), posteriors float32 (n_samples, m)). Memory is O(n·m)."""
        core = self._fitted_core()
        m = check_int(m, "m", minimum=1)
        return core.predict_topk(check_array(X), m)

    def score_samples(self, X):
        """log p(x) of each row (float64, shape (n_samples,))."""
        core = self._fitted_core()
        return core.score_samples(check_array(X))

    def score(self, X, y=None, sample_weight=None):
        """Mean per-sample log-likelihood (weighted by sample_weight when given)."""
        core = self._fitted_core()
        X = check_array(X)
        return float(core.score(X, check_sample_weight(sample_weight, X.shape[0])))

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        X = check_array(X)
        return -2.0 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        X = check_array(X)
        return -2.0 * self.score(X) * X.shape[0] + 2.0 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw n_samples from the fitted mixture: (X float64 (n_samples, n_features), labels int64),
        grouped by component as scikit-learn returns them.

        scikit-learn's algorithm and random stream (a multinomial split of n_samples, then
        Gaussian draws per component from NumPy's generator for random_state), so the same
        model and random_state give scikit-learn's samples. The output is the only memory."""
        self._fitted_core()
        n_samples = check_int(n_samples, "n_samples")
        if n_samples < 1:
            raise ValueError(f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one "
                             "sample.")
        rng = random_state_generator(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        d = self.means_.shape[1]
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(n)) for m, c, n in zip(self.means_, self.covariances_, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, self.covariances_, int(n)) for m, n in zip(self.means_, counts)]
        else:
            parts = [m + rng.standard_normal(size=(n, d)) * np.sqrt(c)
                     for m, c, n in zip(self.means_, self.covariances_, counts)]
        labels = np.concatenate([np.full(n, j, dtype=np.int64) for j, n in enumerate(counts)])
        return np.vstack(parts), labels

    # ------------------------------------------------------ persistence

    def save(self, path):
        """Write the fitted model to flashgmm's model file (readable by the CLI and C++)."""
        self._fitted_core().save(str(path))

    @classmethod
    def load(cls, path, **params):
        """An estimator holding the model in `path`; `params` set constructor parameters."""
        core = _core.GaussianMixture()
        core.load(str(path))
        return cls._from_core(core, **params)

    @classmethod
    def _from_model_bytes(cls, data, **params):
        core = _core.GaussianMixture()
        core.deserialize(data)
        return cls._from_core(core, **params)

    @classmethod
    def _from_core(cls, core, **params):
        arrays = core.model_arrays()
        est = cls(n_components=int(arrays["weights"].shape[0]), covariance_type=arrays["covariance_type"],
                  **params)
        est._core_gmm = core
        est._store_fitted(loaded=True)
        return est

    def __getstate__(self):
        state = self.__dict__.copy()
        core = state.pop("_core_gmm", None)
        if core is not None and core.fitted():
            state["_model_bytes"] = core.serialize()
        return state

    def __setstate__(self, state):
        model = state.pop("_model_bytes", None)
        self.__dict__.update(state)
        if model is not None:
            core = _core.GaussianMixture()
            core.deserialize(model)
            self._core_gmm = core

    # ------------------------------------------------------------ internals

    def _make_params(self, n_features):
        p = _core.Params()
        k = p.n_components = check_int(self.n_components, "n_components", minimum=1)
        cov = p.covariance_type = check_choice(self.covariance_type, "covariance_type", _COVARIANCE_TYPES)
        p.tol = check_float(self.tol, "tol", minimum=0.0)
        p.reg_covar = check_float(self.reg_covar, "reg_covar", minimum=0.0)
        p.max_iter = check_int(self.max_iter, "max_iter", minimum=0)  # 0: the initialisation only
        p.n_init = check_int(self.n_init, "n_init", minimum=1)
        p.init = check_choice(self.init_params, "init_params", _INIT_PARAMS)
        p.weights_init = check_weights(self.weights_init, k)
        p.means_init = check_means(self.means_init, k, n_features)
        p.precisions_init = check_precisions(self.precisions_init, cov, _precision_shape(cov, k, n_features))
        p.seed = seed_from_random_state(self.random_state)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {self.warm_start!r}")
        p.warm_start = bool(self.warm_start)
        check_int(self.verbose, "verbose", minimum=0)
        check_int(self.verbose_interval, "verbose_interval", minimum=1)
        p.verbose = 0  # progress is printed from Python (sys.stdout), see _progress_printer
        p.backend = check_choice(self.device, "device", _DEVICES)
        p.precision = check_choice(self.precision, "precision", _PRECISIONS)
        p.gpu_memory_budget = check_int(self.gpu_memory_budget, "gpu_memory_budget", minimum=0, allow_none=True) or 0
        p.validate(n_features)
        return p

    def _progress_printer(self, tol):
        return _VerbosePrinter(self.verbose, self.verbose_interval, tol)

    def _store_fitted(self, loaded=False):
        core = self._core_gmm
        arrays = core.model_arrays()
        for name in ("weights", "means", "covariances", "precisions", "precisions_cholesky"):
            a = arrays[name]
            a.flags.writeable = False  # the C++ model is the one used: editing a copy would mislead
            setattr(self, name + "_", a)
        self.n_features_in_ = int(arrays["means"].shape[1])
        self._n_params = int(arrays["n_parameters"])
        if loaded:
            self.converged_, self.n_iter_, self.lower_bound_ = True, 0, -np.inf
            self.fit_info_ = {}
        else:
            info = core.fit_info()
            self.converged_ = bool(info["converged"])
            self.n_iter_ = int(info["n_iter"])
            self.lower_bound_ = float(info["lower_bound"])
            self.fit_info_ = info

    def _fitted_core(self):
        core = self.__dict__.get("_core_gmm")
        if core is None or not core.fitted():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator.")
        return core

    def _n_parameters(self):
        self._fitted_core()
        return self._n_params
