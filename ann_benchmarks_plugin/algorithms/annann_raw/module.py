"""Adapter: annann-raw, the raw-space cluster index (IVF with HNSW over k-means centroids).

Build parameters (one dict): n_clusters (int = absolute, float = multiple of sqrt(n), resolved in
fit), r (candidate clusters per scanned cluster, default 10), M, efConstruction, seed,
kmeans_sample. Query arguments: C (clusters scanned) and optionally r.
"""

from annann.cluster_index import ClusterIndex
from annann.validation import check_positive_int

from ..base.module import BaseANN


class AnnannRaw(BaseANN):
    """annann-raw (annann.cluster_index.ClusterIndex) behind the BaseANN contract."""

    def __init__(self, metric, params=None):
        params = dict(params or {})
        self.metric = metric
        self.n_clusters = params.pop("n_clusters", 1.0)
        self._index = ClusterIndex(
            metric, n_clusters=self.n_clusters, rerank=int(params.pop("r", 10)),
            M=int(params.pop("M", 16)), ef_construction=int(params.pop("efConstruction", 200)),
            kmeans_sample=params.pop("kmeans_sample", None), seed=int(params.pop("seed", 0)))
        if params:
            raise ValueError(f"annann-raw: unknown parameters {sorted(params)}")
        self.C = 10
        self._reset_counters()
        self._set_name()

    def _reset_counters(self):
        self._queries = self._scanned = self._comps = 0

    def _set_name(self):
        k = self._index.n_clusters_ or self.n_clusters
        self.name = f"annann-raw(n_clusters={k}, C={self.C}, r={self._index.rerank})"

    def fit(self, X):
        """Cluster X and build the index in the original space."""
        self._index.fit(X)
        self._set_name()

    def set_query_arguments(self, C, r=None):
        """Set C (clusters scanned) and optionally r (candidate clusters per scanned one); resets
        the counters."""
        self.C = check_positive_int(C, "C")
        if r is not None:
            self._index.rerank = check_positive_int(r, "r")
        self._reset_counters()
        self._set_name()

    def _count(self, queries):
        stats = self._index.last_stats
        self._queries += queries
        self._scanned += stats["candidates"]
        self._comps += stats["dist_comps"]

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self._index.search(q, n, C=self.C)
        self._count(1)
        return ids

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        ids, _ = self._index.search_batch(X, n, C=self.C)
        self._count(ids.shape[0])
        self.res = [row[row >= 0] for row in ids]

    def get_additional(self):
        """dist_comps: total since set_query_arguments (scan + centroid re-rank; hnswlib's own
        comparisons inside the centroid graph are not exposed and not counted); candidates: mean
        vectors scanned per query."""
        return {"dist_comps": int(self._comps),
                "candidates": self._scanned / max(self._queries, 1),
                "n_clusters": int(self._index.n_clusters_ or 0)}
