#!/usr/bin/env bash
# Installs the Debian packages flashgmm builds and tests against, only those missing.
set -euo pipefail
pkgs=(build-essential cmake libopenblas-dev libgtest-dev pybind11-dev python3-dev python3-numpy
      python3-pytest python3-sklearn python3-faiss libfaiss-dev libcli11-dev libopenmpi-dev openmpi-bin
      python3-venv python3-pip python3-matplotlib
      clang-14 libclang-rt-14-dev libomp-14-dev)  # the libFuzzer targets (scripts/fuzz.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
