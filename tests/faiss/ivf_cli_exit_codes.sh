#!/usr/bin/env bash
# flashgmm-ivf follows the tools' exit-code scheme (README "Exit codes"): 0 ok, 1 the job failed
# (missing file, bad value), 2 the command line was not understood; eval's JSON names the methods.
set -euo pipefail
TOOL=$1
. "$(dirname "$0")/../cli/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
expect_rc 1 "cannot open '$T/missing.npy'" "$TOOL" build --data "$T/missing.npy" --out "$T/x.index" --nlist 4
expect_rc 2 "Run with --help" "$TOOL" build --nlist 4 --no-such-option
expect_rc 2 "Run with --help" "$TOOL" eval --data a --queries b --nlist four
"$PY" -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('$T/x.npy', rng.normal(size=(3000, 8)).astype('float32'))
np.save('$T/q.npy', rng.normal(size=(50, 8)).astype('float32'))"
expect_rc 1 "fewer than --nlist" "$TOOL" eval --data "$T/x.npy" --queries "$T/q.npy" --nlist 5000
out=$("$TOOL" eval --data "$T/x.npy" --queries "$T/q.npy" --nlist 16 --nprobe 1,4,16 --json 2>/dev/null) || fail "eval exited $?"
echo "$out" | tail -1 | "$PY" -c "
import json, sys
s = json.loads(sys.stdin.read())
assert s['ours'] == 'refined-kmeans+neighbors', s['ours']
assert set(s['methods']) >= {s['ours'], 'kmeans', 'kmeans-faiss-defaults', 'kmeans-spill2', 'kmeans-soar'}, s['methods'].keys()
assert s['kmeans_budget'] == {'niter': 25, 'max_points_per_centroid': 1000}, s['kmeans_budget']
for name, m in s['methods'].items():
    assert m['train_seconds'] >= 0 and m['add_seconds'] >= 0, name
    assert 'ratio_vs_kmeans_faiss_defaults' in m, name
assert s['methods']['kmeans']['ratio_vs_kmeans'] == 1
" || fail "eval --json summary"
echo "flashgmm-ivf exit codes and eval JSON: ok"
