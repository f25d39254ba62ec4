"""Exact search: blocked ground truth (``exact_knn``) and the brute-force index every recall is
measured against (``BruteForceIndex``).

``exact_knn`` shortlists with float32 BLAS and decides in float64; memory is bounded by
query_block x train_block floats, so ground truth for 1M x 128 (or larger, memory-mapped) data
never materialises the full distance matrix.
"""

import numpy as np
from tqdm.auto import tqdm

from ..core.distances import check_metric, normalize_rows, sq_l2_scores, squared_norms
from ..core.stats import SearchCounters
from ..core.validation import NotFittedError, as_float_matrix, as_query_vector, check_k


def _score_block(Q, X, x_sq, metric):
    """Smaller is closer; squared L2 up to the per-query constant, or negative cosine."""
    if metric == "euclidean":
        return sq_l2_scores(Q, X, x_sq)
    return -(Q @ X.T)


def _rescore(Q64, X, cand, metric):
    """Exact float64 distances of each query to its candidate rows."""
    uniq, inv = np.unique(cand, return_inverse=True)
    C = np.asarray(X[uniq], dtype=np.float64)[inv.reshape(cand.shape)]  # (m, c, d)
    if metric == "euclidean":
        return np.sqrt(((C - Q64[:, None, :]) ** 2).sum(axis=2))
    return 1.0 - np.einsum("mcd,md->mc", C, Q64)


def exact_knn(train, queries, k, metric="euclidean", query_block=1024, train_block=32768,
              margin=None, progress=False):
    """Return (ids int32 (m, k), distances float32 (m, k)) of the exact k nearest train rows.

    Ties are broken by the smaller id. ``train`` may be a numpy memmap or h5py dataset: it is read
    block by block. Distances follow the ann-benchmarks convention (L2, or 1 - cosine).
    """
    check_metric(metric)
    n = train.shape[0]
    k = check_k(k, n)
    Q = as_float_matrix(queries, name="queries", dim=train.shape[1])
    if metric == "angular":
        Q = normalize_rows(Q)
    c = min(n, 2 * k + 16 if margin is None else k + margin)
    m = Q.shape[0]
    best_s = np.full((m, c), np.inf, dtype=np.float32)
    best_i = np.full((m, c), -1, dtype=np.int64)
    starts = range(0, n, train_block)
    for t0 in tqdm(starts, desc="ground truth", disable=not progress, unit="block"):
        X = as_float_matrix(train[t0:t0 + train_block], name="train")
        if metric == "angular":
            X = normalize_rows(X)
        x_sq = squared_norms(X)
        ids = np.arange(t0, t0 + X.shape[0], dtype=np.int64)
        for q0 in range(0, m, query_block):
            S = _score_block(Q[q0:q0 + query_block], X, x_sq, metric)
            allS = np.concatenate([best_s[q0:q0 + query_block], S], axis=1)
            allI = np.concatenate([best_i[q0:q0 + query_block],
                                   np.broadcast_to(ids, S.shape)], axis=1)
            part = np.argpartition(allS, c - 1, axis=1)[:, :c]
            best_s[q0:q0 + query_block] = np.take_along_axis(allS, part, axis=1)
            best_i[q0:q0 + query_block] = np.take_along_axis(allI, part, axis=1)
    out_i = np.empty((m, k), dtype=np.int32)
    out_d = np.empty((m, k), dtype=np.float32)
    Q64 = np.asarray(queries, dtype=np.float64)
    if metric == "angular":
        Q64 = Q64 / np.where(np.linalg.norm(Q64, axis=1, keepdims=True) == 0, 1,
                             np.linalg.norm(Q64, axis=1, keepdims=True))
    for q0 in range(0, m, query_block):
        cand = best_i[q0:q0 + query_block]
        Xc = train if metric == "euclidean" else _NormalizedRows(train)
        D = _rescore(Q64[q0:q0 + query_block], Xc, cand, metric)
        order = np.lexsort((cand, D), axis=1)[:, :k]
        out_i[q0:q0 + query_block] = np.take_along_axis(cand, order, axis=1)
        out_d[q0:q0 + query_block] = np.take_along_axis(D, order, axis=1)
    return out_i, out_d


class _NormalizedRows:
    """Row access to train with each fetched row unit-normalised in float64 (for angular)."""

    def __init__(self, X):
        self.X = X

    def __getitem__(self, idx):
        V = np.asarray(self.X[idx], dtype=np.float64)
        norms = np.linalg.norm(V, axis=1, keepdims=True)
        return V / np.where(norms == 0, 1.0, norms)


class BruteForceIndex:
    """Exact k-NN over a fixed matrix; single queries use one GEMV, batches ``exact_knn``."""

    def __init__(self, metric="euclidean"):
        self.metric = check_metric(metric)
        self.data = None
        self.counters = SearchCounters()

    def fit(self, X):
        """Keep X (unit-normalised for angular) and its squared norms; returns self."""
        X = as_float_matrix(X, name="X")
        self._raw = X
        self.data = normalize_rows(X) if self.metric == "angular" else X
        self._sq = squared_norms(self.data)
        return self

    @property
    def size(self):
        """Number of indexed vectors (0 before fit)."""
        return 0 if self.data is None else int(self.data.shape[0])

    def _require_fit(self):
        if self.data is None:
            raise NotFittedError("BruteForceIndex: call fit() before searching")

    def search(self, q, k):
        """Return (ids, distances) of the k nearest rows to q, nearest first."""
        self._require_fit()
        k = check_k(k, self.data.shape[0])
        q = as_query_vector(q, self.data.shape[1])
        if self.metric == "angular":
            q = normalize_rows(q[None, :])[0]
            score = -(self.data @ q)
        else:
            score = self._sq - 2.0 * (self.data @ q)  # one GEMV: |x|^2 - 2 q.x
        top = np.argpartition(score, k - 1)[:k] if k < score.shape[0] else np.arange(score.shape[0])
        top = top[np.argsort(score[top], kind="stable")]
        if self.metric == "angular":
            d = 1.0 - (-score[top])
        else:
            d = np.sqrt(np.maximum(score[top] + float(q @ q), 0.0))
        self.counters.add(1, self.size, self.size)
        return top.astype(np.int64), d.astype(np.float32)

    def search_batch(self, Q, k):
        """Exact (ids, distances) for every row of Q, blocked and float64-checked."""
        self._require_fit()
        out = exact_knn(self._raw, Q, k, self.metric)
        self.counters.add(len(Q), len(Q) * self.size, len(Q) * self.size)
        return out
