"""Learned designs vs their raw twin (issue #31): learned adaptive termination (both engines)
and learned scores (the cluster engine), recall@10 vs single-thread QPS, one process.

Systems (``--systems`` picks a subset):

- cluster engine: ``annann-raw`` = ``ClusterIndex(n_clusters=4.0, rerank=1, seed)``, the coded
  RaBitQ scan, fixed C (--ladder) x margin (--margins, 1.9 and 4.0); ``annann-stop`` =
  ``learned.termination.LearnedStopIndex(n_clusters=4.0, seed)``, built on its own (its build
  time includes the training of the stop model, reported apart too), swept over the model's
  calibrated targets (``stop_model.targets``) with C = its cap (``stop_cap``) x the same margins;
  ``annann-scores`` = ``learned.scores.LearnedScoreIndex(n_clusters=--score-lists, seed)``
  (LoRANN-style per-cluster low-rank scores, trained in fit on the rows), C (--score-ladder) x
  candidates re-ranked (--score-candidates) x margin (--score-margins);
  ``lorann`` (peer, its algos.yaml groups sqrt-n and 2sqrt-n, through the plugin adapter, as
  ``bench_cluster_index`` runs it: its classes are reused);
- graph engine: ``knngraph-lsh`` = ``KNNGraphIndex(n_neighbors=20, seed)``, fixed beams
  (--beams) with entry_tables 1; ``knngraph-stop`` = the SAME index after
  ``fit_beam_model(index, X)`` (called once, before any sweep; a fixed-beam search never passes
  target_recall, so the attached model does not change it: checked on the queries), swept over
  the model's targets with beam = its cap (1024).

Everything is built first, then the sweeps run --repeats times, the order of the systems
reversed every other repeat, each query timed alone on one thread (ann-benchmarks style), best of
--runs passes per point. Recall@10 is by distance threshold on the true distances of the returned
ids; QPS at recall 0.9 / 0.95 / 0.99 is interpolated on each repeat's Pareto frontier and shown
min-max over the repeats; a ratio spans min(a) / max(b) .. max(a) / min(b). The search's own
counts (mean clusters scanned, codes scanned and rows re-ranked of the cluster engine; nodes
expanded, ``dist_comps``, of the graph walk) come from one untimed ``search_batch`` pass per
point and are interpolated on their lower frontier (least cost for at least that recall) at each
recall level: the point of termination is fewer clusters / expansions at equal recall.

Profiles. annann-scores: its kernel stopped after each stage (see ``profile_scores``), at its
fastest point reaching --profile-target. annann-stop (at --profile-target, margin 1.9): the kernel
of one query (``ivf.scan.search_query_coded``, adaptive path) is replayed from its parts
(``route``, ``rank_clusters``, ``rotate_into``, ``scan_codes``, ``stop_features``,
``predict_trees``, ``rerank_kept``) by a numba function of this script that stops after stage s;
the time of stage s is T(s) - T(s-1) over the same queries (best of --profile-runs, stages
interleaved), and what ``search()`` costs beyond the whole kernel is the Python wrapper's share.
The replay is checked against ``search_batch`` (same ids); stopping early changes what the caches
hold for the next query, so the split is an estimate, the total is measured.

    python -m benchmarks.bench_termination --data bigann-10k-128-euclidean --queries 200 \\
        --repeats 1 --tag smoke                                                   # quick
    python -m benchmarks.bench_termination --tag sift-1m                          # 1M SIFT
    python -m benchmarks.bench_termination --data data/fashion-mnist-784-euclidean.hdf5 \\
        --tag fashion

Angular sets are unit-normalised and searched in L2 by every system (the ranking of cosine
distance). Writes results/annann/termination_<tag>.{md,json,png,log}.
"""

import argparse
import io
import json
import os
import time
from pathlib import Path

import numpy as np
from numba import njit

from annann.core.rabitq import QUERY_BITS, quantize_query
from annann.core.rotation import rotate_into
from annann.core.trees import predict_trees
from annann.graph.index import KNNGraphIndex
from annann.ivf.centroid_graph import EXACT, MIN_EF, route
from annann.ivf.scan import clusters_for, rank_clusters, rerank_kept, scan_codes, stop_features
from annann.learned.score_scan import STAGES as SCORE_STAGES
from annann.learned.score_scan import search_queries_scored
from annann.learned.scores import LearnedScoreIndex
from annann.learned.termination import LearnedStopIndex, fit_beam_model
from benchmarks import bench_cluster_index as bci
from benchmarks import common
from benchmarks.common import (ROOT, Log, best_of, data_path, fmt_range, frontier, header_lines,
                               l2_space, load_data, options, pareto_at, ratio_range, recall_of,
                               run_info, time_queries, write_atomic)

K = 10
LADDER = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256,
          320, 400]
MARGINS = [1.9, 4.0]
BEAMS = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 768,
         1024]
BEAM_CAP = 1024
PROFILE_MARGIN = 1.9  # the engine's default margin, the one the stop model is calibrated with
LISTS = 4.0  # 4 sqrt(n) clusters, annann-raw's default
TARGETS = (0.8, 0.9, 0.95, 0.99)
TABLE_TARGETS = (0.9, 0.95, 0.99)
SCORE_LADDER = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]
SCORE_CANDIDATES = [40, 100, 250]
SCORE_MARGINS = [2.0, 4.0]
SCORE_LISTS = 1.0  # sqrt(n) clusters, LoRANN's advice (larger clusters amortise each model)
CLUSTER = ("annann-raw", "annann-stop", "annann-scores", "lorann")
GRAPH = ("knngraph-lsh", "knngraph-stop")
SYSTEMS = CLUSTER + GRAPH
OURS = ("annann-raw", "annann-stop", "annann-scores", "knngraph-lsh", "knngraph-stop")
LEARNED = ("annann-stop", "annann-scores", "knngraph-stop")
CALIBRATED = ("annann-stop", "knngraph-stop")  # the ones searched for a target recall
PAIRS = (("annann-stop", "annann-raw"), ("annann-scores", "annann-raw"),
         ("annann-stop", "lorann"), ("annann-scores", "lorann"), ("annann-raw", "lorann"),
         ("knngraph-stop", "knngraph-lsh"))
