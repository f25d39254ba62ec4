"""learned/scores.py and learned/score_scan.py: learned per-cluster scores (LoRANN-style) on the
cluster engine, checked against exact brute force on the real 10k SIFT and 12k GloVe sets."""

import numpy as np
import pytest

from annann.core.index_format import IndexFormatError
from annann.data.groundtruth import exact_knn
from annann.ivf.index import ClusterIndex
from annann.learned.scores import LearnedScoreIndex, resolve_global_dim

HELD = 1000  # rows held back from fit: queries the models never trained on, and later inserts


def recall(found, truth):
    return float(np.mean([np.isin(t, f).mean() for f, t in zip(found, truth)]))


@pytest.fixture(scope="module")
def split(bigann10k):
    X = bigann10k.train
    return X[:-HELD], X[-HELD:]


@pytest.fixture(scope="module")
def scored(split):
    fit_rows, _ = split
    return LearnedScoreIndex("euclidean", n_clusters=1.0, seed=0).fit(fit_rows)


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize("global_dim", [None, 64])
def test_scores_rank_members_as_exact_distances_do_on_held_back_rows(split, global_dim):
    """For held-back rows (never training queries), in their nearest cluster the model's
    estimates order the members as the exact distances do: high rank correlation, and the exact
    nearest member among the best few estimates; with and without a global reduction."""
    fit_rows, held = split
    index = (LearnedScoreIndex("euclidean", n_clusters=1.0, global_dim=global_dim, seed=0)
             .fit(fit_rows))
    assert index.global_dim_ == global_dim
    rho, hit = [], []
    clusters = index.labels_of(exact_knn(fit_rows, held[:200], 1, "euclidean")[0][:, 0])
    for q, c in zip(held[:200], clusters):
        _, est, exact = index.estimates(q, c)
        if exact.shape[0] < 20:
            continue
        rho.append(spearman(est, exact))
        hit.append(np.argmin(exact) in np.argsort(est)[:max(5, exact.shape[0] // 20)])
    assert np.median(rho) >= 0.9 and np.mean(hit) >= 0.9, (np.median(rho), np.mean(hit))


def test_recall_against_brute_force_grows_with_clusters_and_candidates(scored, split,
                                                                        bigann10k):
    fit_rows, _ = split
    Q = bigann10k.test
    truth = exact_knn(fit_rows, Q, 10, "euclidean")[0]
    low = recall(scored.search_batch(Q, 10, C=2, candidates=20)[0], truth)
    high = recall(scored.search_batch(Q, 10, C=24, candidates=200, margin=np.inf)[0], truth)
    assert low < high and high >= 0.97, (low, high)
    single = np.array([scored.search(q, 10, C=24, candidates=200, margin=np.inf)[0] for q in Q])
    np.testing.assert_array_equal(single, scored.search_batch(Q, 10, C=24, candidates=200,
                                                              margin=np.inf)[0])
    ids, dist = scored.search(Q[0], 10, C=24, candidates=200)
    np.testing.assert_allclose(dist, np.linalg.norm(fit_rows[ids] - Q[0], axis=1), rtol=1e-4)


def test_margin_trades_exact_distances_for_recall(scored, split, bigann10k):
    """A larger margin re-ranks more of the candidates (never more than given) and finds more."""
    fit_rows, _ = split
    Q = bigann10k.test
    truth = exact_knn(fit_rows, Q, 10, "euclidean")[0]
    got = []
    for margin in (0.0, 4.0, np.inf):
        found = scored.search_batch(Q, 10, C=16, candidates=100, margin=margin)[0]
        got.append((scored.last_stats["exact"], recall(found, truth)))
    assert got[0][0] < got[1][0] < got[2][0] == 100 * Q.shape[0]
    assert got[0][1] <= got[1][1] <= got[2][1]


def test_angular_recall(glove12k):
    X, Q = glove12k.train, glove12k.test
    index = LearnedScoreIndex("angular", n_clusters=1.0, seed=0).fit(X)
    ids, dist = index.search_batch(Q, 10, C=32, candidates=200, margin=np.inf)
    assert recall(ids, glove12k.neighbors[:, :10]) >= 0.95
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    q = Q[0] / np.linalg.norm(Q[0])
    np.testing.assert_allclose(dist[0], 1 - unit[ids[0]] @ q, atol=1e-4)


def test_save_load_answers_identically_and_refuses_other_indexes(scored, bigann10k, tmp_path):
    Q = bigann10k.test
    ref = scored.search_batch(Q, 10, C=8, candidates=50)
    scored.save(tmp_path / "scores")
    back = LearnedScoreIndex.load(tmp_path / "scores")
    got = back.search_batch(Q, 10, C=8, candidates=50)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1])
    reduced = LearnedScoreIndex(n_clusters=16, global_dim=32, rank=32).fit(bigann10k.train[:3000])
    reduced.save(tmp_path / "reduced")
    np.testing.assert_array_equal(LearnedScoreIndex.load(tmp_path / "reduced").search_batch(
        Q[:50], 5, C=4)[0], reduced.search_batch(Q[:50], 5, C=4)[0])
    ClusterIndex(n_clusters=8).fit(bigann10k.train[:500]).save(tmp_path / "plain")
    with pytest.raises(IndexFormatError, match="not a LearnedScoreIndex"):
        LearnedScoreIndex.load(tmp_path / "plain")


def test_inserted_rows_are_scored_by_their_clusters_model(split):
    """Rows added after fit get score columns from their cluster's model: searching for them
    finds them, and recall over old and new rows together stays that of the fitted rows;
    removed rows are never answered."""
    fit_rows, held = split
    index = LearnedScoreIndex("euclidean", n_clusters=1.0, seed=0).fit(fit_rows)
    new_ids = np.arange(HELD) + 50_000
    index.add(held, new_ids)
    assert index.size == fit_rows.shape[0] + HELD
    ids = index.search_batch(held[:200], 1, C=4, candidates=20)[0][:, 0]
    assert np.mean(ids == new_ids[:200]) >= 0.99
    everything = np.vstack([fit_rows, held])
    ids_all = np.concatenate([np.arange(fit_rows.shape[0]), new_ids])
    rng = np.random.default_rng(1)
    Q = everything[rng.choice(everything.shape[0], 300, replace=False)] + \
        rng.normal(0, 4, (300, everything.shape[1])).astype(np.float32)
    truth = ids_all[exact_knn(everything, Q, 10, "euclidean")[0]]
    found = index.search_batch(Q, 10, C=24, candidates=200, margin=np.inf)[0]
    new_share = np.isin(truth, new_ids).mean()
    assert recall(found, truth) >= 0.95 and new_share > 0.05
    found_new = [f[np.isin(f, new_ids)] for f in found]
    truth_new = [t[np.isin(t, new_ids)] for t in truth]
    assert np.mean([np.isin(t, f).mean() for f, t in zip(found_new, truth_new) if len(t)]) >= 0.9
    index.remove(new_ids[:100])
    assert not np.isin(index.search_batch(held[:100], 5, C=8)[0], new_ids[:100]).any()


def test_same_seed_same_index(bigann10k):
    X, Q = bigann10k.train[:4000], bigann10k.test[:50]
    a = LearnedScoreIndex(n_clusters=32, seed=3, train_queries=2000).fit(X)
    b = LearnedScoreIndex(n_clusters=32, seed=3, train_queries=2000).fit(X)
    np.testing.assert_array_equal(a.search_batch(Q, 10, C=4)[0], b.search_batch(Q, 10, C=4)[0])


def test_global_dim_resolution():
    assert resolve_global_dim("auto", 128) is None
    assert resolve_global_dim("auto", 784) == 128 and resolve_global_dim("auto", 2000) == 256
    assert resolve_global_dim(64, 128) == 64 and resolve_global_dim(256, 128) is None
    assert resolve_global_dim(None, 960) is None


@pytest.mark.parametrize("kwargs, match", [
    ({"quantizer": "rabitq"}, "quantizer must be 'none'"),
    ({"rank": 0}, "rank"),
    ({"rank": 48}, "multiple of 32"),
    ({"global_dim": 0}, "global_dim"),
    ({"global_dim": "half"}, "global_dim"),
    ({"ridge": 0.0}, "ridge"),
    ({"train_size": 0}, "train_size"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LearnedScoreIndex(**kwargs)


def test_bad_queries_are_refused(scored, bigann10k):
    q = bigann10k.test[0]
    bad = q.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        scored.search(bad, 10)
    with pytest.raises(ValueError, match="dimension|expected"):
        scored.search(q[:50], 10)
    with pytest.raises(ValueError, match="k"):
        scored.search(q, scored.size + 1)
    with pytest.raises(ValueError, match="candidates"):
        scored.search(q, 10, candidates=0)
    with pytest.raises(ValueError, match="margin"):
        scored.search(q, 10, margin=-1.0)
    with pytest.raises(ValueError, match="target_recall"):
        scored.search(q, 10, target_recall=0.9)
    with pytest.raises(ValueError, match="learned termination"):
        scored.set_stop_model(None)
    with pytest.raises(ValueError, match="cluster"):
        scored.estimates(q, scored.n_clusters_)
    with pytest.raises(ValueError, match="no transform"):
        LearnedScoreIndex(n_clusters=4).fit(bigann10k.train[:200], transform=lambda X: X)
