#!/bin/bash
# expect_fast_failure.sh SECONDS NEEDLE CMD...: passes when CMD exits non-zero within SECONDS
# and its output contains NEEDLE (a hang or a success fails the test).
set -u
limit=$1 needle=$2
shift 2
start=$(date +%s.%N)
out=$(timeout -k 5 "$((limit + 30))" "$@" 2>&1)
rc=$?
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
echo "$out"
echo "exit status $rc after ${elapsed}s"
if [ "$rc" -eq 0 ]; then echo "FAIL: expected a non-zero exit"; exit 1; fi
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "FAIL: hung (killed by timeout)"; exit 1; fi
if [ "$(echo "$elapsed > $limit" | bc)" -eq 1 ]; then echo "FAIL: took longer than ${limit}s"; exit 1; fi
if ! grep -qF -- "$needle" <<<"$out"; then echo "FAIL: output lacks '$needle'"; exit 1; fi
echo "PASS"
