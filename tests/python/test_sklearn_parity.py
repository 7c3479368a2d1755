"""Same data, same initial parameters: flashgmm and scikit-learn reach the same model."""
import numpy as np
import pytest

from conftest import blobs
from flashgmm import GaussianMixture

sklearn_mixture = pytest.importorskip("sklearn.mixture")

K = 4


def initial_parameters(X, covariance_type, seed):
    """Means at random rows, equal weights, precisions from the data's global variance."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    means = X[rng.choice(n, K, replace=False)].astype(np.float64)
    weights = np.full(K, 1.0 / K)
    var = X.astype(np.float64).var(axis=0)
    prec = {
        "spherical": np.full(K, 1.0 / var.mean()),
        "diag": np.tile(1.0 / var, (K, 1)),
        "full": np.tile(np.diag(1.0 / var), (K, 1, 1)),
        "tied": np.diag(1.0 / var),
    }[covariance_type]
    return dict(weights_init=weights, means_init=means, precisions_init=prec)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_init_same_model(covariance_type, seed):
    X = blobs(n=4000, d=6, k=K, seed=seed)
    init = initial_parameters(X, covariance_type, seed)
    common = dict(n_components=K, covariance_type=covariance_type, tol=1e-3, max_iter=200, **init)
    ref = sklearn_mixture.GaussianMixture(**common).fit(X.astype(np.float64))
    ours = GaussianMixture(device="cpu", **common).fit(X)

    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_
    ref_score, our_score = ref.score(X.astype(np.float64)), ours.score(X)
    assert abs(our_score - ref_score) <= 1e-4 * abs(ref_score)
    assert abs(ours.lower_bound_ - ref.lower_bound_) <= 1e-4 * abs(ref.lower_bound_)
    np.testing.assert_allclose(ours.weights_, ref.weights_, atol=1e-4)
    np.testing.assert_allclose(ours.means_, ref.means_, atol=1e-3 * np.abs(ref.means_).max())
    # float32 products: elements agree to ~1e-4 of the matrix's scale (small off-diagonal
    # entries are not compared relatively).
    cov_scale, pc_scale = np.abs(ref.covariances_).max(), np.abs(ref.precisions_cholesky_).max()
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-3, atol=2e-4 * cov_scale)
    np.testing.assert_allclose(ours.precisions_cholesky_, ref.precisions_cholesky_, rtol=2e-3, atol=2e-4 * pc_scale)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X.astype(np.float64)),
                               rtol=1e-4, atol=1e-4)
    assert (ours.predict(X) == ref.predict(X.astype(np.float64))).mean() > 0.999
    assert ours.bic(X) == pytest.approx(ref.bic(X.astype(np.float64)), rel=1e-4)
    assert ours.aic(X) == pytest.approx(ref.aic(X.astype(np.float64)), rel=1e-4)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_attribute_shapes_match_sklearn(covariance_type):
    X = blobs(n=600, d=3, k=K)
    init = initial_parameters(X, covariance_type, 0)
    ref = sklearn_mixture.GaussianMixture(K, covariance_type=covariance_type, **init).fit(X.astype(np.float64))
    ours = GaussianMixture(K, covariance_type=covariance_type, **init).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(ref, name).shape, name
        assert getattr(ours, name).dtype == np.float64
    # precisions_ is the inverse of covariances_
    if covariance_type in ("full", "tied"):
        cov = ours.covariances_.reshape(-1, 3, 3)
        prec = ours.precisions_.reshape(-1, 3, 3)
        for c, p in zip(cov, prec):
            np.testing.assert_allclose(c @ p, np.eye(3), atol=1e-8)
    else:
        np.testing.assert_allclose(ours.covariances_ * ours.precisions_, 1.0, rtol=1e-10)
    assert ours.n_features_in_ == 3


def test_sample_weight_matches_repeated_rows():
    X = blobs(n=800, d=3, k=3)
    rep = np.random.default_rng(3).integers(1, 4, size=X.shape[0])
    init = initial_parameters(X, "diag", 0)
    init = dict(weights_init=np.full(3, 1 / 3), means_init=init["means_init"][:3],
                precisions_init=init["precisions_init"][:3])
    a = GaussianMixture(3, covariance_type="diag", **init).fit(X, sample_weight=rep.astype(np.float32))
    b = GaussianMixture(3, covariance_type="diag", **init).fit(np.repeat(X, rep, axis=0))
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.weights_, b.weights_, atol=1e-5)
