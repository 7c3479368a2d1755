#!/usr/bin/env python3
"""scikit-learn-style Gaussian mixtures with flashgmm: fit, predict_proba, and choosing the number
of components by BIC, with a plot.

    /usr/bin/python3 examples/gmm_basics/gmm_basics.py [--n 6000] [--plot gmm_basics.png]

Data: 2-D points from 4 elongated, overlapping Gaussian clusters (so the plot shows the fitted
ellipses). flashgmm.GaussianMixture takes scikit-learn's parameters; device="auto" runs EM on
the GPU when flashgmm was built with CUDA and one is present, else on the CPU.
"""
import argparse
import os

import numpy as np

import flashgmm
from flashgmm import GaussianMixture

CACHE = os.path.expanduser(os.environ.get("FLASHGMM_CACHE", "~/.cache/flashgmm"))


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0], [6, 1], [2, 6], [8, 7]], float)
    covs = [np.array([[3, 1.8], [1.8, 1.5]]), np.array([[1, -0.6], [-0.6, 2]]), np.array([[0.5, 0], [0, 2.5]]),
            np.array([[2, 1.2], [1.2, 1.2]])]
    sizes = rng.multinomial(n, [0.4, 0.25, 0.2, 0.15])
    X = np.concatenate([rng.multivariate_normal(m, c, s) for m, c, s in zip(means, covs, sizes)])
    labels = np.repeat(np.arange(4), sizes)
    p = rng.permutation(n)
    return X[p].astype(np.float32), labels[p]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--max-k", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--plot", default=os.path.join(CACHE, "examples", "gmm_basics.png"))
    a = ap.parse_args()
    X, truth = make_data(a.n)
    device = "cuda" if a.device != "cpu" and flashgmm.cuda_available() else "cpu"
    print(f"data: {len(X)} points in 2-D from 4 clusters; EM on {device}")

    # 1. Fit and use it like scikit-learn's GaussianMixture.
    gmm = GaussianMixture(n_components=4, covariance_type="full", n_init=2, random_state=0, device=a.device).fit(X)
    print(f"\nK=4, full covariances: converged={gmm.converged_} in {gmm.n_iter_} iterations, "
          f"mean log-likelihood {gmm.score(X):.4f}")
    print("weights:", np.round(gmm.weights_, 3))
    print("means:\n", np.round(gmm.means_, 2))
    proba = gmm.predict_proba(X[:5])
    print("predict_proba of the first 5 points:\n", np.round(proba, 3))
    labels = gmm.predict(X)
    # Agreement with the generating clusters, up to relabelling (best match per component).
    agree = sum(np.bincount(truth[labels == k]).max() for k in range(4) if (labels == k).any()) / len(X)
    print(f"points whose component matches their generating cluster (best relabelling): {agree:.3f}")

    # 2. Model selection: BIC over K and covariance types (lower is better).
    print(f"\n{'K':>3} " + " ".join(f"{c:>12}" for c in ("spherical", "diag", "full", "tied")))
    bic = {}
    for k in range(1, a.max_k + 1):
        row = []
        for cov in ("spherical", "diag", "full", "tied"):
            m = GaussianMixture(n_components=k, covariance_type=cov, random_state=0, device=a.device).fit(X)
            bic[(k, cov)] = m.bic(X)
            row.append(f"{bic[(k, cov)]:>12.1f}")
        print(f"{k:>3} " + " ".join(row))
    best_k, best_cov = min(bic, key=bic.get)
    print(f"lowest BIC: K={best_k}, covariance_type={best_cov!r}")
    best = GaussianMixture(n_components=best_k, covariance_type=best_cov, random_state=0, device=a.device).fit(X)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Ellipse
    except ImportError:
        print("matplotlib not installed (apt-get install python3-matplotlib): no plot")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax1.scatter(X[:, 0], X[:, 1], c=best.predict(X), s=3, cmap="tab10")
    covs = best.covariances_
    for k in range(best_k):
        c = {"full": lambda: covs[k], "tied": lambda: covs, "diag": lambda: np.diag(covs[k]),
             "spherical": lambda: np.eye(2) * covs[k]}[best_cov]()
        vals, vecs = np.linalg.eigh(c)
        for s in (1, 2):
            ax1.add_patch(Ellipse(best.means_[k], *(2 * s * np.sqrt(vals[::-1])),
                                  angle=np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])), fill=False, lw=1.2,
                                  alpha=0.8 if s == 1 else 0.4))
    ax1.set_title(f"best by BIC: K={best_k}, {best_cov} (1σ and 2σ ellipses)")
    for cov in ("spherical", "diag", "full", "tied"):
        ax2.plot(range(1, a.max_k + 1), [bic[(k, cov)] for k in range(1, a.max_k + 1)], "o-", label=cov)
    ax2.set_xlabel("K (n_components)")
    ax2.set_ylabel("BIC (lower is better)")
    ax2.legend()
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(a.plot)), exist_ok=True)
    fig.savefig(a.plot, dpi=110)
    print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
