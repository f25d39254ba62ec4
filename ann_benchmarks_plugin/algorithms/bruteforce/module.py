"""Adapter: exact brute force (annann.data.groundtruth), the recall = 1 line on every plot."""

from annann.data.groundtruth import BruteForceIndex

from ..base.module import BaseANN


class BruteForce(BaseANN):
    """Exact search (annann.data.groundtruth.BruteForceIndex) behind the BaseANN contract."""

    def __init__(self, metric):
        self._index = BruteForceIndex(metric)
        self.name = "bruteforce()"

    def fit(self, X):
        """Keep X for exact search."""
        self._index.fit(X)
        self._n = X.shape[0]

    def query(self, q, n):
        """Ids of the exact n nearest neighbours of q."""
        return self._index.search(q, n)[0]

    def batch_query(self, X, n):
        """Exact answers for every row of X; results go to self.res."""
        self.res = self._index.search_batch(X, n)[0]

    def get_additional(self):
        """dist_comps (the harness's total: every stored vector for every query of every run)
        and its per-query mean, as the other adapters report them."""
        return self._index.counters.report()
