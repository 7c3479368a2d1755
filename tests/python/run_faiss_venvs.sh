#!/usr/bin/env bash
# The FAISS layer's tests against the FAISS that Python users install from PyPI, each in a plain
# venv (no system site packages, so Debian's python3-faiss is not visible):
#   faiss-cpu NEWEST (1.15.x): flashgmm installed with `pip install .`, as the README says
#   faiss-cpu 1.8.0 (numpy < 2, as its wheels need): the build tree's module on PYTHONPATH
# Wheels are downloaded once into a cache (FLASHGMM_WHEEL_CACHE, default ~/.cache/flashgmm/wheels)
# and installed from it; the venvs and the pip build tree live under BUILD/faiss-venvs.
# Usage: run_faiss_venvs.sh BUILD_DIR IVF_TOOL   (exit 77: PyPI unreachable and nothing cached)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
TOOL=$(realpath "$2")
CACHE=${FLASHGMM_WHEEL_CACHE:-$HOME/.cache/flashgmm/wheels}
NEWEST=${FLASHGMM_FAISS_NEWEST:-1.15.1}
mkdir -p "$CACHE" "$BUILD/faiss-venvs"
PY=/usr/bin/python3
TESTS=("$ROOT/tests/python/test_faiss_dropin.py" "$ROOT/tests/python/test_faiss_interop.py" "$ROOT/tests/python/test_dedup.py"
       "$ROOT/tests/python/test_readme_python.py")

fetch() {  # fetch REQUIREMENT...: into the cache (a no-op when cached; exit 77 when PyPI is unreachable)
  if ! "$PY" -m pip download -q --only-binary=:all: -d "$CACHE" "$@" >"$BUILD/faiss-venvs/download.log" 2>&1; then
    if ! "$PY" -m pip download -q --no-index --find-links "$CACHE" --only-binary=:all: -d "$CACHE" "$@" >/dev/null 2>&1; then
      echo "SKIP: PyPI unreachable and no cached wheels for: $*" >&2; cat "$BUILD/faiss-venvs/download.log" >&2; exit 77
    fi
  fi
}

make_venv() {  # make_venv NAME REQUIREMENT...
  local venv="$BUILD/faiss-venvs/$1"; shift
  fetch "$@" pytest
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  "$venv/bin/pip" install -q --no-index --find-links "$CACHE" "$@" pytest
  echo "$venv"
}

status=0
echo "== faiss-cpu $NEWEST, flashgmm from 'pip install .'"
venv=$(make_venv "faiss-cpu-$NEWEST" "faiss-cpu==$NEWEST" numpy | tail -1)
# the wheel's build needs scikit-build-core and pybind11 (PyPI): cached like the rest
fetch "scikit-build-core>=0.10" "pybind11>=2.10"
(cd "$ROOT" && "$venv/bin/pip" install -q --find-links "$CACHE" \
   --config-settings=cmake.define.FLASHGMM_WITH_CUDA=OFF \
   --config-settings=build-dir="$BUILD/faiss-venvs/pip-build" .)
(cd "$BUILD/faiss-venvs" && "$venv/bin/python" -c "import faiss, flashgmm, flashgmm.faiss, flashgmm.dedup; print('faiss', faiss.__version__, 'flashgmm', flashgmm.__version__, 'from', flashgmm.__file__)")
(cd "$ROOT/tests/python" && FLASHGMM_IVF_TOOL="$TOOL" "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "${TESTS[@]}") || status=1

echo "== faiss-cpu 1.8.0, flashgmm from the build tree"
venv=$(make_venv "faiss-cpu-1.8.0" "faiss-cpu==1.8.0" "numpy<2" | tail -1)
(cd "$ROOT/tests/python" && PYTHONPATH="$BUILD/python" FLASHGMM_IVF_TOOL="$TOOL" \
   "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "${TESTS[@]}") || status=1
exit $status
