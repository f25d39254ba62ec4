"""Adapter: pynndescent (NN-descent graph, RP-tree init), the peer of our KNN graph.
Needs ``pip install annann[peers]``."""

import numpy as np
import pynndescent

from annann.core.validation import as_float_matrix

from ..base.module import BaseANN


class PyNNDescent(BaseANN):
    """pynndescent NNDescent index; query argument epsilon (search slack)."""

    def __init__(self, metric, n_neighbors=20, seed=42):
        metrics = {"euclidean": "euclidean", "angular": "cosine"}
        if metric not in metrics:
            raise ValueError(f"pynndescent adapter: unsupported metric {metric!r}")
        self.metric = metrics[metric]
        self.n_neighbors = int(n_neighbors)
        self.seed = int(seed)
        self.epsilon = 0.1
        self.name = f"pynndescent(n_neighbors={self.n_neighbors}, epsilon=0.1)"

    def fit(self, X):
        """Build the NN-descent graph over X and prepare it for search."""
        X = as_float_matrix(X)
        self.index = pynndescent.NNDescent(X, metric=self.metric, n_neighbors=self.n_neighbors,
                                           random_state=self.seed, low_memory=True)
        self.index.prepare()

    def set_query_arguments(self, epsilon):
        """Set epsilon, how far the search looks beyond the current k-th distance."""
        self.epsilon = float(epsilon)
        self.name = f"pynndescent(n_neighbors={self.n_neighbors}, epsilon={self.epsilon})"

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self.index.query(np.asarray(q, dtype=np.float32)[None, :], k=n,
                                  epsilon=self.epsilon)
        return ids[0]

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        self.res = self.index.query(np.asarray(X, dtype=np.float32), k=n, epsilon=self.epsilon)[0]
