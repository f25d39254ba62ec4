"""NumpyEncoder: the numpy forward pass equals Keras, save/load round trip, refusal of bad input."""

import numpy as np
import pytest

from annann.learned.encoder import NumpyEncoder


def random_encoder(d=6, widths=(5, 3), acts=("relu", "linear"), seed=0):
    rng = np.random.default_rng(seed)
    dims = (d,) + tuple(widths)
    return NumpyEncoder(rng.normal(size=d), rng.uniform(0.5, 2.0, size=d),
                        [rng.normal(size=(a, b)) for a, b in zip(dims[:-1], dims[1:])],
                        [rng.normal(size=b) for b in dims[1:]], acts)


def test_forward_pass_matches_hand_computation():
    enc = random_encoder()
    X = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    H = (X.astype(np.float64) - enc.mean) / enc.scale
    H = np.maximum(H @ enc.weights[0] + enc.biases[0], 0)
    H = H @ enc.weights[1] + enc.biases[1]
    Z = enc.transform(X)
    assert Z.dtype == np.float32 and Z.shape == (4, 3)
    np.testing.assert_allclose(Z, H, rtol=1e-5, atol=1e-5)


def test_numpy_encoder_equals_keras_model():
    from annann.learned.autoencoder import build_autoencoder, dense_layers

    keras = pytest.importorskip("keras")  # a hard dependency; importorskip only to name it
    keras.utils.set_random_seed(3)
    _, enc = build_autoencoder(16, hidden=(12, 8), code_dim=4, activation="relu")
    X = np.random.default_rng(2).normal(size=(50, 16)).astype(np.float32)
    kernels, biases, acts = dense_layers(enc)
    assert acts == ["relu", "relu", "linear"]
    np_enc = NumpyEncoder(np.zeros(16), np.ones(16), kernels, biases, acts)
    expected = enc.predict(X, verbose=0)
    np.testing.assert_allclose(np_enc.transform(X), expected, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # not a degenerate all-zero comparison


def test_state_round_trip_and_bad_states():
    enc = random_encoder(acts=("tanh", "linear"))
    back = NumpyEncoder.from_state(enc.state())
    X = np.random.default_rng(4).normal(size=(10, 6))
    np.testing.assert_array_equal(back.transform(X), enc.transform(X))
    assert back.activations == ["tanh", "linear"]
    with pytest.raises(ValueError, match="format marker"):
        NumpyEncoder.from_state({"a": np.zeros(3)})
    state = random_encoder().state()
    del state["W1"]
    with pytest.raises(ValueError, match="missing"):
        NumpyEncoder.from_state(state)


def test_bad_input_refused():
    enc = random_encoder()
    with pytest.raises(ValueError, match="wrong dimension"):
        enc.transform(np.zeros((2, 5)))
    X = np.zeros((2, 6))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enc.transform(X)
    with pytest.raises(ValueError, match="activation"):
        random_encoder(acts=("softsign", "linear"))
    with pytest.raises(ValueError, match="layer 1"):
        NumpyEncoder(np.zeros(6), np.ones(6), [np.zeros((6, 5)), np.zeros((4, 3))],
                     [np.zeros(5), np.zeros(3)], ["relu", "linear"])
