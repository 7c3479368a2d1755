"""Input handling: dtypes, memory layouts and memory maps used in place; the GIL released;
Ctrl-C; every bad input raising TypeError/ValueError with a message naming the problem."""
import _thread
import threading
import time

import numpy as np
import pytest

from conftest import blobs
import flashgmm
from flashgmm import GaussianMixture, NotFittedError


def reference(X, **kw):
    return GaussianMixture(4, covariance_type="diag", random_state=0, **kw).fit(np.ascontiguousarray(X, np.float32))


def assert_same_fit(a, b):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-6, atol=1e-6)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-9)


@pytest.mark.parametrize("layout", ["float64", "fortran32", "fortran64", "strided", "reversed"])
def test_layouts_fit_and_predict_like_c_float32(X, layout):
    ref = reference(X)
    Y = {
        "float64": X.astype(np.float64),
        "fortran32": np.asfortranarray(X),
        "fortran64": np.asfortranarray(X, dtype=np.float64),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],           # non-contiguous columns
        "reversed": np.ascontiguousarray(X[::-1])[::-1],      # negative row stride
    }[layout]
    np.testing.assert_array_equal(np.asarray(Y, dtype=np.float32), X)
    ours = GaussianMixture(4, covariance_type="diag", random_state=0).fit(Y)
    assert_same_fit(ours, ref)
    np.testing.assert_array_equal(ours.predict(Y), ref.predict(X))
    np.testing.assert_allclose(ours.score_samples(Y), ref.score_samples(X), rtol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(Y), ref.predict_proba(X), atol=1e-6)


def test_input_is_not_copied(X):
    # C-contiguous float32 is handed to C++ by pointer: a read-only array stays usable.
    Y = X.copy()
    Y.flags.writeable = False
    GaussianMixture(4, random_state=0).fit(Y).predict(Y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_memmap(X, tmp_path, dtype):
    path = tmp_path / "x.npy"
    np.save(path, X.astype(dtype))
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    ours = GaussianMixture(4, covariance_type="diag", random_state=0).fit(mm)
    assert_same_fit(ours, reference(X))
    np.testing.assert_array_equal(ours.predict(mm), reference(X).predict(X))
    assert ours.score(mm) == pytest.approx(reference(X).score(X), rel=1e-7)


def test_np_memmap_fortran_order(X, tmp_path):
    path = tmp_path / "x.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape, order="F")
    mm[:] = X
    mm.flush()
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape, order="F")
    assert_same_fit(GaussianMixture(4, covariance_type="diag", random_state=0).fit(ro), reference(X))


def test_lists_are_accepted():
    gmm = GaussianMixture(2, random_state=0).fit([[0, 0], [0, 1], [10, 10], [10, 11]])
    assert sorted(gmm.predict([[0, 0.5], [10, 10.5]])) == [0, 1]


@pytest.mark.filterwarnings("ignore::flashgmm.ConvergenceWarning")
def test_gil_is_released_during_fit():
    X = blobs(n=60000, d=16, k=8)

    def fit_while_ticking(max_iter):
        gmm = GaussianMixture(32, covariance_type="diag", max_iter=max_iter, tol=0.0, random_state=0)
        done = threading.Event()
        ticks = []

        def fit():
            gmm.fit(X)
            done.set()

        t = threading.Thread(target=fit)
        start = time.perf_counter()
        t.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)
        t.join()
        return ticks, time.perf_counter() - start

    # The fit must last long enough to tell (an idle machine finishes 20 iterations quickly):
    # lengthen it until it takes at least 0.2 s.
    for max_iter in (20, 80, 320, 1280):
        ticks, elapsed = fit_while_ticking(max_iter)
        if elapsed > 0.2:
            break
    assert elapsed > 0.2, "fit too short to tell"
    # Were the GIL held during the C++ fit, the main thread could not tick until it ended
    # (one or two ticks); released, it ticks every few milliseconds even on a busy machine.
    assert len(ticks) >= 20, (len(ticks), elapsed)


@pytest.mark.filterwarnings("ignore::flashgmm.ConvergenceWarning")
def test_ctrl_c_stops_a_long_fit():
    X = blobs(n=40000, d=16, k=8)
    gmm = GaussianMixture(64, covariance_type="diag", max_iter=100000, tol=0.0, random_state=0)
    timer = threading.Timer(0.5, _thread.interrupt_main)  # what Ctrl-C does (SIGINT → main thread)
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        gmm.fit(X)
    assert time.perf_counter() - start < 20
    timer.join()
    # The estimator is still usable afterwards.
    gmm.set_params(max_iter=5, n_components=4).fit(X[:2000])
    assert gmm.means_.shape == (4, 16)


def test_exception_in_progress_callback_stops_fit(X, monkeypatch):
    gmm = GaussianMixture(4, verbose=1, verbose_interval=1, random_state=0)

    def boom(*a, **k):
        raise RuntimeError("stop here")
    monkeypatch.setattr("builtins.print", boom)
    with pytest.raises(RuntimeError, match="stop here"):
        gmm.fit(X)


