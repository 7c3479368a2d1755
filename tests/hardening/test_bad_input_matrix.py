"""The bad-input matrix of issue 9, one table driving two interfaces: the `flashgmm` CLI (data
written to a file, `flashgmm fit / score`) and the Python package (`flashgmm.GaussianMixture`).
Each row says what each interface must do: fit a correct finite model (OK), raise a clear error
naming the problem (Err), or either (OkOrErr, for numerically extreme data). Never a crash, a
hang, a sanitizer report or a NaN model. The C++ API's matrix is tests/core/test_bad_input*.cpp.

Environment: FLASHGMM_CLI = the flashgmm binary; the Python column runs when `import flashgmm`
works (FLASHGMM_MATRIX_REQUIRE_PYTHON=1 makes its absence a failure)."""
import json
import os
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest

CLI = os.environ.get("FLASHGMM_CLI")
try:
    import flashgmm
except ImportError:
    flashgmm = None


@dataclass
class OK:
    """A fitted model: finite lower bound, means and per-row scores."""


@dataclass
class Err:
    """A clear error: exit status 1 (CLI) / this exception type (Python), message containing `text`."""
    text: str
    py_type: type = ValueError


@dataclass
class OkOrErr:
    """Numerically extreme input: either a finite model or a clear error containing `text`."""
    text: str


NA = None  # the case does not apply to that interface (the reason is in the row's note)


def blobs(n=600, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=6.0, size=(k, d))
    return (c[np.arange(n) % k] + rng.normal(size=(n, d))).astype(np.float32)


def with_value(x, row, col, v):
    x = x.copy()
    x[row, col] = v
    return x


@dataclass
class Case:
    name: str
    data: Callable[[], object]        # the X given to Python (and saved with np.save for the CLI)
    cli: object
    py: object
    k: int = 3
    covariance: str = "diag"
    op: str = "fit"                    # fit | score (with a model of dim 4) | warm (--init-model / warm_start)
    file: Optional[Callable] = None    # file(path) writes the CLI's data file itself (malformed files)
    model: Optional[Callable] = None   # model(path) damages the saved dim-4 model before use
    note: str = ""


def truncate_to(nbytes):
    def f(path):
        np.save(path, blobs())
        with open(path, "r+b") as fh:
            fh.truncate(nbytes)
    return f


def write_bytes(b):
    def f(path):
        with open(path, "wb") as fh:
            fh.write(b)
    return f


def model_truncated(path):
    b = open(path, "rb").read()
    open(path, "wb").write(b[:-9])


def model_flipped(path):
    b = bytearray(open(path, "rb").read())
    b[64] ^= 0x40
    open(path, "wb").write(bytes(b))


ALL_SAME = np.full((200, 5), 3.25, np.float32)
DUPS = np.repeat(blobs(40), 10, axis=0)
WIDE = np.repeat(blobs(), 2, axis=1)

