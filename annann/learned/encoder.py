"""The query-time encoder: standardisation + dense layers as a pure numpy float32 forward pass.

Training happens in TensorFlow (in a child process); only these arrays cross back, so neither the
query path nor the measured index ever holds TensorFlow.
"""

import numpy as np

from ..core.validation import as_float_matrix

FORMAT = "annann-encoder-v1"


def _linear(H):
    return H


def _relu(H):
    return np.maximum(H, 0.0, out=H)


def _tanh(H):
    return np.tanh(H, out=H)


def _elu(H):
    neg = H < 0
    H[neg] = np.expm1(H[neg])
    return H


ACTIVATIONS = {"linear": _linear, "relu": _relu, "tanh": _tanh, "elu": _elu}


class NumpyEncoder:
    """x -> act_L(... act_1(((x - mean) / scale) @ W_1 + b_1) ...) in float32."""

    def __init__(self, mean, scale, weights, biases, activations):
        self.mean = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
        self.scale = np.ascontiguousarray(scale, dtype=np.float32).reshape(-1)
        self.weights = [np.ascontiguousarray(W, dtype=np.float32) for W in weights]
        self.biases = [np.ascontiguousarray(b, dtype=np.float32).reshape(-1) for b in biases]
        self.activations = [str(a) for a in activations]
        self._check()
        self._inv_scale = (1.0 / self.scale).astype(np.float32)

    def _check(self):
        d = self.mean.shape[0]
        if d == 0 or self.scale.shape != (d,):
            raise ValueError(f"encoder: mean/scale shapes {self.mean.shape}/{self.scale.shape} "
                             "differ")
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise ValueError("encoder: scale must be finite and positive")
        if not self.weights or not (len(self.weights) == len(self.biases) == len(self.activations)):
            raise ValueError("encoder: needs matching, non-empty lists of weights, biases and "
                             "activations")
        width = d
        for i, (W, b, a) in enumerate(zip(self.weights, self.biases, self.activations)):
            if W.ndim != 2 or W.shape[0] != width or b.shape != (W.shape[1],):
                raise ValueError(f"encoder: layer {i} has kernel {W.shape} and bias {b.shape} "
                                 f"after width {width}")
            if a not in ACTIVATIONS:
                raise ValueError(f"encoder: unknown activation {a!r} in layer {i}")
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError(f"encoder: layer {i} holds NaN or inf")
            width = W.shape[1]

    @property
    def input_dim(self):
        """Dimension of the input vectors."""
        return self.mean.shape[0]

    @property
    def code_dim(self):
        """Dimension of the codes."""
        return self.weights[-1].shape[1]

    def transform(self, X):
        """Encode rows of X (n, input_dim) into float32 codes (n, code_dim)."""
        X = as_float_matrix(X, name="X", dim=self.input_dim)
        H = (X - self.mean) * self._inv_scale
        for W, b, a in zip(self.weights, self.biases, self.activations):
            H = H @ W
            H += b
            H = ACTIVATIONS[a](H)
        return np.ascontiguousarray(H, dtype=np.float32)

    __call__ = transform

    def nbytes(self):
        """Bytes held by the parameters."""
        return int(self.mean.nbytes + self.scale.nbytes + sum(W.nbytes for W in self.weights)
                   + sum(b.nbytes for b in self.biases))

    def state(self):
        """All parameters as a flat dict of numpy arrays (stored in the AnnannIndex directory)."""
        out = {"format": np.array(FORMAT), "mean": self.mean, "scale": self.scale,
               "activations": np.array(self.activations), "n_layers": np.array(len(self.weights))}
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            out[f"W{i}"] = W
            out[f"b{i}"] = b
        return out

    @classmethod
    def from_state(cls, state, source="state"):
        """Rebuild an encoder from a state() dict; ValueError if it is not one."""
        if "format" not in state or str(np.asarray(state["format"])) != FORMAT:
            raise ValueError(f"{source}: not an annann encoder (format marker {FORMAT!r} missing)")
        try:
            n = int(state["n_layers"])
            return cls(state["mean"], state["scale"], [state[f"W{i}"] for i in range(n)],
                       [state[f"b{i}"] for i in range(n)], list(np.asarray(state["activations"])))
        except KeyError as exc:
            raise ValueError(f"{source}: corrupt encoder, missing {exc}") from exc
