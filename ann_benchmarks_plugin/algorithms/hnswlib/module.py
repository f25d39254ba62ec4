"""Adapter: hnswlib, the state-of-the-art reference line (a peer, not our code)."""

import hnswlib
import numpy as np

from annann.core.cpus import usable_cpus
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN


class HnswLib(BaseANN):
    """hnswlib HNSW; build parameters M and efConstruction, query argument ef."""

    def __init__(self, metric, params):
        space = {"euclidean": "l2", "angular": "cosine"}.get(metric)
        if space is None:
            raise ValueError(f"hnswlib adapter: unsupported metric {metric!r}")
        self.space = space
        self.M = int(params["M"])
        self.ef_construction = int(params["efConstruction"])
        self.seed = int(params.get("seed", 100))
        self.ef = 10
        self.name = f"hnswlib(M={self.M}, efC={self.ef_construction}, ef={self.ef})"

    def fit(self, X):
        """Build the HNSW graph over X; queries then run on one thread."""
        X = as_float_matrix(X)
        self.p = hnswlib.Index(space=self.space, dim=X.shape[1])
        self.p.init_index(max_elements=X.shape[0], ef_construction=self.ef_construction, M=self.M,
                          random_seed=self.seed)
        self.p.add_items(X, np.arange(X.shape[0]), num_threads=usable_cpus())
        self.p.set_num_threads(1)

    def set_query_arguments(self, ef):
        """Set the search beam ef."""
        self.ef = int(ef)
        self.p.set_ef(self.ef)
        self.name = f"hnswlib(M={self.M}, efC={self.ef_construction}, ef={self.ef})"

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        return self.p.knn_query(np.expand_dims(q, axis=0), k=n)[0][0]

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        self.res = self.p.knn_query(X, k=n)[0]
