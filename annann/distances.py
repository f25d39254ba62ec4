"""Metrics: names, preprocessing and exact distances (numpy, BLAS)."""

import numpy as np

METRICS = ("euclidean", "angular")


def check_metric(metric):
    """Return metric if supported, else raise ValueError listing the supported ones."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(METRICS)}")
    return metric


def normalize_rows(X):
    """Unit-normalise rows (float32); zero rows stay zero. Angular search runs on these."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (X / norms).astype(np.float32, copy=False)


def squared_norms(X):
    """Row-wise squared L2 norms in float32."""
    return np.einsum("ij,ij->i", X, X)


def distances(q, X, metric):
    """Exact distances from one query q (d,) to every row of X (n, d), as the harness defines them.

    euclidean: plain L2; angular: 1 - cosine.
    """
    X = np.asarray(X, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(np.maximum(((X - q) ** 2).sum(axis=1), 0.0))
    if metric == "angular":
        nq = np.linalg.norm(q)
        nx = np.linalg.norm(X, axis=1)
        denom = np.where(nq * nx == 0, 1.0, nq * nx)
        return 1.0 - (X @ q) / denom
    raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(METRICS)}")
