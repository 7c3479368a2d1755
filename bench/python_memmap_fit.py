#!/usr/bin/env python3
"""Python binding overhead on a large memory-mapped fit: flashgmm.GaussianMixture on a
2M x 64 float32 .npy opened with np.load(mmap_mode='r'), K=1024 diagonal, against the C++ CLI
(`flashgmm fit`) on the same file with the same seed, alternating runs, each in its own process.

Prints, per run: seconds per EM iteration (the library's own per-iteration timer, so both
sides measure the same thing), peak RSS, and for the Python process the resident pages of the
data file (from /proc/self/smaps) and the peak RSS above them. scikit-learn's GaussianMixture
would allocate its N x K float64 responsibility matrix: 2M x 1024 x 8 B = 16.4 GB.

    /usr/bin/python3 bench/python_memmap_fit.py --cli build-py/bin/flashgmm \
        --pythonpath build-py/python --data data/bench_2m_64.npy
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def mapped_rss_kb(path):
    """Resident pages of `path` mapped into this process (sum over its mappings)."""
    path = os.path.realpath(path)
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                inside = len(parts) >= 6 and parts[5] == path
            elif inside and parts[0] == "Rss:":
                total += int(parts[1])
    return total


def child(args):
    """The measured Python fit (runs in its own process)."""
    import numpy as np
    import flashgmm
    base_kb = status_kb("VmRSS")
    X = np.load(args.data, mmap_mode="r")
    assert isinstance(X, np.memmap) and X.dtype == np.float32 and X.flags.c_contiguous
    gmm = flashgmm.GaussianMixture(args.k, covariance_type="diag", max_iter=args.iters, tol=0.0, random_state=0,
                                   device="cpu")
    t0 = time.perf_counter()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", flashgmm.ConvergenceWarning)
        gmm.fit(X)
    wall = time.perf_counter() - t0
    iters = [h["seconds"] for h in gmm.fit_info_["history"]]
    print(json.dumps({"iter_seconds": iters, "fit_seconds": wall, "lower_bound": gmm.lower_bound_,
                      "peak_rss_kb": status_kb("VmHWM"), "data_rss_kb": mapped_rss_kb(args.data),
                      "base_rss_kb": base_kb}))


def run_measured(cmd, env=None):
    """Runs cmd; returns (stdout, peak RSS in kB, CPU seconds (user + system) of that process)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err or out}")
    return out, ru.ru_maxrss, ru.ru_utime + ru.ru_stime


def cli_run(args):
    out, peak, cpu = run_measured([args.cli, "fit", "--data", args.data, "--k", str(args.k), "--covariance", "diag",
                              "--max-iter", str(args.iters), "--tol", "0", "--seed", "0", "--device", "cpu",
                              "--json", "--out", "/tmp/python_memmap_fit_cli.fgmm"])
    iters = []
    for line in out.splitlines():  # progress lines: init iter log-likelihood change seconds reseeded
        f = line.split()
        if len(f) == 6 and f[0].isdigit() and f[1].isdigit():
            iters.append(float(f[4]))
    summary = json.loads(out.strip().splitlines()[-1])
    return {"iter_seconds": iters, "fit_seconds": summary["seconds"], "lower_bound": summary["lower_bound"],
            "peak_rss_kb": peak, "cpu_seconds": cpu}


def python_run(args):
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out, peak, cpu = run_measured([sys.executable, __file__, "--child", "--data", args.data, "--k", str(args.k),
                              "--iters", str(args.iters)], env)
    r = json.loads(out.strip().splitlines()[-1])
    r["peak_rss_kb_wait4"] = peak
    r["cpu_seconds"] = cpu
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli", default="build-py/bin/flashgmm")
    ap.add_argument("--pythonpath", default="build-py/python", help="where the flashgmm package is ('' = installed)")
    ap.add_argument("--data", default="data/bench_2m_64.npy")
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    if not os.path.exists(args.data):
        os.makedirs(os.path.dirname(os.path.abspath(args.data)), exist_ok=True)
        print(f"generating {args.data} ({args.n} x {args.d} float32, {args.k} clusters)", flush=True)
        subprocess.run([args.cli, "generate", "--out", args.data, "--n", str(args.n), "--d", str(args.d),
                        "--k", str(args.k), "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    size_mb = os.path.getsize(args.data) / 2**20
    print(f"data {args.data}: {size_mb:.0f} MiB; K={args.k} diag, {args.iters} EM iterations per fit, "
          f"{os.cpu_count()} CPUs", flush=True)

    runs = {"cli": [], "python": []}
    for rep in range(args.reps):
        for name, fn in (("cli", cli_run), ("python", python_run)) if rep % 2 == 0 else \
                        (("python", python_run), ("cli", cli_run)):
            r = fn(args)
            runs[name].append(r)
            extra = ""
            if name == "python":
                extra = (f", data pages resident {r['data_rss_kb'] / 2**20:.3f} GiB, peak above them "
                         f"{(r['peak_rss_kb'] - r['data_rss_kb']) / 2**20:.3f} GiB (interpreter + imports "
                         f"{r['base_rss_kb'] / 2**20:.3f} GiB)")
            print(f"  {name:6s} rep {rep}: s/iter {', '.join(f'{s:.3f}' for s in r['iter_seconds'])}; fit "
                  f"{r['fit_seconds']:.2f} s; process CPU {r['cpu_seconds']:.1f} s; lower bound {r['lower_bound']:.6f}; peak RSS "
                  f"{r['peak_rss_kb'] / 2**20:.3f} GiB{extra}", flush=True)

    med = {n: statistics.median(s for r in rs for s in r["iter_seconds"]) for n, rs in runs.items()}
    cpu = {n: statistics.median(r["cpu_seconds"] for r in rs) for n, rs in runs.items()}
    over = max((r["peak_rss_kb"] - r["data_rss_kb"]) / 2**20 for r in runs["python"])
    print(f"\nmedian s/iter: CLI {med['cli']:.3f}, Python {med['python']:.3f}; Python/CLI = "
          f"{med['python'] / med['cli']:.3f} (binding overhead {100 * (med['python'] / med['cli'] - 1):+.1f}%)")
    print(f"median process CPU seconds (whole run: load, init, EM): CLI {cpu['cli']:.1f}, Python {cpu['python']:.1f}; "
          f"Python/CLI = {cpu['python'] / cpu['cli']:.3f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    lbs = {round(r["lower_bound"], 9) for rs in runs.values() for r in rs}
    print(f"lower bounds {'identical' if len(lbs) == 1 else 'DIFFER: ' + str(sorted(lbs))} across all runs "
          f"(same library, same seed: the same computation)")
    print(f"Python peak RSS above the data file's resident pages: {over:.3f} GiB (max over runs); "
          f"scikit-learn's N x K float64 responsibilities alone: {args.n * args.k * 8 / 1e9:.1f} GB")


if __name__ == "__main__":
    main()
