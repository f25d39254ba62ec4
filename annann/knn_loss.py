"""The k-NN-preserving term (the original author's "future work").

True neighbours are computed once on the training subsample with exact_knn; each training step
samples (anchor, true neighbour, random point) triples and penalises

    L = mean |z_a - z_p|^2 / (mean |z_a - z_r|^2 + eps)

i.e. neighbours must be close *relative to* random pairs. The ratio is scale-free, so it cannot be
met by shrinking the code space, and the reconstruction loss keeps the code informative.
"""

import numpy as np

from .groundtruth import exact_knn
from .validation import as_float_matrix, check_positive_int


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
    for_self = ids == anchors[:, None]
    # drop the anchor itself (or, with duplicates, the last column) from each row
    keep = ~for_self
    no_self = keep.all(axis=1)
    keep[no_self, -1] = False
    neighbours[:] = ids[keep].reshape(a, k)
    return anchors.astype(np.int64), neighbours


def neighbourhood_loss(za, zp, zr, eps=1e-8):
    """Keras/TF: mean squared anchor-neighbour distance over mean squared anchor-random distance."""
    import tensorflow as tf

    near = tf.reduce_mean(tf.reduce_sum(tf.square(za - zp), axis=1))
    far = tf.reduce_mean(tf.reduce_sum(tf.square(za - zr), axis=1))
    return near / (far + eps)


def neighbourhood_ratio(Z, anchors, neighbours, seed=0):
    """Numpy diagnostic of the same ratio on codes Z (lower = neighbours better preserved)."""
    rng = np.random.default_rng(seed)
    Z = np.asarray(Z, dtype=np.float64)
    za = Z[anchors]
    near = ((za[:, None, :] - Z[neighbours]) ** 2).sum(axis=2).mean()
    far = ((za - Z[rng.integers(0, Z.shape[0], size=anchors.shape[0])]) ** 2).sum(axis=1).mean()
    return float(near / far)
