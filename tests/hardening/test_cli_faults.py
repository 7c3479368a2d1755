"""Faults around `flashgmm fit`: a fit killed by SIGINT/SIGTERM leaves no model file (and never
damages an existing one), and a fit resumes from a saved model (--init-model, a warm start that
continues EM exactly where the saved model left it)."""
import glob
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

CLI = os.environ.get("FLASHGMM_CLI")
pytestmark = pytest.mark.skipif(not CLI, reason="FLASHGMM_CLI (path of the flashgmm binary) not set")


def run(*args, check=True):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}): {p.stderr}")
    return p


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def progress_lower_bounds(stdout):
    """The log-likelihood column of fit's per-iteration lines."""
    out = []
    for line in stdout.splitlines():
        f = line.split()
        if len(f) == 6 and f[0].isdigit() and f[1].isdigit():
            out.append(float(f[2]))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    run("generate", "--out", d / "small.npy", "--n", 4000, "--d", 6, "--k", 4, "--seed", 5)
    # Big enough that a full-covariance fit with tol 0 runs for minutes.
    run("generate", "--out", d / "big.npy", "--n", 200000, "--d", 24, "--k", 32, "--seed", 6)
    return d


def no_temporaries(d):
    return [p for p in glob.glob(str(d / "*")) if ".tmp." in os.path.basename(p)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("existing", [False, True], ids=["no_model_yet", "model_exists"])
def test_interrupted_fit_leaves_no_partial_model(data, tmp_path, sig, existing):
    out = tmp_path / "m.fgmm"
    if existing:  # an earlier model at the same path must survive, byte for byte
        run("fit", "--data", data / "small.npy", "--k", 2, "--covariance", "diag", "--out", out, "--quiet")
        before = out.read_bytes()
    p = subprocess.Popen([CLI, "fit", "--data", str(data / "big.npy"), "--k", "32", "--covariance", "full",
                          "--tol", "0", "--max-iter", "100000", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         # A background child may inherit an ignored SIGINT: restore the default.
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Wait for the first iteration line: the fit is past initialisation, in EM.
        deadline = time.time() + 300
        seen = ""
        while time.time() < deadline:
            line = p.stdout.readline()
            seen += line
            if progress_lower_bounds(line):
                break
            assert p.poll() is None, f"fit ended early: {seen} {p.stderr.read()}"
        else:
            pytest.fail("no iteration within 300 s")
        p.send_signal(sig)
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == -sig, f"exit status {rc}"
    if existing:
        assert out.read_bytes() == before, "the interrupted fit changed the existing model file"
    else:
        assert not out.exists(), "the interrupted fit left a model file"
    assert not no_temporaries(tmp_path), no_temporaries(tmp_path)


def test_resume_continues_em_where_the_saved_model_left_it(data, tmp_path):
    x = data / "small.npy"
    common = ["--data", x, "--k", 4, "--covariance", "full", "--seed", 3, "--tol", 0]
    full = run("fit", *common, "--max-iter", 10, "--out", tmp_path / "full.fgmm", "--json")
    first = run("fit", *common, "--max-iter", 4, "--out", tmp_path / "first.fgmm", "--json")
    resumed = run("fit", "--data", x, "--init-model", tmp_path / "first.fgmm", "--tol", 0, "--max-iter", 6,
                  "--out", tmp_path / "resumed.fgmm", "--json")
    assert "warm start from" in resumed.stdout
    lb_full, lb_first, lb_resumed = (progress_lower_bounds(r.stdout) for r in (full, first, resumed))
    assert len(lb_full) == 10 and len(lb_first) == 4 and len(lb_resumed) == 6
    # 4 + 6 iterations from the saved model are the 10 iterations of one fit.
    np.testing.assert_allclose(lb_first + lb_resumed, lb_full, rtol=1e-9, atol=1e-9)
    # The resumed fit's first E-step is the saved model's score.
    score = last_json(run("score", "--model", tmp_path / "first.fgmm", "--data", x, "--json").stdout)["score"]
    assert lb_resumed[0] == pytest.approx(score, rel=1e-6)
    # K and the covariance type come from the model; the JSON summary says so.
    js = last_json(resumed.stdout)
    assert js["n_components"] == 4 and js["covariance_type"] == "full"
    # And the two final models are the same model.
    s_full, s_resumed = (last_json(run("score", "--model", tmp_path / m, "--data", x, "--json").stdout)["score"]
                         for m in ("full.fgmm", "resumed.fgmm"))
    assert s_resumed == pytest.approx(s_full, rel=1e-9)


def test_resume_to_convergence_never_lowers_the_likelihood(data, tmp_path):
    x = data / "small.npy"
    run("fit", "--data", x, "--k", 4, "--covariance", "diag", "--max-iter", 2, "--tol", 0, "--out",
        tmp_path / "m.fgmm", "--quiet")
    before = last_json(run("score", "--model", tmp_path / "m.fgmm", "--data", x, "--json").stdout)["score"]
    r = run("fit", "--data", x, "--init-model", tmp_path / "m.fgmm", "--out", tmp_path / "m2.fgmm", "--json")
    js = last_json(r.stdout)
    assert js["converged"] and js["lower_bound"] >= before - 1e-9


@pytest.mark.parametrize("case", ["other_k", "other_covariance", "other_dim", "corrupt_model", "no_k"])
def test_resume_errors_are_clear(data, tmp_path, case):
    x = data / "small.npy"
    run("fit", "--data", x, "--k", 3, "--covariance", "diag", "--max-iter", 3, "--out", tmp_path / "m.fgmm", "--quiet")
    args = ["fit", "--data", x, "--init-model", tmp_path / "m.fgmm", "--out", tmp_path / "out.fgmm"]
    want = {"other_k": "warm_start", "other_covariance": "warm_start", "other_dim": "the model has 6 features but the data has 3",
            "corrupt_model": "checksum mismatch", "no_k": "--k is required"}[case]
    if case == "other_k":
        args += ["--k", 4]
    elif case == "other_covariance":
        args += ["--covariance", "full"]
    elif case == "other_dim":
        run("generate", "--out", tmp_path / "d3.npy", "--n", 500, "--d", 3, "--k", 3)
        args[2] = tmp_path / "d3.npy"
    elif case == "corrupt_model":
        b = bytearray((tmp_path / "m.fgmm").read_bytes())
        b[70] ^= 1
        (tmp_path / "m.fgmm").write_bytes(bytes(b))
    elif case == "no_k":
        args = ["fit", "--data", x, "--out", tmp_path / "out.fgmm"]
    p = run(*args, check=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert want in p.stderr, p.stderr
    assert not (tmp_path / "out.fgmm").exists()