COSTS = {"annann-raw": ("clusters", "scanned", "exact"),
         "annann-stop": ("clusters", "scanned", "exact"),
         "annann-scores": ("clusters", "scanned", "exact"),
         "knngraph-lsh": ("dist_comps",), "knngraph-stop": ("dist_comps",)}
COST_NAMES = {"clusters": "clusters scanned", "scanned": "codes / scores scanned",
              "exact": "rows re-ranked (exact distances)",
              "dist_comps": "nodes expanded (dist_comps)"}
TWINS = (("annann-stop", "annann-raw"), ("annann-scores", "annann-raw"),
         ("knngraph-stop", "knngraph-lsh"))
PACKAGES = ("numpy", "numba", "scikit-learn", "lorann")
COLORS = {"annann-raw": "tab:red", "annann-stop": "tab:orange", "annann-scores": "tab:green",
          "lorann": "tab:purple",
          "knngraph-lsh": "tab:blue", "knngraph-stop": "tab:cyan"}


def check_peers(names):
    """SystemExit naming the selected peers that do not import (bench_cluster_index's list)."""
    common.check_peers("bench_termination", names, bci.PEER_MODULES, bci.PIP_NAMES)


# ---- the cluster engine --------------------------------------------------------------------
class Raw(bci.Ours):
    """annann-raw: ClusterIndex(4.0, rerank=1), coded scan; grid C x margin."""

    name = "annann-raw"
    engine = "cluster"

    def __init__(self, X, args, log):
        super().__init__(X, args, log, LISTS)

    def grid(self):
        return [(C, 1, m) for m in self.args.margins for C in self.args.ladder
                if C <= self.index.n_clusters_]

    def stats(self, b, p, Q):
        """Mean clusters / codes scanned / rows re-ranked per query of one untimed batch pass."""
        C, _, m = p
        self.index.search_batch(Q, K, C=C, margin=m)
        return per_query(self.index.last_stats, len(Q), ("clusters", "scanned", "exact"))


class Stop(Raw):
    """annann-stop: LearnedStopIndex(4.0), its own k-means and the stop model trained in fit;
    grid target x margin, C = the model's cap."""

    name = "annann-stop"

    def make(self):
        return LearnedStopIndex("euclidean", n_clusters=self.lists, seed=self.args.seed,
                                stop_queries=self.args.stop_queries)

    def build(self):
        super().build()
        model = self.index.stop_model
        b = self.builds[-1]
        b.update(train_s=float(model.fit_seconds), cap=int(self.index.stop_cap),
                 targets=[float(t) for t in model.targets],
                 shifts=[float(s) for s in model.shifts])
        self.log(f"{self.name}: stop model trained in {model.fit_seconds:.1f} s (inside the "
                 f"build), cap C = {self.index.stop_cap}")

    def grid(self):
        return [(float(t), m) for m in self.args.margins for t in self.index.stop_model.targets]

    def label(self, b, p):
        return f"target {p[0]:g}, C {self.index.stop_cap}, margin {p[1]}"

    def searcher(self, b, p):
        target, m = p
        search, cap = self.index.search, self.index.stop_cap
        return lambda q: search(q, K, C=cap, margin=m, target_recall=target)[0]

    def stats(self, b, p, Q):
        target, m = p
        self.index.search_batch(Q, K, C=self.index.stop_cap, margin=m, target_recall=target)
        return per_query(self.index.last_stats, len(Q), ("clusters", "scanned", "exact"))


class Scores(Raw):
    """annann-scores: LearnedScoreIndex(--score-lists), its own k-means and models trained in
    fit; grid C x candidates x margin."""

    name = "annann-scores"

    def __init__(self, X, args, log):
        bci.Ours.__init__(self, X, args, log, args.score_lists)

    def make(self):
        return LearnedScoreIndex("euclidean", n_clusters=self.lists, seed=self.args.seed)

    def build(self):
        super().build()
        b = self.builds[-1]
        b.update(train_s=float(self.index.train_seconds), rank=int(self.index.rank),
                 global_dim=self.index.global_dim_)
        self.log(f"{self.name}: models trained in {self.index.train_seconds:.1f} s (inside the "
                 f"build), rank {self.index.rank}, global_dim {self.index.global_dim_}")

    def grid(self):
        return [(C, c, m) for m in self.args.score_margins for c in self.args.score_candidates
                for C in self.args.score_ladder if C <= self.index.n_clusters_]

    def label(self, b, p):
        return f"C {p[0]}, candidates {p[1]}, margin {p[2]}"

    def searcher(self, b, p):
        C, c, m = p
        search = self.index.search
        return lambda q: search(q, K, C=C, candidates=c, margin=m)[0]

    def stats(self, b, p, Q):
        C, c, m = p
        self.index.search_batch(Q, K, C=C, candidates=c, margin=m)
        return per_query(self.index.last_stats, len(Q), ("clusters", "scanned", "exact"))


class Lorann(bci.Lorann):
    """lorann through its plugin adapter (bench_cluster_index's builds and grid)."""

    engine = "cluster"

    def stats(self, b, p, Q):
        return {}


def per_query(last_stats, m, keys):
    return {key: float(last_stats[key]) / m for key in keys}


# ---- the graph engine ----------------------------------------------------------------------
class Graph:
    """One KNNGraphIndex shared by knngraph-lsh (fixed beams) and knngraph-stop (the beam model
    fitted once, before any sweep)."""

    def __init__(self, X, Q, args, log, learned):
        self.X, self.Q, self.args, self.log, self.learned = X, Q, args, log, learned
        self.index = None

    def build(self):
        self.index, secs, rss = bci.measured_build(lambda: KNNGraphIndex(
            "euclidean", n_neighbors=20, entry_tables=1, seed=self.args.seed,
            quantizer="rabitq").fit(self.X))
        m = self.index.memory_bytes()
        size = int(m["total"]) if isinstance(m, dict) else int(m)
        self.graph = {"build_s": secs, "rss_growth": rss, "index_bytes": size,
                      "index_what": "memory_bytes()['total']"}
        self.log(f"knngraph: graph built in {secs:.1f} s, index {bci.mb(size)} MB")
        self.model = None
        if self.learned:
            probe = min(64, BEAM_CAP)
            before = self.index.search_batch(self.Q, K, beam=probe)[0]
            t0 = time.perf_counter()
            self.model = fit_beam_model(self.index, self.X, n_queries=self.args.stop_queries,
                                        cap=BEAM_CAP)
            wall = time.perf_counter() - t0
            after = self.index.search_batch(self.Q, K, beam=probe)[0]
            self.fixed_unchanged = bool(np.array_equal(before, after))
            self.train = {"train_s": float(self.model.fit_seconds), "train_wall_s": wall,
                          "cap": int(self.model.cap),
                          "targets": [float(t) for t in self.model.targets],
                          "shifts": [float(s) for s in self.model.shifts],
                          "fixed_beam_unchanged": self.fixed_unchanged}
            self.log(f"knngraph: beam model trained in {self.model.fit_seconds:.1f} s, cap "
                     f"{self.model.cap}; fixed-beam answers unchanged by it: "
                     f"{self.fixed_unchanged}")


