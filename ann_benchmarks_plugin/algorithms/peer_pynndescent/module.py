"""Adapter: pynndescent (NN-descent graph, RP-tree init), the peer of our KNN graph.
Needs ``pip install annann[peers]``."""

import numpy as np
import pynndescent

from annann.validation import as_float_matrix

from ..base.module import BaseANN


class PyNNDescent(BaseANN):
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
        X = as_float_matrix(X)
        self.index = pynndescent.NNDescent(X, metric=self.metric, n_neighbors=self.n_neighbors,
                                           random_state=self.seed, low_memory=True)
        self.index.prepare()

    def set_query_arguments(self, epsilon):
        self.epsilon = float(epsilon)
        self.name = f"pynndescent(n_neighbors={self.n_neighbors}, epsilon={self.epsilon})"

    def query(self, q, n):
        ids, _ = self.index.query(np.asarray(q, dtype=np.float32)[None, :], k=n,
                                  epsilon=self.epsilon)
        return ids[0]

    def batch_query(self, X, n):
        self.res = self.index.query(np.asarray(X, dtype=np.float32), k=n, epsilon=self.epsilon)[0]
