"""The dense autoencoder (Keras 3) and its stage-1 reconstruction training.

Imported only where TensorFlow may live: the training child process and tests. The code layer is
linear (as in DEC/IDEC), the hidden layers use ``activation``; the decoder mirrors the encoder.
"""

import numpy as np


def build_autoencoder(input_dim, hidden=(96, 64), code_dim=32, activation="relu"):
    """Return (autoencoder, encoder) Keras models sharing the encoder layers."""
    import keras

    inp = keras.Input(shape=(int(input_dim),), name="x")
    h = inp
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(int(units), activation=activation, name=f"enc_{i}")(h)
    code = keras.layers.Dense(int(code_dim), activation="linear", name="code")(h)
    h = code
    for i, units in enumerate(reversed(tuple(hidden))):
        h = keras.layers.Dense(int(units), activation=activation, name=f"dec_{i}")(h)
    out = keras.layers.Dense(int(input_dim), activation="linear", name="recon")(h)
    return keras.Model(inp, out, name="autoencoder"), keras.Model(inp, code, name="encoder")


def train_reconstruction(autoencoder, X, epochs=30, batch_size=256, validation_split=0.1,
                         patience=3, learning_rate=1e-3, progress=True):
    """Stage 1: minimise MSE(x, x_hat) with early stopping on a held-out split; return the history.

    X must already be standardised and shuffled (the validation split is its last rows).
    """
    import keras

    autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    callbacks = [keras.callbacks.EarlyStopping(
        monitor="val_loss" if validation_split > 0 else "loss", patience=int(patience),
                                               restore_best_weights=True)]
    hist = autoencoder.fit(X, X, epochs=int(epochs), batch_size=int(batch_size),
                           validation_split=float(validation_split), shuffle=True,
                           callbacks=callbacks, verbose=2 if progress else 0)
    return {key: [float(v) for v in vals] for key, vals in hist.history.items()}


def dense_layers(encoder):
    """The encoder's Dense layers as numpy (kernels, biases, activation names), input to code."""
    import keras

    kernels, biases, acts = [], [], []
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not isinstance(layer, keras.layers.Dense):
            raise ValueError(f"encoder layer {layer.name} is not Dense")
        W, b = layer.get_weights()
        kernels.append(np.asarray(W, dtype=np.float32))
        biases.append(np.asarray(b, dtype=np.float32))
        acts.append(layer.activation.__name__)
    return kernels, biases, acts
