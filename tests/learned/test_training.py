"""Encoder training in a child process. Reproducibility with a fixed seed and the log of a full
DEC + k-NN run are checked in test_annann_index.py against the fitted index (one child fewer)."""

import numpy as np
import pytest

from annann.learned.training import TrainConfig, subsample_rows, train_encoder


def tiny_config(**kw):
    base = dict(hidden=(32,), code_dim=8, epochs=3, n_clusters=8, train_sample=1500, max_iter=60,
                update_interval=20, progress=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
def test_seeds_differ_and_dec_off_skips_stage2(bigann10k):
    X = bigann10k.train[:3000]
    a = train_encoder(X, tiny_config(seed=8, dec=False))
    b = train_encoder(X, tiny_config(seed=9, dec=False))
    assert a.centers is None and "stage2" not in a.log
    assert not np.array_equal(a.encoder.weights[0], b.encoder.weights[0])


def test_subsample_is_seeded_and_bounded():
    a, b = subsample_rows(1000, 100, 5), subsample_rows(1000, 100, 5)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 100 and a.max() < 1000
    assert sorted(subsample_rows(50, 100, 5).tolist()) == list(range(50))


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
    with pytest.raises(ValueError, match="hidden"):
        tiny_config(hidden=(0,)).validate()


def test_child_failure_is_reported(monkeypatch):
    import annann.learned.training as training

    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="train_sample"):
        train_encoder(X, tiny_config(n_clusters=30, train_sample=20))
    monkeypatch.setattr(training.sys, "executable", "false")  # a "child" that exits with 1
    with pytest.raises(RuntimeError, match="child process"):
        train_encoder(X, tiny_config())