class GraphFixed:
    """knngraph-lsh: fixed beams, entry_tables 1."""

    name, engine = "knngraph-lsh", "graph"

    def __init__(self, graph, args):
        self.g, self.args = graph, args
        self.builds = []

    def build(self):
        g = self.g.graph
        self.builds = [{"build": "K=20, lsh", **g}]

    def points(self):
        return [(0, b) for b in self.args.beams]

    def label(self, b, p):
        return f"beam {p}"

    def searcher(self, b, p):
        search = self.g.index.search
        return lambda q: search(q, K, beam=p, entry_tables=1)[0]

    def stats(self, b, p, Q):
        self.g.index.search_batch(Q, K, beam=p, entry_tables=1)
        return per_query(self.g.index.last_stats, len(Q), ("dist_comps",))


class GraphStop(GraphFixed):
    """knngraph-stop: the same graph, beam predicted per query (cap 1024)."""

    name = "knngraph-stop"

    def build(self):
        g, t = self.g.graph, self.g.train
        self.builds = [{"build": "K=20, lsh + beam model", **g,
                        "build_s": g["build_s"] + t["train_wall_s"], "graph_s": g["build_s"],
                        **t}]

    def points(self):
        return [(0, float(t)) for t in self.g.model.targets]

    def label(self, b, p):
        return f"target {p:g}, beam {self.g.model.cap}"

    def searcher(self, b, p):
        search, cap = self.g.index.search, self.g.model.cap
        return lambda q: search(q, K, beam=cap, entry_tables=1, target_recall=p)[0]

    def stats(self, b, p, Q):
        self.g.index.search_batch(Q, K, beam=self.g.model.cap, entry_tables=1, target_recall=p)
        return per_query(self.g.index.last_stats, len(Q), ("dist_comps",))


def make_systems(names, X, Q, args, log):
    out = {}
    graph = None
    if any(n in GRAPH for n in names):
        graph = Graph(X, Q, args, log, learned="knngraph-stop" in names)
    for name in SYSTEMS:
        if name not in names:
            continue
        out[name] = {"annann-raw": lambda: Raw(X, args, log),
                     "annann-stop": lambda: Stop(X, args, log),
                     "annann-scores": lambda: Scores(X, args, log),
                     "lorann": lambda: Lorann(X, args, log, "euclidean"),
                     "knngraph-lsh": lambda: GraphFixed(graph, args),
                     "knngraph-stop": lambda: GraphStop(graph, args)}[name]()
    return out, graph


# ---- sweeps ----------------------------------------------------------------------------------
HEARTBEAT = 60.0


def measure(system, X, Q, true_d, runs, max_points, log):
    rows = []
    points = bci.thinned(system.points(), max_points)
    last = time.monotonic()
    for i, (b, p) in enumerate(points):
        search = system.searcher(b, p)
        search(Q[0])
        t, ids = time_queries(search, Q, runs, K)
        ids[ids >= X.shape[0]] = -1
        rows.append({"system": system.name, "build": system.builds[b]["build"],
                     "param": list(p) if isinstance(p, tuple) else p,
                     "label": system.label(b, p), "recall": recall_of(X, Q, true_d, ids, K),
                     "qps": 1.0 / t, **system.stats(b, p, Q)})
        if time.monotonic() - last > HEARTBEAT:
            log(f"  {system.name}: {i + 1}/{len(points)} points, {rows[-1]['label']}: recall "
                f"{rows[-1]['recall']:.4f}, {rows[-1]['qps']:,.0f} QPS")
            last = time.monotonic()
    return rows


def curve(rows, name, build=None):
    return [(r["recall"], r["qps"]) for r in rows
            if r["system"] == name and (build is None or r["build"] == build)]


def cost_frontier(points):
    """The lower frontier (recall ascending) of (recall, cost) points: those no other point beats
    on both (higher recall and lower cost)."""
    front, best = [], np.inf
    for r, c in sorted(points, key=lambda p: (-p[0], p[1])):
        if c < best:
            front.append((r, c))
            best = c
    return sorted(front)


def cost_at(points, target):
    """Least cost at recall ``target`` on the lower frontier of (recall, cost) points, linear
    interpolation; None if not reached."""
    front = cost_frontier(points)
    if not front or front[-1][0] < target:
        return None
    for (r0, c0), (r1, c1) in zip(front, front[1:]):
        if r0 <= target <= r1:
            return c0 + (c1 - c0) * (target - r0) / (r1 - r0) if r1 > r0 else min(c0, c1)
    return front[0][1]


def summarize(repeats, names):
    """Per target: [{system: QPS at the target on that repeat's frontier}] over the repeats."""
    return {str(t): [{n: pareto_at(curve(rows, n), t) for n in names} for rows in repeats]
            for t in TARGETS}


def ratios(at, names):
    out = {}
    for a, b in PAIRS:
        if a in names and b in names:
            out[f"{a} / {b}"] = {str(t): ratio_range([c[a] for c in at[str(t)]],
                                                     [c[b] for c in at[str(t)]])
                                 for t in TARGETS}
    return out


def costs(rows, names):
    """{system: {cost: {target: least mean cost per query at that recall}}} (the counts do not
    depend on the repeat: the first one's)."""
    out = {}
    for n in names:
        out[n] = {}
        for key in COSTS.get(n, ()):
            pts = [(r["recall"], r[key]) for r in rows if r["system"] == n and key in r]
            out[n][key] = {str(t): cost_at(pts, t) for t in TARGETS}
    return out


