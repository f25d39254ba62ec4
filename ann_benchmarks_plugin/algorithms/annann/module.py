"""Adapter: ANNANN, the cluster engine in a learned (autoencoder + DEC) space.

Thin layer over annann.learned.index.AnnannIndex. Build parameters (one dict): n_clusters (int, or a
float multiple of sqrt(n)), code_dim, dec, gamma, knn_weight (0 = k-NN term off), rerank,
train_sample, epochs, hidden, seed. Query argument: C, the number of clusters scanned.
"""

import numpy as np

from annann.learned.index import AnnannIndex
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

TRAIN_KEYS = ("code_dim", "dec", "gamma", "knn_weight", "train_sample", "epochs", "hidden",
              "max_iter", "update_interval", "tol", "batch_size")


class Annann(BaseANN):
    """ANNANN (annann.learned.index.AnnannIndex) behind the BaseANN contract."""

    def __init__(self, metric, params):
        params = dict(params)
        unknown = set(params) - set(TRAIN_KEYS) - {"n_clusters", "rerank", "M", "seed"}
        if unknown:
            raise ValueError(f"annann adapter: unknown parameters {sorted(unknown)}")
        self.metric = metric
        self.n_clusters = params.get("n_clusters", 1.0)
        self.rerank = int(params.get("rerank", 10))
        self.train = {key: params[key] for key in TRAIN_KEYS if key in params}
        self.train.setdefault("dec", True)
        self.index = AnnannIndex(metric, n_clusters=self.n_clusters, rerank=self.rerank,
                                 M=int(params.get("M", 16)), seed=int(params.get("seed", 0)),
                                 train=self.train)
        self.C = 10
        self._set_name()

    def _set_name(self):
        cfg = self.index.config
        self.name = (f"annann(n_clusters={self.n_clusters}, code_dim={cfg.code_dim}, "
                     f"dec={cfg.dec}, gamma={cfg.gamma}, knn={cfg.knn_weight}, C={self.C}, "
                     f"r={self.rerank})")

    def fit(self, X):
        """Train the encoder and build the learned-space cluster index over X."""
        self.index.fit(as_float_matrix(X))

    def set_query_arguments(self, C):
        """Set C, the clusters scanned per query; resets the counters."""
        self.C = int(C)
        self.index.counters.reset()
        self._set_name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self.index.search(q, n, C=self.C)
        return ids

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        ids, _ = self.index.search_batch(X, n, C=self.C)
        self.res = [row[row >= 0] for row in np.asarray(ids)]

    def get_additional(self):
        """Since the last set_query_arguments: dist_comps (the harness's total over every query
        of every run, centroid re-rank plus scan), and per-query means of distance computations
        and of vectors scanned."""
        return self.index.counters.report()
