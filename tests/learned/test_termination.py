"""learned/termination.py and core/trees.py: learned adaptive termination for both engines,
trained on the indexed rows of the real 10k SIFT set."""

import numpy as np
import pytest

from annann.core.trees import StopModel, flatten_trees, predict_trees
from annann.graph.index import KNNGraphIndex
from annann.ivf.index import ClusterIndex
from annann.learned.termination import LearnedStopIndex, fit_beam_model, fit_stop_model


def recall(found, truth):
    return float(np.mean([np.isin(t, f).mean() for f, t in zip(found, truth)]))


def test_flattened_trees_predict_as_scikit_learn():
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 5)).astype(np.float32)
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 + 0.1 * rng.normal(size=500)
    gbr = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y)
    arrays = flatten_trees([e[0] for e in gbr.estimators_], gbr.learning_rate)
    base = float(gbr.init_.predict(X[:1])[0])
    ours = np.array([predict_trees(x, *arrays, np.float32(base)) for x in X])
    np.testing.assert_allclose(ours, gbr.predict(X), rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def stop_index(bigann10k):
    return LearnedStopIndex("euclidean", n_clusters=1.0, stop_queries=600, seed=0).fit(
        bigann10k.train)


def test_cluster_engine_scans_what_the_target_needs_within_its_bounds(stop_index, bigann10k):
    """A higher target scans more clusters and finds more; every query scans at least the
    clusters the model looks at before predicting and at most the cap C; without a target the
    index searches as the plain engine does."""
    Q, truth = bigann10k.test, bigann10k.neighbors[:, :10]
    model = stop_index.stop_model
    assert model.cap == stop_index.stop_cap >= 64 and np.all(np.diff(model.shifts) >= 0)
    got = {}
    for R in (0.8, 0.95, 0.99):
        counts = []
        for q in Q:
            stop_index.search(q, 10, C=40, target_recall=R)
            counts.append(stop_index.last_stats["clusters"])
        assert min(counts) >= model.first and max(counts) <= 40, (R, min(counts), max(counts))
        found, _ = stop_index.search_batch(Q, 10, C=40, target_recall=R)
        got[R] = (np.mean(counts), recall(found, truth))
    assert got[0.8][0] < got[0.95][0] < got[0.99][0]
    assert got[0.8][1] <= got[0.95][1] <= got[0.99][1] and got[0.99][1] >= 0.95
    plain = ClusterIndex("euclidean", n_clusters=1.0, seed=0, rerank=1).fit(bigann10k.train)
    np.testing.assert_array_equal(stop_index.search_batch(Q, 10, C=8)[0],
                                  plain.search_batch(Q, 10, C=8)[0])


def test_termination_survives_save_load_and_inserts(stop_index, bigann10k, tmp_path):
    Q = bigann10k.test
    ref = stop_index.search_batch(Q, 10, C=40, target_recall=0.95)[0]
    stop_index.save(tmp_path / "stop")
    back = ClusterIndex.load(tmp_path / "stop")
    assert back.stop_model is not None and back.stop_model.first == stop_index.stop_model.first
    np.testing.assert_array_equal(back.search_batch(Q, 10, C=40, target_recall=0.95)[0], ref)
    back.add(Q[:5] + 0.5, np.arange(5) + 100_000)  # new rows coded against the trained codes
    ids, _ = back.search(Q[3], 1, C=40, target_recall=0.95)
    assert ids[0] == 100_003


def test_termination_refusals(stop_index, bigann10k):
    q = bigann10k.test[0]
    with pytest.raises(ValueError, match="calibrated up to"):
        StopModel(4, stop_index.stop_model.trees, 0.0, np.array([0.9]),
                  np.array([0.0])).shift(0.95)
    with pytest.raises(ValueError, match="target_recall"):
        stop_index.search(q, 10, target_recall=1.5)
    plain = ClusterIndex(n_clusters=8).fit(bigann10k.train[:500])
    with pytest.raises(ValueError, match="no learned termination model"):
        plain.search(q, 5, target_recall=0.9)
    rows = ClusterIndex(n_clusters=8, quantizer="none").fit(bigann10k.train[:500])
    with pytest.raises(ValueError, match="coded scan"):
        fit_stop_model(rows, bigann10k.train[:500])
    with pytest.raises(ValueError, match="quantizer='rabitq'"):
        LearnedStopIndex(quantizer="none")


def test_graph_walk_widens_its_beam_where_the_model_says(bigann10k):
    """fit_beam_model on the coded graph: a higher target walks more and finds more; every walk
    expands at least the first beam; the cap bounds the widened beam."""
    X, Q, truth = bigann10k.train, bigann10k.test, bigann10k.neighbors[:, :10]
    index = KNNGraphIndex(n_neighbors=10, seed=0).fit(X)
    model = fit_beam_model(index, X, n_queries=600, cap=256)
    assert model.first == 16 and np.all(np.diff(model.shifts) >= 0)
    work = {}
    for R in (0.8, 0.99):
        index.counters.reset()
        found, _ = index.search_batch(Q, 10, beam=256, target_recall=R)
        work[R] = (index.counters.mean("dist_comps"), recall(found, truth))
        for q in Q[:20]:
            index.search(q, 10, beam=256, target_recall=R)
            assert index.last_stats["dist_comps"] >= 16
    assert work[0.8][0] < work[0.99][0] and work[0.8][1] < work[0.99][1]
    rows = KNNGraphIndex(n_neighbors=10, quantizer="none").fit(X[:500])
    with pytest.raises(ValueError, match="coded walk"):
        fit_beam_model(rows, X[:500])
    with pytest.raises(ValueError, match="no learned termination model"):
        rows.search(Q[0], 5, target_recall=0.9)
