#!/usr/bin/env bash
# Builds flashgmm and runs every test: GoogleTest suites (core, CUDA — skipped with a message
# without a GPU —, FAISS plugin), CLI tests, MPI runs and the pytest suite, all through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j"${JOBS:-$(nproc)}" --timeout 900
