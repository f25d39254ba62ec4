"""Learned adaptive termination for the cluster engine (Li, Zhang, Andersen, He, SIGMOD 2020: the
idea, not their code): a per-query prediction of how many clusters a query needs.

With a fixed C every query scans C clusters, though most find their neighbours in the first few
and a few need many more; a fixed C is set by the hard ones. After the first ``first`` clusters'
codes (``ivf.scan.search_query_coded``) the kernel has cheap features of the query
(``ivf.scan.stop_features``: how fast the centroid distances grow, where the k-th smallest upper
bound of the estimates stands against them); gradient-boosted regression trees, trained here,
predict from them log2 of the number of clusters that hold all k true neighbours of the query,
and the kernel scans 2^(prediction + shift) clusters, between ``first`` and the C it is given.

Training uses the indexed rows only: a sample of them serves as queries, each one's own row
excluded from its answers and from its ground truth (exact, by BLAS over the rows); the labels
come from where each true neighbour's cluster ranks among the query's clusters. The shift of a
target recall R is calibrated on held-out training queries by the search itself: the smallest
shift whose measured recall@k on them reaches R. So target_recall names the recall the training
queries reach; test queries, drawn from the same distribution, come close (results/annann).

``LearnedStopIndex`` is the cluster engine with the model trained as part of fit (the time counts
as build time) and ``search(q, k, C, target_recall=R)``.
"""

import time

import numpy as np

from ..core.trees import StopModel, flatten_trees
from ..core.validation import as_float_matrix, check_positive_int
from ..data.groundtruth import exact_knn
from ..ivf.index import WARM_UP_ROWS, ClusterIndex, warm_once
from ..ivf.scan import N_FEATURES

TARGETS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)
FIRST = 4  # clusters scanned before the prediction


def _probe_model(first, leaf):
    """A model of one leaf: a search with it runs the adaptive path, writing the features, and
    goes as far as the leaf says (+64: the whole cap; -64: the first step only)."""
    trees = (np.full((1, 1), -1, np.int32), np.zeros((1, 1), np.float32),
             np.full((1, 1), -1, np.int32), np.full((1, 1), -1, np.int32),
             np.full((1, 1), leaf, np.float32))
    return StopModel(first, trees, 0.0, np.array([1.0]), np.array([0.0]))


def training_queries(X, ids, n_queries, k, metric, seed):
    """(rows picked, their queries, their ids, the exact k nearest other rows' ids): a sample of
    the indexed rows, each one's own row left out of its ground truth."""
    n = X.shape[0]
    if n <= k + 1:
        raise ValueError(f"learned termination: {n} rows are too few for k={k}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(n, size=min(n_queries, n), replace=False)
    nn, _ = exact_knn(X, X[pick], k + 1, metric)
    truth = np.empty((pick.shape[0], k), np.int64)
    for t in range(pick.shape[0]):
        truth[t] = ids[nn[t][nn[t] != pick[t]][:k]]
    return pick, X[pick], ids[pick], truth


def cluster_ranks(index, Q, truth):
    """(n_q, k) rank (1-based) of the cluster of each true neighbour among the query's non-empty
    clusters ordered by centroid distance: the clusters a query must scan to hold that
    neighbour."""
    labels = index.labels_of(truth.ravel()).reshape(truth.shape)
    V = index._internal(Q)
    C = index._centroids
    c2 = (C.astype(np.float64) ** 2).sum(1)
    empty = index.cluster_sizes() == 0
    ranks = np.empty(truth.shape, np.int64)
    for s in range(0, Q.shape[0], 256):  # (256, n_clusters) distances at a time
        Vb = V[s:s + 256].astype(np.float64)
        db = c2[None, :] - 2.0 * Vb @ C.T.astype(np.float64)
        db[:, empty] = np.inf
        own = np.take_along_axis(db, labels[s:s + 256], axis=1)
        ranks[s:s + 256] = (db[:, None, :] < own[:, :, None]).sum(-1) + 1
    return ranks


def recall_at(ranks, clusters):
    """Mean fraction of true neighbours whose cluster is among the first clusters[q]."""
    return float((ranks <= np.asarray(clusters)[:, None]).mean())


def recall_rows(found, truth):
    """Per query, the fraction of its true ids among the found ones."""
    return np.array([np.isin(t, f).mean() for f, t in zip(found, truth)])


CALIBRATION_SHARE = 0.3  # of the training queries: held out of the trees, for calibration


def fit_trees(features, y, seed):
    """Gradient-boosted regression trees (scikit-learn, in fit only) of y on the features;
    returns (the fitted model, its arrays, its base value)."""
    from sklearn.ensemble import GradientBoostingRegressor

    gbr = GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.1,
                                    subsample=0.8, random_state=seed)
    gbr.fit(features, y)
    trees = flatten_trees([e[0] for e in gbr.estimators_], gbr.learning_rate)
    base = float(np.ravel(gbr.init_.predict(features[:1]))[0])
    return gbr, trees, base


