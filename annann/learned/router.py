"""The Neural LSH router (step 3): an MLP from a vector to the parts of the K-NN graph partition.

Trained in a child process (TensorFlow never enters the caller) with soft labels: a point's target
is the distribution of the parts of itself and its K neighbours, so the router learns where a
point's neighbourhood lives, not only its own part. Batch normalisation is folded into the dense
weights on export, so the router crosses back as numpy arrays: a NumpyEncoder for the hidden
layers and the logit layer's (W, b).
"""

import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..core.procs import die_with_parent
from ..core.validation import as_float_matrix, check_positive_int
from .encoder import NumpyEncoder
from .training import (run_child, seed_tensorflow, standardisation, subsample_rows,
                       write_result)

BN_EPSILON = 1e-3


@dataclass
class RouterConfig:
    """Router shape and training. ``train_sample`` rows are drawn (seeded) from the data."""

    # one layer: fewer candidates than (512, 512) and faster (docs/design-notes.md)
    hidden: tuple = (256,)
    epochs: int = 8
    batch_size: int = 512
    learning_rate: float = 1e-3
    train_sample: int = 300000
    seed: int = 0
    threads: int = 1
    progress: bool = False

    def validate(self):
        """Check every field (ValueError naming the bad one); returns self."""
        self.hidden = tuple(check_positive_int(h, "hidden layer size") for h in self.hidden)
        if not self.hidden:
            raise ValueError("hidden: the router needs at least one hidden layer")
        for name in ("epochs", "batch_size", "train_sample", "threads"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.seed, "seed", minimum=0)
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate: must be > 0, got {self.learning_rate}")
        return self


@dataclass
class Router:
    """Trained router: hidden layers (NumpyEncoder) and the logit layer W (h, m), b (m,)."""

    hidden: NumpyEncoder
    W: np.ndarray
    b: np.ndarray
    log: dict

    def logits(self, X):
        """Part scores (n, m) of raw rows X; the router's ranking of the parts."""
        return self.hidden.transform(X) @ self.W + self.b

    def predict(self, X, block=65536):
        """Most likely part of every row of X (int32)."""
        X = as_float_matrix(X, name="X", dim=self.hidden.input_dim)
        out = np.empty(X.shape[0], dtype=np.int32)
        for lo in range(0, X.shape[0], block):
            out[lo:lo + block] = self.logits(X[lo:lo + block]).argmax(axis=1)
        return out


def part_labels(parts, neighbor_ids, rows):
    """(len(rows), K+1) int32 targets: each row's own part, then its neighbours' parts."""
    return np.concatenate([parts[rows][:, None], parts[neighbor_ids[rows]]], axis=1).astype(
        np.int32)


def train_router(X, parts, neighbor_ids, n_parts, config=None):
    """Train the router on raw rows X with the partition ``parts`` of the K-NN graph
    ``neighbor_ids`` (n, K); returns a Router."""
    cfg = (config or RouterConfig()).validate()
    X = as_float_matrix(X, name="X")
    parts = np.asarray(parts, dtype=np.int32)
    if parts.shape != (X.shape[0],) or parts.min() < 0 or parts.max() >= n_parts:
        raise ValueError(f"parts: expected {X.shape[0]} labels in [0, {n_parts})")
    if neighbor_ids.shape[0] != X.shape[0]:
        raise ValueError(f"neighbor_ids: {neighbor_ids.shape[0]} rows for {X.shape[0]} points")
    t0 = time.perf_counter()
    rows = subsample_rows(X.shape[0], cfg.train_sample, cfg.seed)
    config = dict(asdict(cfg), n_parts=int(n_parts))
    state, log = run_child("annann.learned.router",
                           {"x": X[rows], "y": part_labels(parts, neighbor_ids, rows)}, config,
                           cfg.threads, cfg.seed, cfg.progress, "router training")
    W, b = state.pop("logit_W"), state.pop("logit_b")
    log["train_rows"] = int(rows.shape[0])
    log["wall_seconds"] = time.perf_counter() - t0
    return Router(NumpyEncoder.from_state(state, source="router child"), W, b, log)


def soft_label_loss(y_true, logits):
    """Mean cross-entropy of the logits against each of the K+1 part labels (soft labels)."""
    import tensorflow as tf

    logp = tf.nn.log_softmax(logits)
    return -tf.reduce_mean(tf.gather(logp, tf.cast(y_true, tf.int32), batch_dims=1), axis=1)


def fold_batch_norm(dense_layers, norm_layers, W_out, b_out):
    """Fold each BatchNorm that follows a ReLU dense layer into the next layer's weights."""
    kernels, biases = [], []
    carry_scale = carry_shift = None
    for (W, b), (gamma, beta, mean, var) in zip(dense_layers, norm_layers):
        if carry_scale is not None:
            b = b + carry_shift @ W
            W = W * carry_scale[:, None]
        kernels.append(W)
        biases.append(b)
        carry_scale = gamma / np.sqrt(var + BN_EPSILON)
        carry_shift = beta - mean * carry_scale
    return kernels, biases, W_out * carry_scale[:, None], b_out + carry_shift @ W_out


def run_router_training(X, Y, cfg):
    """Child side: build, train and export the router; returns (state arrays, log)."""
    seed_tensorflow(cfg["threads"], cfg["seed"])
    import keras

    log = {"epochs": []}
    mean, scale = standardisation(X, "global")
    Xn = ((X - mean) / scale).astype(np.float32)
    inp = keras.Input(shape=(X.shape[1],))
    h = inp
    for units in cfg["hidden"]:
        h = keras.layers.Dense(int(units), activation="relu")(h)
        h = keras.layers.BatchNormalization(epsilon=BN_EPSILON)(h)
    model = keras.Model(inp, keras.layers.Dense(cfg["n_parts"])(h))
    model.compile(optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=soft_label_loss)
    t = time.perf_counter()
    hist = model.fit(Xn, Y, batch_size=cfg["batch_size"], epochs=cfg["epochs"], shuffle=True,
                     verbose=2 if cfg["progress"] else 0)
    log["epochs"] = [float(v) for v in hist.history["loss"]]
    log["seconds"] = time.perf_counter() - t
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    kernels, biases, W, b = fold_batch_norm(
        [tuple(np.asarray(v, dtype=np.float64) for v in layer.get_weights()) for layer in dense[:-1]],
        [tuple(np.asarray(v, dtype=np.float64) for v in layer.get_weights()) for layer in norms],
        *(np.asarray(v, dtype=np.float64) for v in dense[-1].get_weights()))
    hidden = NumpyEncoder(mean, scale, kernels, biases, ["relu"] * len(kernels))
    state = dict(hidden.state(), logit_W=W.astype(np.float32), logit_b=b.astype(np.float32))
    return state, log


def _child_main(folder):
    import json
    from pathlib import Path

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text())
    state, log = run_router_training(np.load(folder / "x.npy"), np.load(folder / "y.npy"), cfg)
    write_result(folder, state, log)


__all__ = ["RouterConfig", "Router", "train_router", "part_labels", "fold_batch_norm"]


if __name__ == "__main__":
    die_with_parent()
    _child_main(sys.argv[1])

