"""The BaseANN contract of ann-benchmarks, reimplemented for our own runner.

Adapters import it as ``from ..base.module import BaseANN``; inside an ann-benchmarks checkout the
same relative import resolves to the harness's own class, so adapter files work unchanged in both.
"""

import psutil


class BaseANN:
    """One benchmarked index: ``fit``, ``query``, optional batch mode and query arguments."""

    name = "BaseANN"

    def fit(self, X):
        """Build the index over the training rows X (n, d). Must not modify X."""
        raise NotImplementedError

    def query(self, q, n):
        """Return up to n train row ids (1-D, no duplicates) nearest to the vector q."""
        raise NotImplementedError

    def batch_query(self, X, n):
        """Answer every row of X; results are read back with get_batch_results (not timed)."""
        self.res = [self.query(q, n) for q in X]

    def get_batch_results(self):
        """The answers of the last batch_query, one id array per query."""
        return self.res

    def set_query_arguments(self, *args):
        """Change query-time parameters; the runner calls it once per query argument group."""

    def get_memory_usage(self):
        """Resident memory of this process in kB (the runner takes differences around fit)."""
        return psutil.Process().memory_info().rss / 1024

    def get_additional(self):
        """Extra attributes stored with each result, e.g. ``dist_comps``."""
        return {}

    def done(self):
        """Release resources when the definition has finished."""

    def __str__(self):
        return self.name
