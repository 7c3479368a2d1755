#!/usr/bin/env python3
"""One EM iteration on the CPU: flashgmm vs scikit-learn's GaussianMixture vs FAISS k-means,
on the same clustered float32 data in the same run, each in its own process so that its peak RSS
is its own. Prints seconds per iteration, ratios and peak RSS; then a large-N fit whose peak RSS
must stay under 1 GB.

Run with Debian's interpreter (it has numpy, scikit-learn and faiss):
    /usr/bin/python3 bench/cpu_em_bench.py --flashgmm build/bin/flashgmm
"""
import argparse, json, os, resource, subprocess, sys, tempfile, textwrap, time

import numpy as np


def make_blobs(path, n, d, k, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4.0, size=(k, d)).astype(np.float32)
    x = np.empty((n, d), np.float32)
    step = 1 << 16
    for b in range(0, n, step):
        m = min(step, n - b)
        lab = rng.integers(0, k, size=m)
        x[b:b + m] = centers[lab] + rng.normal(0, 1.0, size=(m, d)).astype(np.float32)
    np.save(path, x)


def run(cmd, env=None):
    """Runs cmd; returns (stdout, peak RSS of that process in MB)."""
    t = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        return None, ru.ru_maxrss / 1024, (err or out).strip().splitlines()[-1:]
    return out, ru.ru_maxrss / 1024, time.time() - t


def flashgmm_iter(binary, data, k, cov, iters):
    out, rss, _ = run([binary, "fit", "--data", data, "--k", str(k), "--covariance", cov, "--max-iter",
                       str(iters), "--tol", "0", "--quiet", "--json", "--out", os.path.join(tempfile.gettempdir(), "bench.fgmm")])
    if out is None:
        sys.exit(f"flashgmm fit failed: {_}")
    j = json.loads(out.strip().splitlines()[-1])
    return j["seconds_per_iteration"], rss, j


SKLEARN = textwrap.dedent("""
    import sys, time, warnings, numpy as np
    from sklearn.mixture import GaussianMixture
    warnings.simplefilter("ignore")
    x = np.load(sys.argv[1]); k = int(sys.argv[2]); cov = sys.argv[3]
    def fit(iters):
        g = GaussianMixture(k, covariance_type=cov, max_iter=iters, tol=0, init_params="random_from_data",
                            random_state=0)
        t = time.perf_counter(); g.fit(x); return time.perf_counter() - t
    t1 = fit(1); t3 = fit(3)
    print((t3 - t1) / 2)
""")

FAISS = textwrap.dedent("""
    import sys, time, numpy as np, faiss
    x = np.load(sys.argv[1]); k = int(sys.argv[2])
    km = faiss.Kmeans(x.shape[1], k, niter=5, seed=1, max_points_per_centroid=1 << 30)
    km.train(x)
    st = km.iteration_stats
    times = [st.at(i).time for i in range(st.size())] if hasattr(st, "at") else [s["time"] for s in st]
    print((times[-1] - times[0]) / (len(times) - 1))
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flashgmm", default="build/bin/flashgmm")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--large-n", type=int, default=2_000_000)
    ap.add_argument("--skip-sklearn", action="store_true")
    a = ap.parse_args()
    cache = os.environ.get("FLASHGMM_DATA_DIR", os.path.expanduser("~/.cache/flashgmm"))
    os.makedirs(cache, exist_ok=True)
    data = os.path.join(cache, f"bench_blobs_{a.n}_{a.d}_{a.k}.npy")
    if not os.path.exists(data):
        make_blobs(data, a.n, a.d, a.k, 1)
    size_mb = os.path.getsize(data) / 2**20
    print(f"data: {a.n} x {a.d} float32 ({size_mb:.0f} MB), K={a.k}; {os.cpu_count()} CPUs")
    rows = []
    for cov in ("spherical", "diag"):
        ours, rss, _ = flashgmm_iter(a.flashgmm, data, a.k, cov, 4)
        sk = sk_rss = None
        if not a.skip_sklearn:
            out, sk_rss, info = run([sys.executable, "-c", SKLEARN, data, str(a.k), cov])
            sk = float(out) if out is not None else None
            if out is None:
                print(f"  scikit-learn {cov}: failed: {info}")
        rows.append((cov, ours, rss, sk, sk_rss))
    out, km_rss, _ = run([sys.executable, "-c", FAISS, data, str(a.k)])
    km = float(out)
    print(f"\n{'method':28s} {'s/iter':>8s} {'vs ours':>8s} {'peak RSS MB':>12s}")
    for cov, ours, rss, sk, sk_rss in rows:
        print(f"{'flashgmm ' + cov:28s} {ours:8.3f} {1.0:8.2f} {rss:12.0f}")
        if sk is not None:
            print(f"{'scikit-learn ' + cov:28s} {sk:8.3f} {sk / ours:8.2f} {sk_rss:12.0f}")
    print(f"{'FAISS k-means':28s} {km:8.3f} {km / rows[0][1]:8.2f} {km_rss:12.0f}")
    sph = rows[0]
    print(f"\nspherical: {sph[1]:.3f} s/iter (target <= 0.25), "
          + (f"{sph[3] / sph[1]:.1f}x faster than scikit-learn (target >= 9), " if sph[3] else "")
          + f"{sph[1] / km:.2f}x a k-means iteration (target <= 1.25); peak RSS {sph[2]:.0f} MB "
          f"vs data {size_mb:.0f} MB + 64 MB")
    # Large N: memory must not grow with N·K.
    big = os.path.join(cache, f"bench_blobs_{a.large_n}_32_1024.npy")
    if not os.path.exists(big):
        make_blobs(big, a.large_n, 32, 1024, 2)
    ours, rss, j = flashgmm_iter(a.flashgmm, big, 1024, "diag", 2)
    nk_gb = a.large_n * 1024 * 8 / 1e9
    print(f"\nN={a.large_n}, K=1024, D=32 diag: {ours:.2f} s/iter, peak RSS {rss:.0f} MB "
          f"(data {os.path.getsize(big) / 2**20:.0f} MB; an N×K float64 matrix alone: {nk_gb:.0f} GB)")


if __name__ == "__main__":
    main()
