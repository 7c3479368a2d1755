#!/usr/bin/env bash
# What `flashgmm` writes: predict's labels have shape (N,); --top M marks slots without a
# component (posterior 0) with id -1; --json numbers are shortest round-trip; info shows what
# the README says (K, D, covariance, parameters, size, the heaviest components).
set -euo pipefail
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

"$BIN" generate --out "$T/d.npy" --n 5000 --d 8 --k 5 --seed 3 >/dev/null
fit_out=$("$BIN" fit --data "$T/d.npy" --k 5 --covariance diag --seed 1 --out "$T/m.fgmm" --json)
"$BIN" predict --model "$T/m.fgmm" --data "$T/d.npy" --out "$T/labels.npy" >/dev/null
top_out=$("$BIN" predict --model "$T/m.fgmm" --data "$T/d.npy" --out "$T/top.npy" --top 3)
echo "$top_out" | grep -q -- "-1" || fail "predict --top did not say that empty slots are -1: $top_out"
"$PY" - "$T" <<'PY' || fail "predict output"
import sys, numpy as np
t = sys.argv[1]
labels = np.load(t + "/labels.npy")
assert labels.shape == (5000,) and labels.dtype == np.int32, (labels.shape, labels.dtype)
ids, p = np.load(t + "/top.npy"), np.load(t + "/top.probs.npy")
assert ids.shape == (5000, 3) and p.shape == (5000, 3), (ids.shape, p.shape)
assert (ids[:, 0] == labels).all(), "top-1 differs from predict"
assert (p[:, 0] > 0).all()
# Well separated blobs: many rows have only one or two components with a posterior above 0.
empty = p == 0
assert empty.any(), "test data should leave empty slots"
assert (ids[empty] == -1).all(), "an empty slot holds a real-looking id"
assert ((ids[~empty] >= 0) & (ids[~empty] < 5)).all(), "a filled slot holds -1 or an out-of-range id"
assert (p[:, :-1] >= p[:, 1:]).all() and (p.sum(1) <= 1 + 1e-5).all()
PY

# Every number in the JSON lines is the shortest text that reads back as the same double.
for line in "$(echo "$fit_out" | tail -1)" "$("$BIN" score --model "$T/m.fgmm" --data "$T/d.npy" --json)"; do
  "$PY" - "$line" <<'PY' || fail "JSON numbers not shortest round-trip: $line"
import json, re, sys
line = sys.argv[1]
json.loads(line)
for text in re.findall(r'(?<=: )-?[0-9][0-9.eE+-]*', line):
    assert len(text) <= len(repr(float(text))) or text == str(int(float(text))), text
    assert float(text) == float(repr(float(text))), text
PY
done

info=$("$BIN" info --model "$T/m.fgmm")
for want in "K=5" "D=8" "covariance=diag" "free parameters" "on disk" "weight" "mean variance"; do
  echo "$info" | grep -qF "$want" || fail "info lacks '$want': $info"
done
[ "$(echo "$info" | grep -cE '^ +[0-4] +0\.[0-9]+ ')" -eq 5 ] || fail "info does not list the 5 components: $info"
"$BIN" info --model "$T/m.fgmm" --json | grep -q '"file_bytes": [1-9]' || fail "info --json lacks file_bytes"
echo "cli output tests: all passed"
