#!/usr/bin/env bash
# Runs the C++ ivf_gmm example on a small generated set (heavy-tailed clusters, 6000 x 32).
set -eu
exe=$1
dir=$2
mkdir -p "$dir"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c "
import numpy as np
rng = np.random.default_rng(0)
c = rng.standard_normal((40, 32)) * 1.5
x = c[rng.integers(0, 40, 6000)] + rng.standard_t(5, size=(6000, 32))
np.save('$dir/ivf_small.npy', x.astype(np.float32))
"
"$exe" "$dir/ivf_small.npy" --nlist 32 --nq 100 --svg "$dir/ivf_gmm.svg"
grep -q "<polyline" "$dir/ivf_gmm.svg"
