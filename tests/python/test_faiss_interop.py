"""flashgmm.faiss on objects made by `import faiss` (python3-faiss): an IVF index made in
Python, trained with a mixture, filled with copies, searched without duplicates, written and
read back."""
import os

import inspect

import numpy as np
import pytest

from conftest import blobs

faiss = pytest.importorskip("faiss", reason="python3-faiss is importable only from /usr/bin/python3")
import flashgmm._core as _core  # noqa: E402

if not _core.has_faiss:
    pytest.skip("flashgmm was built without the FAISS plugin", allow_module_level=True)
import flashgmm.faiss as gf  # noqa: E402

D = 16
NLIST = 32


@pytest.fixture(scope="module")
def data():
    xb = blobs(n=20000, d=D, k=48, seed=1, spread=3.0)
    xq = blobs(n=200, d=D, k=48, seed=1, spread=3.0) + np.float32(0.05)
    return xb, xq


def exact_knn(xb, xq, k):
    flat = faiss.IndexFlatL2(D)
    flat.add(xb)
    return flat.search(xq, k)


def recall(I, gt):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(I, gt)])


@pytest.fixture
def trained(data):
    xb, _ = data
    quantizer = faiss.IndexFlatL2(D)
    index = faiss.IndexIVFFlat(quantizer, D, NLIST)
    clus = gf.train_ivf(index, xb, seed=3)
    return index, quantizer, clus


def test_train_add_search_end_to_end(data, trained):
    xb, xq = data
    index, quantizer, clus = trained
    assert index.is_trained and quantizer.ntotal == NLIST
    # The C++ default: the quantizer holds the (refined k-means) centroids the clustering reports.
    np.testing.assert_array_equal(faiss.rev_swig_ptr(quantizer.get_xb(), NLIST * D).reshape(NLIST, D),
                                  clus.centroids)
    assert len(clus.iteration_stats) >= 1 and clus.centroids.shape == (NLIST, D)

    st = gf.add_multi(index, xb, max_copies=2)  # default rule: neighbors
    assert st["n"] == xb.shape[0]
    assert xb.shape[0] < st["entries"] <= 2 * xb.shape[0]  # some border vectors stored twice
    assert index.ntotal == st["entries"]
    info = gf.index_stats(index)
    assert info["n_vectors"] == xb.shape[0] and info["list_sizes"].sum() == index.ntotal
    assert info["imbalance_factor"] >= 1.0

    k = 10
    Dd, Id, stats = gf.search(index, xq, k, nprobe=4)
    assert Id.shape == (xq.shape[0], k) and Dd.dtype == np.float32 and Id.dtype == np.int64
    for row in Id:
        valid = row[row >= 0]
        assert len(set(valid)) == len(valid), "duplicate id in a result row"
    assert np.all(np.diff(Dd, axis=1) >= 0)
    assert stats["nq"] == xq.shape[0] and stats["lists_probed"] == 4 * xq.shape[0] and stats["ndis"] > 0

    # FAISS's own search returns the stored copies; ours keeps each id's best copy.
    index.nprobe = 4
    Draw, Iraw = index.search(xq, 2 * k)
    assert any(len(set(r[r >= 0])) < len(r[r >= 0]) for r in Iraw)
    for raw_d, raw_i, ours_i in zip(Draw, Iraw, Id):
        firsts = list(dict.fromkeys(raw_i[raw_i >= 0]))[:k]
        assert list(ours_i[:len(firsts)]) == firsts

    _, gt = exact_knn(xb, xq, k)
    assert recall(Id, gt) > 0.8
    # Every list probed: exact results.
    Dall, Iall, _ = gf.search(index, xq, k, nprobe=NLIST)
    assert recall(Iall, gt) > 0.999


