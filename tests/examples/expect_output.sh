#!/usr/bin/env bash
# usage: expect_output.sh REGEX COMMAND [ARGS...]
# Runs COMMAND (its output shown as it comes), then passes only if it exited 0 AND printed a line
# matching the extended REGEX. CTest's PASS_REGULAR_EXPRESSION alone ignores the exit status, so
# a program that crashed after printing the expected line would pass.
set -uo pipefail
want=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "FAIL: exit status $rc: $*"
  exit 1
fi
if ! grep -qE -- "$want" "$log"; then
  echo "FAIL: exited 0 but printed no line matching '$want': $*"
  exit 1
fi
echo "ok: exit 0 and output matches '$want'"
