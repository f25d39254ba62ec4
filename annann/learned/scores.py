"""Learned scores on the cluster engine (LoRANN: Jääsaari, Hyvönen, Roos, NeurIPS 2024; the idea,
not their code): keep the k-means clusters, learn in each cluster a low-rank model of a query's
inner products with the cluster's rows, scan with the model, re-rank a few candidates exactly.

Why learning the scores can beat a generic quantiser: a cluster is only ever searched by queries
that route to it, and those queries vary along few directions. A reduced-rank regression fitted
on such queries puts its rank where they vary, so rank 32 (32 int8 per row) ranks the members
about as well as codes of the full dimension do, for fewer bytes on wide rows.

The model of cluster c, with members x_j, code centre m_c (its centroid when the model was fitted,
fixed afterwards, as the RaBitQ code centres are) and training queries q_i (a sample of the
indexed rows whose ``train_size`` nearest centres include c; no test queries):

* inputs  u_i = P^T (q_i - m_c), in a global reduced space (P: the top ``global_dim`` principal
  directions of the rows; no reduction below 200 dimensions, LoRANN's advice);
* targets y_ij = (q_i - m_c) . (x_j - m_c);
* least squares W (reduced dim x members) of y on u, ridge-shrunk towards P^T (x_j - m_c) (exact
  when there is no reduction), then the reduced-rank step: the top ``rank`` right singular vectors
  V of U W (computed through the Cholesky factor of U^T U, a small matrix) give
  A_c = W V^T (reduced dim x rank) and the members' columns b_j = V[:, j];
* each rank component scaled to int8 (the scale folded into A_c).

The scan (``learned.score_scan``) estimates |q - x_j|^2 as |q - m_c|^2 + |x_j - m_c|^2
- 2 (u A_c) . b_j and re-ranks the ``candidates`` smallest estimates from the rows.

A row inserted after fit is scored by its cluster's model: its column is the least-squares fit,
weighted by the cluster's training queries, of its reduced residual through A_c (the stored map
K_c = (A^T G A)^+ A^T G, G = U^T U + ridge); rows removed leave with their columns. Everything
else (clusters, routing, storage, inserts, deletes, disk rows) is the cluster engine's
(``ivf.index.ClusterIndex``, exact rows, no RaBitQ codes).
"""

import time

import numpy as np
from tqdm.auto import tqdm

from ..core.distances import normalize_rows, to_metric
from ..core.index_format import IndexFormatError, IndexWriter, read_index
from ..core.packed_int8 import pack_quads
from ..core.validation import as_float_matrix, as_query_vector, check_k, check_positive_int
from ..ivf.centroid_graph import CentroidGraph
from ..ivf.index import WARM_UP_ROWS, ClusterIndex, warm_once
from ..ivf.kmeans import nearest_centers
from .score_scan import (project_query, reduce_query, score_members, search_one_scored,
                         search_queries_scored)

RANK = 32
RANK_STEP = 32
ROUTES = ("auto", "hnsw", "exact")
# route "auto": rank every centre when that costs at most this many multiply-adds (k x reduced
# dim: contiguous and vectorised, it beat the centroid HNSW walk on Fashion-MNIST's 245 x 128,
# docs/design-notes.md), else walk the HNSW (1M SIFT's 1,000 x 128)
EXACT_ROUTE_WORK = 65536
TRAIN_SIZE = 5
TRAIN_QUERIES = 200_000
RIDGE = 1e-3  # relative to the mean eigenvalue of U^T U: shrinks towards the geometric model
AUTO_REDUCE_FROM = 200  # LoRANN's advice: no global reduction below 200 dimensions ...
AUTO_DIMS = ((1000, 128), (None, 256))  # ... 128 up to 1000 dimensions, 256 above
SAMPLE_PCA = 100_000
INT8 = 127.0
MARGIN = 2.0  # error scales subtracted from an estimate: the lower bound the re-rank stops on


def to_int8(B):
    """B rounded to int8, clipped to [-127, 127] (symmetric: no -128)."""
    return np.clip(np.rint(B), -INT8, INT8).astype(np.int8)


def resolve_global_dim(global_dim, d):
    """The reduced dimension for rows of d dimensions: "auto" (see AUTO_DIMS), None (no
    reduction) or an int in [1, d] (d: no reduction). None means none."""
    if global_dim == "auto":
        if d < AUTO_REDUCE_FROM:
            return None
        global_dim = next(g for top, g in AUTO_DIMS if top is None or d <= top)
    elif global_dim is None:
        return None
    else:
        check_positive_int(global_dim, "global_dim")
    return None if global_dim >= d else int(global_dim)