def test_range_search_returns_each_id_once(data, trained):
    xb, xq = data
    index, _, _ = trained
    gf.add_multi(index, xb, max_copies=2)
    Dk, _ = exact_knn(xb, xq, 20)
    radius = float(np.median(Dk[:, -1]))  # about 20 neighbours per query
    flat = faiss.IndexFlatL2(D)
    flat.add(xb)
    lims_t, D_t, I_t = flat.range_search(xq, radius)

    # Every list probed: exactly the brute-force neighbours, each once, sorted by distance.
    lims, Dr, Ir, stats = gf.range_search(index, xq, radius, nprobe=NLIST)
    assert lims.dtype == np.uint64 and Dr.dtype == np.float32 and Ir.dtype == np.int64
    assert lims.shape == (xq.shape[0] + 1,) and lims[-1] == len(Ir) == len(Dr)
    assert stats["lists_probed"] == NLIST * xq.shape[0] and stats["duplicates_removed"] > 0
    for i in range(xq.shape[0]):
        ids, dis = Ir[lims[i]:lims[i + 1]], Dr[lims[i]:lims[i + 1]]
        truth = dict(zip(I_t[lims_t[i]:lims_t[i + 1]], D_t[lims_t[i]:lims_t[i + 1]]))
        assert len(set(ids)) == len(ids) and set(ids) == set(truth)
        assert np.all(np.diff(dis) >= 0) and np.all(dis < radius)
        np.testing.assert_allclose(dis, [truth[j] for j in ids], rtol=1e-4, atol=1e-4)

    # A few lists: FAISS's own range search over the same lists, copies folded into one.
    index.nprobe = 4
    lims_p, D_p, I_p = index.range_search(xq, radius)
    lims, Dr, Ir, stats = gf.range_search(index, xq, radius)  # None = index.nprobe
    assert stats["nprobe"] == 4 and len(I_p) == len(Ir) + stats["duplicates_removed"] > len(Ir)
    for i in range(xq.shape[0]):
        folded = {}
        for j, dist in zip(I_p[lims_p[i]:lims_p[i + 1]], D_p[lims_p[i]:lims_p[i + 1]]):
            folded[j] = min(dist, folded.get(j, np.inf))
        assert dict(zip(Ir[lims[i]:lims[i + 1]], Dr[lims[i]:lims[i + 1]])) == folded

    with pytest.raises(ValueError, match="NaN"):
        gf.range_search(index, xq, float("nan"))
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        gf.range_search(index, xq[:, :8], radius)
    with pytest.raises(ValueError, match="nprobe"):
        gf.range_search(index, xq, radius, nprobe=0)


def test_remove_ids_and_faiss_side_changes(data, trained, tmp_path):
    xb, xq = data
    index, _, _ = trained
    gf.add_multi(index, xb, max_copies=2)
    n = xb.shape[0]
    # Ours: every copy of each id goes, with an id array or a FAISS selector.
    assert gf.remove_ids(index, np.arange(100)) == 100
    assert gf.remove_ids(index, faiss.IDSelectorRange(100, 200)) == 100
    assert gf.index_stats(index)["n_vectors"] == n - 200
    _, I_all, _ = gf.search(index, xq, 50, nprobe=NLIST)
    assert not np.any((I_all >= 0) & (I_all < 200))
    # FAISS's own remove_ids (no direct map: it scans every list) leaves our counts stale; they
    # are recounted, and the sidecar written afterwards loads again.
    index.remove_ids(faiss.IDSelectorRange(200, 15000))
    assert index.ntotal < n - 200
    assert gf.index_stats(index)["n_vectors"] == n - 15000
    gf.write_index(index, tmp_path / "removed.index")
    back = gf.read_index(tmp_path / "removed.index")
    # read_index gives the FAISS-style wrapper: ntotal counts distinct vectors, n_entries copies
    assert back.n_entries == index.ntotal and back.ntotal == n - 15000
    assert gf.index_stats(back)["n_vectors"] == n - 15000
    # A hashtable direct map would make FAISS remove one copy per id; ours removes all of them.
    back.set_direct_map_type(faiss.DirectMap.Hashtable)
    keep = np.arange(15000, 15100)
    assert gf.remove_ids(back, keep) == 100
    _, I_back, _ = gf.search(back, xq, 50, nprobe=NLIST)
    assert not np.any(np.isin(I_back, keep))
    with pytest.raises(TypeError, match="integers or a faiss.IDSelector"):
        gf.remove_ids(back, np.array([1.5]))


def test_python_defaults_follow_cpp():
    d = _core.ivf_defaults()
    assert d["centroids"] == "kmeans" and d["spill"] == "neighbors" and d["refine_centroids"]
    assert d["centroid_niter"] == 25 and d["centroid_max_points_per_centroid"] == 1000
    assert d["max_copies"] == 3 and d["max_entries_ratio"] == 1.5
    assert abs(d["min_posterior"] - 0.25) < 1e-7 and d["refine_pseudo_query_fraction"] == 0.25
    # add_multi's keyword defaults are None: the C++ values above apply.
    sig = inspect.signature(gf.add_multi)
    assert all(sig.parameters[name].default is None
               for name in ("max_copies", "min_posterior", "spill", "max_entries_ratio"))


def test_entry_budget_bounds_copies(data):
    """max_entries_ratio bounds the entries an add writes; out-of-range values are rejected."""
    xb, _ = data
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    gf.train_ivf(index, xb, niter=4)
    st = gf.add_multi(index, xb, max_entries_ratio=1.2)
    assert st["entries"] <= 1.2 * len(xb) + 1e-9
    assert st["copies_per_vector"] >= 1.0
    bad = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    gf.train_ivf(bad, xb, niter=4)
    with pytest.raises(ValueError, match="max_entries_ratio"):
        gf.add_multi(bad, xb, max_entries_ratio=0.5)


