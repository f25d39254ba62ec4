"""Adapter: the LSH-initialised NN-descent K-NN graph (annann.graph) and its random-init twin."""

from annann.graph.index import KNNGraphIndex, warm_up
from annann.learned.termination import fit_beam_model

from ..base.module import BaseANN

_BUILD_KEYS = ("n_neighbors", "lsh_tables", "bucket_size", "rho", "delta", "max_iters",
               "pool_size", "max_candidates", "early_abandon", "triangle_bound", "inner_product",
               "max_degree", "prune_alpha", "entry_tables", "n_jobs", "seed", "quantizer")
_STOP_KEYS = ("learned_stop", "stop_queries")


class KnnGraphLSH(BaseANN):
    """knngraph-lsh: params is one dict of KNNGraphIndex build arguments (quantizer "rabitq"
    walks on neighbour codes, "none" on full rows, "auto", the default, codes from 64
    dimensions up); query arguments: beam, then
    optionally epsilon (full-row walk only; None: expand the whole beam), entry_tables (LSH
    tables hashed for entry points), margin (coded walk only) and target_recall (with the
    build parameter learned_stop: true, learned termination predicts each query's beam for that
    recall, the beam argument being the cap; ``annann.learned.termination.fit_beam_model``,
    trained inside fit)."""

    init = "lsh"
    label = "knngraph-lsh"

    def __init__(self, metric, params=None):
        params = dict(params or {})
        self.learned_stop = bool(params.pop("learned_stop", False))
        if self.learned_stop:  # the beam model needs the coded walk, which "auto" skips below 64-d
            params.setdefault("quantizer", "rabitq")
        self.stop_queries = int(params.pop("stop_queries", 2000))
        unknown = sorted(set(params) - set(_BUILD_KEYS))
        if unknown:
            raise ValueError(f"{self.label}: unknown build parameters {unknown}")
        self.metric = metric
        self.params = params
        self.index = KNNGraphIndex(metric=metric, init=self.init, **params)
        warm_up(metric, init=self.init, **params)  # kernels compiled here, not inside the timed fit
        self.beam, self.epsilon, self.entry_tables, self.margin = 10, None, None, None
        self.target_recall = None
        self._set_name()

    def _set_name(self):
        p = self.index
        lsh = f", T={p.lsh_tables}, b={p.bucket_size}" if self.init == "lsh" else ""
        search = "".join(f", {k}={v}" for k, v in (("eps", self.epsilon),
                                                   ("entry", self.entry_tables),
                                                   ("margin", self.margin),
                                                   ("target", self.target_recall))
                         if v is not None)
        rows = ", rows" if "none" in (p.quantizer, p.quantizer_) else ""
        self.name = (f"{self.label}(K={p.n_neighbors}{lsh}, R={p.max_degree}{rows}, "
                     f"beam={self.beam}{search})")

    def fit(self, X):
        """Build the K-NN graph and its search graph over X (and, with learned_stop, train the
        termination model on X's rows: part of the build)."""
        self.index.fit(X)
        if self.learned_stop:
            fit_beam_model(self.index, X, n_queries=self.stop_queries, seed=self.index.seed)

    def set_query_arguments(self, beam, epsilon=None, entry_tables=None, margin=None,
                            target_recall=None):
        """Set the search beam width, the epsilon stopping rule, the entry tables, the coded
        walk's margin and the target recall of learned termination (checked by the index at the
        first query); resets the counters."""
        self.beam = int(beam)
        self.epsilon = None if epsilon is None else float(epsilon)
        self.entry_tables = None if entry_tables is None else int(entry_tables)
        self.margin = None if margin is None else float(margin)
        self.target_recall = None if target_recall is None else float(target_recall)
        self.index.counters.reset()
        self._set_name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self.index.search(q, n, beam=self.beam, epsilon=self.epsilon,
                                   entry_tables=self.entry_tables, margin=self.margin,
                                   target_recall=self.target_recall)
        return ids

    def batch_query(self, X, n):
        """Answer every row of X at once, in parallel on every core; results go to self.res."""
        ids, _ = self.index.search_batch(X, n, beam=self.beam, epsilon=self.epsilon,
                                         entry_tables=self.entry_tables, margin=self.margin,
                                         target_recall=self.target_recall)
        self.res = [row[row >= 0] for row in ids]

    def get_additional(self):
        """Since the last set_query_arguments: dist_comps (the harness's total over every query
        of every run: full distances, which the coded walk computes once per expanded node) and
        per-query means (scanned_per_query is 0: a graph scans no list)."""
        return self.index.counters.report()


class KnnGraphRandom(KnnGraphLSH):
    """knngraph-random: the same NN-descent from a random initial graph (the KGraph baseline)."""

    init = "random"
    label = "knngraph-random"
