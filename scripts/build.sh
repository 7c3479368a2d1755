#!/usr/bin/env bash
# Configures and builds flashgmm into ${BUILD_DIR:-build} (Release). Parts whose dependencies are
# missing (CUDA, FAISS, Python, MPI) are switched off by CMake with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=/usr/bin/python3 ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