def test_default_build_is_deterministic(data, tmp_path):
    """train_ivf + add_multi with the defaults (the C++ train_ivf / add_multi that GmmIvfIndex
    runs) give the same centroids and the same lists twice, and the result round-trips."""
    xb, _ = data
    a = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    b = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    ca = gf.train_ivf(a, xb, seed=5)
    cb = gf.train_ivf(b, xb, seed=5)
    np.testing.assert_array_equal(ca.centroids, cb.centroids)  # deterministic training
    gf.add_multi(a, xb)
    gf.add_multi(b, xb)
    assert a.ntotal == b.ntotal
    for l in range(NLIST):
        ia = faiss.rev_swig_ptr(a.invlists.get_ids(l), a.invlists.list_size(l))
        ib = faiss.rev_swig_ptr(b.invlists.get_ids(l), b.invlists.list_size(l))
        np.testing.assert_array_equal(np.sort(ia), np.sort(ib))
    path = tmp_path / "py.index"
    gf.write_index(a, path)
    back = gf.read_index(path)
    assert back.n_entries == a.ntotal


def test_mixture_centroids_option(data):
    xb, _ = data
    quantizer = faiss.IndexFlatL2(D)
    index = faiss.IndexIVFFlat(quantizer, D, NLIST)
    clus = gf.train_ivf(index, xb, seed=3, centroids="mixture")
    # The quantizer holds the mixture's means (the design before the k-means default).
    np.testing.assert_allclose(faiss.rev_swig_ptr(quantizer.get_xb(), NLIST * D).reshape(NLIST, D),
                               clus.mixture.means_, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="centroids must be"):
        gf.train_ivf(faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST), xb, centroids="gmm")


def test_neighbors_rule_is_default_and_bounded(data, trained):
    xb, xq = data
    index, _, _ = trained
    st = gf.add_multi(index, xb)
    n = xb.shape[0]
    assert n <= st["entries"] <= 2 * n and index.ntotal == st["entries"]
    _, Id, _ = gf.search(index, xq, 10, nprobe=NLIST)
    for row in Id:
        assert len(set(row[row >= 0])) == len(row[row >= 0]), "duplicate id in a result row"
    _, gt = exact_knn(xb, xq, 10)
    assert recall(Id, gt) > 0.999


def test_soar_spill_rule(data, trained):
    xb, xq = data
    index, _, _ = trained
    st = gf.add_multi(index, xb, max_copies=2, spill="soar", spill_fraction=0.3)
    n = xb.shape[0]
    # At most 30% of the vectors get a second list (threshold fixed at this first add).
    assert n < st["entries"] <= int(1.3 * n) + 1
    assert index.ntotal == st["entries"]
    k = 10
    Dd, Id, _ = gf.search(index, xq, k, nprobe=NLIST)
    for row in Id:
        assert len(set(row[row >= 0])) == len(row[row >= 0]), "duplicate id in a result row"
    _, gt = exact_knn(xb, xq, k)
    assert recall(Id, gt) > 0.999
    with pytest.raises(ValueError, match="spill must be"):
        gf.add_multi(index, xb[:10], spill="nearest")


def test_ids_given_and_sequential_ids_continue(data, trained):
    xb, _ = data
    index, _, _ = trained
    gf.add_multi(index, xb[:100])
    gf.add_multi(index, xb[100:200], ids=np.arange(1000, 1100))
    gf.add_multi(index, xb[200:300])
    _, I, _ = gf.search(index, xb[:300], 1, nprobe=NLIST)
    np.testing.assert_array_equal(I[:100, 0], np.arange(100))
    np.testing.assert_array_equal(I[100:200, 0], np.arange(1000, 1100))
    np.testing.assert_array_equal(I[200:, 0], np.arange(1100, 1200))  # after the largest id given


def test_write_and_read_back(data, trained, tmp_path):
    xb, xq = data
    index, _, _ = trained
    gf.add_multi(index, xb, max_copies=3, min_posterior=0.05)
    D1, I1, _ = gf.search(index, xq, 10, nprobe=3)
    path = tmp_path / "ivf.index"
    gf.write_index(index, path)
    assert os.path.exists(gf.sidecar_path(path))

    back = gf.read_index(path)
    assert isinstance(back.index, faiss.IndexIVFFlat) and back.n_entries == index.ntotal
    D2, I2, _ = gf.search(back, xq, 10, nprobe=3)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)
    assert gf.index_stats(back)["max_copies_stored"] == 3
    np.testing.assert_array_equal(gf.mixture(back).means_, gf.mixture(index).means_)
    # Stock FAISS reads the index file on its own.
    assert faiss.read_index(str(path)).ntotal == index.ntotal