def calibration(rows, names, margin):
    """The learned systems' points: target -> (measured recall, QPS, cost) of the first repeat,
    margin 1.9 (the calibrated one) for annann-stop."""
    out = {}
    for n in [n for n in CALIBRATED if n in names]:
        pts = []
        for r in rows:
            if r["system"] != n:
                continue
            if n == "annann-stop":
                target, m = r["param"]
                if m != margin:
                    continue
            else:
                target = r["param"]
            pts.append({"target": target, "recall": r["recall"], "qps": r["qps"],
                        **{k: r[k] for k in COSTS[n] if k in r}})
        out[n] = pts
    return out


# ---- the profile of one annann-stop query ---------------------------------------------------
STAGES = ("route: centroid HNSW walk", "rank the routed clusters", "rotate the query, scratch",
          "first clusters (pass 1 over `first`)", "features + tree prediction",
          "second routing (predicted beyond the first)", "rest of pass 1", "re-rank (pass 2)")


@njit(cache=True)
def _staged_query(stage, vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                  centres_rot, signs, block, z, q, C, k, margin, r, first, trees, base, shift,
                  features, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
                  entry, top_level, exact_route, bits, touched, q_rot, out_i, out_d, info):
    """ivf.scan.search_query_coded's adaptive path, stopped after stage ``stage`` (1..8, see
    STAGES); info: (clusters routed first, clusters predicted, routed again, clusters scanned)."""
    n_route = min(C, max(4 * first, MIN_EF // r))
    n_centres = centres.shape[0]
    want = min(n_route * r, n_centres)
    cand, _, comps = route(z, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
                           entry, top_level, want, EXACT if exact_route else max(want, MIN_EF),
                           bits, touched)
    if stage <= 1:
        return cand.shape[0]
    chosen = np.empty(C, dtype=np.int64)
    chosen_d = np.empty(C, dtype=np.float32)
    n_chosen, c2 = rank_clusters(centroids, counts, cand, q, n_route, chosen, chosen_d)
    info[0] = n_chosen
    if stage <= 2:
        return n_chosen
    rotate_into(q, signs, block, q_rot)
    planes = np.empty((QUERY_BITS, codes.shape[0]), np.uint64)
    delta, low, qsum, _, _ = quantize_query(q_rot, planes)
    query = (planes, delta, low, qsum)
    largest = max(largest, 1)
    scratch = (np.empty(largest, np.int64), np.empty(largest, np.int64),
               np.empty(largest, np.float32), np.empty(largest, np.float32))
    room = 0
    for t in range(n_chosen):
        room += counts[chosen[t]]
    cand_lb = np.empty(max(room, 1), dtype=np.float32)
    cand_row = np.empty(max(room, 1), dtype=np.int64)
    up_i = np.full((1, k), -1, dtype=np.int64)
    up_d = np.full((1, k), np.inf, dtype=np.float32)
    none = np.empty(0, dtype=np.int64)
    if stage <= 3:
        return n_chosen
    f = min(first, n_chosen)
    cand_lb, cand_row, m, scanned = scan_codes(
        starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, f, none, 0, q_rot,
        query, margin, -1, scratch, cand_lb, cand_row, 0, up_i, up_d)
    if stage <= 4:
        return m
    stop_features(chosen_d, n_chosen, first, up_d[0, 0], features)
    used = clusters_for(predict_trees(features, trees[0], trees[1], trees[2], trees[3],
                                      trees[4], base), shift, f, C)
    info[1] = used
    if stage <= 5:
        return used
    again = used > n_chosen and n_chosen == n_route
    info[2] = 1 if again else 0
    done = chosen[:f].copy()
    if again:
        want = min(used * r, n_centres)
        cand, _, c1 = route(z, centres, bottom, bottom_degrees, upper, upper_degrees,
                            upper_start, entry, top_level, want,
                            EXACT if exact_route else max(want, MIN_EF), bits, touched)
        n_chosen, c2 = rank_clusters(centroids, counts, cand, q, used, chosen, chosen_d)
    if stage <= 6:
        return n_chosen
    if again:
        cand_lb, cand_row, m, s2 = scan_codes(
            starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, n_chosen, done, f,
            q_rot, query, margin, -1, scratch, cand_lb, cand_row, m, up_i, up_d)
    else:
        cand_lb, cand_row, m, s2 = scan_codes(
            starts, counts, slot_ids, codes, factors, centres_rot, chosen, f,
            min(used, n_chosen), none, 0, q_rot, query, margin, -1, scratch, cand_lb, cand_row,
            m, up_i, up_d)
    info[3] = min(used, n_chosen)
    if stage <= 7:
        return m
    found, exact = rerank_kept(vectors, slot_ids, q, cand_lb, cand_row, m, up_d[0, 0], k, out_i,
                               out_d)
    return found


@njit(cache=True)
def _staged_run(stage, vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                centres_rot, signs, block, Q, C, k, margin, r, first, trees, base, shift,
                features, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
                entry, top_level, exact_route, bits, touched, q_rot, out_i, out_d, info):
    """_staged_query for every row of Q (euclidean, no transform: z = q)."""
    total = 0
    for t in range(Q.shape[0]):
        total += _staged_query(stage, vectors, slot_ids, starts, counts, largest, centroids,
                               codes, factors, centres_rot, signs, block, Q[t], Q[t], C, k,
                               margin, r, first, trees, base, shift, features, centres, bottom,
                               bottom_degrees, upper, upper_degrees, upper_start, entry,
                               top_level, exact_route, bits, touched, q_rot, out_i[t], out_d[t],
                               info[t])
    return total


def profile_stop(index, Q, target, margin, runs, log):
    """Where the time of annann-stop's queries goes (see the module docstring); a dict, with
    "error" set when the replay cannot run against this engine's internals."""
    try:
        s, g = index._store, index._graph
        first, trees, base, shift = index._stop_args(target)
        C = int(index.stop_cap)
        Q = np.ascontiguousarray(Q, dtype=np.float32)
        m = Q.shape[0]
        out_i = np.full((m, K), -1, dtype=np.int64)
        out_d = np.full((m, K), np.inf, dtype=np.float32)
        info = np.zeros((m, 4), dtype=np.int64)
        features = np.zeros(len(index._features), dtype=np.float32)
        args = (s.vectors, s.slot_ids, s.starts, s.counts, index._largest, index._centroids,
                *index._coded_args(), Q, C, K, np.float32(margin), index.rerank, first, trees,
                base, shift, features, *g.walk_args(), index._q_rot, out_i, out_d, info)
        t0 = time.perf_counter()
        _staged_run(len(STAGES), *args)  # compile (or load from numba's cache)
        log(f"profile: replay kernel ready in {time.perf_counter() - t0:.1f} s")
    except Exception as exc:  # the engine's internals moved: report, do not fail the run
        return {"error": f"{type(exc).__name__}: {exc}"}
    ref_i, _ = index.search_batch(Q, K, C=C, margin=margin, target_recall=target)
    batch_clusters = index.last_stats["clusters"] / m
    same = bool(np.array_equal(out_i, ref_i))
    used, again, first_routed = info[:, 3].copy(), info[:, 2].copy(), info[:, 0].copy()
    predicted = info[:, 1].copy()
    fns = [(lambda st=st: _staged_run(st, *args)) for st in range(1, len(STAGES) + 1)]
    search = index.search
    fns.append(lambda: [search(q, K, C=C, margin=margin, target_recall=target) for q in Q])
    fns.append(lambda: index.search_batch(Q, K, C=C, margin=margin, target_recall=target))
    best = best_of(fns, runs)
    stage_t = np.array(best[:len(STAGES)]) / m
    kernel = float(stage_t[-1])
    single, batch = best[-2] / m, best[-1] / m
    parts = np.diff(np.concatenate([[0.0], stage_t]))
    rows = [{"stage": name, "us": float(t * 1e6), "share": float(t / single)}
            for name, t in zip(STAGES, parts)]
    rows.append({"stage": "search() wrapper (Python) beyond the kernel",
                 "us": float((single - kernel) * 1e6), "share": float((single - kernel) / single)})
    return {"target": target, "margin": margin, "cap": C, "first": int(first), "queries": m,
            "runs": runs, "replay_matches_search_batch": same, "stages": rows,
            "kernel_us": kernel * 1e6, "search_us": single * 1e6, "batch_us": batch * 1e6,
            "routed_first": float(first_routed.mean()), "predicted": float(predicted.mean()),
            "clusters": float(used.mean()), "batch_clusters": float(batch_clusters),
            "routed_again": float(again.mean()),
            "clusters_p50_p90_p99": [float(np.percentile(used, p)) for p in (50, 90, 99)]}


def scores_point(rows, target):
    """annann-scores' (C, candidates, margin) of the fastest point reaching recall ``target``
    (else its most accurate point), from one repeat's rows."""
    mine = [r for r in rows if r["system"] == "annann-scores"]
    reach = [r for r in mine if r["recall"] >= target]
    best = max(reach, key=lambda r: r["qps"]) if reach else max(mine, key=lambda r: r["recall"])
    return tuple(best["param"]), best["recall"]


def profile_scores(index, Q, point, runs):
    """Where the time of annann-scores' queries goes: the kernel itself
    (``learned.score_scan.search_queries_scored``) stopped after each of its stages
    (``score_scan.STAGES``), stage s's time = T(s) - T(s-1) over the same queries, best of
    ``runs``, stages interleaved; what search() costs beyond the whole kernel is the Python
    wrapper's. A dict, "error" set when the kernel's arguments moved."""
    C, cand, margin = point
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    m = Q.shape[0]
    out_i = np.full((m, K), -1, dtype=np.int64)
    out_d = np.full((m, K), np.inf, dtype=np.float32)
    try:
        k, C, cand, margin = index._query_args(K, C, cand, margin)
        before, after = index._score_args()
        args = (*before, Q, C, k, cand, margin, *after, out_i, out_d)
        search_queries_scored(*args, len(SCORE_STAGES))
    except Exception as exc:  # the engine's internals moved: report, do not fail the run
        return {"error": f"{type(exc).__name__}: {exc}"}
    fns = [(lambda st=st: search_queries_scored(*args, st))
           for st in range(1, len(SCORE_STAGES) + 1)]
    search = index.search
    fns.append(lambda: [search(q, K, C=C, candidates=cand, margin=margin) for q in Q])
    index.search_batch(Q, K, C=C, candidates=cand, margin=margin)
    stats = {key: index.last_stats[key] / m for key in ("scanned", "exact")}
    best = best_of(fns, runs)
    stage_t = np.array(best[:len(SCORE_STAGES)]) / m
    kernel, single = float(stage_t[-1]), best[-1] / m
    parts = np.diff(np.concatenate([[0.0], stage_t]))
    rows = [{"stage": name, "us": float(t * 1e6), "share": float(t / single)}
            for name, t in zip(SCORE_STAGES, parts)]
    rows.append({"stage": "search() wrapper (Python) beyond the kernel",
                 "us": float((single - kernel) * 1e6), "share": float((single - kernel) / single)})
    return {"C": int(C), "candidates": int(cand), "margin": float(margin), "queries": m,
            "runs": runs, "stages": rows, "kernel_us": kernel * 1e6, "search_us": single * 1e6,
            "scanned": float(stats["scanned"]), "exact": float(stats["exact"]),
            "rank": int(index.rank), "global_dim": index.global_dim_,
            "largest_cluster": int(index._largest)}


def score_profile_lines(p):
    if p is None:
        return []
    lines = ["", "## Where annann-scores' query time goes", ""]
    if "error" in p:
        return lines + [f"Not measured: the kernel refused the profile's arguments ({p['error']})."]
    lines += [f"C {p['C']}, candidates {p['candidates']}, margin {p['margin']} (the fastest point "
              f"reaching recall {p['target']} in repeat 0: recall {p['recall']:.4f}); rank "
              f"{p['rank']}, global_dim {p['global_dim']}; {p['queries']} queries, best of "
              f"{p['runs']} passes, stages interleaved; {p['scanned']:,.0f} members scored and "
              f"{p['exact']:.1f} rows re-ranked per query. Stage s's time = the kernel stopped "
              "after s minus the kernel stopped after s - 1 (an estimate: stopping early changes "
              "what the caches hold for the next query).", "",
              "| stage | µs / query | share of search() |", "| --- | --- | --- |"]
    for r in p["stages"]:
        lines.append(f"| {r['stage']} | {r['us']:.2f} | {100 * r['share']:.1f} % |")
    lines += [f"| whole search() (measured) | {p['search_us']:.2f} | 100 % |"]
    return lines


# ---- report ----------------------------------------------------------------------------------
def fmt_cost(v):
    return "not reached" if v is None else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def plot(s, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = s["systems"]
    engines = [e for e, group in (("cluster engine", CLUSTER), ("graph engine", GRAPH))
               if any(n in names for n in group)]
    fig, axes = plt.subplots(2, len(engines), figsize=(6.5 * len(engines), 9), squeeze=False)
    lows = [r["recall"] for rows in s["repeats"] for r in rows]
    lo = max(0.5, min(lows) if lows else 0.5)
    for col, engine in enumerate(engines):
        group = CLUSTER if engine == "cluster engine" else GRAPH
        ax, cx = axes[0, col], axes[1, col]
        for i, rows in enumerate(s["repeats"]):
            for name in [n for n in group if n in names]:
                front = frontier(curve(rows, name))
                learned = name in LEARNED
                ax.plot([p[0] for p in front], [p[1] for p in front],
                        "o-" if name in OURS else "s--", ms=3, lw=2.0 if learned else 1.3,
                        color=COLORS[name], alpha=1.0 if i == 0 else 0.45,
                        label=name if i == 0 else None)
        key = "clusters" if engine == "cluster engine" else "dist_comps"
        for name in [n for n in group if n in names and key in COSTS.get(n, ())]:
            pts = [(r["recall"], r[key]) for r in s["repeats"][0] if r["system"] == name]
            front = cost_frontier(pts)
            cx.plot([p[0] for p in front], [p[1] for p in front], "o-", ms=3,
                    color=COLORS[name], label=name)
        ax.set_yscale("log")
        ax.set_xlim(lo, 1.001)
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second, one query per call, 1 thread (log)")
        ax.set_title(f"{engine}: {s['dataset']} ({s['n']:,} x {s['dim']}), "
                     f"{len(s['repeats'])} repeats (later paler)", fontsize=9)
        cx.set_yscale("log")
        cx.set_xlim(lo, 1.001)
        cx.set_xlabel("recall@10")
        cx.set_ylabel(f"mean {COST_NAMES[key]} per query (log; lower frontier)")
        for a in (ax, cx):
            a.grid(True, which="both", alpha=0.3)
            if a.get_legend_handles_labels()[0]:
                a.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def markdown(s):
    names = s["systems"]
    orders = "; ".join(" > ".join(o) for o in s["orders"])
    lines = [f"# Learned designs vs their raw twin on {s['dataset']} ({s['n']:,} x {s['dim']})",
             "", *header_lines(s["info"], s["load_end"]),
             f"- {s['queries']} queries, each timed alone on one thread (ann-benchmarks style), "
             f"best of {s['runs']} passes per point; {len(s['repeats'])} repeats in one process, "
             f"the order of the systems reversed every other repeat ({orders})",
             *setup_lines(s),
             "- recall@10 by distance threshold; QPS at a level interpolated on each repeat's "
             "Pareto frontier, min-max over the repeats"
             + ("; angular: unit-normalised rows searched in L2" if s["metric"] == "angular"
                else ""), "",
             "| system | engine | " + " | ".join(f"QPS @ {t}" for t in TABLE_TARGETS)
             + " | build (s) | of it training (s) | index MB | max recall@10 |",
             "| --- | --- | " + " | ".join("---" for _ in TABLE_TARGETS)
             + " | --- | --- | --- | --- |"]
    for n in names:
        bs = s["builds"][n]
        engine = "cluster" if n in CLUSTER else "graph"
        secs = " / ".join(f"{b['build_s']:.1f}" for b in bs)
        train = " / ".join(f"{b['train_s']:.1f}" for b in bs if "train_s" in b) or "-"
        size = " / ".join(bci.mb(b["index_bytes"]) for b in bs)
        lines.append(f"| {n} | {engine} | " + " | ".join(
            fmt_range([c[n] for c in s["at"][str(t)]]) for t in TABLE_TARGETS)
            + f" | {secs} | {train} | {size} | {s['max_recall'][n]:.4f} |")
    if "lorann" in names and len(s["builds"]["lorann"]) > 1:
        lines += ["", "lorann: build time and size per build (" + ", ".join(
            b["build"] for b in s["builds"]["lorann"]) + "); its QPS is the frontier over both."]
    if "knngraph-stop" in names:
        b = s["builds"]["knngraph-stop"][0]
        lines += ["", f"knngraph-stop's build = the graph ({b['graph_s']:.1f} s, shared with "
                  f"knngraph-lsh) + the beam model ({b['train_s']:.1f} s); fixed-beam answers "
                  f"unchanged by the attached model: {b['fixed_beam_unchanged']}."]
    if s["ratios"]:
        lines += ["", "| ratio of QPS | " + " | ".join(f"@ {t}" for t in TABLE_TARGETS) + " |",
                  "| --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " |"]
        for pair, cells in s["ratios"].items():
            lines.append(f"| {pair} | " + " | ".join(
                bci.fmt_ratio(cells[str(t)]) for t in TABLE_TARGETS) + " |")
        lines += ["", "A ratio spans min over the repeats of a / max of b .. max of a / min of b "
                  "(one value when they agree); > 1: the first is faster."]
    cost_rows = []
    for learned, fixed in TWINS:
        if learned not in names or fixed not in names:
            continue
        for key in COSTS[learned]:
            a, b = s["costs"][learned][key], s["costs"][fixed][key]
            cost_rows.append(f"| {COST_NAMES[key]} | {fixed} | " + " | ".join(
                fmt_cost(b[str(t)]) for t in TABLE_TARGETS) + " |")
            cost_rows.append(f"| | {learned} | " + " | ".join(
                fmt_cost(a[str(t)]) for t in TABLE_TARGETS) + " |")
            cost_rows.append(f"| | {learned} / {fixed} | " + " | ".join(
                "n/a" if a[str(t)] is None or not b[str(t)] else f"{a[str(t)] / b[str(t)]:.2f}"
                for t in TABLE_TARGETS) + " |")
    if not cost_rows:  # one side only: its own counts
        for n in [n for n in names if n in COSTS]:
            for key in COSTS[n]:
                cost_rows.append(f"| {COST_NAMES[key]} | {n} | " + " | ".join(
                    fmt_cost(s["costs"][n][key][str(t)]) for t in TABLE_TARGETS) + " |")
    if cost_rows:
        lines += ["", "Mean work per query at a recall level (least over the system's points "
                  "reaching it, interpolated on the lower frontier; counts from an untimed "
                  "search_batch pass per point, the same in every repeat):", "",
                  "| work per query | system | " + " | ".join(f"@ {t}" for t in TABLE_TARGETS)
                  + " |", "| --- | --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " |",
                  *cost_rows]
    for n, pts in s["calibration"].items():
        if not pts:
            continue
        keys = COSTS[n]
        lines += ["", f"{n}: target recall (calibrated on training queries drawn from the rows) "
                  f"vs the recall the test queries reach"
                  + (f" (margin {s['calibration_margin']})" if n == "annann-stop" else "")
                  + ", repeat 0:", "",
                  "| target | recall@10 | QPS | " + " | ".join(COST_NAMES[k] for k in keys) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in keys) + " |"]
        for p in pts:
            lines.append(f"| {p['target']:g} | {p['recall']:.4f} | {p['qps']:,.0f} | "
                         + " | ".join(fmt_cost(p.get(k)) for k in keys) + " |")
    lines += profile_lines(s.get("profile"))
    lines += score_profile_lines(s.get("score_profile"))
    lines += ["", "| repeat | system | parameters | recall@10 | QPS | clusters | codes scanned | "
              "rows re-ranked | nodes expanded |", "| --- | --- | --- | --- | --- | --- | --- | "
              "--- | --- |"]
    for rep, rows in enumerate(s["repeats"]):
        for r in rows:
            cells = [fmt_cost(r[k]) if k in r else "" for k in
                     ("clusters", "scanned", "exact", "dist_comps")]
            lines.append(f"| {rep} | {r['system']} | {r['label']} | {r['recall']:.4f} | "
                         f"{r['qps']:,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def setup_lines(s):
    """The bullets saying how each engine present was set up."""
    names, out = s["systems"], []
    if any(n in CLUSTER for n in names):
        ours = any(n in ("annann-raw", "annann-stop") for n in names)
        out.append("- cluster engine: "
                   + (f"ours {s['lists']} lists (4 sqrt(n)), rerank 1" if ours else "")
                   + (f"; annann-raw C ladder {s['ladder']} x margin {s['margins']}"
                      if "annann-raw" in names else "")
                   + (f"; annann-stop targets x margin {s['margins']} with C = its cap"
                      if "annann-stop" in names else "")
                   + (f"; annann-scores {s['score']['lists']} lists (sqrt(n) multiple), C "
                      f"{s['score']['ladder']} x candidates {s['score']['candidates']} x margin "
                      f"{s['score']['margins']}" if "annann-scores" in names else "")
                   + (("; " if ours else "") + "lorann through its plugin adapter (algos.yaml "
                      "groups sqrt-n, 2sqrt-n)" if "lorann" in names else ""))
    if any(n in GRAPH for n in names):
        out.append("- graph engine: K=20 LSH-started K-NN graph, coded walk, entry_tables 1"
                   + (f"; knngraph-lsh beams {s['beams']}" if "knngraph-lsh" in names else "")
                   + (f"; knngraph-stop = the same index with the beam model (cap {BEAM_CAP}), "
                      "its calibrated targets" if "knngraph-stop" in names else ""))
    return out


def profile_lines(p):
    if p is None:
        return []
    lines = ["", "## Where annann-stop's query time goes", ""]
    if "error" in p:
        return lines + [f"Not measured: the replay of the kernel failed against this engine's "
                        f"internals ({p['error']})."]
    lines += [f"Target {p['target']}, margin {p['margin']}, C cap {p['cap']}, first "
              f"{p['first']} clusters before the prediction; {p['queries']} queries, best of "
              f"{p['runs']} passes, stages interleaved. Stage s's time = the replay stopped "
              "after s minus the replay stopped after s - 1 (an estimate: stopping early changes "
              "what the caches hold for the next query). The replay returned the same ids as "
              f"search_batch: {p['replay_matches_search_batch']}.", "",
              "| stage | µs / query | share of search() |", "| --- | --- | --- |"]
    for r in p["stages"]:
        lines.append(f"| {r['stage']} | {r['us']:.2f} | {100 * r['share']:.1f} % |")
    lines += [f"| whole search() (measured) | {p['search_us']:.2f} | 100 % |", "",
              f"Kernel (whole replay) {p['kernel_us']:.2f} µs / query, search_batch "
              f"{p['batch_us']:.2f} µs / query, search() {p['search_us']:.2f} µs. Clusters: "
              f"{p['routed_first']:.1f} routed first, {p['predicted']:.1f} predicted, "
              f"{p['clusters']:.1f} scanned on average (search_batch: "
              f"{p['batch_clusters']:.1f}; p50 / p90 / p99 "
              + " / ".join(f"{v:.0f}" for v in p["clusters_p50_p90_p99"])
              + f"); {100 * p['routed_again']:.1f} % of the queries routed again."]
    return lines


# ---- main ------------------------------------------------------------------------------------
def main(argv=None):
    """Run the benchmark (see the module docstring); returns the summary written to JSON. The
    process's numba thread count is restored afterwards (the sweeps set it to 1)."""
    return common.restoring_threads(_main, argv)


def _main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 parents=[options(out=ROOT / "results" / "annann")])
    ap.add_argument("--tag", default=None, help="file name tag (default <dataset>-<n/1000>k)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated subset of %(default)s")
    ap.add_argument("--ladder", type=bci.parse_list(int), default=LADDER, help="annann-raw's C")
    ap.add_argument("--margins", type=bci.parse_list(float), default=MARGINS,
                    help="the cluster engine's margins (annann-raw and annann-stop)")
    ap.add_argument("--score-lists", type=float, default=SCORE_LISTS,
                    help="annann-scores' clusters, a multiple of sqrt(n)")
    ap.add_argument("--score-ladder", type=bci.parse_list(int), default=SCORE_LADDER,
                    help="annann-scores' C")
    ap.add_argument("--score-candidates", type=bci.parse_list(int), default=SCORE_CANDIDATES,
                    help="annann-scores' rows re-ranked exactly")
    ap.add_argument("--score-margins", type=bci.parse_list(float), default=SCORE_MARGINS,
                    help="annann-scores' margins")
    ap.add_argument("--beams", type=bci.parse_list(int), default=BEAMS,
                    help="knngraph-lsh's fixed beams")
    ap.add_argument("--stop-queries", type=int, default=2000,
                    help="training queries of both stop models (sampled from the rows)")
    ap.add_argument("--runs", type=int, default=2, help="timed passes per point (best kept)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="sweeps, the order of the systems reversed every other one")
    ap.add_argument("--max-points", type=int, default=None,
                    help="at most this many points of every system's grid (smoke runs)")
    ap.add_argument("--max-builds", type=int, default=None,
                    help="at most this many of lorann's builds, the first ones (smoke runs)")
    ap.add_argument("--profile-target", type=float, default=0.95,
                    help="annann-stop's target recall profiled (annann-scores: its fastest "
                         "point reaching it)")
    ap.add_argument("--profile-runs", type=int, default=5, help="passes of the profile (best)")
    ap.add_argument("--no-profile", action="store_true", help="skip the profile")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if min(args.queries, args.runs, args.repeats, args.profile_runs, args.max_points or 1,
           args.max_builds or 1) < 1:
        ap.error("--queries, --runs, --repeats, --profile-runs, --max-points and --max-builds "
                 "must be >= 1")
    if args.stop_queries < 50:
        ap.error("--stop-queries must be >= 50")
    if not (args.ladder and args.margins and args.beams and args.score_ladder
            and args.score_candidates and args.score_margins):
        ap.error("--ladder, --margins, --beams and the --score-* lists need at least one value")
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        ap.error(f"--systems: unknown {unknown} (known: {','.join(SYSTEMS)})")
    names = [n for n in SYSTEMS if n in names]
    check_peers(names)
    args.rerank, args.calls = [1], "adapter"  # what bench_cluster_index's classes read

    log = Log()
    info = run_info("bench_termination", argv, PACKAGES)
    data = data_path(args.data)
    X, Q, _, true_d, metric = load_data(data, queries=args.queries, k=K)
    X, Q, true_d = l2_space(X, Q, true_d[:, :K], metric)
    n = X.shape[0]
    dataset = data.name.removesuffix(".hdf5")
    tag = args.tag or f"{dataset}-{n // 1000}k"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"data {data}: {n:,} x {X.shape[1]} {metric}, {len(Q)} queries; systems "
        f"{', '.join(names)}")

    from annann.graph.index import warm_up as graph_warm_up
    from annann.ivf.index import warm_up as ivf_warm_up
    from annann.learned.scores import warm_up as scores_warm_up
    from annann.learned.termination import warm_up as stop_warm_up

    ivf_warm_up("euclidean")  # numba kernels compiled outside the timed builds
    if "annann-stop" in names:
        stop_warm_up("euclidean")
    if "annann-scores" in names:
        scores_warm_up("euclidean")
    if any(nm in GRAPH for nm in names):
        graph_warm_up("euclidean", n_neighbors=20)
    systems, graph = make_systems(names, X, Q, args, log)
    if graph is not None:
        log("building the K-NN graph (knngraph-lsh / knngraph-stop)")
        graph.build()
    for name, system in systems.items():
        if name not in GRAPH:
            log(f"building {name}")
        system.build()
    bci.one_thread()
    swept, orders = common.sweep_repeats(
        names, args.repeats,
        lambda n: measure(systems[n], X, Q, true_d, args.runs, args.max_points, log),
        lambda n, got, t: pareto_at(curve(got, n), t), log, TABLE_TARGETS)
    repeats = [[p for got in rep.values() for p in got] for rep in swept]
    profile = None
    if "annann-stop" in names and not args.no_profile:
        log(f"profiling annann-stop at target {args.profile_target}")
        profile = profile_stop(systems["annann-stop"].index, Q, args.profile_target, PROFILE_MARGIN,
                               args.profile_runs, log)
        if "error" in profile:
            log(f"profile not measured: {profile['error']}")
        else:
            log("profile: " + ", ".join(f"{r['stage']} {100 * r['share']:.0f} %"
                                        for r in profile["stages"]))
    score_profile = None
    if "annann-scores" in names and not args.no_profile:
        point, reached = scores_point(repeats[0], args.profile_target)
        log(f"profiling annann-scores at {point}")
        score_profile = profile_scores(systems["annann-scores"].index, Q, point,
                                       args.profile_runs)
        score_profile.update(target=args.profile_target, recall=reached)
        if "error" not in score_profile:
            log("profile: " + ", ".join(f"{r['stage']} {100 * r['share']:.0f} %"
                                        for r in score_profile["stages"]))
    at = summarize(repeats, names)
    # the margin the stop model was calibrated with (the engine's default, 1.9) if swept
    cal_margin = PROFILE_MARGIN if PROFILE_MARGIN in args.margins else args.margins[0]
    summary = {"info": info, "dataset": dataset, "metric": metric, "n": n,
               "dim": int(X.shape[1]), "queries": len(Q), "runs": args.runs,
               "lists": systems["annann-raw"].index.n_clusters_ if "annann-raw" in systems
               else (systems["annann-stop"].index.n_clusters_ if "annann-stop" in systems
                     else None),
               "ladder": args.ladder, "margins": args.margins, "beams": args.beams,
               "score": {"lists": args.score_lists, "ladder": args.score_ladder,
                         "candidates": args.score_candidates, "margins": args.score_margins},
               "stop_queries": args.stop_queries, "max_points": args.max_points,
               "max_builds": args.max_builds, "systems": names, "orders": orders,
               "builds": {nm: s.builds for nm, s in systems.items()}, "repeats": repeats,
               "at": at, "ratios": ratios(at, names), "costs": costs(repeats[0], names),
               "calibration_margin": cal_margin,
               "calibration": calibration(repeats[0], names, cal_margin), "profile": profile,
               "score_profile": score_profile,
               "max_recall": {nm: max(r["recall"] for rows in repeats for r in rows
                                      if r["system"] == nm) for nm in names},
               "load_end": round(os.getloadavg()[0], 2)}
    stem = out / f"termination_{tag}"
    write_atomic(stem.with_suffix(".json"), json.dumps(summary, indent=1, default=float))
    plot(summary, stem.with_suffix(".png"))
    write_atomic(stem.with_suffix(".md"), markdown(summary))
    log(f"wrote {stem.with_suffix('.md')}")
    write_atomic(stem.with_suffix(".log"), log.text())
    return summary


if __name__ == "__main__":
    main()
