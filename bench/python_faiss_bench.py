#!/usr/bin/env python3
"""The Python FAISS layer against FAISS itself and against the C++ tool, on GloVe (400k x 50,
nlist 1024, the default multi-assignment rule), with whatever `faiss` this interpreter imports.

  1. build cost: `flashgmm-ivf build` (C++ plugin, Debian's FAISS) vs IndexIVFMultiAssign's
     train() and add() (our C++ over NumPy arrays + the user's FAISS add_core), same data,
     same settings (the tool's defaults), one after the other in this process's machine state;
  2. search: on that one index, FAISS's own index.search(q, 10) (which returns each stored copy)
     vs IndexIVFMultiAssign.search(q, 10) (over-fetch + de-duplication), same nprobe, same
     threads, alternated, median of --repeats runs over all queries.

Usage: python bench/python_faiss_bench.py --tool build/bin/flashgmm-ivf [--nprobe 4,16,64]
       [--json out.json]   (data: bench/ivf_data.py glove, cached in ~/.cache/flashgmm)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def glove(cache):
    base, queries = os.path.join(cache, "glove_base.npy"), os.path.join(cache, "glove_queries.npy")
    if not (os.path.exists(base) and os.path.exists(queries)):
        subprocess.check_call([sys.executable, os.path.join(os.path.dirname(__file__), "ivf_data.py"), "glove"])
    return base, queries


def cpp_build(tool, data, nlist, out):
    """`flashgmm-ivf build` with its defaults: (list entries, train seconds, add seconds)."""
    run = subprocess.run([tool, "build", "--data", data, "--nlist", str(nlist), "--out", out],
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"flashgmm-ivf build failed ({run.returncode}): {run.stderr}")
    m = re.search(r"(\d+) list entries .* train ([\d.]+) s, add ([\d.]+) s", run.stdout)
    return int(m.group(1)), float(m.group(2)), float(m.group(3))


def python_build(x, nlist):
    """IndexIVFMultiAssign(d, "IVF<nlist>,Flat") trained and filled with x: (index, train s, add s)."""
    import flashgmm.faiss
    index = flashgmm.faiss.IndexIVFMultiAssign(x.shape[1], f"IVF{nlist},Flat")
    t0 = time.perf_counter()
    index.train(x)
    t1 = time.perf_counter()
    index.add(x)
    return index, t1 - t0, time.perf_counter() - t1


def median_qps(fn, nq, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return nq / float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True, help="the flashgmm-ivf binary")
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", default="4,16,64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--search-only", action="store_true",
                    help="skip the C++ tool's builds (part 1): only build here and compare searches")
    ap.add_argument("--cache", default=os.environ.get("FLASHGMM_CACHE", os.path.expanduser("~/.cache/flashgmm")))
    a = ap.parse_args()

    import faiss
    base_path, query_path = glove(a.cache)
    xb = np.load(base_path)
    xq = np.load(query_path)
    print(f"GloVe: {xb.shape[0]} x {xb.shape[1]} base, {xq.shape[0]} queries; nlist {a.nlist}; "
          f"faiss {faiss.__version__} (Python), {faiss.omp_get_max_threads()} threads", flush=True)
    out = {"faiss": faiss.__version__, "n": int(xb.shape[0]), "d": int(xb.shape[1]), "nq": int(xq.shape[0]),
           "nlist": a.nlist}

    def tool_build():
        with tempfile.TemporaryDirectory() as tmp:
            print("C++ tool: flashgmm-ivf build ...", flush=True)
            got = cpp_build(a.tool, base_path, a.nlist, os.path.join(tmp, "cpp.index"))
            print(f"  train {got[1]:.2f} s, add {got[2]:.2f} s", flush=True)
            return got

    # C++, Python, C++ again: the C++ figure is the mean of the runs around ours (machine drift)
    first = None if a.search_only else tool_build()
    print("Python layer: IndexIVFMultiAssign train + add ...", flush=True)
    index, py_train, py_add = python_build(xb, a.nlist)
    print(f"  train {py_train:.2f} s, add {py_add:.2f} s", flush=True)
    if a.search_only:
        first = second = (0, float("nan"), float("nan"))
    else:
        second = tool_build()
    cpp_entries = first[0]
    cpp_train, cpp_add = (first[1] + second[1]) / 2, (first[2] + second[2]) / 2
    out["build"] = {"cpp_runs": [first[1:], second[1:]],"cpp_train_s": cpp_train, "cpp_add_s": cpp_add, "py_train_s": py_train, "py_add_s": py_add,
                    "cpp_entries": cpp_entries, "py_entries": index.n_entries,
                    "train_ratio": py_train / cpp_train, "add_ratio": py_add / cpp_add}
    print(f"  train: C++ {cpp_train:.2f} s, Python {py_train:.2f} s ({py_train / cpp_train:.3f}x); "
          f"add: C++ {cpp_add:.2f} s, Python {py_add:.2f} s ({py_add / cpp_add:.3f}x); "
          f"entries C++ {cpp_entries}, Python {index.n_entries} (same lists: {cpp_entries == index.n_entries})")

    rows = []
    for nprobe in [int(v) for v in a.nprobe.split(",")]:
        index.nprobe = nprobe
        plain = lambda: index.index.search(xq, 10)  # noqa: E731  (FAISS alone: copies not folded)
        ours = lambda: index.search(xq, 10)  # noqa: E731
        plain(), ours()  # warm
        q_plain = median_qps(plain, len(xq), a.repeats)
        q_ours = median_qps(ours, len(xq), a.repeats)
        q_plain2 = median_qps(plain, len(xq), a.repeats)  # again after ours: drift shows
        _, I_plain = plain()
        dup_rows = int(sum(len(set(r[r >= 0].tolist())) < len(r[r >= 0]) for r in I_plain))
        row = {"nprobe": nprobe, "faiss_qps": (q_plain + q_plain2) / 2, "ours_qps": q_ours,
               "ratio": q_ours / ((q_plain + q_plain2) / 2), "faiss_rows_with_duplicates": dup_rows,
               "ndis_per_query": index.last_stats["ndis"] / len(xq)}
        rows.append(row)
        print(f"  nprobe {nprobe:3d}: FAISS index.search {row['faiss_qps']:8.0f} QPS ({dup_rows} of {len(xq)} rows "
              f"hold a duplicate id), ours {q_ours:8.0f} QPS = {row['ratio']:.3f}x, "
              f"{row['ndis_per_query']:.0f} distance computations per query")
    out["search"] = rows
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    print("verdict: search at equal nprobe runs at "
          + ", ".join(f"{r['ratio']:.2f}x" for r in rows)
          + f" FAISS's own speed with duplicates removed; train {py_train / cpp_train:.2f}x and add "
          f"{py_add / cpp_add:.2f}x the C++ tool's time")


if __name__ == "__main__":
    main()
