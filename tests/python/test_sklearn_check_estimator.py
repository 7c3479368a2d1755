"""scikit-learn's check_estimator, every check as its own test, on flashgmm.GaussianMixture."""
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks  # noqa: E402

from flashgmm import GaussianMixture  # noqa: E402


@parametrize_with_checks([GaussianMixture(device="cpu"), GaussianMixture(3, covariance_type="diag", device="cpu")])
def test_sklearn_check(estimator, check):
    name = getattr(check, "func", check).__name__
    kind = getattr(check, "keywords", {}).get("kind")
    if name == "check_sample_weights_invariance" and kind == "zeros" and estimator.n_components > 1:
        # sample_weight is ours (scikit-learn's GaussianMixture has none): with K > 1 this check
        # wants the same clustering of 16 rows as of those rows shuffled among 16 zero-weight
        # ones, i.e. an init invariant to row order. Ours (like scikit-learn's k-means) is not;
        # with the default K = 1 it passes.
        pytest.xfail("init depends on row order; sample_weight is not scikit-learn's")
    check(estimator)


def test_check_estimator_whole():
    # The public entry point as users call it (it stops at the first failing check).
    check_estimator(GaussianMixture(device="cpu"))
