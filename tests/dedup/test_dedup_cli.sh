#!/usr/bin/env bash
# End-to-end test of flashgmm-dedup: outputs, summary, quality report, and the error messages
# (exit status 1) of bad inputs. Usage: test_dedup_cli.sh FLASHGMM_DEDUP SOURCE_DIR
set -u
tool=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}
expect_error() {  # expect_error NAME MESSAGE-FRAGMENT ARGS...
  local name=$1 frag=$2; shift 2
  "$tool" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -eq 1 ] && grep -qF -- "$frag" "$tmp/err"; then echo "ok   $name"
  else echo "FAIL $name (exit $rc): $(cat "$tmp/err")"; fail=1; fi
}

"$py" "$src/bench/dedup_data.py" --n 20000 --d 32 --clusters 50 --out "$tmp/x.npy" >/dev/null || { echo "FAIL data"; exit 1; }
"$tool" "$tmp/x.npy" --threshold 0.95 --check-sample 20000 --groups "$tmp/g.jsonl" --keep "$tmp/keep.txt" \
  --summary-json "$tmp/s.json" --json --no-progress >"$tmp/run.txt" 2>"$tmp/run.err"
check "run exits 0" [ $? -eq 0 ]
check "summary text" grep -q "fewer than brute force" "$tmp/run.txt"
check "quality line" grep -q "pair recall" "$tmp/run.txt"
check "no progress bars with --no-progress" [ ! -s "$tmp/run.err" ]
"$py" - "$tmp" <<'PY' || fail=1
import json, sys, numpy as np
tmp = sys.argv[1]
s = json.loads(open(f"{tmp}/s.json").read())
inj = np.load(f"{tmp}/x.injected.npy")
x = np.load(f"{tmp}/x.npy").astype(np.float64)
x /= np.linalg.norm(x, axis=1, keepdims=True)
inj = inj[np.einsum("ij,ij->i", x[inj[:, 0]], x[inj[:, 1]]) >= 0.95 + 1e-4]  # injected AND within the threshold
groups = [json.loads(l) for l in open(f"{tmp}/g.jsonl")]
keep = [int(l) for l in open(f"{tmp}/keep.txt")]
rep = {}
for g in groups:
    assert g["members"][0] == g["representative"] == min(g["members"]), g
    assert g["size"] == len(g["members"]) >= 2
    for m in g["members"]:
        assert m not in rep, "row in two groups"
        rep[m] = g["representative"]
together = sum(rep.get(a, a) == rep.get(b, b) for a, b in inj)
assert together / len(inj) >= 0.99, f"injected pairs grouped: {together}/{len(inj)}"
assert len(keep) == s["rows_kept"] == s["n"] - s["rows_in_groups"] + s["groups"]
assert len(groups) == s["groups"]
assert s["pair_recall"] >= 0.99 and s["pair_precision"] >= 0.999, s
assert s["pairs_compared"] * 5 < s["brute_force_pairs"], s
print(f"ok   outputs ({len(groups)} groups, {together}/{len(inj)} injected pairs grouped, recall {s['pair_recall']:.4f})")
PY
"$tool" "$tmp/x.npy" --radius 0.5 --groups "$tmp/g.csv" --progress -q >"$tmp/run.txt" 2>"$tmp/run.err"
check "L2 run with CSV output" [ $? -eq 0 ]
check "CSV header" grep -q "^group,representative,member$" "$tmp/g.csv"
check "progress bars with --progress" grep -q "compare" "$tmp/run.err"
check "quiet prints nothing" [ ! -s "$tmp/run.txt" ]

expect_error "threshold > 1" "cosine similarity threshold must be in (0, 1], got 1.5" "$tmp/x.npy" --threshold 1.5
expect_error "threshold 0" "cosine similarity threshold must be in (0, 1], got 0" "$tmp/x.npy" --threshold 0
expect_error "negative radius" "L2 radius must be a finite number >= 0" "$tmp/x.npy" --radius -1
expect_error "both thresholds" "not both" "$tmp/x.npy" --threshold 0.9 --radius 1
expect_error "missing file" "cannot" "$tmp/missing.npy"
: >"$tmp/empty.npy"
expect_error "empty file" "is empty" "$tmp/empty.npy"
expect_error "bad groups name" "use a .jsonl or .csv file name" "$tmp/x.npy" --groups "$tmp/g.txt"
"$py" -c "
import numpy as np, sys
x = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
x[77, 2] = np.nan
np.save('$tmp/nan.npy', x)
np.save('$tmp/zero_rows.npy', np.zeros((0, 8), np.float32))
np.save('$tmp/vec.npy', np.ones(10, np.float32))
np.save('$tmp/ids.npy', np.arange(499))
"
expect_error "NaN row" "row 77 contains NaN or infinity" "$tmp/nan.npy"
expect_error "zero rows" "has no rows" "$tmp/zero_rows.npy"
expect_error "1-D array" "expected a 2-D" "$tmp/vec.npy"
expect_error "ids count" "has 499 ids but the data has 20000 rows" "$tmp/x.npy" --ids "$tmp/ids.npy"
# A command line not understood exits 2, as in every flashgmm tool (README "Exit codes").
"$tool" "$tmp/x.npy" --no-such-option >/dev/null 2>"$tmp/err"
rc=$?
check "unknown option exits 2" [ $rc -eq 2 ]
"$tool" --help >/dev/null 2>&1
check "--help exits 0" [ $? -eq 0 ]
exit $fail
