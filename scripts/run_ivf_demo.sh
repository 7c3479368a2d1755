#!/usr/bin/env bash
# Main job, part 2: a GMM multi-assignment IVF index on a default synthetic embedding-like data
# set (100k × 32 overlapping clusters, 1,000 held-out queries), compared with FAISS k-means IVF
# and naive top-2 spilling: recall@1/10/100, distance computations per query, entries, QPS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}/bin
CACHE=${FLASHGMM_CACHE:-$HOME/.cache/flashgmm}
if [ ! -f "$CACHE/synthetic_base.npy" ]; then
  /usr/bin/python3 bench/ivf_data.py synthetic --synthetic-n 100000 --queries 1000
fi
echo "== flashgmm-ivf eval: GMM multi-assignment IVF vs FAISS k-means IVF (nlist=256) =="
"$BIN/flashgmm-ivf" eval --data "$CACHE/synthetic_base.npy" --queries "$CACHE/synthetic_queries.npy" \
  --nlist 256 --nprobe 1,2,4,8,16,32 --csv "$CACHE/ivf_demo.csv" --plot "$CACHE/ivf_demo.png" --name synthetic
