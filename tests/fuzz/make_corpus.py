#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/ (small valid files of
every kind each parser reads, plus a few near misses). Run once; the files are committed."""
import io
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
MASK = (1 << 64) - 1


def model_checksum(b):  # model_file_format.hpp: FNV-1a over 64-bit little-endian words
    h = 0xCBF29CE484222325
    for i in range(0, len(b) - len(b) % 8, 8):
        h = ((h ^ struct.unpack_from("<Q", b, i)[0]) * 0x100000001B3) & MASK
    return h


def fnv1a64(b):  # sidecar.cpp: byte-wise FNV-1a
    h = 1469598103934665603
    for c in b:
        h = ((h ^ c) * 1099511628211) & MASK
    return h


def prec_chol(cov):
    L = np.linalg.cholesky(cov)
    return np.linalg.inv(L).T  # P with P·Pᵀ = Σ⁻¹ (scikit-learn's convention)


def model_bytes(kind, k, d, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(1, 2, k)
    w /= w.sum()
    means = rng.normal(size=(k, d))
    code = {"spherical": 0, "diag": 1, "full": 2, "tied": 3}[kind]
    if kind == "spherical":
        cov = rng.uniform(0.5, 2, k)
        pc = 1 / np.sqrt(cov)
    elif kind == "diag":
        cov = rng.uniform(0.5, 2, (k, d))
        pc = 1 / np.sqrt(cov)
    else:
        blocks = k if kind == "full" else 1
        A = rng.normal(size=(blocks, d, d))
        cov = A @ A.transpose(0, 2, 1) + d * np.eye(d)
        pc = np.stack([prec_chol(c) for c in cov])
        if kind == "tied":
            cov, pc = cov[0], pc[0]
    payload = np.concatenate([w, means.ravel(), np.ravel(cov), np.ravel(pc)]).astype("<f8")
    head = b"FGMMODEL" + struct.pack("<IIQQQ", 1, code, k, d, payload.size)
    body = head + payload.tobytes()
    return body + struct.pack("<Q", model_checksum(body))


def sidecar_bytes(model, d, nlist, max_copies=2, order=0, probe_mass=1.0):
    pl = struct.pack("<iqqqqiifqiddiQ", d, nlist, 100, 60, 60, max_copies, max_copies, 0.25, 16384,
                     order, probe_mass, 1.0, 1, 0x1234567890ABCDEF)
    pl += struct.pack("<Q", len(model)) + model
    out = b"FGMMIVF\0" + struct.pack("<IIQ", 1, 0, len(pl)) + pl
    return out + struct.pack("<Q", fnv1a64(out))


def npy_bytes(a, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, a, version=version)
    return f.getvalue()


def vecs(rows, dtype):
    out = b""
    for r in rows:
        r = np.asarray(r, dtype=dtype)
        out += struct.pack("<i", r.size) + r.tobytes()
    return out


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def main():
    for kind in ("spherical", "diag", "full", "tied"):
        write("fuzz_model", f"{kind}_k2_d3", model_bytes(kind, 2, 3))
    write("fuzz_model", "full_k1_d1", model_bytes("full", 1, 1))
    write("fuzz_model", "diag_k3_d2_truncated", model_bytes("diag", 3, 2)[:-13])
    write("fuzz_model", "magic_only", b"FGMMODEL")

    write("fuzz_sidecar", "diag_k2_d3", sidecar_bytes(model_bytes("diag", 2, 3), 3, 2))
    write("fuzz_sidecar", "full_k3_d2_posterior", sidecar_bytes(model_bytes("full", 3, 2, 1), 2, 3, 3, 1, 0.9))
    write("fuzz_sidecar", "spherical_k1_d1", sidecar_bytes(model_bytes("spherical", 1, 1), 1, 1, 1))

    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    write("fuzz_npy", "f4_3x4", npy_bytes(x))
    write("fuzz_npy", "f8_2x2", npy_bytes(np.array([[1.5, -2], [3, 1e300]])))
    write("fuzz_npy", "f4_v2_2x3", npy_bytes(x[:2, :3].copy(), version=(2, 0)))
    write("fuzz_npy", "f4_fortran", npy_bytes(np.asfortranarray(x)))
    write("fuzz_npy", "f4_0x5", npy_bytes(np.zeros((0, 5), np.float32)))
    write("fuzz_npy", "i4_2x2", npy_bytes(np.ones((2, 2), np.int32)))
    write("fuzz_npy", "f4_1d", npy_bytes(np.ones(3, np.float32)))
    write("fuzz_npy", "f4_3d", npy_bytes(np.ones((1, 2, 2), np.float32)))
    write("fuzz_npy", "f4_truncated", npy_bytes(x)[:-5])

    write("fuzz_vecs", "fvecs_3x4", b"\0" + vecs(x, "<f4"))
    write("fuzz_vecs", "bvecs_2x5", b"\1" + vecs([[1, 2, 3, 4, 5], [250, 0, 7, 8, 9]], np.uint8))
    write("fuzz_vecs", "ivecs_2x3", b"\2" + vecs([[1, 2, 3], [-4, 5, 600000]], "<i4"))
    write("fuzz_vecs", "fvecs_bad_second_header", b"\0" + vecs(x[:1], "<f4") + struct.pack("<i", 3) + x[1].tobytes())
    write("fuzz_vecs", "ivecs_truncated", b"\2" + vecs([[1, 2, 3], [4, 5, 6]], "<i4")[:-2])


if __name__ == "__main__":
    sys.exit(main())
