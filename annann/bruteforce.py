"""Exact search by brute force (numpy/BLAS): the reference every recall is measured against."""

import numpy as np

from .distances import check_metric, normalize_rows
from .groundtruth import exact_knn
from .validation import as_float_matrix, as_query_vector, check_k


class BruteForceIndex:
    """Exact k-NN over a fixed matrix; single queries use one GEMV, batches the blocked kernel."""

    def __init__(self, metric="euclidean"):
        self.metric = check_metric(metric)
        self.data = None

    def fit(self, X):
        """Keep X (unit-normalised for angular) and its squared norms; returns self."""
        X = as_float_matrix(X, name="X")
        self._raw = X
        self.data = normalize_rows(X) if self.metric == "angular" else X
        self._sq = np.einsum("ij,ij->i", self.data, self.data)
        return self

    def _require_fit(self):
        if self.data is None:
            raise RuntimeError("BruteForceIndex: call fit() before searching")

    def search(self, q, k):
        """Return (ids, distances) of the k nearest rows to q, nearest first."""
        self._require_fit()
        k = check_k(k, self.data.shape[0])
        q = as_query_vector(q, self.data.shape[1])
        if self.metric == "angular":
            q = normalize_rows(q[None, :])[0]
            score = -(self.data @ q)
        else:
            score = self._sq - 2.0 * (self.data @ q)
        top = np.argpartition(score, k - 1)[:k] if k < score.shape[0] else np.arange(score.shape[0])
        top = top[np.argsort(score[top], kind="stable")]
        if self.metric == "angular":
            d = 1.0 - (-score[top])
        else:
            d = np.sqrt(np.maximum(score[top] + float(q @ q), 0.0))
        return top.astype(np.int64), d.astype(np.float32)

    def search_batch(self, Q, k):
        """Exact (ids, distances) for every row of Q, blocked and float64-checked."""
        self._require_fit()
        return exact_knn(self._raw, Q, k, self.metric)
