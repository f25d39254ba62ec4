"""Adapter: exact brute force (annann.bruteforce), the recall = 1 line on every plot."""

from annann.bruteforce import BruteForceIndex

from ..base.module import BaseANN


class BruteForce(BaseANN):
    """Exact search (annann.bruteforce.BruteForceIndex) behind the BaseANN contract."""

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
        """No distance computations are reported for brute force."""
        return {"dist_comps": 0}