# ------------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad, exc, msg", [
    # Other numeric dtypes are converted to float64 as scikit-learn does (test_sklearn_conformance.py).
    (lambda X: X.astype(np.complex64), ValueError, "Complex data not supported"),
    (lambda X: X[:, 0], ValueError, "Expected 2D array"),
    (lambda X: X[None], ValueError, "Found array with dim 3"),
    (lambda X: X[:1], ValueError, "minimum of 2 is required"),
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:, :0], ValueError, "0 feature"),
    (lambda X: np.where(np.arange(X.shape[0])[:, None] == 17, np.nan, X), ValueError, "row 17"),
    (lambda X: np.where(np.arange(X.shape[0])[:, None] == 5, np.inf, X), ValueError, "row 5"),
    (lambda X: np.where(np.arange(X.shape[0])[:, None] == 9, 1e300, X.astype(np.float64)), ValueError, "row 9"),
    (lambda X: "not an array", ValueError, "could not convert string to float"),
    (lambda X: [[1.0, 2.0], [3.0]], ValueError, "cannot be converted"),
])
def test_bad_X_for_fit(X, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        GaussianMixture(2).fit(bad(X))


def test_bad_X_for_predict(X):
    gmm = GaussianMixture(4, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is expecting 5"):
        gmm.predict(X[:, :3])
    with pytest.raises(ValueError, match="Complex data not supported"):
        gmm.predict_proba(X.astype(np.complex64))
    Y = np.asfortranarray(X, dtype=np.float64)
    Y[123, 2] = np.nan
    for method in (gmm.predict, gmm.predict_proba, gmm.score_samples, gmm.score):
        with pytest.raises(ValueError, match="row 123"):
            method(Y)


def test_sparse_input_is_rejected(X):
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse"):
        GaussianMixture(2).fit(sparse.csr_matrix(X))


def test_not_fitted(X):
    gmm = GaussianMixture(2)
    for method in (gmm.predict, gmm.predict_proba, gmm.score_samples, gmm.score, gmm.bic, gmm.aic):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(X)
    with pytest.raises(NotFittedError):
        gmm.sample(3)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize("w, msg", [
    (lambda n: np.ones(n + 1), r"sample_weight must have shape"),
    (lambda n: np.ones((n, 1)), r"sample_weight must have shape"),
    (lambda n: -np.ones(n), r"must be >= 0"),
    (lambda n: np.where(np.arange(n) == 3, np.nan, 1.0), "NaN"),
    (lambda n: np.zeros(n), "sums to zero"),
])
def test_bad_sample_weight(X, w, msg):
    with pytest.raises(ValueError, match=msg):
        GaussianMixture(2).fit(X, sample_weight=w(X.shape[0]))


def test_sample_weight_of_strings_is_a_type_error(X):
    with pytest.raises(TypeError):
        GaussianMixture(2).fit(X, sample_weight=np.array(["a"] * X.shape[0]))


@pytest.mark.parametrize("params, exc, msg", [
    (dict(n_components=0), ValueError, "n_components must be >= 1"),
    (dict(n_components="3"), TypeError, "n_components must be an int"),
    (dict(n_components=2.5), TypeError, "n_components must be an int"),
    (dict(covariance_type="banana"), ValueError, "covariance_type must be one of"),
    (dict(init_params="kmeans2"), ValueError, "init_params must be one of"),
    (dict(tol=-1.0), ValueError, "tol"),
    (dict(reg_covar=float("nan")), ValueError, "reg_covar"),
    (dict(max_iter=-1), ValueError, "max_iter"),
    (dict(n_init=0), ValueError, "n_init"),
    (dict(random_state="seed"), ValueError, "random_state"),
    (dict(random_state=-1), ValueError, "random_state"),
    (dict(device="tpu"), ValueError, "device must be one of"),
    (dict(precision="half"), ValueError, "precision must be one of"),
    (dict(gpu_memory_budget=-5), ValueError, "gpu_memory_budget"),
    (dict(warm_start="yes"), TypeError, "warm_start"),
    (dict(n_components=2, weights_init=[0.5, 0.2, 0.3]), ValueError, r"'weights' should have the shape of \(2,\)"),
    (dict(n_components=2, weights_init=[0.9, 0.9]), ValueError, "weights"),
    (dict(n_components=2, means_init=np.zeros((2, 4))), ValueError, r"'means' should have the shape of \(2, 5\)"),
    (dict(n_components=2, covariance_type="full", precisions_init=np.ones((2, 5))), ValueError,
     r"'full precision' should have the shape of \(2, 5, 5\)"),
    (dict(n_components=2, covariance_type="diag", precisions_init=-np.ones((2, 5))), ValueError, "precision"),
    (dict(n_components=2, covariance_type="full", precisions_init=np.tile(-np.eye(5), (2, 1, 1))), ValueError,
     "'full precision' should be symmetric, positive-definite"),
    (dict(n_components=5000), ValueError, "n_samples >= n_components"),
])
def test_bad_parameters(X, params, exc, msg):
    with pytest.raises(exc, match=msg):
        GaussianMixture(**params).fit(X)


def test_library_errors_are_value_errors():
    assert issubclass(flashgmm.Error, ValueError)


def test_cuda_device_without_cuda_is_a_clear_error(X):
    if flashgmm.cuda_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="(?i)cuda"):
        GaussianMixture(2, device="cuda").fit(X)
    GaussianMixture(2, device="auto").fit(X)  # falls back to the CPU
