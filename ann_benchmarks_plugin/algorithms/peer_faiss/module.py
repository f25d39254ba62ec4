"""Adapter: faiss IVF with an HNSW coarse quantizer (``IVF<n>_HNSW32,Flat``), the peer of our
raw-space baseline. Needs ``pip install annann[peers]``."""

import faiss
import numpy as np

from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN


class FaissIVFHNSW(BaseANN):
    """faiss IVF index with an HNSW coarse quantizer; query argument nprobe."""

    def __init__(self, metric, n_lists, seed=1234):
        """n_lists: an int, or a float meaning that multiple of sqrt(n) (resolved in fit)."""
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"faiss adapter: unsupported metric {metric!r}")
        self.metric = metric
        self.n_lists = n_lists
        self.seed = int(seed)
        self.nprobe = 1
        self.name = f"faiss-ivf-hnsw(lists={self.n_lists}, nprobe=1)"

    def _prep(self, X):
        X = as_float_matrix(X)
        return normalize_rows(X) if self.metric == "angular" else X

    def fit(self, X):
        """Train the coarse quantizer on X and add X to the inverted lists."""
        X = self._prep(X)
        lists = (int(round(self.n_lists * np.sqrt(X.shape[0]))) if isinstance(self.n_lists, float)
                 else int(self.n_lists))
        self.n_lists = lists = max(1, min(lists, X.shape[0] // 39))  # faiss wants >= 39 per list
        self.index = faiss.index_factory(X.shape[1], f"IVF{lists}_HNSW32,Flat")
        self.ivf = faiss.extract_index_ivf(self.index)
        self.ivf.cp.seed = self.seed
        self.index.train(X)
        self.index.add(X)
        faiss.omp_set_num_threads(1)

    def set_query_arguments(self, nprobe):
        """Set nprobe, the lists scanned per query."""
        self.nprobe = int(nprobe)
        self.ivf.nprobe = self.nprobe
        # the HNSW quantizer returns at most efSearch lists: keep it above nprobe
        faiss.downcast_index(self.ivf.quantizer).hnsw.efSearch = max(64, 2 * self.nprobe)
        self.name = f"faiss-ivf-hnsw(lists={self.n_lists}, nprobe={self.nprobe})"

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q (no per-query checks beyond a cast,
        as upstream's faiss adapter: the peer is timed without our validation overhead)."""
        q = np.asarray(q, dtype=np.float32)[None, :]
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        _, ids = self.index.search(q, n)
        return ids[0][ids[0] >= 0]

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        _, ids = self.index.search(self._prep(X), n)
        self.res = [row[row >= 0] for row in ids]
