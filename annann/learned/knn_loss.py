"""The k-NN-preserving term (the original author's "future work").

True neighbours are computed once on the training subsample with exact_knn; each training step
samples (anchor, true neighbour, random point) triples and penalises the normalised stress

    L = mean (|z_a - z_p| - |x_a - x_p|)^2 / mean |x_a - x_p|^2
      + mean (|z_a - z_r| - |x_a - x_r|)^2 / mean |x_a - x_r|^2

(x in the standardised input space): code distances must reproduce the original distances to
true neighbours, and to random points so that the space cannot collapse (a ratio-only loss,
near/far, was tried first and collapsed the codes into a few clumps). Each term is scale-free in x.
"""

import numpy as np

from ..core.validation import as_float_matrix, check_positive_int
from ..data.groundtruth import exact_knn


def knn_pairs(X, k=10, n_anchors=10000, seed=0, metric="euclidean"):
    """Return (anchors (a,), neighbours (a, k)) row indices into X: the k true neighbours of each
    of ``n_anchors`` random rows (themselves excluded)."""
    X = as_float_matrix(X, name="X")
    n = X.shape[0]
    k = check_positive_int(k, "knn_k")
    if k >= n:
        raise ValueError(f"knn_k={k} needs more than {n} training rows")
    a = min(check_positive_int(n_anchors, "knn_anchors"), n)
    anchors = np.sort(np.random.default_rng(seed).choice(n, size=a, replace=False))
    ids, _ = exact_knn(X, X[anchors], k + 1, metric=metric)
    neighbours = np.empty((a, k), dtype=np.int64)
    # drop the anchor itself (or, when duplicates hide it, the last column) from each row
    keep = ids != anchors[:, None]
    no_self = keep.all(axis=1)
    keep[no_self, -1] = False
    neighbours[:] = ids[keep].reshape(a, k)
    return anchors.astype(np.int64), neighbours


def neighbourhood_loss(za, zp, zr, xa, xp, xr, eps=1e-8):
    """Keras/TF: normalised distance stress on neighbour pairs plus on random pairs."""
    import tensorflow as tf

    def dist(u, v):
        return tf.sqrt(tf.reduce_sum(tf.square(u - v), axis=1) + eps)

    def stress(dz, dx):
        return tf.reduce_mean(tf.square(dz - dx)) / (tf.reduce_mean(tf.square(dx)) + eps)

    return stress(dist(za, zp), dist(xa, xp)) + stress(dist(za, zr), dist(xa, xr))


def neighbourhood_ratio(Z, anchors, neighbours, seed=0):
    """Numpy diagnostic of the same ratio on codes Z (lower = neighbours better preserved)."""
    rng = np.random.default_rng(seed)
    Z = np.asarray(Z, dtype=np.float64)
    za = Z[anchors]
    near = ((za[:, None, :] - Z[neighbours]) ** 2).sum(axis=2).mean()
    far = ((za - Z[rng.integers(0, Z.shape[0], size=anchors.shape[0])]) ** 2).sum(axis=1).mean()
    return float(near / far)
