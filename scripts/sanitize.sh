#!/usr/bin/env bash
# The sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer) of the library and its C++
# tests — core, FAISS plugin, CLI, hardening — in ${ASAN_BUILD_DIR:-build-asan} (CUDA, Python,
# MPI and benchmarks off), then CTest over what was built. Any sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLASHGMM_SANITIZE=ON -DFLASHGMM_WITH_CUDA=OFF \
  -DFLASHGMM_WITH_PYTHON=OFF -DFLASHGMM_WITH_MPI=OFF -DFLASHGMM_BUILD_BENCH=OFF >/dev/null
targets=(flashgmm_core_tests flashgmm_cli flashgmm_hardening_tests)
if grep -qw flashgmm_faiss_tests <<<"$(cmake --build "$B" --target help)"; then targets+=(flashgmm_faiss_tests); fi
cmake --build "$B" -j"$JOBS" --target "${targets[@]}"
# Leak checking stays on; the suppressions (tests/hardening/lsan.supp) cover only third-party
# libraries (each one is documented there). UBSan findings abort the test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/hardening/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=86}
cd "$B"
# Only tests whose programs were built here run: suites of parts not built (CUDA, Python, MPI,
# other tools) are left out, and so is the install test (it builds a consumer without the
# sanitizer runtime).
tests=$(ctest --show-only=json-v1 | /usr/bin/python3 -c '
import json, os, sys
build = os.getcwd() + "/"
keep = []
for i, t in enumerate(json.load(sys.stdin)["tests"], 1):
    name, cmd = t["name"], t.get("command", [])
    if name.endswith("_NOT_BUILT") or name.startswith(("install.", "python_", "mpi_")):
        continue
    if all(os.path.exists(c) for c in cmd if c.startswith(build)):
        keep.append(str(i))
print(",".join(keep))')
[ -n "$tests" ] || { echo "sanitize: no test to run"; exit 1; }
ctest --output-on-failure -j"$JOBS" --timeout 1800 -I "0,0,0,$tests"
