"""ivf.kmeans: cluster counts, seeded centres, Lloyd refinement, exact assignment."""

import numpy as np
import pytest

from annann.ivf import kmeans
from annann.ivf.kmeans import (assign_nearest, fit_centers, group_sums, refine_centers,
                               resolve_n_clusters, sample_rows)


def test_resolve_n_clusters_absolute_relative_and_clamped():
    assert resolve_n_clusters(64, 10_000) == 64
    assert resolve_n_clusters(2.0, 10_000) == 200
    assert resolve_n_clusters(0.5, 1_000_000) == 500
    assert resolve_n_clusters(500, 100) == 100
    assert resolve_n_clusters(0.001, 100) == 1


@pytest.mark.parametrize("bad", [0, -3, 0.0, float("nan"), True, "64", None])
def test_resolve_n_clusters_rejects_bad_specs(bad):
    with pytest.raises(ValueError, match="n_clusters"):
        resolve_n_clusters(bad, 100)


def test_sample_rows_seeded_subset():
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    a, b = sample_rows(X, 30, 7), sample_rows(X, 30, 7)
    assert a.shape == (30, 2) and np.array_equal(a, b)
    assert len({tuple(r) for r in a}) == 30
    assert sample_rows(X, 500, 7) is X


def blobs(n_per, centers, seed=0, scale=0.05):
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + scale * rng.standard_normal((n_per, centers.shape[1])) for c in centers])
    return X.astype(np.float32)


def test_fit_centers_finds_separated_blobs_and_is_seeded():
    rng = np.random.default_rng(1)
    true = rng.uniform(-10, 10, size=(5, 8)).astype(np.float32)
    X = blobs(200, true)
    c1 = fit_centers(X, 5, seed=3)
    assert c1.shape == (5, 8) and c1.dtype == np.float32
    np.testing.assert_array_equal(c1, fit_centers(X, 5, seed=3))
    # every true centre has a found centre within the blob noise
    d = np.linalg.norm(true[:, None, :] - c1[None, :, :], axis=2).min(axis=1)
    assert d.max() < 0.1


def test_fit_centers_minibatch_path(monkeypatch):
    monkeypatch.setattr(kmeans, "FULL_KMEANS_LIMIT", 10)
    rng = np.random.default_rng(2)
    true = rng.uniform(-10, 10, size=(4, 6)).astype(np.float32)
    X = blobs(300, true, seed=2)
    c = fit_centers(X, 4, seed=0, sample=800)
    d = np.linalg.norm(true[:, None, :] - c[None, :, :], axis=2).min(axis=1)
    assert c.shape == (4, 6) and d.max() < 0.5


def test_fit_centers_rejects_too_many_clusters():
    with pytest.raises(ValueError, match="n_clusters"):
        fit_centers(np.zeros((3, 2), dtype=np.float32), 4)


def test_assign_nearest_matches_brute_force():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 16)).astype(np.float32)
    C = rng.standard_normal((37, 16)).astype(np.float32)
    labels, dist = assign_nearest(X, C, block=128)
    D = ((X[:, None, :].astype(np.float64) - C[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels, D.argmin(axis=1))
    np.testing.assert_allclose(dist, D.min(axis=1), rtol=1e-3, atol=1e-3)


def test_group_sums():
    V = np.arange(12, dtype=np.float32).reshape(6, 2)
    sums, counts = group_sums(V, np.array([2, 0, 2, 2, 0, 3]), 5)
    np.testing.assert_array_equal(counts, [2, 0, 3, 1, 0])
    np.testing.assert_array_equal(sums[0], V[1] + V[4])
    np.testing.assert_array_equal(sums[2], V[0] + V[2] + V[3])
    assert (sums[[1, 4]] == 0).all()


def inertia(X, centers):
    return float(assign_nearest(X, centers)[1].astype(np.float64).sum())


def test_refinement_lowers_the_objective_on_real_data(bigann10k):
    X = bigann10k.train
    rough = fit_centers(X, 64, seed=1, refine_iters=0)
    refined = refine_centers(X, rough, 4, seed=1)
    assert inertia(X, refined) < inertia(X, rough)
    np.testing.assert_array_equal(refine_centers(X, rough, 4, seed=1), refined)  # seeded


def test_an_empty_cluster_is_reseeded_inside_the_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 8)).astype(np.float32)
    centers = X[:5].copy()
    centers[4] = 1e6  # far from everything: no row is nearest to it
    out = refine_centers(X, centers, 2, seed=0)
    counts = np.bincount(assign_nearest(X, out)[0], minlength=5)
    assert (counts > 0).all() and np.abs(out).max() < 100


def test_nearest_centers_are_the_exact_ones_in_order():
    from annann.ivf.kmeans import nearest_centers

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    C = rng.normal(size=(40, 6)).astype(np.float32)
    got = nearest_centers(X, C, 5, block=64)
    d = ((X[:, None, :] - C[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(got, np.argsort(d, axis=1, kind="stable")[:, :5])
    assert nearest_centers(X, C[:3], 5).shape == (300, 3)  # at most the centres there are
