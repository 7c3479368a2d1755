#!/usr/bin/env bash
# usage: install_consumer.sh CMAKE BUILD_DIR SOURCE_DIR WORK_DIR
# Installs the build into WORK_DIR/prefix, configures and builds the consumer project against it
# with find_package(flashgmm), runs it, and passes only if every step exits 0 and the consumer
# reports a converged fit. Each step's output is shown only when it fails.
set -euo pipefail
cmake=$1 build=$2 src=$3 work=$4
rm -rf "$work/prefix" "$work/consumer"
mkdir -p "$work"
step() {  # step NAME cmd...: run quietly, show the output and stop on failure
  local name=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$out"
    echo "FAIL: $name exited $rc"
    exit 1
  fi
}
step "cmake --install" "$cmake" --install "$build" --prefix "$work/prefix"
step "configure consumer" "$cmake" -S "$src/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix"
step "build consumer" "$cmake" --build "$work/consumer"
rc=0
out=$("$work/consumer/consumer" 2>&1) || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: consumer exited $rc"; exit 1; }
echo "$out" | grep -q "consumer: converged=1" || { echo "FAIL: consumer did not report converged=1"; exit 1; }
echo "ok: installed, found with find_package(flashgmm), built and ran"
