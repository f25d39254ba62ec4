"""Adapter: annann-raw, the raw-space cluster index (IVF with HNSW over k-means centroids).

Build parameters (one dict): n_clusters (int = absolute, float = multiple of sqrt(n), resolved in
fit), r (candidate clusters per scanned cluster, default 10), M, efConstruction, seed,
kmeans_sample, quantizer ("rabitq": scan RaBitQ codes, read rows only where the estimate's bound
says so; "none": read every row; "auto", the default: codes from 64 dimensions up), storage
("memory" or "disk": rows in a memmap). Query arguments: C (clusters scanned), optionally r and
margin (the coded scan's error-bound multiplier).
"""

from annann.ivf.index import ClusterIndex, warm_up
from annann.core.validation import check_positive_int

from ..base.module import BaseANN


class AnnannRaw(BaseANN):
    """annann-raw (annann.ivf.index.ClusterIndex) behind the BaseANN contract."""

    def __init__(self, metric, params=None):
        params = dict(params or {})
        self.metric = metric
        self.n_clusters = params.pop("n_clusters", 1.0)
        self._index = ClusterIndex(
            metric, n_clusters=self.n_clusters, rerank=int(params.pop("r", 10)),
            M=int(params.pop("M", 16)), ef_construction=int(params.pop("efConstruction", 200)),
            kmeans_sample=params.pop("kmeans_sample", None), seed=int(params.pop("seed", 0)),
            quantizer=params.pop("quantizer", "auto"), storage=params.pop("storage", "memory"))
        if params:
            raise ValueError(f"annann-raw: unknown parameters {sorted(params)}")
        warm_up(metric)  # kernels compiled here, not inside the timed fit
        self.C = 10
        self.margin = None
        self._set_name()

    def _set_name(self):
        k = self._index.n_clusters_ or self.n_clusters
        extra = ", rows" if "none" in (self._index.quantizer, self._index.quantizer_) else ""
        extra += "" if self.margin is None else f", margin={self.margin}"
        self.name = f"annann-raw(n_clusters={k}, C={self.C}, r={self._index.rerank}{extra})"

    def fit(self, X):
        """Cluster X and build the index in the original space."""
        self._index.fit(X)
        self._set_name()

    def set_query_arguments(self, C, r=None, margin=None):
        """Set C (clusters scanned) and optionally r (candidate clusters per scanned one) and
        margin (coded scan); resets the counters."""
        self.C = check_positive_int(C, "C")
        if r is not None:
            self._index.rerank = check_positive_int(r, "r")
        self.margin = None if margin is None else float(margin)
        self._index._margin(self.margin)  # refused here, not at the first query
        self._index.counters.reset()
        self._set_name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self._index.search(q, n, C=self.C, margin=self.margin)
        return ids

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        ids, _ = self._index.search_batch(X, n, C=self.C, margin=self.margin)
        self.res = [row[row >= 0] for row in ids]

    def get_additional(self):
        """Since the last set_query_arguments: dist_comps (the harness's total over every query
        of every run: the centroid HNSW walk, the centroid re-rank and the scan), per-query means
        of distance computations and of vectors scanned, and the number of clusters."""
        return {**self._index.counters.report(), "n_clusters": int(self._index.n_clusters_ or 0)}
