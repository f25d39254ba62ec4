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