def calibrate(model, targets, held, grid, measured):
    """Each target's shift: the smallest on the grid whose cheap estimate held(shift) reaches
    it, checked by measured(shift) (searching the calibration queries) and raised in steps of
    0.25 until that reaches it too; a target the top of the grid does not reach gets the top.
    Shifts never fall as targets rise."""
    hi = float(grid[-1])
    ceiling = measured(hi)
    estimates = np.array([held(g) for g in grid])
    shifts = []
    for target in targets:
        reach = np.flatnonzero(estimates >= target)
        shift = float(grid[reach[0]]) if reach.size and ceiling >= target else hi
        while shift < hi and measured(shift) < target:
            shift = round(min(shift + 0.25, hi), 2)
        shifts.append(shift)
    model.shifts = np.maximum.accumulate(np.asarray(shifts, np.float64))


def memo(fn):
    """fn(shift) remembered per shift (a calibration search costs a pass over its queries)."""
    seen = {}

    def call(shift):
        if shift not in seen:
            seen[shift] = fn(shift)
        return seen[shift]

    return call


def train_model(features, y, first, targets, seed):
    """A StopModel (shifts at 0) whose trees fit y on a seeded share of the training queries;
    the rest (``CALIBRATION_SHARE``) are kept to calibrate it. Returns (model, their rows, the
    trees' predictions for them)."""
    order = np.random.default_rng(seed).permutation(features.shape[0])
    cut = int((1.0 - CALIBRATION_SHARE) * features.shape[0])
    fit_rows, cal_rows = order[:cut], order[cut:]
    gbr, trees, base = fit_trees(features[fit_rows], y[fit_rows], seed)
    model = StopModel(first, trees, base, np.asarray(targets, np.float64), np.zeros(len(targets)))
    return model, cal_rows, gbr.predict(features[cal_rows])


