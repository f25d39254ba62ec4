"""KNNGraphIndex: the public API of the LSH-initialised K-NN graph (seed 003).

fit: variable-length LSH tables (``lsh``) -> initial graph -> NN-descent (``nndescent``) -> search
graph (``search_graph``), stored in a locality order (``reorder``) -> with quantizer="rabitq"
(what the default "auto" picks for rows of at least ``core.rabitq.CODED_MIN_DIM`` dimensions),
each node's block of neighbour codes (``coded_search``). search: hash the query into
its LSH buckets for entry points, then walk the graph (``beam_search``): on codes (estimates pick
the nodes to expand, expanded nodes get exact distances) or, with quantizer="none", on full rows;
ids mapped back to the caller's. Angular data is unit-normalised first, so the Euclidean ranking
is the angular one; reported angular distances are 1 - cosine.
"""

import time

import numba
import numpy as np

from ..core.distances import check_metric, normalize_rows, to_metric
from ..core.graph_search import visited_set
from ..core.heaps import sorted_rows
from ..core.index_format import IndexFormatError, IndexWriter, read_index
from ..core.memory import release_free_memory
from ..core.stats import SearchCounters
from ..core.validation import (NotFittedError, as_float_matrix, as_query_vector, check_k,
                               check_positive_int)
from ..core.rabitq import QUERY_BITS, check_quantizer, resolve_quantizer
from ..core.rotation import Rotation
from ..core.trees import StopModel, empty_trees
from .beam_search import (lsh_beam_search, lsh_beam_search_many, lsh_coded_search,
                          lsh_coded_search_many)
from .coded_search import N_FEATURES, block_layout, encode_blocks
from .lsh import DIRECTIONS, LSHTables
from .nndescent import default_pool_size, nn_descent
from .quality import GraphRecallProbe, graph_recall
from .reorder import inverse, locality_labels, relabel_rows
from .search_graph import prepare_search_graph

EMPTY_TREES = empty_trees()
INITS = ("lsh", "random")


