#!/usr/bin/env bash
# Builds flashgmm and runs every test: GoogleTest suites (core, CUDA — skipped with a message
# without a GPU —, FAISS plugin), CLI tests, MPI runs and the pytest suite, all through CTest;
# then the sanitizer build's tests and a bounded fuzzing run (scripts/sanitize.sh, scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure -j"${JOBS:-$(nproc)}" --timeout 900)
# Hardening: the same C++ tests under ASan + UBSan (build-asan), then a bounded run of every
# libFuzzer target (build-fuzz, FUZZ_SECONDS each). FLASHGMM_SKIP_SANITIZE=1 / FLASHGMM_SKIP_FUZZ=1
# leave them out.
[ "${FLASHGMM_SKIP_SANITIZE:-0}" = 1 ] || bash scripts/sanitize.sh
[ "${FLASHGMM_SKIP_FUZZ:-0}" = 1 ] || FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash scripts/fuzz.sh
