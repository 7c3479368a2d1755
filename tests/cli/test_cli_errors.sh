#!/usr/bin/env bash
# Exit codes (README "Exit codes": 0 ok, 1 error named on stderr, 2 command line not understood)
# and the checks made before any work: an --out in a missing directory, --device cuda without a
# usable GPU. A failed command leaves no file behind.
set -euo pipefail
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

"$BIN" generate --out "$T/d.npy" --n 20000 --d 8 --k 5 --seed 3 >/dev/null
"$BIN" fit --data "$T/d.npy" --k 3 --covariance diag --out "$T/m.fgmm" --quiet

expect_rc 0 "fit" "$BIN" --help
expect_rc 0 "--top" "$BIN" predict --help
expect_rc 1 "does not exist" "$BIN" fit --data "$T/none.npy" --k 3 --out "$T/x.fgmm"
expect_rc 1 "does not exist" "$BIN" score --model "$T/none.fgmm" --data "$T/d.npy"
expect_rc 1 "invalid covariance_type" "$BIN" fit --data "$T/d.npy" --k 3 --covariance nope --out "$T/x.fgmm"
expect_rc 1 "--k is required" "$BIN" fit --data "$T/d.npy" --out "$T/x.fgmm"
"$BIN" generate --out "$T/d4.npy" --n 100 --d 4 --k 2 >/dev/null
expect_rc 1 "4 features" "$BIN" score --model "$T/m.fgmm" --data "$T/d4.npy"
expect_rc 2 "--bogus" "$BIN" fit --data "$T/d.npy" --k 3 --out "$T/x.fgmm" --bogus
expect_rc 2 "abc" "$BIN" fit --data "$T/d.npy" --k abc --out "$T/x.fgmm"
expect_rc 2 "--data" "$BIN" fit --k 3 --out "$T/x.fgmm"
expect_rc 2 "" "$BIN"
expect_rc 2 "subcommand" "$BIN" nosuch

# --out in a missing directory: refused at once, before initialisation or any EM iteration.
expect_rc 1 "directory $T/no/such does not exist" "$BIN" fit --data "$T/d.npy" --k 3 --out "$T/no/such/m.fgmm"
msg=$("$BIN" fit --data "$T/d.npy" --k 3 --out "$T/no/such/m.fgmm" 2>&1 || true)
echo "$msg" | grep -q "log-likelihood\|initialising" && fail "fit started before refusing --out: $msg"
expect_rc 1 "is a directory" "$BIN" fit --data "$T/d.npy" --k 3 --out "$T"
expect_rc 1 "does not exist" "$BIN" predict --model "$T/m.fgmm" --data "$T/d.npy" --out "$T/no/l.npy"
expect_rc 1 "does not exist" "$BIN" generate --out "$T/no/g.npy" --n 10
if [ "$(id -u)" != 0 ]; then  # root may write anywhere
  mkdir "$T/ro" && chmod 555 "$T/ro"
  expect_rc 1 "not writable" "$BIN" fit --data "$T/d.npy" --k 3 --out "$T/ro/m.fgmm"
fi

# --device cuda without a usable GPU: one sentence saying so and what to run instead.
if out=$("$BIN" fit --data "$T/d.npy" --k 3 --covariance diag --device cuda --out "$T/g.fgmm" --quiet 2>&1); then
  echo "(a CUDA device is present: the no-GPU message is not exercised here)"
else
  rc=$?
  [ "$rc" -eq 1 ] || fail "--device cuda without GPU exited $rc"
  echo "$out" | grep -qF -- "--device cuda:" || fail "no-GPU message does not name --device cuda: $out"
  echo "$out" | grep -qF -- "--device cpu" || fail "no-GPU message does not say what to run instead: $out"
  # A CUDA build on a machine without a driver: the runtime's "driver version is insufficient"
  # must come after plain words, not alone.
  if echo "$out" | grep -q "no CUDA device"; then
    echo "$out" | grep -qF "no usable NVIDIA GPU on this machine" || fail "no-GPU message not in plain words: $out"
  fi
  expect_rc 1 "--device cpu" "$BIN" score --model "$T/m.fgmm" --data "$T/d.npy" --device cuda
fi

ls "$T" | grep -qE '^(x|g)\.fgmm|\.tmp\.' && fail "a failed command left a file: $(ls "$T")"
echo "cli error tests: all passed"
