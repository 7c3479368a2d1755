"""flashgmm.dedup: groups against a NumPy brute force, inputs (arrays, memmaps, paths), errors."""
import numpy as np
import pytest

dedup = pytest.importorskip("flashgmm.dedup", reason="flashgmm._dedup not built")
import flashgmm  # noqa: E402


def planted(n_single=2000, n_groups=60, d=48, noise=0.03, seed=0):
    """Loose clusters plus groups of 2-4 near copies; returns X and the expected representative."""
    rng = np.random.default_rng(seed)
    centers = 0.5 * rng.standard_normal((8, d))
    rows = [centers[rng.integers(8)] + rng.standard_normal(d) for _ in range(n_single)]
    group = [-1] * n_single
    for g in range(n_groups):
        base = centers[rng.integers(8)] + rng.standard_normal(d)
        for _ in range(rng.integers(2, 5)):
            rows.append(base + noise * np.linalg.norm(base) * rng.standard_normal(d) / np.sqrt(d))
            group.append(g)
    perm = rng.permutation(len(rows))
    X = np.asarray(rows, dtype=np.float32)[perm]
    group = np.asarray(group)[perm]
    rep = np.arange(len(X))
    first = {}
    for i, g in enumerate(group):
        if g >= 0:
            rep[i] = first.setdefault(g, i)
    return X, rep


def brute_force_rep(X, threshold):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = U @ U.T
    parent = np.arange(len(X))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for i, j in zip(*np.nonzero(np.triu(S >= threshold, 1))):
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(len(X))])


def test_planted_groups_and_outputs():
    X, rep = planted()
    assert (brute_force_rep(X, 0.95) == rep).all(), "test data: planted groups must be the only duplicates"
    r = dedup.deduplicate(X, 0.95, device="cpu", check_sample=len(X))
    assert r.representative.dtype == np.int64
    assert (r.representative == rep).all()
    s = r.summary
    assert s["groups"] == 60 == len(r.groups())
    assert len(r.keep) == s["rows_kept"] == len(X) - len(r.duplicates)
    assert all(g[0] == rep[g[0]] and (rep[g] == g[0]).all() for g in r.groups())
    assert s["pairs_compared"] < s["brute_force_pairs"] / 3
    assert s["quality"]["pair_recall"] == 1.0 and s["quality"]["pair_precision"] == 1.0
    assert "reduction=" in repr(r)


def test_layouts_memmap_and_path_agree(tmp_path):
    X, rep = planted(seed=1)
    path = tmp_path / "x.npy"
    np.save(path, X)
    runs = [X, np.asfortranarray(X.astype(np.float64)), np.load(path, mmap_mode="r"), str(path), path]
    for data in runs:
        assert (dedup.deduplicate(data, 0.95, device="cpu").representative == rep).all()


def test_l2_radius():
    X, rep = planted(seed=2)
    # Planted copies are ~0.03·|x|·√2 ≈ 0.3 apart; other rows are ≥ 5 apart.
    r = dedup.deduplicate(X, radius=1.0, device="cpu")
    assert (r.representative == rep).all()


def test_progress_and_stop():
    X, _ = planted(n_single=500, n_groups=5)
    stages = set()
    dedup.deduplicate(X, 0.95, device="cpu", progress=lambda s, d, t: stages.add(s))
    assert stages == {"fit", "assign", "compare"}
    with pytest.raises(flashgmm.Error, match="interrupted"):
        dedup.deduplicate(X, 0.95, device="cpu", progress=lambda s, d, t: s != "assign")

    def boom(stage, done, total):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        dedup.deduplicate(X, 0.95, device="cpu", progress=boom)


@pytest.mark.parametrize("kwargs, message", [
    ({"threshold": 1.5}, r"cosine similarity threshold must be in \(0, 1\], got 1.5"),
    ({"threshold": 0.0}, r"cosine similarity threshold must be in \(0, 1\]"),
    ({"radius": -1.0}, "L2 radius must be a finite number >= 0"),
    ({"max_assign": 0}, r"max_assign \(m\) must be >= 1"),
    ({"temperature": 0.5}, "temperature must be a finite number >= 1"),
    ({"covariance_type": "banana"}, "banana"),
])
def test_bad_parameters(kwargs, message):
    X, _ = planted(n_single=100, n_groups=2)
    with pytest.raises(flashgmm.Error, match=message):
        dedup.deduplicate(X, device="cpu", **kwargs)


def test_bad_data(tmp_path):
    X, _ = planted(n_single=300, n_groups=2)
    bad = X.copy()
    bad[17, 3] = np.nan
    with pytest.raises(flashgmm.Error, match="row 17 contains NaN or infinity"):
        dedup.deduplicate(bad, 0.9, device="cpu")
    zero = X.copy()
    zero[5] = 0
    with pytest.raises(flashgmm.Error, match="row 5 is all zeros"):
        dedup.deduplicate(zero, 0.9, device="cpu")
    with pytest.raises(ValueError, match="2-D"):
        dedup.deduplicate(X[0], 0.9)
    with pytest.raises(ValueError):
        dedup.deduplicate(np.zeros((0, 8), np.float32), 0.9)
    with pytest.raises(ValueError, match="not both"):
        dedup.deduplicate(X, 0.9, radius=1.0)
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(flashgmm.Error, match="is empty"):
        dedup.deduplicate(str(empty), 0.9)
