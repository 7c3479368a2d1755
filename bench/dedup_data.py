#!/usr/bin/env python3
"""Synthetic embeddings with injected near duplicates, for flashgmm-dedup's benchmark and tests.

Base rows: a mixture of `--clusters` anisotropic Gaussian clusters (random scales, so cluster
sizes and spreads vary, like real embeddings) in D dimensions. Then `--dup-fraction` of the rows
are copies of random base rows plus noise: a copy of x is x + eps·|x|·g/√D with g ~ N(0, I) and
eps uniform in [0.02, --max-noise], i.e. cosine similarity ≈ 1/√(1+eps²) (0.96 at eps = 0.3).
Rows are shuffled. Writes OUT (.npy float32) and OUT minus .npy + ".injected.npy": int64
(copy row, source row) pairs.

    /usr/bin/python3 bench/dedup_data.py --n 1000000 --d 64 --out ~/.cache/flashgmm/dedup_1m.npy
"""
import argparse
import os

import numpy as np


def make(n, d, clusters, dup_fraction, max_noise, seed):
    rng = np.random.default_rng(seed)
    n_dup = int(n * dup_fraction)
    n_base = n - n_dup
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    scales = rng.uniform(0.3, 1.0, size=(clusters, 1)).astype(np.float32)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    labels = rng.choice(clusters, size=n_base, p=weights)
    x = np.empty((n, d), dtype=np.float32)
    step = 1 << 18
    for b in range(0, n_base, step):
        e = min(n_base, b + step)
        lab = labels[b:e]
        x[b:e] = centers[lab] + scales[lab] * rng.standard_normal((e - b, d), dtype=np.float32)
    src = rng.integers(0, n_base, size=n_dup)
    eps = rng.uniform(0.02, max_noise, size=(n_dup, 1)).astype(np.float32)
    norms = np.linalg.norm(x[src], axis=1, keepdims=True)
    x[n_base:] = x[src] + eps * norms * rng.standard_normal((n_dup, d), dtype=np.float32) / np.sqrt(d)
    perm = rng.permutation(n)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    injected = np.stack([inv[np.arange(n_base, n)], inv[src]], axis=1).astype(np.int64)
    return x[perm], injected


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--dup-fraction", type=float, default=0.05)
    ap.add_argument("--max-noise", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    x, injected = make(a.n, a.d, a.clusters, a.dup_fraction, a.max_noise, a.seed)
    out = os.path.expanduser(a.out)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.save(out, x)
    np.save(out[:-4] + ".injected.npy" if out.endswith(".npy") else out + ".injected.npy", injected)
    print(f"{out}: {x.shape[0]} x {x.shape[1]} float32, {len(injected)} injected near duplicates")


if __name__ == "__main__":
    main()
