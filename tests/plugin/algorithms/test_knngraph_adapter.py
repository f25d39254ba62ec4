"""The knngraph-lsh / knngraph-random adapters follow the BaseANN contract."""

import numpy as np
import pytest

from ann_benchmarks_plugin.algorithms.knngraph.module import KnnGraphLSH, KnnGraphRandom


@pytest.mark.parametrize("cls, label", [(KnnGraphLSH, "knngraph-lsh"),
                                        (KnnGraphRandom, "knngraph-random")])
def test_adapter_contract(bigann10k, cls, label):
    X = bigann10k.train[:3000]
    algo = cls("euclidean", {"n_neighbors": 10, "n_jobs": 2})
    algo.fit(X)
    algo.set_query_arguments(40)
    assert str(algo).startswith(label) and "beam=40" in str(algo)
    hits = 0
    for q in bigann10k.test[:20]:
        ids = np.asarray(algo.query(q, 10))
        assert ids.shape == (10,) and len(set(ids.tolist())) == 10
        truth = np.argsort(((X - q) ** 2).sum(1))[:10]
        hits += len(set(ids.tolist()) & set(truth.tolist()))
    assert hits / 200 >= 0.9
    extra = algo.get_additional()
    assert extra["dist_comps"] > 0
    algo.set_query_arguments(80)
    assert algo.get_additional()["dist_comps"] == 0
    algo.set_query_arguments(80, None, 4, 1.0)
    assert str(algo).endswith("beam=80, entry=4, margin=1.0)")
    assert len(algo.query(bigann10k.test[0], 10)) == 10
    algo.set_query_arguments(80, 0.1)
    with pytest.raises(ValueError, match="epsilon applies to quantizer='none'"):
        algo.query(bigann10k.test[0], 10)
    rows = cls("euclidean", {"n_neighbors": 10, "n_jobs": 2, "quantizer": "none"})
    rows.fit(X)
    rows.set_query_arguments(80, 0.1, 4)
    assert str(rows).endswith("rows, beam=80, eps=0.1, entry=4)")
    assert len(rows.query(bigann10k.test[0], 10)) == 10
    algo.set_query_arguments(80, None, 9)
    with pytest.raises(ValueError, match="entry_tables=9 exceeds"):
        algo.query(bigann10k.test[0], 10)
    algo.set_query_arguments(40)
    algo.batch_query(bigann10k.test[:5], 10)
    res = algo.get_batch_results()
    assert len(res) == 5 and all(len(r) == 10 for r in res)


def test_adapter_angular_and_errors(glove12k):
    algo = KnnGraphLSH("angular", {"n_neighbors": 10})
    algo.fit(glove12k.train[:2000])
    algo.set_query_arguments(20)
    assert len(algo.query(glove12k.test[0], 5)) == 5
    with pytest.raises(ValueError, match="unknown build parameters"):
        KnnGraphLSH("euclidean", {"M": 16})


def test_learned_termination_through_the_adapter(bigann10k):
    """learned_stop: fit trains the beam model on the rows; target_recall picks each query's
    beam (the beam argument is the cap) and a higher target finds more."""
    X, Q = bigann10k.train[:3000], bigann10k.test[:30]
    algo = KnnGraphLSH("euclidean", {"n_neighbors": 10, "learned_stop": True,
                                     "stop_queries": 300})
    algo.fit(X)
    assert algo.index.stop_model is not None
    truth = [set(np.argsort(((X - q) ** 2).sum(1))[:10].tolist()) for q in Q]
    hits = {}
    for target in (0.5, 0.99):
        algo.set_query_arguments(256, None, 1, None, target)
        assert str(algo).endswith(f"target={target})")
        hits[target] = sum(len(set(algo.query(q, 10).tolist()) & t) for q, t in zip(Q, truth))
    assert hits[0.5] <= hits[0.99] and hits[0.99] >= 0.9 * 300
