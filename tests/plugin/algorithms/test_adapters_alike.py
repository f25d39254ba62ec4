"""Every adapter reports the same extra attributes with the same meaning, never overwrites the
runner's own ``candidates``, and refuses a query before fit with the same error."""

import numpy as np
import pytest

from annann.core.validation import NotFittedError
from ann_benchmarks_plugin.algorithms.annann_raw.module import AnnannRaw
from ann_benchmarks_plugin.algorithms.bruteforce.module import BruteForce
from ann_benchmarks_plugin.algorithms.knngraph.module import KnnGraphLSH
from tests.plugin.algorithms.test_annann_adapter import fake_training  # noqa: F401  (fixture)

KEYS = {"dist_comps", "dist_comps_per_query", "scanned_per_query"}


def adapters():
    from ann_benchmarks_plugin.algorithms.annann.module import Annann

    return [AnnannRaw("euclidean", {"n_clusters": 1.0}),
            KnnGraphLSH("euclidean", {"n_neighbors": 10}),
            BruteForce("euclidean"),
            Annann("euclidean", {"n_clusters": 1.0, "code_dim": 16, "dec": False})]


def test_extra_attributes_are_alike(bigann10k, fake_training):  # noqa: F811
    X, Q = bigann10k.train[:3000], bigann10k.test[:20]
    for algo in adapters():
        algo.fit(X)
        if not isinstance(algo, BruteForce):
            algo.set_query_arguments(4)
        for _ in range(2):  # two timed runs, as the runner does
            for q in Q:
                algo.query(q, 10)
        extra = algo.get_additional()
        assert KEYS <= set(extra) and "candidates" not in extra, (str(algo), extra)
        # the harness divides dist_comps by run_count * queries: it must be the total
        assert extra["dist_comps"] == pytest.approx(extra["dist_comps_per_query"] * 2 * len(Q))
        assert extra["dist_comps_per_query"] > 0


def test_query_before_fit_is_refused_alike(bigann10k, fake_training):  # noqa: F811
    for algo in adapters():
        with pytest.raises(NotFittedError, match="fit"):
            algo.query(bigann10k.test[0], 10)
        assert isinstance(NotFittedError("x"), (RuntimeError, ValueError))


def test_every_index_has_a_size(bigann10k):
    from annann import BruteForceIndex, ClusterIndex, KNNGraphIndex, LSHIndex

    X = bigann10k.train[:500]
    for index in (ClusterIndex(n_clusters=8), KNNGraphIndex(n_neighbors=5), BruteForceIndex(),
                  LSHIndex()):
        assert index.size == 0
        index.fit(X)
        assert index.size == 500, type(index).__name__
    assert np.isfinite(X).all()