def check_global_dim(global_dim):
    """The global_dim argument checked: "auto", None or a positive int."""
    if global_dim is None or global_dim == "auto":
        return global_dim
    return check_positive_int(global_dim, "global_dim")


def principal_directions(X, dims, seed, sample=SAMPLE_PCA):
    """(d, dims) float32: the top principal directions of (a seeded sample of) the rows."""
    rng = np.random.default_rng(seed)
    S = X if X.shape[0] <= sample else X[np.sort(rng.choice(X.shape[0], sample, replace=False))]
    S = np.asarray(S, dtype=np.float64)
    S = S - S.mean(axis=0)
    values, vectors = np.linalg.eigh(S.T @ S)
    return np.ascontiguousarray(vectors[:, ::-1][:, :dims], dtype=np.float32)


def fit_cluster_model(U, Qres, R, P, rank, ridge=RIDGE):
    """The model of one cluster: (A int8 (d' x rank), a_scale (rank,), B int8 (rank x members),
    K (rank x d'), W (d' x members)): A ~ A8 * a_scale per component, B in the units K maps a new
    member's reduced residual to, W the members' least-squares representations (the columns the
    rank-reduced A B approximates).

    U (m, d'): reduced training residuals; Qres (m, d): their full residuals; R (n, d): the
    members' residuals; P (d, d') or None. See the module docstring."""
    dr = U.shape[1]
    n = R.shape[0]
    G = U.T @ U
    lam = ridge * max(np.trace(G) / dr, 1e-12) + 1e-12
    Gw = G + lam * np.eye(dr)
    if P is None:
        W = R.T.copy()  # exact least squares: y = u . r with u the full residual
    else:
        W = np.linalg.solve(Gw, (Qres.T @ U).T @ R.T + lam * (P.T @ R.T))
    L = np.linalg.cholesky(Gw)
    _, _, Vt = np.linalg.svd(L.T @ W, full_matrices=False)
    V = np.zeros((rank, n))
    take = min(rank, Vt.shape[0])
    V[:take] = Vt[:take]
    A = W @ V.T
    scale = np.abs(V).max(axis=1) / INT8
    scale[scale == 0] = 1.0
    A = A * scale
    B8 = to_int8(V / scale[:, None])
    a_scale = np.abs(A).max(axis=0) / INT8
    a_scale[a_scale == 0] = 1.0
    A8 = to_int8(A / a_scale)
    Aq = A8 * a_scale
    AG = Aq.T @ Gw
    K = np.linalg.pinv(AG @ Aq) @ AG
    return A8, a_scale, B8, K, W


def unexplained(miss, R, U_rows):
    """Per row, the norm of what its cluster's model leaves out of its residual: the part of its
    reduced representation the rank-reduced model misses (miss, (n, d')), and (with a global
    reduction) the part of the residual R outside the reduced space (U_rows: the residuals
    reduced, or None). An estimate's error is the query's inner product with that left-out
    vector, about |q - m_c| times this norm over the square root of the dimension for a
    direction it does not favour. Fitted rows and rows inserted later both go through here."""
    err2 = (miss * miss).sum(axis=1)
    if U_rows is not None:
        err2 += np.maximum((R * R).sum(axis=1) - (U_rows * U_rows).sum(axis=1), 0.0)
    return np.sqrt(err2)


