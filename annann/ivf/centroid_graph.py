"""hnswlib graph over cluster centres: finds the candidate clusters of a query in O(log k).

Built with one thread: hnswlib's multi-threaded insertion makes the graph depend on thread
timing (seen: 2 of 100 queries routed to another cluster between two identical builds), and a
few thousand centres take well under a second alone. Queried with one thread (queries are
single-threaded by convention). The search beam ef is raised to the number of candidates asked
for, as hnswlib requires ef >= k.
"""

import os
import tempfile

import hnswlib
import numpy as np



class CentroidGraph:
    """Squared-L2 HNSW over (k, e) centres with labels 0..k-1."""

    def __init__(self, centers, M=16, ef_construction=200, seed=0, index=None):
        centers = np.ascontiguousarray(centers, dtype=np.float32)
        self.n, self.dim = centers.shape
        self.M, self.ef_construction, self.seed = int(M), int(ef_construction), int(seed)
        if index is None:
            index = hnswlib.Index(space="l2", dim=self.dim)
            index.init_index(max_elements=self.n, ef_construction=self.ef_construction, M=self.M,
                             random_seed=self.seed)
            index.set_num_threads(1)
            index.add_items(centers, np.arange(self.n))
        index.set_num_threads(1)
        self.index = index
        self.ef = 0
        self._nbytes = None

    def query(self, Z, n):
        """Labels (m, n) int64 of the n nearest centres to each row of Z (m, e), nearest first."""
        n = min(int(n), self.n)
        ef = max(n, 10)
        if ef != self.ef:
            self.index.set_ef(ef)
            self.ef = ef
        labels, _ = self.index.knn_query(Z, k=n, num_threads=1)
        return labels.astype(np.int64, copy=False)

    def save(self, path):
        """Write the hnswlib index to path."""
        self.index.save_index(str(path))

    @classmethod
    def load(cls, path, n, dim, M, ef_construction, seed):
        """Load a saved graph; ValueError if it does not hold n centres of dimension dim."""
        index = hnswlib.Index(space="l2", dim=int(dim))
        try:
            index.load_index(str(path), max_elements=int(n))
        except Exception as exc:
            raise ValueError(f"centroid graph {path}: unreadable hnswlib index ({exc})") from exc
        if index.get_current_count() != n or index.dim != dim:
            raise ValueError(f"centroid graph {path}: holds {index.get_current_count()} centres of "
                             f"dimension {index.dim}, expected {n} of dimension {dim}")
        graph = cls.__new__(cls)
        graph.n, graph.dim = int(n), int(dim)
        graph.M, graph.ef_construction, graph.seed = int(M), int(ef_construction), int(seed)
        index.set_num_threads(1)
        graph.index, graph.ef, graph._nbytes = index, 0, None
        return graph

    def nbytes(self):
        """Bytes of the graph as hnswlib serialises it (vectors, links, labels); measured once."""
        if self._nbytes is None:
            fd, path = tempfile.mkstemp(suffix=".hnsw")
            os.close(fd)
            try:
                self.index.save_index(path)
                self._nbytes = os.path.getsize(path)
            finally:
                os.remove(path)
        return self._nbytes
