#!/usr/bin/env bash
# flashgmm CLI: generate → fit (--json) → score (--json) → predict (--top), and the bad inputs,
# each of which must fail with a message naming the problem.
set -euo pipefail
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
json_get() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

"$BIN" generate --out "$T/d.npy" --n 20000 --d 8 --k 5 --seed 3 >/dev/null
"$BIN" generate --out "$T/d.fvecs" --n 3000 --d 8 --k 5 --seed 4 >/dev/null

out=$("$BIN" fit --data "$T/d.npy" --k 5 --covariance full --seed 1 --out "$T/m.fgmm" --json)
echo "$out" | grep -q "log-likelihood" || fail "fit printed no per-iteration table"
[ "$(echo "$out" | json_get converged)" = "True" ] || fail "fit did not converge: $out"
lb=$(echo "$out" | json_get lower_bound)
n_iter=$(echo "$out" | json_get n_iter)
[ "$n_iter" -ge 1 ] || fail "n_iter=$n_iter"
# One progress line per iteration.
lines=$(echo "$out" | grep -cE '^ +0 +[0-9]+ +-?[0-9]')
[ "$lines" -eq "$n_iter" ] || fail "$lines progress lines for $n_iter iterations"

score=$("$BIN" score --model "$T/m.fgmm" --data "$T/d.npy" --json | json_get score)
/usr/bin/python3 -c "import sys; lb,s=float('$lb'),float('$score'); sys.exit(0 if abs(lb-s) <= 1e-2*abs(lb) and s >= lb-1e-6*abs(lb) else 1)" \
  || fail "score $score inconsistent with lower bound $lb"

"$BIN" predict --model "$T/m.fgmm" --data "$T/d.fvecs" --out "$T/top.npy" --top 2 >/dev/null
/usr/bin/python3 - "$T" <<'PY' || fail "predict output"
import sys, numpy as np
t = sys.argv[1]
ids, p = np.load(t + "/top.npy"), np.load(t + "/top.probs.npy")
assert ids.shape == (3000, 2) and p.shape == (3000, 2), (ids.shape, p.shape)
assert ids.dtype == np.int32 and ((ids >= 0) & (ids < 5) | (ids == -1) & (p == 0)).all()
assert (p[:, 0] >= p[:, 1]).all() and (p.sum(1) <= 1 + 1e-5).all()
PY

"$BIN" info --model "$T/m.fgmm" --json | grep -q '"n_components": 5' || fail "info"

# Bad inputs: non-zero exit and a message naming the problem.
expect_fail() {  # expect_fail "<substring>" cmd...
  local want=$1; shift
  if msg=$("$@" 2>&1); then fail "succeeded: $*"; fi
  echo "$msg" | grep -qF -- "$want" || fail "message for '$*' lacks '$want': $msg"
}
expect_fail "does not exist" "$BIN" fit --data "$T/none.npy" --k 3 --out "$T/x.fgmm"
expect_fail "n_samples = 20000" "$BIN" fit --data "$T/d.npy" --k 30000 --out "$T/x.fgmm"
expect_fail "invalid covariance_type" "$BIN" fit --data "$T/d.npy" --k 3 --covariance nope --out "$T/x.fgmm"
head -c 100 "$T/m.fgmm" > "$T/trunc.fgmm"
expect_fail "trunc.fgmm" "$BIN" score --model "$T/trunc.fgmm" --data "$T/d.npy"
"$BIN" generate --out "$T/d4.npy" --n 100 --d 4 --k 2 >/dev/null
expect_fail "4 features" "$BIN" score --model "$T/m.fgmm" --data "$T/d4.npy"
printf 'garbage' > "$T/bad.npy"
expect_fail "bad.npy" "$BIN" fit --data "$T/bad.npy" --k 2 --out "$T/x.fgmm"
[ ! -e "$T/x.fgmm" ] || fail "a failed fit left a model file"
echo "cli tests: all passed"
