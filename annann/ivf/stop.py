"""The learned termination model the cluster engine carries (``learned.termination`` trains it):
regression trees over per-query features (``ivf.scan.stop_features``), evaluated in the scan
kernel (``core.trees``), and per target recall the shift added to their prediction."""

from dataclasses import dataclass

import numpy as np


@dataclass
class StopModel:
    """A fitted termination model: the trees' arrays (``core.trees``), their base value, the
    clusters scanned before predicting, and per calibrated target recall the shift added to the
    prediction."""

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
        trees = tuple(np.ascontiguousarray(arrays[f"tree.{name}"]) for name in
                      ("feature", "threshold", "left", "right", "value"))
        shapes = {a.shape for a in trees}
        if len(shapes) != 1 or trees[0].dtype != np.int32:
            raise ValueError("termination model: tree arrays disagree")
        return cls(int(scalars["first"]), trees, float(scalars["base"]),
                   np.asarray(arrays["targets"], np.float64),
                   np.asarray(arrays["shifts"], np.float64))
