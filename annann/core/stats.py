"""Search counters every index keeps, as faiss keeps ``indexIVF_stats``: cumulative since the
last reset, so a benchmark can ask for totals (the ann-benchmarks ``dist_comps`` attribute is a
total over all timed runs) and per-query means alike."""


class SearchCounters:
    """Queries answered, distance computations and stored vectors scanned since reset()."""

    FIELDS = ("queries", "dist_comps", "scanned")

    def __init__(self):
        self.reset()

    def reset(self):
        """Set every counter to 0."""
        for name in self.FIELDS:
            setattr(self, name, 0)

    def add(self, queries, dist_comps, scanned=0):
        """Count one search call that answered ``queries`` queries."""
        self.queries += int(queries)
        self.dist_comps += int(dist_comps)
        self.scanned += int(scanned)

    def mean(self, name):
        """Counter ``name`` per query answered (0.0 before any query)."""
        return getattr(self, name) / self.queries if self.queries else 0.0

    def report(self):
        """What a benchmark adapter reports: the ``dist_comps`` total and per-query means."""
        return {"dist_comps": self.dist_comps, "dist_comps_per_query": self.mean("dist_comps"),
                "scanned_per_query": self.mean("scanned")}
