#!/usr/bin/env python3
"""Build cost of the Python FAISS layer vs the C++ tool, interleaved (C++, Python, C++, ...) on a
random GloVe subset, so that machine drift hits both sides alike: train and add seconds per round,
the Python add split into the C++ assignment and FAISS's add_core, entries of both indexes.

Usage: python bench/python_faiss_build_interleaved.py --tool build/bin/flashgmm-ivf
       [--rows 150000] [--nlist 512] [--rounds 3]   (data: bench/ivf_data.py glove)
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_faiss_bench import cpp_build, python_build  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--rows", type=int, default=150000)
    ap.add_argument("--nlist", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", default=os.environ.get("FLASHGMM_CACHE", os.path.expanduser("~/.cache/flashgmm")))
    a = ap.parse_args()
    xb = np.load(os.path.join(a.cache, "glove_base.npy"))
    sub = np.ascontiguousarray(xb[np.random.default_rng(0).choice(len(xb), a.rows, replace=False)])
    res = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "subset.npy")
        np.save(path, sub)
        for r in range(a.rounds):
            ce, ct, ca = cpp_build(a.tool, path, a.nlist, os.path.join(tmp, "c.index"))
            ix, pt, pa = python_build(sub, a.nlist)
            st = ix.last_stats
            print(f"round {r}: C++ train {ct:.2f} s, add {ca:.2f} s, {ce} entries | Python train {pt:.2f} s, add "
                  f"{pa:.2f} s (assign {st['assign_seconds']:.2f}, add_core {st['store_seconds']:.2f}), "
                  f"{ix.n_entries} entries | Python / C++: train {pt / ct:.3f}x, add {pa / ca:.3f}x", flush=True)
            res.append((ct, ca, pt, pa))
    t = np.array(res)
    print(f"summed over rounds: train {t[:, 2].sum() / t[:, 0].sum():.3f}x, add {t[:, 3].sum() / t[:, 1].sum():.3f}x "
          f"the C++ tool's time; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
