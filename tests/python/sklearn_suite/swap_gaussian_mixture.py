"""pytest plugin: scikit-learn's own mixture tests, run against flashgmm.GaussianMixture.

Loaded with ``-p swap_gaussian_mixture`` before collection, it replaces
``sklearn.mixture.GaussianMixture`` by ours, so that scikit-learn's unmodified test modules
(which do ``from sklearn.mixture import GaussianMixture`` at import) test our class. Collection
then checks that each collected module really holds ours: a swap that silently failed would
otherwise test scikit-learn against itself and pass."""
import sklearn.mixture

import flashgmm

sklearn.mixture.GaussianMixture = flashgmm.GaussianMixture


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        module = getattr(item, "module", None)
        held = getattr(module, "GaussianMixture", None)
        if held is not None and held is not flashgmm.GaussianMixture:
            raise RuntimeError(f"{module.__name__} holds {held!r}, not flashgmm.GaussianMixture: the swap failed")