def _check_fraction(value, name, low, high, low_open=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: must be a number, got {value!r}")
    if not np.isfinite(value) or value > high or value < low or (low_open and value == low):
        side = "(" if low_open else "["
        raise ValueError(f"{name}: must be in {side}{low}, {high}], got {value}")
    return float(value)


class KNNGraphIndex:
    """Approximate K-NN graph built by NN-descent from an LSH (or random) start, searchable.

    Build parameters: n_neighbors (K of the graph), init ("lsh" | "random"), lsh_tables,
    bucket_size and lsh_directions ("data" | "gaussian", see ``lsh``: the variable-length LSH),
    rho (sampling rate), delta (stop when updates < delta*N*K), max_iters, pool_size (heap
    capacity during the build, >= K; KGraph's L - the K nearest of the pool form the graph;
    default ``nndescent.default_pool_size``), max_candidates (per-node new/old candidate lists; default
    rho*pool_size), early_abandon / triangle_bound / inner_product (distance pruning switches),
    max_degree and prune_alpha (search graph; alpha 1.05 keeps some longer edges, as Vamana's
    alpha does; max_degree defaults to 2K: a node's block holds that many neighbour codes; a cap
    of 32 cut the hub nodes' lists and the recall the walk reaches), quantizer ("rabitq": the walk
    reads each node's block of neighbour codes, see ``coded_search``; "none": full rows; "auto",
    the default: codes for rows of at least ``core.rabitq.CODED_MIN_DIM`` dimensions),
    entry_tables (LSH tables hashed per query), reorder
    (store the graph in the first LSH table's leaf order for memory locality; answers keep the
    caller's ids), n_jobs (build threads), seed.

    The pruning switches are off by default because none paid in
    results/knngraph/bench_100000_switches.md: each made the build slower (the triangle bound
    excluded too few pairs to pay for itself); each keeps the graph (checked in
    tests/graph/test_nndescent.py). Figures: docs/design-notes.md.
    """

    def __init__(self, metric="euclidean", n_neighbors=20, init="lsh", lsh_tables=8,
                 bucket_size=32, lsh_directions="data", rho=1.0, delta=0.001, max_iters=30, pool_size=None,
                 max_candidates=None, early_abandon=False, triangle_bound=False,
                 inner_product=False, max_degree=None, prune_alpha=1.05, entry_tables=1,
                 reorder=True, n_jobs=None, seed=0, progress=False, quantizer="auto"):
        self.metric = check_metric(metric)
        self.n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
        if init not in INITS:
            raise ValueError(f"init: must be one of {INITS}, got {init!r}")
        self.init = init
        self.lsh_tables = check_positive_int(lsh_tables, "lsh_tables")
        self.bucket_size = check_positive_int(bucket_size, "bucket_size", minimum=2)
        if lsh_directions not in DIRECTIONS:
            raise ValueError(f"lsh_directions: must be one of {DIRECTIONS}, got {lsh_directions!r}")
        self.lsh_directions = lsh_directions
        self.rho = _check_fraction(rho, "rho", 0.0, 1.0)
        self.delta = _check_fraction(delta, "delta", 0.0, 1.0, low_open=False)
        self.max_iters = check_positive_int(max_iters, "max_iters", minimum=0)
        self.pool_size = (default_pool_size(self.n_neighbors) if pool_size is None
                          else check_positive_int(pool_size, "pool_size"))
        if self.pool_size < self.n_neighbors:
            raise ValueError(f"pool_size={self.pool_size} must be >= n_neighbors={self.n_neighbors}")
        self.max_candidates = (None if max_candidates is None
                               else check_positive_int(max_candidates, "max_candidates"))
        self.early_abandon = bool(early_abandon)
        self.triangle_bound = bool(triangle_bound)
        self.inner_product = bool(inner_product)
        self.quantizer = check_quantizer(quantizer)
        self.quantizer_ = None  # "rabitq" or "none", resolved against the dimension by fit
        self.max_degree = (2 * self.n_neighbors if max_degree is None
                           else check_positive_int(max_degree, "max_degree"))
        self.prune_alpha = _check_fraction(prune_alpha, "prune_alpha", 0.0, 10.0)
        self.entry_tables = check_positive_int(entry_tables, "entry_tables")
        if init == "lsh" and self.entry_tables > self.lsh_tables:
            raise ValueError(f"entry_tables={self.entry_tables} exceeds lsh_tables={self.lsh_tables}")
        if not isinstance(reorder, (bool, np.bool_)):
            raise ValueError(f"reorder: must be True or False, got {reorder!r}")
        self.reorder = bool(reorder)
        self.n_jobs = None if n_jobs is None else check_positive_int(n_jobs, "n_jobs")
        self.seed = int(seed)
        self.progress = bool(progress)
        self.X = None
        self.last_stats = {}
        self.counters = SearchCounters()

    # ---------------------------------------------------------------- build
    def fit(self, X, callback=None):
        """Build the K-NN graph of X (n, d) and its search graph. callback: see nndescent.nn_descent."""
        X = as_float_matrix(X, name="X")
        n = X.shape[0]
        if self.n_neighbors >= n:
            raise ValueError(f"n_neighbors={self.n_neighbors} must be smaller than the number of "
                             f"points ({n})")
        if self.metric == "angular":
            X = normalize_rows(X)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.quantizer_ = resolve_quantizer(self.quantizer, self.X.shape[1])
        threads = numba.get_num_threads() if self.n_jobs is None else self.n_jobs
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            self._build(callback)
        finally:
            numba.set_num_threads(previous)
        release_free_memory()  # the build's freed scratch is not part of the index
        return self

    def _build(self, callback):
        t0 = time.perf_counter()
        n_tables = max(self.lsh_tables, self.entry_tables)  # the start's, and the search's entry
        self.tables = LSHTables(n_tables, self.bucket_size, self.seed,
                                self.lsh_directions).build(self.X)
        t_lsh = time.perf_counter() - t0
        pool = min(self.pool_size, self.X.shape[0] - 1)
        ids, sq, stats = nn_descent(
            self.X, pool, self.tables if self.init == "lsh" else None, rho=self.rho,
            delta=self.delta, max_iters=self.max_iters, max_candidates=self.max_candidates,
            abandon=self.early_abandon, triangle=self.triangle_bound,
            inner_product=self.inner_product, n_parts=numba.get_num_threads(), seed=self.seed,
            callback=callback, progress=self.progress)
        ids, sq = sorted_rows(ids, sq)
        self._ids = ids[:, :self.n_neighbors]
        self._sq = sq[:, :self.n_neighbors]
        t1 = time.perf_counter()
        self.neighbors, self.degrees = prepare_search_graph(self.X, self._ids, self._sq,
                                                            self.max_degree, self.prune_alpha)
        self._store_in_order()
        self._encode_blocks()
        t2 = time.perf_counter()
        self._init_search_state()
        self.last_stats = {"lsh_seconds": t_lsh, "graph_seconds": t1 - t0,
                           "prepare_seconds": t2 - t1, "build_seconds": t2 - t0,
                           "dist_evals": stats["dist_evals"], "iterations": stats["iterations"],
                           "history": stats["history"],
                           "mean_search_degree": float(self.degrees.mean())}

    def fit_graph(self, X, ids, sq_dists):
        """Make the index searchable over X with a K-NN graph built elsewhere (e.g. on Dask).

        X: the raw rows the graph was built on; ids (n, n_neighbors): neighbour ids, nearest
        first, no self; sq_dists: their squared distances (on unit-normalised rows for angular).
        Skips NN-descent; builds the entry LSH tables and the search graph as fit does.
        """
        X = as_float_matrix(X, name="X")
        ids = np.asarray(ids)
        sq_dists = np.asarray(sq_dists)
        n = X.shape[0]
        if ids.shape != (n, self.n_neighbors) or sq_dists.shape != ids.shape:
            raise ValueError(f"graph shapes {ids.shape} / {sq_dists.shape} do not match "
                             f"({n}, n_neighbors={self.n_neighbors})")
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"graph holds ids outside [0, {n})")
        if self.metric == "angular":
            X = normalize_rows(X)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.quantizer_ = resolve_quantizer(self.quantizer, self.X.shape[1])
        self.tables = LSHTables(max(self.lsh_tables, self.entry_tables), self.bucket_size, self.seed,
                                self.lsh_directions).build(self.X)
        self._ids = ids.astype(np.int32)
        self._sq = sq_dists.astype(np.float32)
        self.neighbors, self.degrees = prepare_search_graph(self.X, self._ids, self._sq,
                                                            self.max_degree, self.prune_alpha)
        self._store_in_order()
        self._encode_blocks()
        self._init_search_state()
        self.last_stats = {"mean_search_degree": float(self.degrees.mean())}
        return self

    @property
    def coded(self):
        """Whether the walk reads neighbour codes (quantizer "rabitq", or "auto" resolved to it
        by fit)."""
        return self.quantizer_ == "rabitq"

    def _encode_blocks(self):
        """Rotated rows and each node's block of neighbour codes (``coded_search``)."""
        if not self.coded:
            return
        self._rotation = Rotation(self.X.shape[1], seed=self.seed)
        layout = np.array(block_layout(self._rotation.padded, self.max_degree), dtype=np.int64)
        self._set_blocks(np.zeros((self.X.shape[0], int(layout[-1])), dtype=np.uint64))
        encode_blocks(self._rotation.rows(self.X), self.neighbors, self.degrees, self.max_degree,
                      *self._block_views)

    def _set_blocks(self, blocks):
        """Adopt the (n, words) block buffer and its float32 / int32 / uint64 views."""
        self._blocks = np.ascontiguousarray(blocks)
        layout = np.array(block_layout(self._rotation.padded, self.max_degree), dtype=np.int64)
        self._block_views = (self._blocks.view(np.float32), self._blocks.view(np.int32),
                             self._blocks, layout)

    def _store_in_order(self):
        """Move rows, graphs and LSH orders to the locality order (``reorder``); set labels, the
        caller's id of each stored node."""
        n = self.X.shape[0]
        if not self.reorder:
            self.labels = np.arange(n, dtype=np.int64)
            return
        labels = locality_labels(self.tables)
        new_id = inverse(labels)
        self.X = np.ascontiguousarray(self.X[labels])
        self.neighbors = relabel_rows(self.neighbors, labels, new_id)
        self.degrees = np.ascontiguousarray(self.degrees[labels])
        self._ids = relabel_rows(self._ids, labels, new_id)
        self._sq = np.ascontiguousarray(self._sq[labels])
        self.tables.relabel(new_id)
        self.labels = labels

    def _require_fit(self):
        if self.X is None:
            raise NotFittedError("KNNGraphIndex: call fit() (or load()) first")

    @property
    def size(self):
        """Number of indexed vectors (0 before fit)."""
        return 0 if self.X is None else int(self.X.shape[0])

    @property
    def neighbor_graph(self):
        """(ids int64 (n, K), distances float32 (n, K)) of the K-NN graph, nearest first, no self;
        row i and the ids are the caller's (whatever the storage order)."""
        self._require_fit()
        new_id = inverse(self.labels)
        return self.labels[self._ids[new_id]], to_metric(self._sq[new_id], self.metric)

    def graph_recall(self, n_sample=1000, seed=0):
        """Recall of the K-NN graph against the exact one on n_sample random nodes (None: all)."""
        self._require_fit()
        probe = GraphRecallProbe(self.X, self.n_neighbors, n_sample, "euclidean", seed)
        return graph_recall(self._ids[probe.nodes], probe.true_ids, self.n_neighbors)

    # ---------------------------------------------------------------- search
    def _search_args(self, k, beam, epsilon, entry_tables, margin):
        """Checked search arguments, kept per query setting (a benchmark asks the same one
        thousands of times): for the full-row walk (the LSH tables hashed for entry points, k,
        beam, scale, angular), for the coded walk the same with margin in place of scale."""
        key = (k, beam, epsilon, entry_tables, margin, type(k), type(beam), type(epsilon),
               type(entry_tables), type(margin))  # types too: True == 1 and 10.0 == 10 must fail
        try:
            return self._args_memo[key]
        except (KeyError, TypeError):  # TypeError: an unhashable argument, checked below
            pass
        args = self._checked_search_args(k, beam, epsilon, entry_tables, margin)
        if len(self._args_memo) < 64:
            self._args_memo[key] = args
        return args

    def _checked_search_args(self, k, beam, epsilon, entry_tables, margin):
        beam = max(k, 10) if beam is None else check_positive_int(beam, "beam")
        nt = self.entry_tables if entry_tables is None else check_positive_int(entry_tables,
                                                                               "entry_tables")
        if nt > self.tables.n_tables:
            raise ValueError(f"entry_tables={nt} exceeds the {self.tables.n_tables} LSH tables "
                             "of this index")
        t = self.tables
        lsh = (t.directions[:nt], t.left, t.thresholds, t.starts, t.ends, t.roots[:nt], t.orders)
        angular = self.metric == "angular"
        if self.coded:
            if epsilon is not None:
                raise ValueError("epsilon: the coded walk (quantizer='rabitq') stops by its beam "
                                 "alone; epsilon applies to quantizer='none'")
            margin = 0.0 if margin is None else _check_fraction(margin, "margin", 0.0, 100.0,
                                                                low_open=False)
            return lsh + (k, beam, np.float32(margin), angular)
        if margin is not None:
            raise ValueError("margin: applies to the coded walk (quantizer='rabitq') only")
        if epsilon is None:
            scale = np.float32(np.inf)
        else:
            scale = np.float32((1.0 + _check_fraction(epsilon, "epsilon", 0.0, 1e6,
                                                      low_open=False)) ** 2)
        return lsh + (k, beam, scale, angular)

    def _coded_arrays(self):
        return (*self._block_views, self.max_degree, self.labels, self._rotation.signs,
                self._rotation.block)

    # ---------------------------------------------------------------- learned termination
    def set_stop_model(self, model):
        """Attach a learned termination model (``core.trees.StopModel``, trained by
        ``learned.termination.fit_beam_model``; None removes it): search(..., target_recall=R)
        then walks first with the model's first beam and, where the model predicts this query
        needs more for recall R, again with a wider beam (at most the beam given)."""
        if model is not None and not self.coded:
            raise ValueError("learned termination needs the coded walk (quantizer='rabitq')")
        self._stop = model

    @property
    def stop_model(self):
        """The attached termination model, or None."""
        return getattr(self, "_stop", None)

    def _stop_args(self, target_recall):
        """(first_beam, trees, base, shift) for a target recall, or the switched-off ones."""
        if target_recall is None:
            return 1, EMPTY_TREES, np.float32(0.0), np.float32(0.0)
        if self.stop_model is None:
            raise ValueError("target_recall: this index has no learned termination model "
                             "(annann.learned.termination.fit_beam_model)")
        m = self.stop_model
        return m.first, m.trees, np.float32(m.base), np.float32(m.shift(target_recall))

    def search(self, q, k, beam=None, epsilon=None, entry_tables=None, margin=None,
               target_recall=None):
        """(ids int64 (k,), distances float32 (k,)) of q's approximate k nearest neighbours.

        beam: the pool of the best-first search (default max(k, 10); on full rows a beam below k
        stops the walk sooner while the k best distances seen are still kept apart; the coded
        walk uses max(beam, k)); entry_tables: LSH tables whose bucket of q gives the entry
        points (default: the index's entry_tables; at most its LSH tables). Full-row walk only:
        epsilon, stop expanding once the nearest unexpanded candidate is more than
        (1 + epsilon) times the k-th best distance away (None: expand the whole pool). Coded
        walk only: margin (default 0), a neighbour enters the beam when its estimated distance
        minus margin times the estimate's error bound beats the beam's worst; target_recall
        (needs a termination model, ``set_stop_model``): the beam this query walks with is
        predicted for that recall@k, beam is then the cap.
        """
        self._require_fit()
        q = as_query_vector(q, self.X.shape[1], finite=False)  # the kernel checks finiteness
        k = check_k(k, self.X.shape[0])
        args = self._search_args(k, beam, epsilon, entry_tables, margin)
        if self.coded:
            ids, dist, nd = lsh_coded_search(q, *self._coded_arrays(), *args,
                                             *self._stop_args(target_recall), -1,
                                             self._features[0], self._bits[0],
                                             self._touched[0], self._entry_buf[0],
                                             self._q_buf[0], self._q_rot[0], self._planes[0])
        else:
            if target_recall is not None:
                self._stop_args(target_recall)  # raises: no model on the full-row walk
            ids, dist, nd = lsh_beam_search(q, self.X, self.neighbors, self.degrees, self.labels,
                                            *args, self._bits[0], self._touched[0],
                                            self._entry_buf[0], self._q_buf[0])
        if nd < 0:
            as_query_vector(q, self.X.shape[1])  # raises, naming the problem
        self.last_stats = {"dist_comps": nd}
        self.counters.add(1, nd)
        return ids, dist

    def search_batch(self, Q, k, beam=None, epsilon=None, entry_tables=None, margin=None,
                     target_recall=None, exclude=None):
        """(ids (m, k), distances (m, k)) for each row of Q, padded with -1 / inf if short; the
        queries run in parallel on the threads numba may use (n_jobs caps them). exclude (m,):
        caller's ids that query r never answers (its own row, when the queries are rows of the
        index: training learned termination); the features of each query's first walk are left
        in ``last_features``."""
        self._require_fit()
        Q = as_float_matrix(Q, name="queries", dim=self.X.shape[1])
        k = check_k(k, self.X.shape[0])
        args = self._search_args(k, beam, epsilon, entry_tables, margin)
        threads = numba.get_num_threads() if self.n_jobs is None else self.n_jobs
        slots = max(1, min(threads, numba.config.NUMBA_NUM_THREADS, Q.shape[0]))
        self._grow_search_state(slots)
        previous = numba.get_num_threads()
        numba.set_num_threads(slots)
        scratch = (self._bits[:slots], self._touched[:slots], self._entry_buf[:slots],
                   self._q_buf[:slots])
        self.last_features = np.zeros((Q.shape[0], N_FEATURES), dtype=np.float32)
        try:
            if self.coded:
                excl = np.full(Q.shape[0], -1, np.int64)
                if exclude is not None:
                    exclude = np.asarray(exclude, dtype=np.int64)
                    if exclude.shape != (Q.shape[0],):
                        raise ValueError(f"exclude: expected {Q.shape[0]} ids, got shape "
                                         f"{exclude.shape}")
                    excl = inverse(self.labels)[exclude]  # storage order
                ids, dist, nd = lsh_coded_search_many(
                    Q, *self._coded_arrays(), *args, *self._stop_args(target_recall), excl,
                    self.last_features, *scratch, self._q_rot[:slots], self._planes[:slots])
            else:
                if target_recall is not None or exclude is not None:
                    raise ValueError("target_recall / exclude: need the coded walk "
                                     "(quantizer='rabitq')")
                ids, dist, nd = lsh_beam_search_many(Q, self.X, self.neighbors, self.degrees,
                                                     self.labels, *args, *scratch)
        finally:
            numba.set_num_threads(previous)
        self.last_stats = {"dist_comps": int(nd.sum())}
        self.counters.add(Q.shape[0], int(nd.sum()))
        return ids, dist

    def add(self, X, ids=None):
        """Refused: the K-NN graph is static (NN-descent builds every list from the whole set,
        and the coded blocks hold each node's neighbours' codes); fit again with the new rows,
        or use the cluster engine (``ClusterIndex``), which inserts and deletes."""
        raise NotImplementedError(
            "KNNGraphIndex is static: it cannot insert vectors after fit; fit() again on the "
            "whole set, or use ClusterIndex (annann-raw), which supports add/remove/update")

    def memory_bytes(self):
        """Bytes held by the index: rows (X), the K-NN lists, the search graph, the coded blocks
        (rotated rows, neighbour ids, codes and factors), the LSH tables, labels; and total."""
        self._require_fit()
        out = {"rows": int(self.X.nbytes),
               "knn_lists": int(self._ids.nbytes + self._sq.nbytes),
               "search_graph": int(self.neighbors.nbytes + self.degrees.nbytes),
               "blocks": int(self._blocks.nbytes) if self.coded else 0,
               "lsh": int(sum(a.nbytes for a in self.tables.state().values())),
               "labels": int(self.labels.nbytes)}
        out["total"] = sum(out.values())
        return out

    # ---------------------------------------------------------------- persistence
    _PARAMS = ("metric", "n_neighbors", "init", "lsh_tables", "bucket_size", "lsh_directions",
               "rho", "delta", "max_iters", "pool_size", "max_candidates", "early_abandon",
               "triangle_bound", "inner_product", "max_degree", "prune_alpha", "entry_tables",
               "reorder", "n_jobs", "seed", "quantizer")
    _ARRAYS = ("X", "_ids", "_sq", "neighbors", "degrees", "labels")

    def _init_search_state(self):
        """Per-thread scratch of the search: visited sets and LSH entry buffers (one slot)."""
        self._bits = self._touched = self._entry_buf = None
        self._args_memo = {}
        self._grow_search_state(1)

    def _grow_search_state(self, slots):
        if self._bits is not None and self._bits.shape[0] >= slots:
            return
        bits, touched = visited_set(self.X.shape[0])
        self._bits = np.zeros((slots, bits.shape[0]), dtype=np.uint8)
        self._touched = np.empty((slots, touched.shape[0]), dtype=np.int64)
        width = self.tables.n_tables * self.bucket_size
        self._entry_buf = np.empty((slots, width), dtype=np.int64)
        self._q_buf = np.empty((slots, self.X.shape[1]), dtype=np.float32)
        if self.coded:
            p = self._rotation.padded
            self._q_rot = np.empty((slots, p), dtype=np.float32)
            self._planes = np.empty((slots, QUERY_BITS, p // 64), dtype=np.uint64)
            self._features = np.zeros((slots, N_FEATURES), dtype=np.float32)

    def save(self, path):
        """Write the fitted index to the directory ``path`` atomically."""
        self._require_fit()
        params = {p: getattr(self, p) for p in self._PARAMS}
        params["quantizer"] = self.quantizer_  # concrete: what the blocks were written for
        with IndexWriter(path, "KNNGraphIndex", params,
                         {"n_tables": self.tables.n_tables}) as w:
            for a in self._ARRAYS:
                w.add_array(a.lstrip("_"), getattr(self, a))
            for name, arr in self.tables.state().items():
                w.add_array("lsh." + name, arr)
            if self.coded:
                w.add_array("blocks", self._blocks)
                w.add_array("rotation.signs", self._rotation.signs)
            if self.stop_model is not None:
                arrays, scalars = self.stop_model.state()
                for name, arr in arrays.items():
                    w.add_array("stop." + name, arr)
                w.state["stop"] = scalars

    @classmethod
    def load(cls, path):
        """Read an index written by save; IndexFormatError (a ValueError) for a foreign, old or
        corrupt directory."""
        stored = read_index(path, "KNNGraphIndex")
        params = dict(stored.params)
        params.setdefault("quantizer", "none")  # written before the codes: the full-row walk
        try:
            self = cls(**params)
        except (TypeError, ValueError) as exc:
            raise IndexFormatError(f"{path}: KNNGraphIndex parameters malformed ({exc})") from exc
        for a in cls._ARRAYS:
            if a == "labels" and a not in stored.manifest["arrays"]:
                continue  # written before the locality order: stored in the caller's order
            setattr(self, a, stored.array(a.lstrip("_")))
        n = self.X.shape[0]
        self.quantizer_ = resolve_quantizer(self.quantizer, self.X.shape[1])
        if "labels" not in stored.manifest["arrays"]:
            self.labels = np.arange(n, dtype=np.int64)
        if self._ids.shape != (n, self.n_neighbors) or self.neighbors.shape[0] != n or \
                self.degrees.shape != (n,) or self.labels.shape != (n,) or \
                (n and (self.labels.min() < 0 or self.labels.max() >= n)):
            raise IndexFormatError(f"{path}: KNNGraphIndex arrays have inconsistent shapes")
        self.tables = LSHTables.from_state(stored.arrays("lsh."), self.bucket_size, self.seed,
                                           self.lsh_directions, source=str(path))
        if self.coded:
            try:
                self._rotation = Rotation.from_state(self.X.shape[1], self.seed,
                                                     stored.arrays("rotation."))
            except (KeyError, ValueError) as exc:
                raise IndexFormatError(f"{path}: KNNGraphIndex rotation unreadable ({exc})") \
                    from exc
            layout = block_layout(self._rotation.padded, self.max_degree)
            self._set_blocks(stored.array("blocks", (n, layout[-1]), np.uint64))
            ids = self._block_views[1][:, layout[2]:layout[2] + self.max_degree]
            if n and (ids.max() >= n or ids.min() < -1):
                raise IndexFormatError(f"{path}: KNNGraphIndex code blocks hold ids outside "
                                       f"[0, {n})")
        if "stop" in stored.state:
            try:
                self._stop = StopModel.from_state(stored.arrays("stop."), stored.state["stop"])
            except (KeyError, ValueError) as exc:
                raise IndexFormatError(f"{path}: termination model unreadable ({exc})") from exc
        self._init_search_state()
        return self


WARM_UP_ROWS = 2048
_warm = set()


def warm_up(metric="euclidean", **params):
    """Fit a KNNGraphIndex with these build parameters on a small synthetic set and search it
    (single and batch), so that numba compiles every kernel fit and search run (or loads it from
    its cache) and starts its threads now, not inside a timed fit: ann-benchmarks counts fit's
    time and memory growth as the index's. Once per process and parameter set; returns the
    seconds it took (0.0 when already done)."""
    params = {k: v for k, v in params.items() if k not in ("n_jobs", "seed", "progress")}
    key = (check_metric(metric), repr(sorted(params.items())))
    if key in _warm:
        return 0.0
    from ..data.synthetic import gaussian_clusters

    t0 = time.perf_counter()
    quantizer = check_quantizer(params.pop("quantizer", "auto"))
    # "auto" picks by the data's dimension, unknown here: both walks are compiled
    for q in (("rabitq", "none") if quantizer == "auto" else (quantizer,)):
        index = KNNGraphIndex(metric, quantizer=q, **params)
        n = max(WARM_UP_ROWS, 8 * max(index.pool_size, index.bucket_size, index.max_degree))
        X = gaussian_clusters(n + 4, 16, seed=0)
        index.fit(X[:n])
        index.search(X[-1], 5)
        if not index.coded:
            index.search(X[-1], 5, epsilon=0.1)
        index.search_batch(X[-4:], 5)
    _warm.add(key)
    return time.perf_counter() - t0
