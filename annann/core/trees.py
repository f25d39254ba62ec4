"""A regression-tree ensemble evaluated inside numba kernels.

Learned early termination (``learned.termination``) predicts, per query, how far a search must go
from features the search has already computed; the model (gradient-boosted trees, trained with
scikit-learn in fit) is flattened into five arrays and evaluated here, so the query path never
calls scikit-learn or leaves the kernel: a few hundred comparisons per query.

Arrays, one row per tree, nodes in the row: ``feature`` (int32, -1 at a leaf), ``threshold``
(float32: go left when x[feature] <= threshold), ``left`` / ``right`` (int32 child nodes),
``value`` (float32, the leaf's contribution, learning rate included). The prediction is
``base + sum of the leaves reached``.

``StopModel`` is what an index carries: the ensemble, its base, how far a search goes before
predicting (clusters scanned, or the first beam of a graph walk), and per calibrated target
recall the shift added to the prediction.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit


def empty_trees():
    """The arrays of an ensemble with no tree (a model not fitted)."""
    return (np.full((0, 1), -1, np.int32), np.zeros((0, 1), np.float32),
            np.full((0, 1), -1, np.int32), np.full((0, 1), -1, np.int32),
            np.zeros((0, 1), np.float32))


def flatten_trees(trees, scale=1.0):
    """The arrays of a list of fitted scikit-learn regression trees (``tree_`` attributes), each
    leaf value times scale (the boosting learning rate)."""
    nodes = max(t.tree_.node_count for t in trees)
    T = len(trees)
    feature = np.full((T, nodes), -1, np.int32)
    threshold = np.zeros((T, nodes), np.float32)
    left = np.full((T, nodes), -1, np.int32)
    right = np.full((T, nodes), -1, np.int32)
    value = np.zeros((T, nodes), np.float32)
    for i, t in enumerate(trees):
        tr = t.tree_
        n = tr.node_count
        leaf = tr.children_left == -1
        feature[i, :n] = np.where(leaf, -1, tr.feature)
        threshold[i, :n] = tr.threshold
        left[i, :n] = tr.children_left
        right[i, :n] = tr.children_right
        value[i, :n] = tr.value.reshape(n, -1)[:, 0] * scale
    return feature, threshold, left, right, value


@njit(cache=True)
def predict_trees(x, feature, threshold, left, right, value, base):
    """base + the sum over trees of the leaf x reaches."""
    s = base
    for t in range(feature.shape[0]):
        node = 0
        while feature[t, node] >= 0:
            if x[feature[t, node]] <= threshold[t, node]:
                node = left[t, node]
            else:
                node = right[t, node]
        s += value[t, node]
    return s


@dataclass
class StopModel:
    """A fitted termination model: the trees' arrays, their base value, how far a search goes
    before predicting (``first``), and per calibrated target recall the shift added to the
    prediction (log2 units)."""

    first: int
    trees: tuple
    base: float
    targets: np.ndarray
    shifts: np.ndarray

    def shift(self, target_recall):
        """The shift of the smallest calibrated target at least target_recall."""
        if isinstance(target_recall, bool) or not isinstance(
                target_recall, (int, float, np.integer, np.floating)) \
                or not 0.0 < float(target_recall) <= 1.0:
            raise ValueError(f"target_recall: expected a number in (0, 1], got "
                             f"{target_recall!r}")
        i = int(np.searchsorted(self.targets, float(target_recall) - 1e-12))
        if i == len(self.targets):
            raise ValueError(f"target_recall={target_recall}: the model is calibrated up to "
                             f"{self.targets[-1]}")
        return float(self.shifts[i])

    def state(self):
        """(arrays, scalars) for the index format."""
        arrays = {f"tree.{name}": a for name, a in
                  zip(("feature", "threshold", "left", "right", "value"), self.trees)}
        arrays["targets"] = self.targets
        arrays["shifts"] = self.shifts
        return arrays, {"first": self.first, "base": self.base}

    @classmethod
    def from_state(cls, arrays, scalars):
        """The model ``state`` wrote (ValueError for arrays that do not fit together)."""
        trees = tuple(np.ascontiguousarray(arrays[f"tree.{name}"]) for name in
                      ("feature", "threshold", "left", "right", "value"))
        shapes = {a.shape for a in trees}
        if len(shapes) != 1 or trees[0].dtype != np.int32:
            raise ValueError("termination model: tree arrays disagree")
        return cls(int(scalars["first"]), trees, float(scalars["base"]),
                   np.asarray(arrays["targets"], np.float64),
                   np.asarray(arrays["shifts"], np.float64))
