"""scikit-learn estimator conventions: posteriors, clone/get_params/set_params, Pipeline,
GridSearchCV, pickling, sampling, warm start, verbose output."""
import pickle
import sys
import warnings

import numpy as np
import pytest

from conftest import blobs
from flashgmm import ConvergenceWarning, GaussianMixture


def test_no_sklearn_estimator_is_imported_by_the_package():
    # Only scikit-learn's exception classes are used (ours subclass them); its estimators,
    # k-means included, are not: the fit is ours.
    import subprocess
    code = "import flashgmm, sys; flashgmm.GaussianMixture(2).fit([[0.0], [1.0], [5.0], [6.0]]); " \
           "print(sorted(m for m in sys.modules if m.startswith(('sklearn.mixture', 'sklearn.cluster'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_predict_proba_rows_sum_to_one_and_agree_with_predict(X, covariance_type):
    gmm = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    proba = gmm.predict_proba(X)
    assert proba.shape == (X.shape[0], 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(proba >= 0)
    labels = gmm.predict(X)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    ids, probs = gmm.predict_topk(X, 2)
    np.testing.assert_array_equal(ids[:, 0], labels)
    np.testing.assert_allclose(probs, np.take_along_axis(proba, ids.astype(np.int64), axis=1), atol=1e-5)
    assert np.all(probs[:, 0] >= probs[:, 1])
    np.testing.assert_array_equal(gmm.fit_predict(X), gmm.predict(X))


def test_score_is_mean_of_score_samples_and_weighted_score(X):
    gmm = GaussianMixture(4, covariance_type="diag", random_state=0).fit(X)
    s = gmm.score_samples(X)
    assert s.dtype == np.float64 and s.shape == (X.shape[0],)
    assert gmm.score(X) == pytest.approx(s.mean(), rel=1e-9)
    w = np.random.default_rng(0).uniform(0, 2, X.shape[0])
    assert gmm.score(X, sample_weight=w) == pytest.approx((w * s).sum() / w.sum(), rel=1e-5)


def test_get_params_set_params_and_clone():
    from sklearn.base import clone
    init = np.zeros((3, 2))
    gmm = GaussianMixture(3, covariance_type="diag", means_init=init, random_state=7, device="cpu")
    params = gmm.get_params()
    assert params["n_components"] == 3 and params["covariance_type"] == "diag"
    assert params["means_init"] is init and params["device"] == "cpu"
    assert set(params) == {"n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
                           "init_params", "weights_init", "means_init", "precisions_init", "random_state",
                           "warm_start", "verbose", "verbose_interval", "device", "precision",
                           "gpu_memory_budget"}
    assert gmm.set_params(n_components=5, tol=1e-4) is gmm
    assert gmm.n_components == 5 and gmm.tol == 1e-4
    with pytest.raises(ValueError, match="Invalid parameter 'n_clusters'"):
        gmm.set_params(n_clusters=3)
    c = clone(gmm)
    assert c is not gmm and c.get_params()["n_components"] == 5
    np.testing.assert_array_equal(c.means_init, init)
    assert repr(gmm).startswith("GaussianMixture(") and "n_components=5" in repr(gmm)


def test_clone_of_fitted_estimator_is_unfitted(X):
    from sklearn.base import clone
    from flashgmm import NotFittedError
    gmm = GaussianMixture(4, random_state=0).fit(X)
    c = clone(gmm)
    assert not hasattr(c, "means_")
    with pytest.raises(NotFittedError):
        c.predict(X)


def test_pipeline_and_grid_search(X):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    pipe = Pipeline([("scale", StandardScaler()), ("gmm", GaussianMixture(2, random_state=0))])
    pipe.fit(X)
    assert pipe.predict(X).shape == (X.shape[0],)
    search = GridSearchCV(pipe, {"gmm__n_components": [1, 4], "gmm__covariance_type": ["diag", "full"]}, cv=3)
    search.fit(X)
    assert search.best_params_["gmm__n_components"] == 4  # the data has 4 clusters
    assert np.isfinite(search.best_score_)
    assert search.best_estimator_.named_steps["gmm"].means_.shape == (4, X.shape[1])


def test_pickle_round_trip(X):
    gmm = GaussianMixture(4, covariance_type="full", random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(gmm))
    np.testing.assert_array_equal(back.means_, gmm.means_)
    np.testing.assert_array_equal(back.score_samples(X), gmm.score_samples(X))
    unfitted = pickle.loads(pickle.dumps(GaussianMixture(3)))
    assert unfitted.n_components == 3 and not hasattr(unfitted, "means_")


def test_save_load_model_file(X, tmp_path):
    gmm = GaussianMixture(4, covariance_type="tied", random_state=0).fit(X)
    gmm.save(tmp_path / "m.fgmm")
    back = GaussianMixture.load(tmp_path / "m.fgmm")
    assert back.n_components == 4 and back.covariance_type == "tied"
    np.testing.assert_allclose(back.score_samples(X), gmm.score_samples(X))


def test_fitted_attributes_are_read_only(X):
    gmm = GaussianMixture(4, random_state=0).fit(X)
    with pytest.raises(ValueError):
        gmm.means_[0, 0] = 1.0


def test_random_state_reproducible_and_sample(X):
    a = GaussianMixture(4, init_params="k-means++", random_state=3).fit(X)
    b = GaussianMixture(4, init_params="k-means++", random_state=np.random.RandomState(3)).fit(X)
    c = GaussianMixture(4, init_params="k-means++", random_state=3).fit(X)
    np.testing.assert_array_equal(a.means_, c.means_)
    assert b.converged_
    xs, ys = a.sample(5000)
    assert xs.shape == (5000, X.shape[1]) and ys.shape == (5000,)
    counts = np.bincount(ys, minlength=4) / 5000
    np.testing.assert_allclose(counts, a.weights_, atol=0.03)
    for k in range(4):
        np.testing.assert_allclose(xs[ys == k].mean(axis=0), a.means_[k], atol=0.2)
    xs2, _ = a.sample(5000)
    np.testing.assert_array_equal(xs, xs2)  # an int random_state repeats, as in scikit-learn


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_method_finds_the_clusters(X, init_params):
    gmm = GaussianMixture(4, covariance_type="diag", init_params=init_params, n_init=2, random_state=1,
                          max_iter=300).fit(X)
    ref = GaussianMixture(4, covariance_type="diag", random_state=0).fit(X)
    assert gmm.score(X) == pytest.approx(ref.score(X), rel=1e-3)


def test_warm_start_continues_from_previous_model(X):
    # Five warm-started fits of one iteration follow the path of one fit of five iterations.
    common = dict(n_components=4, covariance_type="diag", init_params="random_from_data", random_state=0, tol=0.0)
    gmm = GaussianMixture(max_iter=1, warm_start=True, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        path = [h["lower_bound"] for h in GaussianMixture(max_iter=5, **common).fit(X).fit_info_["history"]]
        bounds = [gmm.fit(X).lower_bound_ for _ in range(5)]
    np.testing.assert_allclose(bounds, path, rtol=1e-6)
    assert bounds[-1] > bounds[0] + 1e-3


def test_not_converged_warns(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(4, max_iter=1, tol=0.0, random_state=0).fit(X)


def test_verbose_prints_progress(X, capsys):
    GaussianMixture(4, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1\t time lapse" in out and "Initialization converged" in out


def test_predict_topk_m_out_of_range(X):
    gmm = GaussianMixture(4, random_state=0).fit(X)
    with pytest.raises(ValueError, match="m must be"):
        gmm.predict_topk(X, 5)
    with pytest.raises(ValueError):
        gmm.predict_topk(X, 0)
