"""Encoder training in a child process: reproducible, TensorFlow-free parent, DEC stage runs."""

import numpy as np
import pytest

from annann.training import TrainConfig, train_encoder


def tiny_config(**kw):
    base = dict(hidden=(32,), code_dim=8, epochs=3, n_clusters=8, train_sample=1500, max_iter=60,
                update_interval=20, progress=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def two_runs(bigann10k):
    X = bigann10k.train[:3000]
    cfg = tiny_config(knn_weight=1.0, knn_anchors=300)
    return X, train_encoder(X, cfg), train_encoder(X, cfg)


def test_training_is_reproducible_with_a_fixed_seed(two_runs):
    X, a, b = two_runs
    for Wa, Wb in zip(a.encoder.weights + a.encoder.biases, b.encoder.weights + b.encoder.biases):
        np.testing.assert_array_equal(Wa, Wb)
    np.testing.assert_array_equal(a.centers, b.centers)
    np.testing.assert_array_equal(a.encoder.transform(X[:50]), b.encoder.transform(X[:50]))


def test_training_result_shapes_and_log(two_runs):
    X, a, _ = two_runs
    assert a.encoder.input_dim == 128 and a.encoder.code_dim == 8
    assert a.centers.shape == (8, 8) and np.isfinite(a.centers).all()
    assert a.log["train_rows"] == 1500
    assert a.log["stage2"]["steps"] > 0 and a.log["stage2"]["updates"][0]["step"] == 0
    assert set(a.log["seconds"]) >= {"stage1", "kmeans_init", "knn_pairs", "stage2"}
    losses = a.log["stage1"]["loss"]
    assert losses[-1] < losses[0]  # stage 1 learns something
    Z = a.encoder.transform(X[:500])
    assert Z.dtype == np.float32 and Z.std() > 0


def test_other_seed_gives_other_weights(bigann10k, two_runs):
    _, a, _ = two_runs
    c = train_encoder(bigann10k.train[:3000], tiny_config(seed=8, dec=False, knn_weight=0.0))
    assert c.centers is None and "stage2" not in c.log
    assert not np.array_equal(a.encoder.weights[0], c.encoder.weights[0])


def test_bad_input_and_config_refused():
    X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_encoder(X, tiny_config())
    with pytest.raises(ValueError, match="too few"):
        train_encoder(np.ones((5, 4)), tiny_config())
    with pytest.raises(ValueError, match="code_dim"):
        train_encoder(np.ones((50, 4)), tiny_config(code_dim=0))
    with pytest.raises(ValueError, match="standardize"):
        tiny_config(standardize="minmax").validate()
    with pytest.raises(ValueError, match="gamma"):
        tiny_config(gamma=-1.0).validate()
