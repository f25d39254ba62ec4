"""ivf.centroid_graph: hnswlib builds the HNSW, our numba walk answers as hnswlib's own search
does, the arrays round-trip, a bad state is refused."""

import numpy as np
import pytest

from annann.ivf.centroid_graph import CentroidGraph, build_hnsw, hnsw_arrays


@pytest.fixture(scope="module")
def centres(bigann10k):
    from annann.ivf.kmeans import fit_centers

    return fit_centers(bigann10k.train, 512, seed=0, refine_iters=1)


def test_our_walk_answers_as_hnswlib_does(centres, bigann10k):
    graph = CentroidGraph(centres, M=16, ef_construction=200, seed=0)
    hnsw = build_hnsw(centres, 16, 200, 0)
    Q = bigann10k.test
    exact = ((Q[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(axis=2).argsort(axis=1)
    for n in (4, 32):
        ours = graph.query(Q, n)
        hnsw.set_ef(max(n, 32))
        theirs = hnsw.knn_query(Q, k=n)[0].astype(np.int64)
        assert (ours == theirs).mean() >= 0.99
        hits = np.mean([len(set(ours[i]) & set(exact[i, :n])) / n for i in range(len(Q))])
        assert hits >= 0.95


def test_exact_routing_ranks_every_centre(centres, bigann10k):
    graph = CentroidGraph(centres, M=8, ef_construction=100, exact=True)
    Q = bigann10k.test
    d = ((Q[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(axis=2)
    for n in (1, 16, 512):
        ours = graph.query(Q, n)
        want = np.take_along_axis(d, ours, axis=1)
        assert (np.diff(want, axis=1) >= -1e-5 * want[:, 1:]).all()  # nearest first (float32)
        assert np.allclose(want[:, -1], np.sort(d, axis=1)[:, n - 1], rtol=1e-5)  # the true n-th
    back = CentroidGraph.from_state(centres, *graph.state())
    assert back.exact and np.array_equal(back.query(Q, 16), graph.query(Q, 16))


def test_arrays_describe_hnswlibs_graph(centres):
    a = hnsw_arrays(build_hnsw(centres, 8, 100, 1))
    k = centres.shape[0]
    assert a["bottom"].shape == (k, 16) and (a["bottom_degrees"] <= 16).all()
    assert a["upper"].shape[0] == a["levels"].sum() and (a["upper_start"][a["levels"] == 0] == -1).all()
    used = np.arange(16)[None, :] < a["bottom_degrees"][:, None]
    assert ((a["bottom"] >= 0) == used).all() and a["bottom"].max() < k
    assert a["levels"][a["entry"]] == a["top_level"] == a["levels"].max()


def test_state_round_trip_and_refusal(centres, bigann10k):
    graph = CentroidGraph(centres, M=8, ef_construction=100)
    arrays, scalars = graph.state()
    back = CentroidGraph.from_state(centres, arrays, scalars)
    np.testing.assert_array_equal(back.query(bigann10k.test, 8), graph.query(bigann10k.test, 8))
    with pytest.raises(ValueError, match="do not fit"):
        CentroidGraph.from_state(centres[:100], arrays, scalars)
    with pytest.raises(ValueError, match="incomplete"):
        CentroidGraph.from_state(centres, {k: v for k, v in arrays.items() if k != "upper"},
                                 scalars)
