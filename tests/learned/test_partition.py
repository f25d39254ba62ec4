"""K-NN graph partition: the undirected CSR, balanced parts with fewer cut edges than chance on a
real K-NN graph (METIS and KaHIP), and the refusals."""

import sys

import numpy as np
import pytest

from annann.data.groundtruth import exact_knn
from annann.learned.partition import (cut_fraction, partition_graph, symmetric_csr)


@pytest.fixture(scope="module")
def real_graph(bigann10k):
    ids, _ = exact_knn(bigann10k.train[:3000], bigann10k.train[:3000], 11)
    return symmetric_csr(ids[:, 1:])


def test_csr_is_undirected_without_duplicates_or_self_loops():
    ids = np.array([[1, 2], [0, 2], [0, 0], [3, 1]])  # a repeat, a self loop, a one-way edge
    xadj, adj = symmetric_csr(ids)
    rows = [sorted(adj[xadj[i]:xadj[i + 1]].tolist()) for i in range(4)]
    assert rows == [[1, 2], [0, 2, 3], [0, 1], [1]]
    assert xadj.dtype == np.int64 and adj.dtype == np.int32


@pytest.mark.parametrize("ids, match", [(np.array([[0, 5]]), "in \\[0, 1\\)"),
                                        (np.arange(4), "\\(n, K\\)")])
def test_csr_refuses_bad_ids(ids, match):
    with pytest.raises(ValueError, match=match):
        symmetric_csr(ids)


@pytest.mark.parametrize("partitioner", ["metis", "kahip"])
def test_parts_are_balanced_and_cut_few_knn_edges(real_graph, partitioner):
    xadj, adj = real_graph
    parts = partition_graph(xadj, adj, 16, partitioner, imbalance=0.05, seed=1)
    sizes = np.bincount(parts, minlength=16)
    assert parts.shape == (3000,) and sizes.min() > 0
    assert sizes.max() <= 1.05 * 3000 / 16 + 1
    chance = 1 - 1 / 16
    assert cut_fraction(xadj, adj, parts) < 0.6 * chance
    again = partition_graph(xadj, adj, 16, partitioner, imbalance=0.05, seed=1)
    assert np.array_equal(parts, again)  # seeded


@pytest.mark.parametrize("kwargs, match", [
    ({"n_parts": 5000}, "exceeds the number of points"),
    ({"n_parts": 4, "partitioner": "scotch"}, "partitioner"),
    ({"n_parts": 4, "imbalance": 0.0}, "imbalance"),
    ({"n_parts": 4, "mode": "slow"}, "kahip_mode"),
    ({"n_parts": 0}, "n_parts"),
])
def test_partition_refuses_bad_settings(real_graph, kwargs, match):
    with pytest.raises(ValueError, match=match):
        partition_graph(*real_graph, **kwargs)


@pytest.mark.parametrize("partitioner, package", [("metis", "pymetis"), ("kahip", "kahip")])
def test_missing_partitioner_package_is_named(real_graph, monkeypatch, partitioner, package):
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ImportError, match=f"pip install {package}"):
        partition_graph(*real_graph, 4, partitioner)
