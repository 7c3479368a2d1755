"""flashgmm.faiss.IndexIVFMultiAssign as a FAISS user meets it, on whatever `faiss` is importable:
Debian's python3-faiss 1.7.3 in the main CTest run, PyPI faiss-cpu (newest 1.15.x and 1.8.0) in
the venvs of tests/python/run_faiss_venvs.sh. Nothing here may depend on the FAISS version."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import blobs

faiss = pytest.importorskip("faiss", reason="no faiss module importable by this interpreter")
import flashgmm  # noqa: E402

gf = flashgmm.faiss  # lazily imported, as a user reaches it

D = 16
NLIST = 32
CODECS = ["Flat", "SQ8", "PQ4x4"]


@pytest.fixture(scope="module")
def data():
    xb = blobs(n=12000, d=D, k=48, seed=1, spread=3.0)
    xq = blobs(n=150, d=D, k=48, seed=2, spread=3.0) + np.float32(0.05)
    return xb, xq


def brute_force(xb, xq, k):
    d = ((xq[:, None, :].astype(np.float64) - xb[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return order


def recall(I, gt):
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(I, gt)]))


def assert_each_id_once(I):
    for row in I:
        valid = row[row >= 0]
        assert len(set(valid.tolist())) == len(valid), f"duplicate id in a result row: {row}"


@pytest.fixture(scope="module", params=CODECS)
def built(request, data):
    xb, _ = data
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},{request.param}", seed=7)
    assert not index.is_trained and index.ntotal == 0
    index.train(xb)
    index.add(xb)
    return request.param, index


def test_import_flashgmm_reaches_faiss_and_dedup():
    import flashgmm.dedup  # noqa: F401  (the wheel ships the _dedup extension)
    assert flashgmm.faiss is gf and hasattr(flashgmm.dedup, "deduplicate")
    assert "faiss" not in dir(flashgmm) or flashgmm.faiss is gf


def test_import_flashgmm_does_not_import_faiss():
    code = "import sys, flashgmm; assert 'faiss' not in sys.modules, 'faiss imported eagerly'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_faiss_shapes_and_each_id_once(built, data):
    codec, index = built
    xb, xq = data
    assert index.ntotal == len(xb) and index.n_entries > len(xb)  # some vectors stored twice
    assert index.add_params == {} and index.last_stats is None or isinstance(index.last_stats, dict)
    index.nprobe = 4
    Dd, Id = index.search(xq, 10)
    assert Dd.shape == Id.shape == (len(xq), 10) and Dd.dtype == np.float32 and Id.dtype == np.int64
    assert_each_id_once(Id)
    assert np.all(np.diff(Dd, axis=1) >= 0)
    st = index.last_stats
    assert st["nq"] == len(xq) and st["nprobe"] == 4 and st["ndis"] > 0 and st["duplicates_removed"] >= 0
    # FAISS's own search on the wrapped IVF returns the copies
    _, Iraw = index.index.search(xq, 30)
    assert any(len(set(r[r >= 0].tolist())) < len(r[r >= 0]) for r in Iraw)


def test_every_list_probed_equals_brute_force(built, data):
    codec, index = built
    xb, xq = data
    D, I = index.search(xq, 10, nprobe=NLIST)
    assert_each_id_once(I)
    if codec == "Flat":
        np.testing.assert_array_equal(np.sort(I, axis=1), np.sort(brute_force(xb, xq, 10), axis=1))
        return
    # Compressed codes: brute force over the stored codes is FAISS's own search of every list,
    # each id kept at its best copy (copies are encoded against different centroids).
    index.index.nprobe = NLIST
    Dr, Ir = index.index.search(xq, 60)
    for i in range(len(xq)):
        best = {}
        for dist, j in zip(Dr[i], Ir[i]):
            if j >= 0 and j not in best:
                best[j] = dist
        want = sorted(best.items(), key=lambda t: (t[1], t[0]))[:10]
        np.testing.assert_allclose(D[i], [t[1] for t in want], rtol=1e-6)
        assert set(I[i].tolist()) == {t[0] for t in want} or np.unique(D[i]).size < 10  # ties may swap ids


def test_range_search_faiss_layout_each_id_once(built, data):
    codec, index = built
    xb, xq = data
    gt = brute_force(xb, xq, 20)
    radius = float(np.median(((xq - xb[gt[:, -1]]) ** 2).sum(1)))
    lims, Dr, Ir = index.range_search(xq, radius, nprobe=NLIST)
    assert lims.dtype == np.uint64 and lims.shape == (len(xq) + 1,) and lims[-1] == len(Ir) == len(Dr)
    for i in range(len(xq)):
        ids = Ir[lims[i]:lims[i + 1]]
        assert len(set(ids.tolist())) == len(ids)
        assert np.all(np.diff(Dr[lims[i]:lims[i + 1]]) >= 0) and np.all(Dr[lims[i]:lims[i + 1]] < radius)
        if codec == "Flat":
            dist = ((xb - xq[i]) ** 2).sum(1)
            np.testing.assert_array_equal(np.sort(ids), np.nonzero(dist < radius)[0][np.argsort(
                np.nonzero(dist < radius)[0])])
    assert index.last_stats["duplicates_removed"] > 0


def test_write_read_round_trip_is_bit_identical(built, data, tmp_path):
    codec, index = built
    _, xq = data
    a = tmp_path / "a.index"
    gf.write_index(index, a)
    back = gf.read_index(a)
    assert isinstance(back, gf.IndexIVFMultiAssign) and back.ntotal == index.ntotal
    assert back.n_entries == index.n_entries
    D1, I1 = index.search(xq, 10, nprobe=5)
    D2, I2 = back.search(xq, 10, nprobe=5)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)
    b = tmp_path / "b.index"
    gf.write_index(back, b)
    assert a.read_bytes() == b.read_bytes()
    assert open(gf.sidecar_path(a), "rb").read() == open(gf.sidecar_path(b), "rb").read()
    # plain FAISS reads the index file alone and searches it (routing by L2, copies not folded)
    plain = faiss.read_index(str(a))
    plain.nprobe = 5
    _, Ip = plain.search(xq, 10)
    assert Ip.shape == (len(xq), 10) and plain.ntotal == index.n_entries


def test_add_with_ids_and_the_stored_id_policy(data):
    xb, xq = data
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat", seed=3)
    index.train(xb)
    ids = np.arange(50000, 50000 + len(xb), dtype=np.int64)
    index.add_with_ids(xb, ids)
    assert index.ntotal == len(xb) and index.last_stats["n"] == len(xb)
    before = (index.ntotal, index.n_entries)
    with pytest.raises(ValueError, match="already stored"):
        index.add_with_ids(xb[:10], ids[5:15])
    assert (index.ntotal, index.n_entries) == before  # nothing half-added
    with pytest.raises(ValueError, match="more than once"):
        index.add_with_ids(xb[:2], np.array([1, 1]))
    with pytest.raises(ValueError, match="negative id"):
        index.add_with_ids(xb[:1], np.array([-3]))
    # sequential ids continue after the largest id stored
    far = xb[:200] + np.float32(1000.0)  # new vectors, nearest to themselves
    index.add(far)
    _, I = index.search(far, 1, nprobe=NLIST)
    np.testing.assert_array_equal(I[:, 0], np.arange(50000 + len(xb), 50000 + len(xb) + 200))
    # removing an id lets it be added again
    assert index.remove_ids(ids[:10]) == 10
    index.add_with_ids(xb[:10], ids[:10])
    assert index.ntotal == len(xb) + 200


def test_remove_ids_reset_and_faiss_side_changes(data):
    xb, xq = data
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat")
    index.train(xb)
    index.add(xb)
    assert index.remove_ids(np.arange(100)) == 100
    assert index.remove_ids(faiss.IDSelectorRange(100, 300)) == 200
    assert index.ntotal == len(xb) - 300
    _, I = index.search(xq, 50, nprobe=NLIST)
    assert not np.any((I >= 0) & (I < 300))
    # FAISS's own removal on the wrapped IVF: the counts follow
    index.index.remove_ids(faiss.IDSelectorRange(300, 1000))
    assert index.ntotal == len(xb) - 1000
    index.reset()
    assert index.ntotal == 0 and index.n_entries == 0 and index.is_trained
    index.add(xb[:500])
    assert index.ntotal == 500


def test_clone_keeps_the_mixture_and_counts(data):
    xb, xq = data
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat")
    index.train(xb)
    index.add(xb)
    twin = gf.clone_index(index)
    assert twin is not index and twin.index is not index.index and twin.ntotal == index.ntotal
    np.testing.assert_array_equal(twin.search(xq, 5, nprobe=3)[1], index.search(xq, 5, nprobe=3)[1])
    twin.add(xb[:10])
    assert twin.ntotal == index.ntotal + 10  # independent
    np.testing.assert_array_equal(twin.mixture.means_, index.mixture.means_)
    # faiss.clone_index copies only the FAISS part: wrapping it is refused with the way out named
    plain = faiss.clone_index(index.index)
    with pytest.raises(ValueError, match="no mixture"):
        gf.IndexIVFMultiAssign(plain)
    with pytest.raises(ValueError, match="clone_index"):
        gf.add_multi(plain, xb[:10])


def test_wraps_user_made_indexes_and_idmap(data):
    xb, xq = data
    ivf = faiss.index_factory(D, f"IVF{NLIST},Flat")
    index = gf.IndexIVFMultiAssign(ivf, max_copies=2)
    index.train(xb)
    index.add(xb)
    assert index.index is ivf and index.n_entries <= 2 * len(xb)
    assert index.nlist == NLIST and index.d == D and index.is_trained
    # an empty IndexIDMap around an IVF: the IVF takes the ids itself
    idmap = faiss.IndexIDMap(faiss.index_factory(D, f"IVF{NLIST},Flat"))
    wrapped = gf.IndexIVFMultiAssign(idmap)
    wrapped.train(xb)
    wrapped.add_with_ids(xb[:1000], np.arange(7, 1007))
    _, I = wrapped.search(xb[:5], 1, nprobe=NLIST)
    np.testing.assert_array_equal(I[:, 0], np.arange(7, 12))
    with pytest.raises(TypeError, match="IndexIDMap"):
        gf.train_ivf(faiss.IndexIDMap(faiss.index_factory(D, f"IVF{NLIST},Flat")), xb)


def test_bad_input_raises_clear_errors_and_changes_nothing(data):
    xb, xq = data
    with pytest.raises(TypeError, match="IndexIVF"):
        gf.IndexIVFMultiAssign(faiss.IndexFlatL2(D))
    with pytest.raises(TypeError, match="IndexIVF"):
        gf.IndexIVFMultiAssign("not an index")
    with pytest.raises(ValueError, match="METRIC_L2"):
        gf.IndexIVFMultiAssign(faiss.index_factory(D, f"IVF{NLIST},Flat", faiss.METRIC_INNER_PRODUCT))
    with pytest.raises(ValueError, match="IndexIVF"):
        gf.IndexIVFMultiAssign(D, "HNSW32")
    with pytest.raises(TypeError, match="unexpected parameter"):
        gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat", n_clusters=4)
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat")
    with pytest.raises(ValueError, match="not trained"):
        index.search(xq, 5)
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        index.train(xb[:, :8])
    index.train(xb)
    index.add(xb[:2000])
    state = (index.ntotal, index.n_entries)
    with pytest.raises(ValueError, match="NaN"):
        index.add(np.vstack([xb[:5], np.full((1, D), np.nan, np.float32)]))
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((2, D), np.nan, np.float32), 5)
    with pytest.raises(TypeError, match="numeric"):
        index.add(np.array([["a"] * D]))
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        index.search(xq[:, :3], 5)
    with pytest.raises(ValueError, match="k must be"):
        index.search(xq, 0)
    with pytest.raises(ValueError, match="ids must have shape"):
        index.add_with_ids(xb[:10], np.arange(3))
    with pytest.raises(TypeError, match="ids must be integers"):
        index.add_with_ids(xb[:2], np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="radius is NaN"):
        index.range_search(xq, float("nan"))
    with pytest.raises(ValueError, match="nprobe"):
        index.nprobe = 0
    with pytest.raises(ValueError, match="already trained"):
        index.train(xb)
    assert (index.ntotal, index.n_entries) == state  # the failed calls changed nothing
    with pytest.raises(RuntimeError, match="GPU"):
        if gf._api.gpu_count() > 0:
            raise RuntimeError("GPU present: conversion covered elsewhere")
        index.to_gpu()


def test_read_index_errors(data, tmp_path):
    xb, _ = data
    with pytest.raises(FileNotFoundError):
        gf.read_index(tmp_path / "missing.index")
    flat = faiss.IndexFlatL2(D)
    flat.add(xb[:10])
    faiss.write_index(flat, str(tmp_path / "flat.index"))
    with pytest.raises(ValueError, match="IVF"):
        gf.read_index(tmp_path / "flat.index")
    ivf = faiss.index_factory(D, f"IVF{NLIST},Flat")
    ivf.train(xb)
    faiss.write_index(ivf, str(tmp_path / "plain.index"))
    with pytest.raises(ValueError, match="plain.index.gmm"):
        gf.read_index(tmp_path / "plain.index")


def test_recall_and_distance_computations_equal_the_cpp_tool(data, tmp_path):
    """The same data and settings through `flashgmm-ivf eval` (C++ plugin, Debian's FAISS) and
    through this layer on the importable faiss: the same lists, so the same recall@10 and
    distance computations per query at each nprobe (the user's FAISS only routes and scans)."""
    import json
    tool = os.environ.get("FLASHGMM_IVF_TOOL")
    if not tool or not os.path.exists(tool):
        pytest.skip("FLASHGMM_IVF_TOOL (the flashgmm-ivf binary) not given")
    xb, xq = data
    np.save(tmp_path / "xb.npy", xb)
    np.save(tmp_path / "xq.npy", xq)
    run = subprocess.run([tool, "eval", "--data", str(tmp_path / "xb.npy"), "--queries", str(tmp_path / "xq.npy"),
                          "--nlist", str(NLIST), "--nprobe", "1,2,4,8", "--k", "10", "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    ours = summary["methods"][summary["ours"]]  # the default: "refined-kmeans+neighbors"
    cpp = {p["nprobe"]: p for p in ours["points"]}
    index = gf.IndexIVFMultiAssign(D, f"IVF{NLIST},Flat")  # the tool's defaults: seed 1234, niter 10, 256 points
    index.train(xb)
    index.add(xb)
    flat = faiss.IndexFlatL2(D)
    flat.add(xb)
    _, gt = flat.search(xq, 10)
    for nprobe, point in cpp.items():
        _, I = index.search(xq, 10, nprobe=nprobe)
        ndis = index.last_stats["ndis"] / len(xq)
        assert ndis == pytest.approx(point["ndis_per_query"], rel=2e-3), nprobe
        assert recall(I, gt) == pytest.approx(point["recall_at_10"], abs=5e-3), nprobe
    assert index.n_entries == ours["entries"]