CASES = [
    Case("nan_row", lambda: with_value(blobs(), 17, 2, np.nan), Err("row 17"), Err("row 17")),
    Case("inf_row", lambda: with_value(blobs(), 33, 0, -np.inf), Err("row 33"), Err("row 33")),
    Case("n_lt_k", lambda: blobs()[:5], Err("n_samples = 5"), Err("n_samples = 5"), k=10),
    Case("k_zero", blobs, Err("n_components must be >= 1"), Err("n_components must be >= 1"), k=0),
    Case("d_zero", lambda: np.zeros((50, 0), np.float32), Err("zero dimension"), Err("0 feature(s)")),
    Case("n_zero", lambda: np.zeros((0, 4), np.float32), Err("0 rows"), Err("0 sample(s)")),
    Case("dim_mismatch_score", lambda: blobs(d=5), Err("5 features"), Err("5 features"), op="score"),
    Case("dim_mismatch_warm_start", lambda: blobs(d=5), Err("the model has 4 features but the data has 5"),
         Err("the model has 4 features but the data has 5"), op="warm"),
    # Python converts other numeric dtypes to float64 as scikit-learn does (issue 16); the CLI
    # reads .npy files in place and names the dtype it cannot read.
    Case("dtype_int32", lambda: blobs().astype(np.int32), Err("'<i4' not supported"), OK()),
    Case("dtype_float16", lambda: blobs().astype(np.float16), Err("'<f2' not supported"), OK()),
    Case("dtype_big_endian", lambda: blobs().astype(">f4"), Err("'>f4' not supported"), OK()),
    Case("dtype_complex", lambda: blobs().astype(np.complex64), Err("not supported"),
         Err("Complex data not supported", ValueError)),
    Case("ndim_1", lambda: blobs()[:, 0].copy(), Err("1-D"), Err("Expected 2D")),
    Case("ndim_3", lambda: blobs().reshape(200, 3, 4), Err("3-D"), Err("Found array with dim 3")),
    Case("non_contiguous_columns", lambda: WIDE[:, ::2], OK(), OK(),
         note="np.save writes a C-order copy for the CLI; Python uses the strided view in place"),
    Case("non_contiguous_rows", lambda: blobs(1200)[::2], OK(), OK()),
    Case("fortran_order", lambda: np.asfortranarray(blobs()), Err("Fortran-order .npy not supported"), OK()),
    Case("float64", lambda: blobs().astype(np.float64), OK(), OK()),
    Case("duplicated_points", lambda: DUPS, OK(), OK()),
    Case("fewer_distinct_points_than_k", lambda: np.repeat(blobs(3), 20, axis=0), OK(), OK(), k=6),
    Case("all_identical_k1", lambda: ALL_SAME, OK(), OK(), k=1, covariance="full"),
    Case("all_identical_k3", lambda: ALL_SAME, OK(), OK(), k=3, covariance="full"),
    Case("all_identical_spherical", lambda: ALL_SAME, OK(), OK(), k=3, covariance="spherical"),
    Case("all_identical_tied", lambda: ALL_SAME, OK(), OK(), k=3, covariance="tied"),
    Case("far_outlier", lambda: with_value(blobs(), 123, slice(None), 1e6), OK(), OK(), covariance="full"),
    Case("magnitude_1e30", lambda: blobs() * np.float32(1e30), OkOrErr("magnitude"), OkOrErr("magnitude")),
    Case("magnitude_1e30_full", lambda: blobs() * np.float32(1e30), OkOrErr("magnitude"), OkOrErr("magnitude"),
         covariance="full"),
    Case("magnitude_1e-30", lambda: blobs() * np.float32(1e-30), OkOrErr("magnitude"), OkOrErr("magnitude")),
    Case("magnitude_float_max", lambda: np.sign(blobs()) * np.float32(3e38), OkOrErr("magnitude"),
         OkOrErr("magnitude")),
    Case("truncated_npy", blobs, Err("truncated"), NA, file=truncate_to(128 + 16 * 100 + 3),
         note="Python takes arrays: reading a .npy is numpy's job"),
    Case("garbage_npy", blobs, Err("not a .npy file"), NA, file=write_bytes(b"garbage, not numpy")),
    Case("empty_npy", blobs, Err("empty"), NA, file=write_bytes(b"")),
    Case("npy_header_lies", blobs, Err("truncated"), NA,
         file=write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) +
                          b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 4), }".ljust(117) + b"\n" +
                          b"\0" * 64)),
    Case("truncated_model", blobs, Err("truncated"), Err("truncated"), op="score", model=model_truncated),
    Case("corrupt_model", blobs, Err("checksum mismatch"), Err("checksum mismatch"), op="score", model=model_flipped),
]


# ------------------------------------------------------------------------------ helpers

def check_finite_model(lower_bound, means, scores):
    assert np.isfinite(lower_bound), lower_bound
    assert np.all(np.isfinite(means)), means
    assert np.all(np.isfinite(scores)), scores


def saved_model(tmp, d=4):
    """A fitted diag model with K=3 on dim-d blobs, via the CLI."""
    path = tmp / f"model_d{d}.fgmm"
    x = tmp / f"train_d{d}.npy"
    np.save(x, blobs(d=d))
    run_cli("fit", "--data", x, "--k", 3, "--covariance", "diag", "--out", path, "--quiet", check=True)
    return path


def run_cli(*args, check=False):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    # Exit 1 is flashgmm's error exit; a signal, a sanitizer report (exit 86 in the sanitizer
    # build) or an unexpected exception (2) is never acceptable.
    assert p.returncode in (0, 1), f"{args}: exit {p.returncode}\n{p.stderr[-3000:]}"
    assert "Sanitizer" not in p.stderr and "runtime error:" not in p.stderr, p.stderr[-3000:]
    if check:
        assert p.returncode == 0, p.stderr
    return p


def expect_outcome(expect, ok, error_text, check_ok):
    """ok: whether the interface succeeded; error_text: its message (when it failed)."""
    if isinstance(expect, OK):
        assert ok, f"expected a model, got the error: {error_text}"
        check_ok()
    elif isinstance(expect, Err):
        assert not ok, "expected an error, the call succeeded"
        assert expect.text in error_text, f"message lacks {expect.text!r}: {error_text}"
    elif isinstance(expect, OkOrErr):
        if ok:
            check_ok()
        else:
            assert expect.text in error_text, f"message lacks {expect.text!r}: {error_text}"


# ------------------------------------------------------------------------------ the CLI column

