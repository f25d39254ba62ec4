"""Adapter: faiss ``IVF<n>,PQ<M>x4fs`` (4-bit PQ scored by SIMD fast-scan) inside
``IndexRefineFlat`` (exact re-rank of k_reorder candidates). Needs ``pip install annann[peers]``."""

import faiss
import numpy as np

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN


class FaissIVFPQfs(BaseANN):
    """faiss IVF-PQ fast-scan (n_lists: an int, or a float meaning that multiple of sqrt(n))
    with d / 2 sub-quantizers of 2 dimensions (an odd d gets one zero column: L2 unchanged, and
    PQ<d/2> is valid) and an exact refine; query arguments nprobe and k_reorder (candidates
    re-ranked exactly: k_factor = k_reorder / k; 0 = the fast-scan answer without re-rank)."""

    def __init__(self, metric, n_lists, seed=1234):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"faiss-ivfpqfs adapter: unsupported metric {metric!r}")
        if not isinstance(n_lists, (int, float)) or n_lists <= 0:
            raise ValueError(f"faiss-ivfpqfs adapter: n_lists must be a positive number, got "
                             f"{n_lists!r}")
        self.metric = metric
        self.n_lists = n_lists
        self.seed = int(seed)
        self.nprobe, self.k_reorder = 1, 0
        self.M = None
        self._name()

    def _name(self):
        self.name = (f"faiss-ivfpqfs(lists={self.n_lists}, M={self.M}, nprobe={self.nprobe}, "
                     f"k_reorder={self.k_reorder})")

    def _prep(self, X):
        X = as_float_matrix(X)
        X = normalize_rows(X) if self.metric == "angular" else X
        if X.shape[1] < self.dim:
            X = np.hstack([X, np.zeros((X.shape[0], self.dim - X.shape[1]), dtype=np.float32)])
        return X

    def fit(self, X):
        """Train the coarse quantizer and the PQ (seeded, every usable core) and add X; queries
        then run on one thread. Angular data is unit-normalised and searched by L2."""
        d = np.asarray(X).shape[-1]
        self.dim = d + d % 2
        X = self._prep(X)
        n = X.shape[0]
        lists = (int(round(self.n_lists * np.sqrt(n))) if isinstance(self.n_lists, float)
                 else int(self.n_lists))
        self.n_lists = lists = max(1, min(lists, n // 39))  # faiss wants >= 39 per list
        self.M = self.dim // 2
        faiss.omp_set_num_threads(usable_cpus())
        self.base = faiss.index_factory(self.dim, f"IVF{lists},PQ{self.M}x4fs")
        self.ivf = faiss.extract_index_ivf(self.base)
        self.ivf.cp.seed = self.seed
        faiss.downcast_index(self.base).pq.cp.seed = self.seed
        self.index = faiss.IndexRefineFlat(self.base)
        self.index.train(X)
        self.index.add(X)
        faiss.omp_set_num_threads(1)
        self._name()

    def set_query_arguments(self, nprobe, k_reorder):
        """Set nprobe (lists scanned) and k_reorder (candidates re-ranked exactly; 0: none)."""
        self.nprobe, self.k_reorder = int(nprobe), int(k_reorder)
        if self.nprobe < 1 or self.k_reorder < 0:
            raise ValueError(f"faiss-ivfpqfs adapter: nprobe must be >= 1 and k_reorder >= 0, "
                             f"got {nprobe!r}, {k_reorder!r}")
        if hasattr(self, "ivf"):
            self.ivf.nprobe = self.nprobe
        self._name()

    def _search(self, Q, n):
        if self.k_reorder == 0:
            return self.base.search(Q, n)[1]
        self.index.k_factor = max(1.0, self.k_reorder / n)
        return self.index.search(Q, n)[1]

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        row = np.zeros((1, self.dim), dtype=np.float32)
        row[0, :q.shape[0]] = q
        ids = self._search(row, n)[0]
        return ids[ids >= 0]

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        self.res = [row[row >= 0] for row in self._search(self._prep(X), n)]