class LearnedScoreIndex(ClusterIndex):
    """The cluster engine scanning learned per-cluster scores (see the module docstring).

    rank: int8 components per row (the model's rank); global_dim: "auto", None or an int;
    train_size: each training query trains the models of its train_size nearest clusters;
    train_queries: at most this many indexed rows serve as training queries; ridge: the
    shrinkage towards the geometric model; route: "auto" (every centre ranked when that costs at
    most EXACT_ROUTE_WORK multiply-adds, else the centroid HNSW), "hnsw" or "exact". The other
    keywords are ClusterIndex's. search(q, k, C, candidates, margin): C clusters scored,
    ``candidates`` rows re-ranked exactly (default 10 k). ``train_seconds``: the models'
    training time inside the last fit."""

    def __init__(self, metric="euclidean", n_clusters=1.0, rank=RANK, global_dim="auto",
                 train_size=TRAIN_SIZE, train_queries=TRAIN_QUERIES, ridge=RIDGE, route="auto",
                 **engine):
        engine.setdefault("rerank", 1)  # in the raw space the centroid HNSW ranks as the scan
        if route not in ROUTES:
            raise ValueError(f"route: expected one of {ROUTES}, got {route!r}")
        self.route_choice = route
        engine["route"] = "exact" if route == "exact" else "hnsw"
        if engine.setdefault("quantizer", "none") != "none":
            raise ValueError("LearnedScoreIndex: the learned scores replace the quantizer "
                             "(quantizer must be 'none')")
        super().__init__(metric, n_clusters, **engine)
        self.rank = check_positive_int(rank, "rank", minimum=RANK_STEP)
        if self.rank % RANK_STEP:
            raise ValueError(f"rank: expected a multiple of {RANK_STEP} (the scan multiplies 32 "
                             f"int8 components at a time), got {rank}")
        self.global_dim = check_global_dim(global_dim)
        self.train_size = check_positive_int(train_size, "train_size")
        self.train_queries = check_positive_int(train_queries, "train_queries")
        if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge > 0:
            raise ValueError(f"ridge: expected a number > 0, got {ridge!r}")
        self.ridge = float(ridge)
        self.global_dim_ = None
        self.train_seconds = 0.0

    # ---- build -------------------------------------------------------------------------------
    def fit(self, X, ids=None, transform=None, centers=None, labels=None):
        """ClusterIndex.fit (k-means, the centroid HNSW, the rows), then the scoring models
        trained on X's rows (timed: ``train_seconds``). No transform: the models live in the
        rows' own space."""
        if transform is not None:
            raise ValueError("LearnedScoreIndex: no transform (the models live in the rows' "
                             "own space)")
        return super().fit(X, ids=ids, centers=centers, labels=labels)

    def _encode_store(self):
        """Train every cluster's model on a sample of the stored rows (the fit's last step)."""
        t0 = time.perf_counter()
        s = self._store
        s.compact()
        n, d = s.size, self.dim
        rows = s.vectors
        self.global_dim_ = resolve_global_dim(self.global_dim, d)
        if self.global_dim_ is None:
            self._proj, self._proj_scale = np.zeros((0, 0), np.int8), np.zeros(0, np.float32)
        else:
            P = principal_directions(rows[:n], self.global_dim_, self.seed)
            self._proj_scale = (np.abs(P).max(axis=0) / INT8).astype(np.float32)
            self._proj = to_int8(P / self._proj_scale)
        P = self._reduction()
        dr = d if P is None else self.global_dim_
        k = self.n_clusters_
        self._code_centres = self._centroids.copy()
        self._refresh_centre_terms()
        rng = np.random.default_rng(self.seed + 1)
        m = min(self.train_queries, n)
        pick = np.sort(rng.choice(n, m, replace=False)) if m < n else np.arange(n)
        Q = np.asarray(rows[pick], dtype=np.float32)
        near = nearest_centers(Q, self._code_centres, self.train_size)
        pairs_c = near.ravel()
        pairs_q = np.repeat(np.arange(m), near.shape[1])
        keep = pairs_c >= 0
        order = np.argsort(pairs_c[keep], kind="stable")
        pairs_c, pairs_q = pairs_c[keep][order], pairs_q[keep][order]
        q_start = np.searchsorted(pairs_c, np.arange(k + 1))
        exact = (self.route_choice == "exact" or self.route_choice == "auto"
                 and k * dr <= EXACT_ROUTE_WORK)
        if P is not None:  # route the reduced query over the reduced centres
            self._graph = CentroidGraph(self._routing @ P, self.M, self.ef_construction,
                                        self.seed, exact=exact)
        self._graph.exact = exact
        self._A = np.zeros((k, dr, self.rank), np.int8)
        self._a_scale = np.ones((k, self.rank), np.float32)
        self._K = np.zeros((k, self.rank, dr), np.float32)
        scores = np.zeros((self.rank // 4, s.vectors.shape[0]), np.uint32, order="F")
        bias = np.zeros((3, s.vectors.shape[0]), np.float32)
        for c in tqdm(range(k), desc="learned scores", disable=not self.progress):
            a, cnt = s.starts[c], s.counts[c]
            if cnt == 0:
                continue
            centre = self._code_centres[c].astype(np.float64)
            R = np.asarray(rows[a:a + cnt], dtype=np.float64) - centre
            Qres = Q[pairs_q[q_start[c]:q_start[c + 1]]].astype(np.float64) - centre
            U = Qres if P is None else Qres @ P
            A, a_scale, B, K, W = fit_cluster_model(U, Qres, R, P, self.rank, self.ridge)
            self._A[c], self._a_scale[c], self._K[c] = A, a_scale, K
            scores[:, a:a + cnt] = pack_quads(B)
            bias[0, a:a + cnt] = (R * R).sum(axis=1)
            bias[2, a:a + cnt] = B.sum(axis=0, dtype=np.int64)
            bias[1, a:a + cnt] = unexplained((W - (A * a_scale) @ B).T, R,
                                             None if P is None else R @ P)
        s.set_columns({"scores": scores, "bias": bias})
        self.train_seconds = time.perf_counter() - t0
        self._changed()

    def _reduction(self):
        """The global reduction as the scan applies it (int8 matrix times column scales), float64
        (d, d'), or None without one."""
        if self._proj.shape[0] == 0:
            return None
        return self._proj.astype(np.float64) * self._proj_scale

    def _reduce(self, V):
        P = self._reduction()
        return V if P is None else V @ P

    def _refresh_centre_terms(self):
        """The code centres in the reduced space (what the models' inputs subtract)."""
        self._centre_red = np.ascontiguousarray(self._reduce(self._code_centres), np.float32)

    def _columns_of(self, V, labels):
        """Score columns of new internal rows V in clusters labels: each by its cluster's model
        (K_c applied to the reduced residual), and their squared residual norms."""
        R = (V - self._code_centres[labels]).astype(np.float64)
        U = self._reduce(R)
        B = to_int8(np.einsum("nrd,nd->rn", self._K[labels], U))
        Aq = self._A[labels].astype(np.float64) * self._a_scale[labels][:, None, :]
        miss = U - np.einsum("ndr,rn->nd", Aq, B.astype(np.float64))
        err = unexplained(miss, R, U if self._proj.shape[0] else None)
        bias = np.stack([(R * R).sum(axis=1), err, B.sum(axis=0, dtype=np.int64)])
        return {"scores": np.asfortranarray(pack_quads(B)),
                "bias": bias.astype(np.float32)}

    @property
    def coded(self):
        """False: no RaBitQ codes (the learned scores take their place)."""
        return False

    def set_stop_model(self, model):
        """Refused: learned termination runs on the RaBitQ scan."""
        raise ValueError("LearnedScoreIndex: learned termination runs on the RaBitQ scan "
                         "(LearnedStopIndex), not on learned scores")

    # ---- search ------------------------------------------------------------------------------
    def _candidates_arg(self, candidates, k):
        if candidates is None:
            return 10 * k
        return max(check_positive_int(candidates, "candidates"), k)

    def _margin_arg(self, margin):
        return np.float32(MARGIN) if margin is None else self._margin(margin)

    def _score_args(self):
        """The kernel's arguments that stay put between queries, before the query (store arrays,
        models, centres) and after its own (the routing graph): gathered once and kept until the
        index changes (``_changed``), as ClusterIndex does."""
        if self._args_cache is None:
            s = self._store
            before = (s.vectors, s.slot_ids, s.starts, s.counts, self._largest,
                      s.columns["scores"].T, s.columns["bias"], self._A, self._a_scale,
                      self._centre_red, self._code_centres, self._proj, self._proj_scale,
                      self._graph.centres)
            self._args_cache = (before, (self.rerank, *self._graph.walk_args()[1:]))
        return self._args_cache

    def _query_args(self, k, C, candidates, margin):
        """(k, C, candidates, margin) checked, kept per argument tuple until the index changes:
        the checks cost microseconds of a query that takes tens."""
        key = (k, C, candidates, margin, self.size)
        memo = self.__dict__.setdefault("_arg_memo", {})
        if key not in memo:
            if len(memo) > 64:
                memo.clear()
            k = check_k(k, self.size)
            memo[key] = (k, self._candidates(C)[0], self._candidates_arg(candidates, k),
                         self._margin_arg(margin))
        return memo[key]

    def search(self, q, k, C=16, candidates=None, margin=None, target_recall=None):
        """(ids int64 (<=k,), distances float32) of the k nearest among the ``candidates`` rows
        best estimated in the C clusters scanned (default 10 k), re-ranked exactly in increasing
        lower bound (estimate - margin error scales; default MARGIN, inf: all of them)."""
        self._require_fit()
        if target_recall is not None:
            raise ValueError("LearnedScoreIndex.search: target_recall belongs to the RaBitQ scan "
                             "(LearnedStopIndex)")
        k, C, cand, margin = self._query_args(k, C, candidates, margin)
        q = as_query_vector(q, self.dim, finite=False)  # the kernel checks, the error names it
        v = normalize_rows(q[None, :])[0] if self.metric == "angular" else q
        out_i = np.empty(k, dtype=np.int64)
        out_d = np.empty(k, dtype=np.float32)
        before, after = self._score_args()
        found, scanned, exact, comps = search_one_scored(*before, v, C, k, cand, margin, *after,
                                                         self.metric == "angular", out_i, out_d)
        if found < 0:
            as_query_vector(q, self.dim)  # raises, naming the problem
        self._record(1, scanned, exact, comps, C)
        return out_i[:found], out_d[:found]

    def search_batch(self, Q, k, C=16, candidates=None, margin=None, target_recall=None,
                     exclude=None):
        """search for every row of Q: (ids (m, k) padded -1, distances (m, k) padded inf)."""
        self._require_fit()
        if target_recall is not None or exclude is not None:
            raise ValueError("LearnedScoreIndex.search_batch: target_recall and exclude belong "
                             "to the RaBitQ scan (LearnedStopIndex)")
        k, C, cand, margin = self._query_args(k, C, candidates, margin)
        Q = self._internal(as_float_matrix(Q, name="queries", dim=self.dim))
        out_i = np.empty((Q.shape[0], k), dtype=np.int64)
        out_d = np.empty((Q.shape[0], k), dtype=np.float32)
        before, after = self._score_args()
        scanned, exact, comps = search_queries_scored(*before, np.ascontiguousarray(Q), C, k,
                                                      cand, margin, *after, out_i, out_d)
        self._record(Q.shape[0], scanned, exact, comps, int(C) * Q.shape[0])
        dist = np.where(out_i >= 0, to_metric(np.where(out_i >= 0, out_d, 0), self.metric), np.inf)
        return out_i, dist.astype(np.float32)

    def estimates(self, q, cluster):
        """(ids, estimated squared distances, exact squared distances) of the members of one
        cluster for query q, as the scan estimates them (the model's view of the cluster; for
        inspection and tests, not a query path)."""
        self._require_fit()
        q = as_query_vector(q, self.dim)
        v = normalize_rows(q[None, :])[0] if self.metric == "angular" else q
        c = int(cluster)
        if not 0 <= c < self.n_clusters_:
            raise ValueError(f"cluster: expected 0 <= cluster < {self.n_clusters_}, "
                             f"got {cluster!r}")
        s = self._store
        a, n = int(s.starts[c]), int(s.counts[c])
        q_red = np.empty(self._centre_red.shape[1], np.float32)
        reduce_query(v, self._proj, self._proj_scale, q_red)
        t = np.empty(self.rank, np.float32)
        project_query(q_red, self._centre_red.reshape(-1), self._A.reshape(-1), self._a_scale, c,
                      t)
        acc = np.empty(max(n, 1), np.float32)
        base = np.float32(((v - self._code_centres[c]) ** 2).sum())
        score_members(s.columns["scores"].T, s.columns["bias"], a, n, base, t,
                      np.empty(self.rank // 4, np.uint32), np.empty(max(n, 1), np.int32), acc)
        rows = np.asarray(s.vectors[a:a + n])
        return (s.slot_ids[a:a + n].copy(), acc[:n].copy(),
                ((rows - v) ** 2).sum(axis=1).astype(np.float32))

    # ---- memory and persistence --------------------------------------------------------------
    def memory_bytes(self):
        """ClusterIndex.memory_bytes, the models counted under "codes" (score columns, A, K,
        the projection and the code centres)."""
        out = super().memory_bytes()
        extra = (self._A.nbytes + self._a_scale.nbytes + self._K.nbytes + self._proj.nbytes
                 + self._proj_scale.nbytes + self._code_centres.nbytes + self._centre_red.nbytes)
        out["codes"] += int(extra)
        for key in ("total", "ram"):
            out[key] += int(extra)
        return out

    def _params(self):
        return {**super()._params(), "rank": self.rank, "global_dim": self.global_dim,
                "train_size": self.train_size, "train_queries": self.train_queries,
                "ridge": self.ridge, "route": self.route_choice}

    def save(self, path):
        """Save the index to directory ``path`` atomically."""
        self._require_fit()
        with IndexWriter(path, "LearnedScoreIndex", self._params()) as w:
            self._write_parts(w, "")
            n = self._store.size
            for name in ("scores", "bias"):  # (P, n), C order on disk
                w.add_array(name, np.ascontiguousarray(self._store.columns[name][:, :n]))
            for name, arr in (("models.A", self._A), ("models.a_scale", self._a_scale),
                              ("models.K", self._K),
                              ("models.proj", self._proj), ("models.proj_scale", self._proj_scale),
                              ("code_centres", self._code_centres)):
                w.add_array(name, arr)

    @classmethod
    def load(cls, path, storage=None, storage_path=None):
        """Load a saved LearnedScoreIndex; IndexFormatError (a ValueError) for a foreign, old,
        corrupt or mismatched directory."""
        stored = read_index(path, "LearnedScoreIndex")
        params = dict(stored.params)
        engine = {key: params.pop(key) for key in ("rank", "global_dim", "train_size",
                                                   "train_queries", "ridge", "route")
                  if key in params}
        if len(engine) != 6:
            raise IndexFormatError(f"{stored.path}: learned-score parameters missing")
        params["route"] = "exact" if engine["route"] == "exact" else "hnsw"
        idx = cls._from_parts(stored, "", params, None, storage, storage_path)
        idx.route_choice = engine["route"]
        idx.rank, idx.global_dim = int(engine["rank"]), engine["global_dim"]
        idx.train_size, idx.train_queries = int(engine["train_size"]), int(engine["train_queries"])
        idx.ridge, idx.train_seconds = float(engine["ridge"]), 0.0
        n, d, k = idx.size, idx.dim, idx.n_clusters_
        idx.global_dim_ = resolve_global_dim(idx.global_dim, d)
        dr = d if idx.global_dim_ is None else idx.global_dim_
        idx._proj = stored.array("models.proj", (0, 0) if idx.global_dim_ is None else (d, dr),
                                 np.int8)
        idx._proj_scale = stored.array("models.proj_scale",
                                       (0,) if idx.global_dim_ is None else (dr,), np.float32)
        idx._A = stored.array("models.A", (k, dr, idx.rank), np.int8)
        idx._a_scale = stored.array("models.a_scale", (k, idx.rank), np.float32)
        idx._K = stored.array("models.K", (k, idx.rank, dr), np.float32)
        idx._code_centres = stored.array("code_centres", (k, d), np.float32)
        columns = {"scores": stored.array("scores", (idx.rank // 4, n), np.uint32),
                   "bias": stored.array("bias", (3, n), np.float32)}
        idx._store.set_columns({"scores": np.asfortranarray(columns["scores"]),
                                "bias": np.ascontiguousarray(columns["bias"])})
        idx._refresh_centre_terms()
        if idx.global_dim_ is not None:  # the routing HNSW walks the reduced centres
            try:
                idx._graph = CentroidGraph.from_state(idx._reduce(idx._routing),
                                                      stored.arrays("graph."),
                                                      stored.state["graph"])
            except (KeyError, ValueError) as exc:
                raise IndexFormatError(f"{stored.path}: centroid graph unreadable ({exc})") \
                    from exc
        idx._changed()
        return idx


_warm = set()


def warm_up(metric="euclidean"):
    """Fit a small LearnedScoreIndex on synthetic rows, with and without a global reduction, and
    search it (single and batch), so that numba compiles the scoring kernels (or loads them) now,
    not inside a timed fit; once per process and metric (``ivf.index.warm_once``). Returns the
    seconds it took (0.0 when already done)."""

    def run(X, metric):
        for global_dim in (None, 8):
            index = LearnedScoreIndex(metric, n_clusters=32, global_dim=global_dim,
                                      train_queries=500).fit(X[:WARM_UP_ROWS])
            index.search(X[-1], 5, C=2)
            index.search_batch(X[-4:], 5, C=2)

    return warm_once(_warm, metric, run)


__all__ = ["LearnedScoreIndex", "fit_cluster_model", "resolve_global_dim", "warm_up"]
