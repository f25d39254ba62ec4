import numpy as np
import pytest

from ann_benchmarks_plugin.streaming.groundtruth import active_groundtruth
from ann_benchmarks_plugin.streaming.report import plot_stream, stream_table
from ann_benchmarks_plugin.streaming.runbooks import parse_runbook
from ann_benchmarks_plugin.streaming.runner import (load_stream_results, make_algorithm, run_stream,
                                                    save_stream_result)

TINY = {"name": "tiny", "order": {"kind": "random", "seed": 1}, "steps": [
    {"op": "insert", "start": 0, "end": 4000}, {"op": "search"},
    {"op": "insert", "start": 4000, "end": 9900}, {"op": "delete", "start": 0, "end": 3000},
    {"op": "search"}]}


def test_active_set_ground_truth_is_exact_and_cached(bigann10k, tmp_path):
    rb = parse_runbook(TINY, 9900)
    active = np.arange(100, 5000)
    q = bigann10k.test[:20]
    ids, d = active_groundtruth(bigann10k, rb, 1, active, q, 10, tmp_path)
    brute = np.sqrt(((bigann10k.train[active][None].astype(float) - q[:, None]) ** 2).sum(-1))
    assert np.array_equal(ids, active[np.argsort(brute, axis=1, kind="stable")[:, :10]])
    assert len(list(tmp_path.iterdir())) == 1
    ids2, d2 = active_groundtruth(bigann10k, rb, 1, active, q, 10, tmp_path)
    assert np.array_equal(ids, ids2) and np.array_equal(d, d2)


@pytest.mark.parametrize("name, min_score", [("hnswlib", 0.95), ("annann-raw", 0.8),
                                             ("annann-raw-static", 0.8)])
def test_tiny_runbook_end_to_end(bigann10k, tmp_path, name, min_score):
    rb = parse_runbook(TINY, 9900)
    algo = make_algorithm(name, bigann10k, n_clusters=64, C=16, ef=100)
    steps, summary = run_stream(bigann10k, rb, algo, n_queries=50, progress=False)
    searches = [s for s in steps if s["op"] == "search"]
    assert [s["active"] for s in searches] == [4000, 6900]
    assert summary["score"] >= min_score  # run_stream also asserts no deleted id is returned
    out = save_stream_result(tmp_path, bigann10k, rb, name, steps, summary)
    docs = load_stream_results(tmp_path, bigann10k.name, "tiny")
    assert out.is_file() and docs[0]["summary"] == summary
    assert f"| {name} |" in stream_table(docs)
    assert plot_stream(docs, tmp_path / "s.png", "t").stat().st_size > 1000


def test_neural_lsh_under_inserts_and_deletes(bigann10k):
    rb = parse_runbook(TINY, 9900)
    algo = make_algorithm("annann-nlsh", bigann10k, n_clusters=40, C=16, ef=100,
                          nlsh_kwargs={"router": {"hidden": (32,), "epochs": 3}})
    steps, summary = run_stream(bigann10k, rb, algo, n_queries=50, progress=False)
    assert algo.name == "annann-nlsh" and algo.index.size == 6900
    assert summary["score"] >= 0.75  # inserts routed by the router, deletions honoured


def test_unknown_streaming_algorithm(bigann10k):
    with pytest.raises(ValueError, match="unknown streaming algorithm"):
        make_algorithm("faiss", bigann10k, 10, 1, 10)
