"""Adapter: LoRANN (``lorann``): k-means clusters, each scored by a reduced-rank regression
model in a globally reduced space, with an exact re-rank. Needs ``pip install annann[peers]``;
``lorann`` has no wheel and compiles from source (g++ with OpenMP, a few minutes)."""

import lorann
import numpy as np

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

PARAMS = {"n_clusters": 1.0, "global_dim": "auto", "rank": 32, "train_size": 5,
          "quantization_bits": 8, "balanced": False}
MIN_DIM = 64  # LoRANN refuses fewer dimensions; smaller data is zero-padded (L2 unchanged)
RANKS = (16, 32, 64)  # the ranks it takes with quantized parameter matrices


class Lorann(BaseANN):
    """LoRANN with ``n_clusters`` clusters (an int, or a float meaning that multiple of
    sqrt(n)), ``global_dim`` (a multiple of 32, null for none, "auto" for LoRANN's advice: none
    below 200 dimensions, 128 up to 1000, else 256), ``rank`` (16, 32 or 64; lowered to fit
    small dimensions) and ``train_size``; query argument the pair
    [clusters_to_search, points_to_rerank] (clusters_to_search capped at n_clusters)."""

    def __init__(self, metric, params=None):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"lorann adapter: unsupported metric {metric!r}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"lorann adapter: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMS)})")
        p = {**PARAMS, **params}
        if not isinstance(p["n_clusters"], (int, float)) or p["n_clusters"] <= 0:
            raise ValueError(f"lorann adapter: n_clusters must be a positive number, got "
                             f"{p['n_clusters']!r}")
        gd = p["global_dim"]
        if not (gd is None or gd == "auto" or (isinstance(gd, int) and gd > 0 and gd % 32 == 0)):
            raise ValueError(f"lorann adapter: global_dim must be null, 'auto' or a positive "
                             f"multiple of 32, got {gd!r}")
        if p["quantization_bits"] not in (None, 4, 8):
            raise ValueError(f"lorann adapter: quantization_bits must be null, 4 or 8, got "
                             f"{p['quantization_bits']!r}")
        if p["quantization_bits"] is not None and p["rank"] not in RANKS:
            raise ValueError(f"lorann adapter: rank must be one of {RANKS} with quantization, "
                             f"got {p['rank']!r}")
        self.metric = metric
        self.n_clusters, self.global_dim, self.rank = p["n_clusters"], gd, int(p["rank"])
        self.train_size, self.bits = int(p["train_size"]), p["quantization_bits"]
        self.balanced = bool(p["balanced"])
        self.clusters_to_search, self.points_to_rerank = 8, 100
        self._name()

    def _name(self):
        self.name = (f"lorann(clusters={self.n_clusters}, global_dim={self.global_dim}, "
                     f"rank={self.rank}, search={self.clusters_to_search}, "
                     f"rerank={self.points_to_rerank})")

    def _prep(self, X):
        X = as_float_matrix(X)
        X = normalize_rows(X) if self.metric == "angular" else X
        if X.shape[1] < self.dim:
            out = np.zeros((X.shape[0], self.dim), dtype=np.float32)
            out[:, :X.shape[1]] = X
            X = out
        return X

    def fit(self, X):
        """Cluster and train the per-cluster models on every usable core. Angular data is
        unit-normalised (searched by L2); fewer than 64 dimensions are zero-padded to 64."""
        d = np.asarray(X).shape[-1]
        self.dim = max(d, MIN_DIM)
        X = self._prep(X)
        self.n = n = X.shape[0]
        clusters = (int(round(self.n_clusters * np.sqrt(n))) if isinstance(self.n_clusters, float)
                    else int(self.n_clusters))
        self.n_clusters = clusters = max(1, min(clusters, n // 10))
        gd = self.global_dim
        if gd == "auto":
            gd = None if d < 200 else 128 if d <= 1000 else 256
        if gd is not None and gd >= self.dim:
            gd = None
        self.global_dim = gd
        if self.bits is not None:  # the rank must stay below the dimension
            self.rank = max([r for r in RANKS if r < self.dim and r <= self.rank] or [RANKS[0]])
        self.data = X  # LoRANN keeps a reference for the re-rank (copy=False)
        self.index = lorann.LorannIndex(self.data, clusters, gd, self.bits, self.rank,
                                        self.train_size, lorann.L2, self.balanced, False)
        self.index.build(True, False, usable_cpus())
        self._name()

    def set_query_arguments(self, clusters_points):
        """Set the pair [clusters_to_search, points_to_rerank] (0: no re-rank)."""
        clusters, points = clusters_points
        self.clusters_to_search, self.points_to_rerank = int(clusters), int(points)
        if self.clusters_to_search < 1 or self.points_to_rerank < 0:
            raise ValueError(f"lorann adapter: clusters_to_search must be >= 1 and "
                             f"points_to_rerank >= 0, got {clusters_points!r}")
        self._name()

    def _clusters(self):
        """clusters_to_search, at most the clusters there are (LoRANN repeats ids beyond)."""
        return min(self.clusters_to_search, self.n_clusters)

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q (one thread)."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        if q.shape[0] < self.dim:
            q = np.concatenate([q, np.zeros(self.dim - q.shape[0], dtype=np.float32)])
        ids = self.index.search(q, min(n, self.n), self._clusters(), self.points_to_rerank,
                                False, 1)
        return ids[ids >= 0]

    def batch_query(self, X, n):
        """Answer every row of X (one thread); results go to self.res."""
        ids = self.index.search(self._prep(X), min(n, self.n), self._clusters(),
                                self.points_to_rerank, False, 1)
        self.res = [row[row >= 0] for row in ids]
