"""The Neural LSH router: batch norm folded exactly into numpy weights, soft-label targets, the
seeded training child on real data, and the refusals."""

import numpy as np
import pytest

from annann.data.groundtruth import exact_knn
from annann.learned.partition import partition_graph, symmetric_csr
from annann.learned.router import (BN_EPSILON, RouterConfig, fold_batch_norm, part_labels,
                                   train_router)


def test_folded_weights_match_the_batch_norm_network():
    rng = np.random.default_rng(0)
    sizes = [12, 9, 7]
    dense = [(rng.normal(size=(a, b)), rng.normal(size=b)) for a, b in zip(sizes, sizes[1:])]
    norms = [(rng.uniform(0.5, 2, b), rng.normal(size=b), rng.normal(size=b),
              rng.uniform(0.1, 3, b)) for b in sizes[1:]]
    W_out, b_out = rng.normal(size=(7, 5)), rng.normal(size=5)
    X = rng.normal(size=(20, 12))
    H = X
    for (W, b), (gamma, beta, mean, var) in zip(dense, norms):
        H = np.maximum(H @ W + b, 0)
        H = gamma * (H - mean) / np.sqrt(var + BN_EPSILON) + beta
    want = H @ W_out + b_out
    kernels, biases, W_f, b_f = fold_batch_norm(dense, norms, W_out, b_out)
    H = X
    for W, b in zip(kernels, biases):
        H = np.maximum(H @ W + b, 0)
    np.testing.assert_allclose(H @ W_f + b_f, want, rtol=1e-10, atol=1e-10)


def test_targets_are_own_part_then_neighbour_parts():
    parts = np.array([0, 1, 1, 2])
    nbrs = np.array([[1, 2], [2, 3], [1, 0], [0, 1]])
    assert part_labels(parts, nbrs, np.array([3, 0])).tolist() == [[2, 0, 1], [0, 1, 1]]


@pytest.mark.parametrize("field, value", [("hidden", ()), ("epochs", 0), ("learning_rate", -1.0),
                                          ("batch_size", 0), ("seed", -1)])
def test_config_refuses_bad_fields(field, value):
    with pytest.raises(ValueError):
        RouterConfig(**{field: value}).validate()


def test_router_learns_the_partition_in_a_seeded_child(bigann10k):
    X = bigann10k.train[:4000]
    ids, _ = exact_knn(X, X, 11)
    nbrs = ids[:, 1:]
    parts = partition_graph(*symmetric_csr(nbrs), 8, "metis", seed=0)
    cfg = RouterConfig(hidden=(32,), epochs=6, batch_size=256, train_sample=4000)
    router = train_router(X, parts, nbrs, 8, cfg)
    assert router.W.shape == (32, 8) and router.b.shape == (8,)
    assert (router.predict(X) == parts).mean() > 0.7  # chance is 1/8
    assert len(router.log["epochs"]) == 6 and router.log["epochs"][-1] < router.log["epochs"][0]
    again = train_router(X, parts, nbrs, 8, cfg)
    np.testing.assert_array_equal(again.W, router.W)


def test_train_router_refuses_mismatched_inputs(bigann10k):
    X = bigann10k.train[:100]
    nbrs = np.zeros((100, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="parts"):
        train_router(X, np.full(100, 9), nbrs, 8)
    with pytest.raises(ValueError, match="neighbor_ids"):
        train_router(X, np.zeros(100, dtype=int), nbrs[:50], 8)
