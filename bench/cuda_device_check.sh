#!/usr/bin/env bash
# Builds the CUDA backend's tests (and benchmark, when present) on a GPU machine and runs them.
# Usage: bench/cuda_device_check.sh [gtest filter]
#   BENCH=1      also builds and runs the E-step benchmark (BENCH_ARGS); BENCH=build only builds it
#   SBS=1        runs bench/side_by_side.py (IBM's Triton kernels beside ours; SBS_ARGS, needs
#                IBM_DIR = a copy of ../shared/anchors/ibm-flash-gmm, PyTorch and Triton)
#   NOTEST=1     skips the tests; SANITIZE=1 runs compute-sanitizer on small shapes
#   BUILD_DIR    build folder (default build-dev)
# Writes logs under $OUT when set. Configures with the optional parts off (no FAISS/MPI there).
set -o pipefail
OUT=${OUT:-/tmp/flashgmm-out}
B=${BUILD_DIR:-build-dev}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
GT_ARGS=()
if ! ls /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest.so /usr/local/lib/libgtest.a >/dev/null 2>&1; then
  if [ ! -f /tmp/gtest/lib/cmake/GTest/GTestConfig.cmake ] && [ -d /usr/src/googletest ]; then
    echo "building googletest from /usr/src/googletest"
    cmake -S /usr/src/googletest -B /tmp/gtest-build -DCMAKE_INSTALL_PREFIX=/tmp/gtest >/dev/null &&
      cmake --build /tmp/gtest-build -j16 >/dev/null && cmake --install /tmp/gtest-build >/dev/null
  fi
  [ -f /tmp/gtest/lib/cmake/GTest/GTestConfig.cmake ] && GT_ARGS=(-DGTest_DIR=/tmp/gtest/lib/cmake/GTest)
fi
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DFLASHGMM_WITH_FAISS=OFF -DFLASHGMM_WITH_PYTHON=OFF \
  -DFLASHGMM_WITH_MPI=OFF -DCMAKE_CUDA_ARCHITECTURES=90a-real "${GT_ARGS[@]}" >"$OUT/configure.log" 2>&1 ||
  { tail -30 "$OUT/configure.log"; exit 1; }
TARGETS=(flashgmm_cuda_tests)
[ -n "$BENCH$SBS" ] && TARGETS+=(cuda_estep_bench)
cmake --build "$B" --target "${TARGETS[@]}" -j16 >"$OUT/build.log" 2>&1 || { grep -E -A5 "error" "$OUT/build.log" | head -60; exit 1; }
echo "built in ${SECONDS} s"
if [ -n "$SBS" ]; then
  PYTHONUNBUFFERED=1 timeout ${SBS_TIMEOUT:-400} python3 bench/side_by_side.py --ibm "${IBM_DIR:-.anchors/ibm-flash-gmm}" \
    --bench "./$B/bench/cuda_estep_bench" --out "$OUT" $SBS_ARGS 2>&1 | tee "$OUT/side_by_side.log"
fi
if [ -z "$NOTEST" ]; then
  timeout ${TEST_TIMEOUT:-300} "./$B/tests/flashgmm_cuda_tests" ${1:+--gtest_filter="$1"} >"$OUT/tests.log" 2>&1
  echo "tests exit code $?"
  grep -E -A4 "Failure|^\[  FAILED" "$OUT/tests.log" | grep -v "^--$" | head -100
  tail -4 "$OUT/tests.log"
fi
if [ -n "$BENCH" ] && [ "$BENCH" != build ]; then
  "./$B/bench/cuda_estep_bench" $BENCH_ARGS 2>&1 | tee "$OUT/bench.log"
fi
if [ -n "$SANITIZE" ]; then
  # Small shapes only: the sanitizers slow kernels down by orders of magnitude.
  F=${SANITIZE_FILTER:-'Shapes/CudaEstep.MatchesFloat64Reference/*n777_k5_d3*:Shapes/CudaEstep.MatchesFloat64Reference/*n2049_k64_d96_fast*:Shapes/CudaEstep.MatchesFloat64Reference/*n500_k33_d256*:Shapes/CudaEstep.MatchesFloat64Reference/*n600_k9_d96*'}
  for tool in memcheck racecheck synccheck; do
    timeout ${SANITIZE_TIMEOUT:-240} compute-sanitizer --tool $tool --error-exitcode 99 "./$B/tests/flashgmm_cuda_tests" --gtest_filter="$F" >"$OUT/sanitizer_$tool.log" 2>&1
    echo "compute-sanitizer $tool exit code $?: $(grep -E 'ERROR SUMMARY|PASSED|FAILED' "$OUT/sanitizer_$tool.log" | tr '\n' ' ' | cut -c1-300)"
  done
fi
echo "total ${SECONDS} s"
