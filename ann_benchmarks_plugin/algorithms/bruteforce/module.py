"""Adapter: exact brute force (annann.bruteforce), the recall = 1 line on every plot."""

from annann.bruteforce import BruteForceIndex

from ..base.module import BaseANN


class BruteForce(BaseANN):
    def __init__(self, metric):
        self._index = BruteForceIndex(metric)
        self.name = "bruteforce()"

    def fit(self, X):
        self._index.fit(X)
        self._n = X.shape[0]

    def query(self, q, n):
        return self._index.search(q, n)[0]

    def batch_query(self, X, n):
        self.res = self._index.search_batch(X, n)[0]

    def get_additional(self):
        return {"dist_comps": 0}