def fit_stop_model(index, X, ids=None, n_queries=2000, cap=None, first=FIRST, k=10,
                   targets=TARGETS, seed=0, margin=None):
    """Train and calibrate a StopModel for a fitted, coded ClusterIndex over rows X (with ids,
    default arange) and attach it to the index; returns it (with fit_seconds and cap).

    Labels: log2 of the clusters a training query must scan to hold all k true neighbours
    (where their clusters rank by centroid distance). cap: the most clusters a query may scan
    (default 4 sqrt(n_clusters), at least 64).
    """
    if not index.coded:
        raise ValueError("learned termination needs the coded scan (quantizer='rabitq')")
    X = as_float_matrix(X, name="X", dim=index.dim)
    ids = np.arange(X.shape[0], dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    first = check_positive_int(first, "first")
    n_queries = check_positive_int(n_queries, "n_queries", minimum=50)
    cap = int(cap) if cap is not None else max(64, int(4 * np.sqrt(index.n_clusters_)))
    cap = min(cap, index.n_clusters_)
    t0 = time.perf_counter()
    _, Q, qids, truth = training_queries(X, ids, n_queries, k, index.metric, seed)
    ranks = cluster_ranks(index, Q, truth)
    index.set_stop_model(_probe_model(first, 64.0))  # features from the kernel queries run
    index.search_batch(Q, k, C=cap, margin=margin, target_recall=1.0, exclude=qids)
    features = index.last_features.copy()
    y = np.log2(np.maximum(np.minimum(ranks.max(axis=1), 2 * cap), 1))
    model, cal_rows, pred = train_model(features, y, first, targets, seed)
    index.set_stop_model(model)
    Qc, qc, tc = Q[cal_rows], qids[cal_rows], truth[cal_rows]

    @memo
    def measured(shift):
        model.shifts[:] = shift
        found, _ = index.search_batch(Qc, k, C=cap, margin=margin, target_recall=targets[0],
                                      exclude=qc)
        return float(recall_rows(found, tc).mean())

    def held(shift):  # the neighbours whose clusters the predicted count holds
        return recall_at(ranks[cal_rows], np.clip(np.ceil(2.0 ** (pred + shift)), first, cap))

    calibrate(model, targets, held, np.round(np.arange(-4.0, np.log2(cap) + 1.0, 0.05), 2),
              measured)
    index.set_stop_model(model)
    model.fit_seconds = time.perf_counter() - t0
    model.cap = cap
    return model


BEAMS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
FIRST_BEAM = 16


def fit_beam_model(index, X, ids=None, n_queries=2000, cap=1024, first_beam=FIRST_BEAM, k=10,
                   targets=TARGETS, seed=0):
    """Train and calibrate a StopModel for a fitted, coded KNNGraphIndex over rows X (with ids,
    default arange) and attach it; returns it (with fit_seconds and cap).

    Labels: log2 of the smallest beam of BEAMS (up to cap) whose walk finds all k true
    neighbours of a training query; features: those of its first walk with beam first_beam."""
    if not index.coded:
        raise ValueError("learned termination needs the coded walk (quantizer='rabitq')")
    X = as_float_matrix(X, name="X", dim=index.X.shape[1])
    ids = np.arange(X.shape[0], dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    first_beam = check_positive_int(first_beam, "first_beam")
    cap = max(check_positive_int(cap, "cap"), first_beam)
    n_queries = check_positive_int(n_queries, "n_queries", minimum=50)
    t0 = time.perf_counter()
    _, Q, qids, truth = training_queries(X, ids, n_queries, k, index.metric, seed)
    index.set_stop_model(_probe_model(first_beam, -64.0))
    index.search_batch(Q, k, beam=cap, target_recall=1.0, exclude=qids)
    features = index.last_features.copy()
    index.set_stop_model(None)
    ladder = np.array([b for b in BEAMS if first_beam <= b <= cap] or [cap])
    table = np.stack([recall_rows(index.search_batch(Q, k, beam=int(b), exclude=qids)[0],
                                  truth) for b in ladder], axis=1)  # (queries, ladder)
    full = table >= 1.0
    need = np.where(full.any(axis=1), ladder[np.argmax(full, axis=1)], 2 * ladder[-1])
    y = np.log2(need)
    model, cal_rows, pred = train_model(features, y, first_beam, targets, seed)
    index.set_stop_model(model)
    Qc, qc, tc = Q[cal_rows], qids[cal_rows], truth[cal_rows]

    @memo
    def measured(shift):
        model.shifts[:] = shift
        found, _ = index.search_batch(Qc, k, beam=cap, target_recall=targets[0], exclude=qc)
        return float(recall_rows(found, tc).mean())

    def held(shift):  # a walk with the predicted beam, read off the ladder's recalls
        beams = np.clip(np.ceil(2.0 ** (pred + shift)), first_beam, cap)
        at = np.minimum(np.searchsorted(ladder, beams), len(ladder) - 1)
        return float(table[cal_rows, at].mean())

    calibrate(model, targets, held, np.round(np.arange(-4.0, np.log2(cap) + 1.0, 0.05), 2),
              measured)
    index.set_stop_model(model)
    model.fit_seconds = time.perf_counter() - t0
    model.cap = cap
    return model


class LearnedStopIndex(ClusterIndex):
    """The cluster engine (``ClusterIndex``, coded scan) with learned adaptive termination,
    trained in fit on the indexed rows. search(q, k, C, target_recall=R): C is the cap, R the
    recall@k the model was calibrated to reach on training queries (one of TARGETS or below);
    without target_recall it searches as ClusterIndex does. stop_queries: training queries
    sampled from the rows; stop_cap: the most clusters a query may scan (also the default
    C)."""

    def __init__(self, metric="euclidean", n_clusters=1024, stop_queries=2000, stop_cap=None,
                 stop_first=FIRST, **engine):
        engine.setdefault("rerank", 1)  # in the raw space the centroid HNSW ranks as the scan
        if engine.setdefault("quantizer", "rabitq") != "rabitq":  # "auto" would not code < 64-d
            raise ValueError("LearnedStopIndex: learned termination needs quantizer='rabitq'")
        super().__init__(metric, n_clusters, **engine)
        self.stop_queries = check_positive_int(stop_queries, "stop_queries", minimum=50)
        self.stop_cap = None if stop_cap is None else check_positive_int(stop_cap, "stop_cap")
        self.stop_first = check_positive_int(stop_first, "stop_first")

    def fit(self, X, ids=None, **kwargs):
        """ClusterIndex.fit, then train and calibrate the termination model on X's rows."""
        super().fit(X, ids=ids, **kwargs)
        model = fit_stop_model(self, X, ids=ids, n_queries=self.stop_queries, cap=self.stop_cap,
                               first=self.stop_first, seed=self.seed)
        self.stop_cap = model.cap
        return self

    def search(self, q, k, C=None, margin=None, target_recall=None):
        """As ClusterIndex.search; C defaults to the model's cap."""
        return super().search(q, k, C=self.stop_cap if C is None else C, margin=margin,
                              target_recall=target_recall)

    def search_batch(self, Q, k, C=None, margin=None, target_recall=None, exclude=None):
        """As ClusterIndex.search_batch; C defaults to the model's cap."""
        return super().search_batch(Q, k, C=self.stop_cap if C is None else C, margin=margin,
                                    target_recall=target_recall, exclude=exclude)


__all__ = ["StopModel", "fit_stop_model", "fit_beam_model", "LearnedStopIndex", "TARGETS",
           "N_FEATURES"]


_warm = set()


def warm_up(metric="euclidean"):
    """Fit a small LearnedStopIndex on synthetic rows and search it with a target recall, so that
    numba compiles the adaptive kernels (or loads them) now, not inside a timed fit; once per
    process and metric (``ivf.index.warm_once``). Returns the seconds it took (0.0 when already
    done)."""

    def run(X, metric):
        index = LearnedStopIndex(metric, n_clusters=32, stop_queries=200).fit(X[:WARM_UP_ROWS])
        index.search(X[-1], 5, target_recall=0.9)
        index.search_batch(X[-4:], 5, target_recall=0.9)

    return warm_once(_warm, metric, run)
