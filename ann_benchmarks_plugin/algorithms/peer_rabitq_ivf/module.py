"""Adapter: IVF-RaBitQ (rabitqlib.IvfIndex): k-means lists (faiss k-means) whose vectors are
stored as RaBitQ codes and scored by FastScan, with an extended-bit re-rank. Needs
``pip install annann[peers]`` (packages ``rabitqlib``, Python >= 3.11, and ``faiss-cpu``)."""

import faiss
import numpy as np
import rabitqlib

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

PARAMS = {"n_lists": 4.0, "nbits": 7, "kmeans_iter": 20, "seed": 1234}
PAD = 64  # its rotation takes only dimensions that are multiples of 64


def padded(X, dim):
    """X (float32, rows) with zero columns appended up to dim: L2 distances are unchanged."""
    if X.shape[1] == dim:
        return np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros((X.shape[0], dim), dtype=np.float32)
    out[:, :X.shape[1]] = X
    return out


class RabitqIVF(BaseANN):
    """IVF-RaBitQ with ``n_lists`` lists (an int, or a float meaning that multiple of sqrt(n))
    and ``nbits`` bits per dimension (1-9; 32 keeps the raw vectors for an exact re-rank);
    query argument nprobe."""

    def __init__(self, metric, params=None):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"rabitq-ivf adapter: unsupported metric {metric!r}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"rabitq-ivf adapter: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMS)})")
        p = {**PARAMS, **params}
        self.nbits = int(p["nbits"])
        if not (1 <= self.nbits <= 9 or self.nbits == 32):
            raise ValueError(f"rabitq-ivf adapter: nbits must be 1-9 or 32, got {self.nbits}")
        if not isinstance(p["n_lists"], (int, float)) or p["n_lists"] <= 0:
            raise ValueError(f"rabitq-ivf adapter: n_lists must be a positive number, got "
                             f"{p['n_lists']!r}")
        self.metric = metric
        self.n_lists = p["n_lists"]
        self.kmeans_iter, self.seed = int(p["kmeans_iter"]), int(p["seed"])
        self.nprobe = 1
        self._name()

    def _name(self):
        self.name = f"rabitq-ivf(lists={self.n_lists}, nbits={self.nbits}, nprobe={self.nprobe})"

    def _prep(self, X):
        X = as_float_matrix(X)
        X = normalize_rows(X) if self.metric == "angular" else X
        return padded(X, self.dim)

    def fit(self, X):
        """faiss k-means (seeded, every usable core) on X, each row to its nearest centroid, then
        the RaBitQ codes. Angular data is unit-normalised (searched by L2); the dimension is
        zero-padded to a multiple of 64."""
        d = np.asarray(X).shape[-1]
        self.dim = -(-d // PAD) * PAD
        X = self._prep(X)
        self.n = X.shape[0]
        lists = (int(round(self.n_lists * np.sqrt(self.n))) if isinstance(self.n_lists, float)
                 else int(self.n_lists))
        self.n_lists = lists = max(1, min(lists, self.n // 39))  # as the faiss peer: >= 39 a list
        faiss.omp_set_num_threads(usable_cpus())
        kmeans = faiss.Kmeans(self.dim, lists, niter=self.kmeans_iter, seed=self.seed)
        kmeans.train(X)
        assign = kmeans.index.search(X, 1)[1][:, 0]
        self.index = rabitqlib.IvfIndex(self.dim, self.n, lists, self.nbits, "l2")
        self.index.build(X, kmeans.centroids, assign, usable_cpus())
        faiss.omp_set_num_threads(1)
        self._name()

    def set_query_arguments(self, nprobe):
        """Set nprobe, the lists scanned per query."""
        self.nprobe = int(nprobe)
        if self.nprobe < 1:
            raise ValueError(f"rabitq-ivf adapter: nprobe must be >= 1, got {nprobe!r}")
        self._name()

    def _ids(self, rows):
        """uint32 ids -> int64, without the padding (2**32 - 1) of lists holding fewer than k."""
        rows = rows.astype(np.int64)
        return [row[row < self.n] for row in rows]

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q (one thread)."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        row = np.zeros((1, self.dim), dtype=np.float32)
        row[0, :q.shape[0]] = q
        return self._ids(self.index.search(row, min(n, self.n), self.nprobe, None, 1)[0])[0]

    def batch_query(self, X, n):
        """Answer every row of X (one thread); results go to self.res."""
        self.res = self._ids(self.index.search(self._prep(X), min(n, self.n), self.nprobe,
                                               None, 1)[0])
