"""Range search on a GMM multi-assignment IVF index: what stock FAISS returns (one row per stored
copy) against flashgmm.faiss.range_search (each id once), with recall against brute force and
the time of both in the same process.

    PYTHONPATH=build/python /usr/bin/python3 bench/range_search_bench.py \
        --data ~/.cache/flashgmm/glove_base.npy --queries ~/.cache/flashgmm/glove_queries.npy
"""
import argparse
import time

import faiss
import numpy as np

import flashgmm.faiss as gf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--neighbours", type=int, default=10,
                    help="radius = median squared distance of the queries' n-th true neighbour")
    ap.add_argument("--nprobe", default="4,16,64")
    args = ap.parse_args()

    xb = np.ascontiguousarray(np.load(args.data), dtype=np.float32)
    xq = np.ascontiguousarray(np.load(args.queries)[:args.nq], dtype=np.float32)
    d = xb.shape[1]
    flat = faiss.IndexFlatL2(d)
    flat.add(xb)
    dk, _ = flat.search(xq, args.neighbours)
    radius = float(np.median(dk[:, -1]))
    lims_t, _, ids_t = flat.range_search(xq, radius)
    truth = [set(ids_t[lims_t[i]:lims_t[i + 1]]) for i in range(len(xq))]

    index = faiss.index_factory(d, f"IVF{args.nlist},Flat")
    t0 = time.perf_counter()
    gf.train_ivf(index, xb)
    st = gf.add_multi(index, xb)
    print(f"{xb.shape[0]} x {d}, nlist {args.nlist}: built in {time.perf_counter() - t0:.1f} s, "
          f"{st['entries'] / xb.shape[0]:.3f} entries per vector; {len(xq)} queries, radius {radius:.4g} "
          f"(median {args.neighbours}-th neighbour), {lims_t[-1] / len(xq):.1f} true neighbours per query")
    print("nprobe  faiss rows/q  distinct ids/q  duplicate rows  recall  faiss ms  ours ms")
    for nprobe in (int(p) for p in args.nprobe.split(",")):
        index.nprobe = nprobe
        t0 = time.perf_counter()
        lims_f, _, _ = index.range_search(xq, radius)
        t_faiss = time.perf_counter() - t0
        t0 = time.perf_counter()
        lims, _, ids, stats = gf.range_search(index, xq, radius)
        t_ours = time.perf_counter() - t0
        found = sum(len(truth[i] & set(ids[lims[i]:lims[i + 1]])) for i in range(len(xq)))
        recall = found / max(1, int(lims_t[-1]))
        print(f"{nprobe:6d}  {lims_f[-1] / len(xq):12.1f}  {lims[-1] / len(xq):14.1f}  "
              f"{stats['duplicates_removed'] / max(1, int(lims_f[-1])):13.1%}  {recall:6.3f}  "
              f"{1e3 * t_faiss:8.1f}  {1e3 * t_ours:7.1f}")


if __name__ == "__main__":
    main()
