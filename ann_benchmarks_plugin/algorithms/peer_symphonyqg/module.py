"""Adapter: SymphonyQG (rabitqlib.SymqgIndex), a graph whose walk scores a node's whole neighbour
list at once from RaBitQ codes (FastScan), re-ranked exactly. Needs ``pip install annann[peers]``
(package ``rabitqlib``, Python >= 3.11)."""

import numpy as np
import rabitqlib

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

PARAMS = {"degree": 32, "ef_construction": 400}
PAD = 64  # its rotation takes only dimensions that are multiples of 64


def padded(X, dim):
    """X (float32, rows) with zero columns appended up to dim: L2 distances are unchanged."""
    if X.shape[1] == dim:
        return np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros((X.shape[0], dim), dtype=np.float32)
    out[:, :X.shape[1]] = X
    return out


class SymphonyQG(BaseANN):
    """SymphonyQG graph of out-degree ``degree`` (a multiple of 32) built with beam
    ``ef_construction``; query argument ef (raised to k when below it: the library refuses
    ef < k)."""

    def __init__(self, metric, params=None):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"symphonyqg adapter: unsupported metric {metric!r}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"symphonyqg adapter: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMS)})")
        p = {**PARAMS, **params}
        self.degree, self.ef_construction = int(p["degree"]), int(p["ef_construction"])
        if self.degree < 32 or self.degree % 32:
            raise ValueError(f"symphonyqg adapter: degree must be a positive multiple of 32, "
                             f"got {self.degree}")
        self.metric = metric
        self.ef = 10
        self._name()

    def _name(self):
        self.name = (f"symphonyqg(degree={self.degree}, efC={self.ef_construction}, "
                     f"ef={self.ef})")

    def _prep(self, X):
        X = as_float_matrix(X)
        X = normalize_rows(X) if self.metric == "angular" else X
        return padded(X, self.dim)

    def fit(self, X):
        """Build the graph on every usable core; angular data is unit-normalised (searched by
        L2), the dimension zero-padded to a multiple of 64."""
        d = np.asarray(X).shape[-1]
        self.dim = -(-d // PAD) * PAD
        X = self._prep(X)
        self.n = X.shape[0]
        self.index = rabitqlib.SymqgIndex(self.dim, self.degree, "l2")
        self.index.build(X, self.ef_construction, usable_cpus())

    def set_query_arguments(self, ef):
        """Set ef, the search beam."""
        self.ef = int(ef)
        if self.ef < 1:
            raise ValueError(f"symphonyqg adapter: ef must be >= 1, got {ef!r}")
        self._name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q (one thread)."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        row = np.zeros((1, self.dim), dtype=np.float32)
        row[0, :q.shape[0]] = q
        k = min(n, self.n)
        return self._ids(self.index.search(row, k, max(self.ef, k), 1)[0])[0]

    def batch_query(self, X, n):
        """Answer every row of X (one thread); results go to self.res."""
        k = min(n, self.n)
        self.res = self._ids(self.index.search_batch(self._prep(X), k, max(self.ef, k), 1)[0])

    def _ids(self, rows):
        """uint32 ids -> int64, without any padding (2**32 - 1) of a short answer."""
        rows = rows.astype(np.int64)
        return [row[row < self.n] for row in rows]
