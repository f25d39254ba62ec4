"""Adapter: glass (pyglass, ``import glass``), an HNSW graph walked on scalar-quantised codes
with an exact re-rank. Needs ``pip install annann[peers]`` (package ``pyglass-portable``)."""

import glass
import numpy as np

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

# Quantizer names glass 2.1 accepts. Checked here first: given an unknown name, glass.Searcher
# prints "Quantizer type not supported" and ends the whole process with exit status 0.
QUANTIZERS = ("FP32", "BF16", "FP16", "E5M2", "SQ8", "SQ8U", "SQ4U", "SQ4UA", "SQ2U")
PARAMS = {"R": 32, "L": 200, "quant": "SQ8U", "refine": "FP32", "build_quant": "FP32"}


class Glass(BaseANN):
    """glass HNSW (degree R, build beam L); the walk scores ``quant`` codes, the candidates are
    re-ranked with ``refine`` ("FP32": exact; "": none); query argument ef."""

    def __init__(self, metric, params=None):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"glass adapter: unsupported metric {metric!r}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"glass adapter: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMS)})")
        p = {**PARAMS, **params}
        for key in ("quant", "refine", "build_quant"):
            if p[key] not in QUANTIZERS and not (key == "refine" and p[key] == ""):
                raise ValueError(f"glass adapter: {key} {p[key]!r} is not one of "
                                 f"{', '.join(QUANTIZERS)}")
        self.metric = metric
        self.R, self.L = int(p["R"]), int(p["L"])
        self.quant, self.refine, self.build_quant = p["quant"], p["refine"], p["build_quant"]
        self.ef = 10
        self._name()

    def _name(self):
        codes = self.quant + (f"+{self.refine}" if self.refine else "")
        self.name = f"glass(R={self.R}, L={self.L}, {codes}, ef={self.ef})"

    def _prep(self, X):
        X = as_float_matrix(X)
        return normalize_rows(X) if self.metric == "angular" else X

    def fit(self, X):
        """Build the graph (every usable core), train the quantizers, tune the prefetching;
        queries then run on one thread. Angular data is unit-normalised and searched by L2."""
        X = self._prep(X)
        self.n = X.shape[0]
        glass.set_num_threads(usable_cpus())
        graph = glass.Index("HNSW", "L2", self.build_quant, self.R, self.L).build(X)
        glass.set_num_threads(1)
        # the Searcher takes the graph over: a second Searcher on the same Graph finds nothing
        self.searcher = glass.Searcher(graph, X, "L2", self.quant, self.refine)
        self.searcher.optimize(1)
        self.searcher.set_ef(self.ef)

    def set_query_arguments(self, ef):
        """Set ef, the search beam."""
        self.ef = int(ef)
        if self.ef < 1:
            raise ValueError(f"glass adapter: ef must be >= 1, got {ef!r}")
        if hasattr(self, "searcher"):
            self.searcher.set_ef(self.ef)
        self._name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        ids = self.searcher.search(q, min(n, self.n))[0]  # k > n returns padding: clipped
        return ids[ids >= 0]

    def batch_query(self, X, n):
        """Answer every row of X (one thread); results go to self.res."""
        ids = self.searcher.batch_search(self._prep(X), min(n, self.n), 1)[0]
        self.res = [row[row >= 0] for row in ids]
