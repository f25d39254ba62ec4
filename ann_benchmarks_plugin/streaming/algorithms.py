"""Algorithms under a streaming workload: ``insert(X, ids)``, ``delete(ids)``, ``query(q, k)``.

Dynamic ones update their index in place; ``Rebuild`` wraps any of them into the static upper
bound that rebuilds from scratch over the active set before each search step.
"""

import numpy as np

from annann.learned.index import AnnannIndex
from annann.learned.neural_lsh import NeuralLshIndex
from annann.ivf.index import ClusterIndex

SPACES = {"raw": ("annann-raw", ClusterIndex, "n_clusters"),
          "autoencoder": ("annann", AnnannIndex, "n_clusters"),
          "graph-partition": ("annann-nlsh", NeuralLshIndex, "n_parts")}


class StreamAlgorithm:
    """Interface of an algorithm under a streaming workload."""

    name = "stream"

    def insert(self, X, ids):
        """Add the rows X under the external ids."""
        raise NotImplementedError

    def delete(self, ids):
        """Remove the vectors with these ids."""
        raise NotImplementedError

    def prepare_search(self):
        """Called before each search step (the static variants rebuild here)."""

    def query(self, q, k):
        """Ids of the k approximate nearest active vectors to q."""
        raise NotImplementedError


class HnswlibStream(StreamAlgorithm):
    """hnswlib with ``mark_deleted``: the reference for in-place updates."""

    def __init__(self, metric, dim, max_elements, M=16, ef_construction=200, ef=100, seed=0):
        import hnswlib

        self.index = hnswlib.Index(space={"euclidean": "l2", "angular": "cosine"}[metric], dim=dim)
        self.index.init_index(max_elements=max_elements, M=M, ef_construction=ef_construction,
                              random_seed=seed, allow_replace_deleted=True)
        self.index.set_ef(ef)
        self.name = "hnswlib"

    def insert(self, X, ids):
        """Add X under ids, reusing the slots of deleted elements."""
        self.index.add_items(X, ids, replace_deleted=True)

    def delete(self, ids):
        """Mark the ids deleted (hnswlib never removes them from the graph)."""
        for i in ids.tolist():  # hnswlib marks deletions one id per call
            self.index.mark_deleted(i)

    def prepare_search(self):
        """Search on one thread, as every timed query does."""
        self.index.set_num_threads(1)

    def query(self, q, k):
        """Ids of the k approximate nearest active vectors to q."""
        return self.index.knn_query(q[None, :], k=k)[0][0]


class ClusterStream(StreamAlgorithm):
    """Our cluster engine updated in place, in the raw space, ANNANN's autoencoder space or the
    Neural LSH graph partition (``space``, a key of SPACES).

    The index is fitted on the first inserted batch; later batches are assigned to existing
    clusters (by the router, for Neural LSH), deletions remove vectors: the structure is never
    rebuilt.
    """

    def __init__(self, metric, space="raw", n_clusters=1024, C=10, seed=0, **kwargs):
        if space not in SPACES:
            raise ValueError(f"space: expected one of {sorted(SPACES)}, got {space!r}")
        self.metric, self.space, self.n_clusters, self.C = metric, space, n_clusters, C
        self.seed, self.kwargs = seed, kwargs
        self.index = None
        self.name = SPACES[space][0]

    def _new_index(self):
        _, cls, size_arg = SPACES[self.space]
        return cls(metric=self.metric, seed=self.seed, **{size_arg: self.n_clusters},
                   **self.kwargs)

    def insert(self, X, ids):
        """Fit the index on the first batch, add later batches to it."""
        if self.index is None:
            self.index = self._new_index()
            self.index.fit(X, ids=ids)
        else:
            self.index.add(X, ids)

    def delete(self, ids):
        """Remove the ids from their clusters."""
        self.index.remove(ids)

    def query(self, q, k):
        """Ids of the k nearest among the C scanned clusters."""
        return self.index.search(q, k, C=self.C)[0]


class Rebuild(StreamAlgorithm):
    """Static upper bound: rebuild ``make()`` from scratch over the active set at each search.

    Ids are rows of ``train``, so the active set is a boolean mask over it.
    """

    def __init__(self, make, train, label):
        self.make, self.train = make, train
        self.active = np.zeros(train.shape[0], dtype=bool)
        self.inner = None
        self.dirty = True
        self.name = label

    def insert(self, X, ids):
        """Mark the ids active; the index is rebuilt before the next search."""
        self.active[ids] = True
        self.dirty = True

    def delete(self, ids):
        """Mark the ids inactive; the index is rebuilt before the next search."""
        self.active[ids] = False
        self.dirty = True

    def prepare_search(self):
        """Rebuild the inner algorithm over the active set if it changed."""
        if self.dirty:
            ids = np.flatnonzero(self.active)
            self.inner = self.make()
            self.inner.insert(self.train[ids], ids)
            self.inner.prepare_search()
            self.dirty = False

    def query(self, q, k):
        """Ids of the k approximate nearest active vectors to q (inner index)."""
        return self.inner.query(q, k)
