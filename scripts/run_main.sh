#!/usr/bin/env bash
# The main job: install what is missing, build, then on a default clustered dataset fit a GMM
# (per-iteration table + model summary) and, when the FAISS plugin is built, compare our GMM
# multi-assignment IVF index with FAISS k-means IVF.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
BIN=${BUILD_DIR:-build}/bin
DATA=${FLASHGMM_DATA_DIR:-$HOME/.cache/flashgmm}
mkdir -p "$DATA"
[ -f "$DATA/default_blobs.npy" ] ||
  "$BIN/flashgmm" generate --out "$DATA/default_blobs.npy" --n 200000 --d 32 --k 64 --seed 1
echo "== flashgmm fit: 200k x 32, K=64, diagonal covariances =="
"$BIN/flashgmm" fit --data "$DATA/default_blobs.npy" --k 64 --covariance diag --out "$DATA/default.fgmm"
if [ -x "$BIN/flashgmm-ivf" ] && [ -f scripts/run_ivf_demo.sh ]; then
  bash scripts/run_ivf_demo.sh
fi
