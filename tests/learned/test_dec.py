"""DEC formulas on a hand-computable case, and the k-NN pair sampler / ratio."""

import numpy as np
import pytest

from annann.core.distances import sq_l2_all_pairs
from annann.learned.dec import soft_assignment, target_distribution
from annann.learned.knn_loss import knn_pairs, neighbourhood_ratio


def test_soft_assignment_hand_case():
    # z = 0; centres at distance^2 1 and 3: q ∝ 1/(1+1)=1/2 and 1/(1+3)=1/4 -> (2/3, 1/3)
    Z = np.array([[0.0, 0.0]])
    mu = np.array([[1.0, 0.0], [1.0, np.sqrt(2.0)]])
    np.testing.assert_allclose(sq_l2_all_pairs(Z, mu), [[1.0, 3.0]], atol=1e-12)
    np.testing.assert_allclose(soft_assignment(Z, mu), [[2 / 3, 1 / 3]], atol=1e-12)
    # alpha=3: (1 + d2/3)^-2 -> (3/4)^2=9/16 and (1/2)^2=1/4 -> (9/13, 4/13)
    np.testing.assert_allclose(soft_assignment(Z, mu, alpha=3.0), [[9 / 13, 4 / 13]], atol=1e-12)


def test_target_distribution_hand_case():
    Q = np.array([[0.5, 0.5], [0.75, 0.25]])
    # f = (1.25, 0.75); row 0: (0.25/1.25, 0.25/0.75) = (0.2, 1/3) -> (3/8, 5/8)
    # row 1: (0.5625/1.25, 0.0625/0.75) = (0.45, 1/12) -> (27/32, 5/32)
    np.testing.assert_allclose(target_distribution(Q), [[3 / 8, 5 / 8], [27 / 32, 5 / 32]],
                               atol=1e-12)


def test_target_sharpens_confident_assignments():
    rng = np.random.default_rng(0)
    Q = soft_assignment(rng.normal(size=(200, 3)), rng.normal(size=(4, 3)))
    P = target_distribution(Q)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert (P.max(axis=1) >= Q.max(axis=1) - 1e-12).mean() > 0.9


def test_knn_pairs_are_true_neighbours_without_self():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    anchors, nbrs = knn_pairs(X, k=4, n_anchors=50, seed=2)
    assert anchors.shape == (50,) and nbrs.shape == (50, 4)
    assert not (nbrs == anchors[:, None]).any()
    D = ((X[anchors, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    D[np.arange(50), anchors] = np.inf
    expected = np.sort(np.argsort(D, axis=1)[:, :4], axis=1)
    np.testing.assert_array_equal(np.sort(nbrs, axis=1), expected)
    assert neighbourhood_ratio(X, anchors, nbrs) < neighbourhood_ratio(
        rng.normal(size=(300, 5)), anchors, nbrs)
    with pytest.raises(ValueError, match="knn_k"):
        knn_pairs(X[:3], k=3)


def test_tensorflow_soft_assignment_matches_numpy():
    import tensorflow as tf

    from annann.learned.dec import soft_assignment_tf

    rng = np.random.default_rng(5)
    Z, mu = rng.normal(size=(20, 4)), rng.normal(size=(6, 4))
    got = soft_assignment_tf(tf.constant(Z, tf.float32), tf.constant(mu, tf.float32), 1.0).numpy()
    np.testing.assert_allclose(got, soft_assignment(Z, mu), atol=1e-5)
