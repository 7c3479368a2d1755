#!/usr/bin/env bash
# The README's "Command line" block, run as written (optional [parts] included), so that it
# cannot drift from the tool: each command must exit 0. usage: test_readme_commands.sh FLASHGMM README
set -euo pipefail
BIN=$(realpath "$1") README=$(realpath "$2")  # absolute: the commands run in a temporary directory
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

# The first ```sh block after "## Command line".
block=$(awk '/^## Command line/ {s = 1} s && /^```sh/ {b = 1; next} b && /^```/ {exit} b' "$README")
[ "$(echo "$block" | grep -c '^flashgmm ')" -ge 5 ] || fail "README's Command line block not found: $block"
cd "$T"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  cmd=$(echo "$line" | sed -e 's/\[\([^]]*\)\]/\1/g' -e 's/^flashgmm //')
  echo "+ flashgmm $cmd"
  rc=0
  # shellcheck disable=SC2086  # the README's words, split as a shell would split them
  out=$("$BIN" $cmd 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "README command exits $rc: flashgmm $cmd: $out"
  echo "$out" | tail -2
done <<<"$block"
echo "README command-line block: all ran"
