"""Behaviour that scikit-learn's GaussianMixture has and its test file does not pin down (or
pins down only in passing): exception classes, dtypes, max_iter=0, warm starts, messages."""
import warnings

import numpy as np
import pytest

from conftest import blobs
from flashgmm import ConvergenceWarning, GaussianMixture, NotFittedError

sklearn = pytest.importorskip("sklearn")
from sklearn import exceptions as skexc  # noqa: E402


def test_exception_and_warning_classes_are_sklearns():
    assert issubclass(NotFittedError, skexc.NotFittedError)
    assert issubclass(ConvergenceWarning, skexc.ConvergenceWarning)
    with pytest.raises(skexc.NotFittedError):
        GaussianMixture().predict(np.zeros((3, 2)))
    with pytest.warns(skexc.ConvergenceWarning, match="Initialization 1 did not converge"):
        GaussianMixture(2, max_iter=1, random_state=0).fit(blobs(n=300, d=2, k=2, dtype=np.float64))


def test_warning_names_the_last_initialisation_from_one():
    with pytest.warns(ConvergenceWarning, match="Initialization 3 did not converge"):
        GaussianMixture(2, max_iter=1, n_init=3, random_state=0).fit(blobs(n=300, d=2, k=2))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.float16, object])
def test_other_numeric_dtypes_are_read_as_float64(dtype):
    X = np.round(blobs(n=400, d=3, k=2, dtype=np.float64) * 3).astype(dtype)
    ours = GaussianMixture(2, random_state=0).fit(X)
    same = GaussianMixture(2, random_state=0).fit(X.astype(np.float64))
    np.testing.assert_array_equal(ours.means_, same.means_)
    np.testing.assert_array_equal(ours.predict(X), same.predict(X.astype(np.float64)))


def test_complex_data_is_a_value_error():
    X = blobs(n=50, d=2, k=2).astype(np.complex128)
    with pytest.raises(ValueError, match="Complex data not supported"):
        GaussianMixture(2).fit(X)


def test_non_numeric_object_data_is_refused():
    X = blobs(n=50, d=2, k=2).astype(object)
    X[0, 0] = {"a": 1}
    with pytest.raises(TypeError):
        GaussianMixture(2).fit(X)


def test_outputs_are_float64():
    X = blobs(n=500, d=3, k=2)
    g = GaussianMixture(2, random_state=0).fit(X)
    assert g.predict_proba(X).dtype == np.float64
    np.testing.assert_allclose(g.predict_proba(X).sum(axis=1), 1.0, atol=1e-6)
    x, y = g.sample(7)
    assert x.dtype == np.float64 and x.shape == (7, 3) and y.dtype == np.int64


def test_max_iter_zero_returns_the_initialisation():
    X = blobs(n=500, d=2, k=2, dtype=np.float64)
    means = np.array([[20.0, 30.0], [30.0, 25.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # sklearn does not warn for max_iter=0
        g = GaussianMixture(2, means_init=means, max_iter=0, random_state=0).fit(X)
    np.testing.assert_array_equal(g.means_, means)
    assert g.n_iter_ == 0 and not g.converged_ and g.lower_bound_ == -np.inf
    # and the kmeans init alone is a usable model
    g0 = GaussianMixture(2, max_iter=0, random_state=0).fit(X)
    assert np.isfinite(g0.score(X))


def test_warm_start_continues_and_converges():
    X = blobs(n=2000, d=2, k=3, dtype=np.float64)
    cold = GaussianMixture(3, max_iter=4, random_state=1, tol=1e-6)
    warm = GaussianMixture(3, max_iter=2, random_state=1, tol=1e-6, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X)
        warm.fit(X)
        warm.fit(X)
        np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-5, atol=1e-6)  # 2 + 2 iterations = 4
        for _ in range(200):
            warm.fit(X)
            if warm.converged_:
                break
    assert warm.converged_ and warm.n_iter_ <= 2


def test_non_symmetric_precisions_init_is_refused():
    X = blobs(n=300, d=2, k=2)
    prec = np.array([[[1.0, 0.5], [0.0, 1.0]], np.eye(2)])
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-definite"):
        GaussianMixture(2, precisions_init=prec).fit(X)


def test_one_sample_is_refused_like_sklearn():
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        GaussianMixture(1).fit(np.zeros((1, 3)))


def test_sample_needs_at_least_one():
    g = GaussianMixture(2, random_state=0).fit(blobs(n=300, d=2, k=2))
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        g.sample(0)


def test_degenerate_data_without_regularisation_raises_sklearns_error():
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    for cov in ("full", "tied", "diag", "spherical"):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            GaussianMixture(10, reg_covar=0, covariance_type=cov, random_state=0).fit(X)