@pytest.mark.skipif(not CLI, reason="FLASHGMM_CLI (path of the flashgmm binary) not set")
@pytest.mark.parametrize("case", [c for c in CASES if c.cli is not NA], ids=lambda c: c.name)
def test_cli(case, tmp_path):
    data = tmp_path / "x.npy"
    if case.file:
        case.file(data)
    else:
        np.save(data, case.data(), allow_pickle=False)
    out = tmp_path / "out.fgmm"
    if case.op == "fit":
        p = run_cli("fit", "--data", data, "--k", case.k, "--covariance", case.covariance, "--max-iter", 50,
                    "--seed", 1, "--out", out, "--json")
    elif case.op == "warm":
        p = run_cli("fit", "--data", data, "--init-model", saved_model(tmp_path), "--out", out, "--json")
    else:  # score with a dim-4 model, possibly damaged
        model = saved_model(tmp_path)
        if case.model:
            case.model(model)
        p = run_cli("score", "--model", model, "--data", data, "--json")

    def check_ok():
        if case.op == "score":
            check_finite_model(json.loads(p.stdout.strip().splitlines()[-1])["score"], [], [])
            return
        js = json.loads(p.stdout.strip().splitlines()[-1])
        assert out.exists()
        info = json.loads(run_cli("info", "--model", out, "--json", check=True).stdout.strip().splitlines()[-1])
        assert info["n_components"] == case.k
        s = json.loads(run_cli("score", "--model", out, "--data", data, "--json", check=True)
                       .stdout.strip().splitlines()[-1])["score"]
        check_finite_model(js["lower_bound"], [], [s])

    expect_outcome(case.cli, p.returncode == 0, p.stderr, check_ok)
    if p.returncode != 0:
        assert p.stderr.startswith("flashgmm: error: "), p.stderr
        assert not out.exists(), "a failed fit left a model file"


# ------------------------------------------------------------------------------ the Python column

def python_or_skip():
    if flashgmm is None:
        if os.environ.get("FLASHGMM_MATRIX_REQUIRE_PYTHON") == "1":
            pytest.fail("the flashgmm Python package cannot be imported")
        pytest.skip("flashgmm Python package not built here")


@pytest.mark.parametrize("case", [c for c in CASES if c.py is not NA], ids=lambda c: c.name)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_python(case, tmp_path):
    python_or_skip()
    X = case.data()
    gm = None
    try:
        if case.op == "fit":
            gm = flashgmm.GaussianMixture(case.k, covariance_type=case.covariance, max_iter=50, random_state=1)
            gm.fit(X)
        else:
            base = flashgmm.GaussianMixture(3, covariance_type="diag", random_state=1).fit(blobs())
            path = tmp_path / "m.fgmm"
            base.save(path)
            if case.model:
                case.model(path)
            gm = flashgmm.GaussianMixture.load(path, warm_start=True)
            if case.op == "warm":
                gm.fit(X)
            else:
                gm.score(X)
        ok, message = True, ""
    except Exception as e:  # the type is checked below
        ok, message = False, str(e)
        if isinstance(case.py, (Err, OkOrErr)):
            want = case.py.py_type if isinstance(case.py, Err) else ValueError
            assert isinstance(e, want), f"{type(e).__name__}: {e}"

    def check_ok():
        Xs = np.asarray(X, dtype=np.float32)
        check_finite_model(gm.lower_bound_, gm.means_, gm.score_samples(Xs))
        assert np.all(np.isfinite(gm.covariances_))
        if case.name.startswith("non_contiguous"):  # same fit as the contiguous copy
            ref = flashgmm.GaussianMixture(case.k, covariance_type=case.covariance, max_iter=50,
                                           random_state=1).fit(np.ascontiguousarray(Xs))
            np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-6, atol=1e-6)

    expect_outcome(case.py, ok, message, check_ok)


# ------------------------------------------------------------------------------ a file that shrinks mid-fit

@pytest.mark.skipif(not CLI, reason="FLASHGMM_CLI (path of the flashgmm binary) not set")
@pytest.mark.parametrize("ext", ["npy64", "fvecs"])
def test_cli_data_file_shrinking_during_the_fit(tmp_path, ext):
    """Another process cuts the data file while `flashgmm fit` reads it: a clear error, not SIGBUS.
    These sources copy rows out of the mapping chunk by chunk after checking the file still holds
    them. A float32 .npy is used in place (zero copy): there the check runs before each pass (see
    DataFileShrinkingDuringTheFitIsAnError in tests/core/test_bad_input_extra.cpp), and a cut
    landing in the middle of a pass can still fault, as with any memory map (numpy's included).
    (Python's column is N/A: there numpy owns the memory map.)"""
    path = tmp_path / ("x.fvecs" if ext == "fvecs" else "x.npy")
    run_cli("generate", "--out", tmp_path / "g.npy", "--n", 100000, "--d", 16, "--k", 16, "--seed", 2, check=True)
    x = np.load(tmp_path / "g.npy")
    if ext == "npy64":
        np.save(path, x.astype(np.float64))
    else:
        with open(path, "wb") as f:
            f.write(np.hstack([np.full((len(x), 1), 16, np.int32).view(np.float32), x]).tobytes())
    p = subprocess.Popen([CLI, "fit", "--data", str(path), "--k", "16", "--covariance", "full", "--tol", "0",
                          "--max-iter", "100000", "--out", str(tmp_path / "m.fgmm")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            f = p.stdout.readline().split()
            if len(f) == 6 and f[0].isdigit() and f[1].isdigit():
                break
            assert p.poll() is None, p.stderr.read()
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 3)
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, f"exit {p.returncode} (-{signal.SIGBUS} is SIGBUS): {err[-2000:]}"
    assert "shrank since it was opened" in err and str(path) in err, err
    assert not (tmp_path / "m.fgmm").exists()