def test_read_index_rejects_a_mismatched_sidecar(data, trained, tmp_path):
    xb, _ = data
    index, _, _ = trained
    gf.add_multi(index, xb[:500])
    gf.write_index(index, tmp_path / "a.index")
    gf.add_multi(index, xb[500:600])
    faiss.write_index(index, str(tmp_path / "a.index"))  # index changed, sidecar did not
    with pytest.raises(ValueError, match="does not match"):
        gf.read_index(tmp_path / "a.index")
    os.remove(gf.sidecar_path(tmp_path / "a.index"))
    with pytest.raises(ValueError, match="a.index.gmm"):
        gf.read_index(tmp_path / "a.index")
    with open(gf.sidecar_path(tmp_path / "a.index"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError):
        gf.read_index(tmp_path / "a.index")
    with pytest.raises(FileNotFoundError):
        gf.read_index(tmp_path / "missing.index")


def test_residual_codec_made_by_index_factory(data):
    # IVF + scalar quantizer on residuals: each copy is encoded against its own list's centroid.
    # (PQ works the same way; FAISS's PQ training takes tens of seconds on this 2-core machine.)
    xb, xq = data
    index = faiss.index_factory(D, f"IVF{NLIST},SQ8")
    gf.train_ivf(index, xb, covariance_type="diag")
    st = gf.add_multi(index, xb, max_copies=2, min_posterior=0.2)
    assert st["entries"] > xb.shape[0]
    _, I, _ = gf.search(index, xq, 5, nprobe=8)
    _, gt = exact_knn(xb, xq, 5)
    assert recall(I, gt) > 0.8
    for row in I:
        valid = row[row >= 0]
        assert len(set(valid)) == len(valid)


def test_gmm_clustering_mirrors_faiss_clustering(data):
    xb, _ = data
    clus = gf.GmmClustering(D, 20, niter=15, seed=5, max_points_per_centroid=100)
    assert clus.niter == 15 and clus.min_points_per_centroid == faiss.ClusteringParameters().min_points_per_centroid
    index = faiss.IndexFlatL2(D)
    clus.train(xb, index)
    assert index.ntotal == 20
    np.testing.assert_array_equal(faiss.rev_swig_ptr(index.get_xb(), 20 * D).reshape(20, D), clus.centroids)
    assert 1 <= len(clus.iteration_stats) <= 15 and len(clus.obj) == len(clus.iteration_stats)
    gmm = clus.mixture
    assert gmm.n_components == 20 and gmm.covariance_type == "spherical"
    np.testing.assert_allclose(gmm.predict_proba(xb[:10]).sum(axis=1), 1.0, atol=1e-5)
    # faiss.Clustering on the same data reaches a comparable quantisation error.
    _, a = index.search(xb, 1)
    km = faiss.Clustering(D, 20)
    km.niter, km.seed = 15, 5
    ki = faiss.IndexFlatL2(D)
    km.train(xb, ki)
    _, b = ki.search(xb, 1)
    assert a.mean() < 1.5 * b.mean()


def test_bad_inputs(data):
    xb, xq = data
    flat = faiss.IndexFlatL2(D)
    with pytest.raises(TypeError, match="IndexIVF"):
        gf.train_ivf(flat, xb)
    with pytest.raises(TypeError, match="must be a faiss.IndexIVF"):
        gf.search("index", xq, 5)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    with pytest.raises(ValueError, match="no flashgmm mixture"):
        gf.add_multi(index, xb)
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        gf.train_ivf(index, xb[:, :8])
    with pytest.raises(ValueError, match="at least as large"):
        gf.train_ivf(index, xb[:10])
    with pytest.raises(TypeError, match="unexpected parameter"):
        gf.train_ivf(index, xb, n_clusters=4)
    gf.train_ivf(index, xb)
    with pytest.raises(ValueError, match="NaN"):
        gf.add_multi(index, np.full((3, D), np.nan, np.float32))
    with pytest.raises(ValueError, match="max_copies"):
        gf.add_multi(index, xb, max_copies=0)
    with pytest.raises(ValueError, match="min_posterior"):
        gf.add_multi(index, xb, min_posterior=1.5)
    with pytest.raises(ValueError, match="ids must have shape"):
        gf.add_multi(index, xb[:10], ids=np.arange(5))
    with pytest.raises(ValueError, match="k must be"):
        gf.search(index, xq, 0)
    gf.add_multi(index, xb[:100])
    with pytest.raises(ValueError, match="already holds"):
        gf.train_ivf(index, xb)
    ip = faiss.IndexIVFFlat(faiss.IndexFlatIP(D), D, NLIST, faiss.METRIC_INNER_PRODUCT)
    with pytest.raises(ValueError, match="METRIC_L2"):
        gf.train_ivf(ip, xb)
