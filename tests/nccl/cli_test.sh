#!/bin/sh
# flashgmm-multigpu fit on every visible GPU reaches the lower bound of `flashgmm fit --device
# cuda` (precise: 1e-6 relative) and writes a model; bad --devices is a clear error.
# Exit 77 (skipped) when there is no CUDA device.
# usage: cli_test.sh FLASHGMM FLASHGMM_MULTIGPU WORKDIR
set -eu
FG=$1; MG=$2; W=$3
mkdir -p "$W"
"$FG" generate --out "$W/x.npy" --n 60000 --d 16 --k 8 --seed 3 >/dev/null
common="--data $W/x.npy --k 8 --covariance diag --max-iter 30 --tol 0 --seed 5 --precision precise --json"
if ! multi=$("$MG" fit $common --out "$W/multi.gmm" 2>&1); then
  case "$multi" in
    *"no CUDA device"*) echo "skipped: $multi"; exit 77 ;;
  esac
  echo "$multi"; exit 1
fi
echo "$multi"
one=$("$FG" fit $common --device cuda --out "$W/one.gmm")
echo "$one" | tail -1
lb() { echo "$1" | tail -1 | sed 's/.*"lower_bound": \([-0-9.e+]*\).*/\1/'; }
a=$(lb "$multi"); b=$(lb "$one")
awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b;
  if (d > 1e-6 * s) { printf "lower bounds differ: %s GPUs vs %s one GPU\n", a, b; exit 1 } }'
test -s "$W/multi.gmm"
"$FG" info --model "$W/multi.gmm" >/dev/null
if out=$("$MG" fit $common --out "$W/bad.gmm" --devices 0,x 2>&1); then echo "accepted --devices 0,x"; exit 1; fi
echo "$out" | grep -q "expected GPU numbers" || { echo "$out"; exit 1; }
echo "ok"
