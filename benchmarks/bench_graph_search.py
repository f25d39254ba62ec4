"""K-NN graph search next to the graph leaders: recall@10 vs single-thread QPS, one process.

Systems (``--systems`` picks a subset, in any order):

- ``knngraph-lsh`` (ours): ``KNNGraphIndex(n_neighbors=20, seed=0)``, its default walk on RaBitQ
  codes (quantizer="rabitq"); grid beam x entry tables (margin left at its default);
- ``knngraph-lsh-rows`` (ours): the full-row walk (quantizer="none") over the SAME K-NN lists
  (``fit_graph`` on knngraph-lsh's ``neighbor_graph``: no second NN-descent; built by its own
  ``fit`` when knngraph-lsh is not selected); grid beam x epsilon x entry tables, as algos.yaml;
- ``hnswlib`` (M=16, efConstruction=200; grid ef) and ``pynndescent`` (n_neighbors=20,
  ``prepare()``; grid epsilon), called directly as before;
- ``glass`` (HNSW R=32, L=200, walk on SQ8U codes, FP32 re-rank; grid ef) and ``symphonyqg``
  (``rabitqlib.SymqgIndex``, degree 32, build beam 400, data zero-padded to a multiple of 64;
  grid ef >= k), through the plugin's adapters (``peer_glass``, ``peer_symphonyqg``): fit,
  set_query_arguments, query, so the bench times what the harness runs (``--calls direct``
  calls the libraries instead).

Every system is built first (peers and ours on every core: --threads for ours, hnswlib and
pynndescent, all usable cores inside the adapters); then the sweeps run --repeats times, the
order of the systems reversed on every other repeat, each query timed alone on one thread
(ann-benchmarks style), best of --runs passes per point. QPS at recall@10 0.9 / 0.95 / 0.99 is
interpolated on each repeat's Pareto frontier and reported as min-max over the repeats; ours /
peer ratios span min(ours) / max(peer) .. max(ours) / min(peer). Index size: ours, the bytes of
its arrays (rows, K-NN lists, search graph, code blocks, LSH tables); hnswlib, symphonyqg, the
saved index file; pynndescent, its pickle; glass, its saved graph file plus the searcher's SQ8U
codes and FP32 rows (computed: the searcher has no save); beside it the growth of the process's
resident memory over the build (heap trimmed before and after). A peer that is not installed
stops the run (leave it out with --systems).

    python -m benchmarks.bench_graph_search                                      # 1M SIFT
    python -m benchmarks.bench_graph_search --data data/fashion-mnist-784-euclidean.hdf5 \\
        --tag fashion
    python -m benchmarks.bench_graph_search --systems knngraph-lsh,glass,symphonyqg --repeats 3
    python -m benchmarks.bench_graph_search --replot results/knngraph/search_sift-1m.json

Angular sets are unit-normalised and searched in L2 by every system (the ranking of cosine
distance). Writes results/knngraph/search_<tag>.{md,json,log,png}.
"""

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from annann.core.atomic import atomic_path
from annann.core.cpus import usable_cpus
from annann.graph.index import KNNGraphIndex
from benchmarks import common
from benchmarks.common import (ROOT, Log, data_path, fmt_range, frontier, header_lines,
                               l2_space, load_data, options, pareto_at, path_bytes, ratio_range,
                               recall_of, run_info, thin_grid, time_queries,
                               write_atomic)

K = 10
# ours, the coded walk: beam x entry tables
BEAMS = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024]
CODED_TABLES = [1, 2]
# ours, the full-row walk: the grid of algos.yaml (beam x epsilon x entry tables)
ROW_BEAMS = [4, 6, 8, 10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
EPSILONS = [0.1, 0.2, None]
ENTRY_TABLES = [1, 2, 8]
HNSW_EF = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 800]
PYNN_EPS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
GLASS_EF = [10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500, 600, 800]
SYMQG_EF = [10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300, 400, 600, 800, 1000,
            1500]
TARGETS = (0.8, 0.9, 0.95, 0.99, 0.999)
TABLE_TARGETS = (0.9, 0.95, 0.99)
OURS = ("knngraph-lsh", "knngraph-lsh-rows")
PEERS = ("hnswlib", "pynndescent", "glass", "symphonyqg")
SYSTEMS = OURS + PEERS
# what each peer imports (checked before anything is built: a missing peer stops the run)
PEER_MODULES = {"hnswlib": ("hnswlib",), "pynndescent": ("pynndescent",),
                "glass": ("glass", "ann_benchmarks_plugin.algorithms.peer_glass.module"),
                "symphonyqg": ("rabitqlib",
                               "ann_benchmarks_plugin.algorithms.peer_symphonyqg.module")}
PIP_NAMES = {"hnswlib": "hnswlib", "pynndescent": "pynndescent", "glass": "pyglass-portable",
             "symphonyqg": "rabitqlib (Python >= 3.11)"}
PACKAGES = ("numpy", "numba", "hnswlib", "pynndescent", "pyglass-portable", "rabitqlib")
COLORS = {"knngraph-lsh": "tab:red", "knngraph-lsh-rows": "tab:orange", "hnswlib": "tab:blue",
          "pynndescent": "tab:green", "glass": "tab:purple", "symphonyqg": "tab:brown"}

CALLS = common.CALLS


def check_peers(names):
    """SystemExit naming the selected peers that do not import (``common.check_peers``)."""
    common.check_peers("bench_graph_search", names, PEER_MODULES, PIP_NAMES)


measured_build = common.measured_build


def graph_index_bytes(index):
    """(total, parts) of a KNNGraphIndex: its ``memory_bytes()`` if it has one, else the bytes of
    its arrays (rows, K-NN lists, search graph, labels, code blocks, rotation, LSH tables)."""
    if hasattr(index, "memory_bytes"):
        m = index.memory_bytes()
        if isinstance(m, dict):
            return int(m.get("total", sum(v for v in m.values() if isinstance(v, int)))), m
        return int(m), {"total": int(m)}
    parts = {}
    for a in ("X", "_ids", "_sq", "neighbors", "degrees", "labels", "_blocks"):
        arr = getattr(index, a, None)
        if isinstance(arr, np.ndarray):
            parts[a.lstrip("_")] = int(arr.nbytes)
    rotation = getattr(index, "_rotation", None) if index.coded else None
    if rotation is not None:
        parts["rotation"] = int(np.asarray(rotation.signs).nbytes)
    parts["lsh_tables"] = int(sum(np.asarray(v).nbytes for v in index.tables.state().values()))
    return sum(parts.values()), parts


def squared_graph(index):
    """(ids, squared L2 distances) of a fitted KNNGraphIndex's K-NN lists in the caller's order,
    as ``fit_graph`` takes them (angular: 1 - cos on unit rows, so squared L2 = 2 (1 - cos))."""
    ids, dist = index.neighbor_graph
    dist = np.asarray(dist, dtype=np.float32)
    sq = dist * dist if index.metric == "euclidean" else 2.0 * dist
    return ids, sq


class System:
    """One benchmarked system: build once, then a query grid of single-query functions."""

    name = ours = None

    def __init__(self, X, threads, log):
        self.X, self.n, self.threads, self.log = X, X.shape[0], threads, log
        self.info = {}

    def grid(self):
        raise NotImplementedError

    def searcher(self, p):
        """A function q -> ids (at least k; padding < 0 or >= n is dropped by the caller)."""
        raise NotImplementedError

    def batch(self, p, Q):
        """Ids (m, >= k) of every query at once on --threads threads, or None (no batch mode)."""
        return None

    @staticmethod
    def label(p):
        return str(p)

    def record(self, secs, rss, size, what, parts=None, note=None):
        self.info = {"build_s": secs, "rss_growth": rss, "index_bytes": size,
                     "index_what": what, "index_parts": parts or {}, "note": note}


class Coded(System):
    """knngraph-lsh: the walk on RaBitQ codes (quantizer="rabitq", named: the default "auto"
    would walk full rows below 64 dimensions)."""

    name, ours = "knngraph-lsh", True

    def build(self):
        self.index, secs, rss = measured_build(lambda: KNNGraphIndex(
            "euclidean", n_neighbors=20, n_jobs=self.threads, seed=0,
            quantizer="rabitq").fit(self.X))
        size, parts = graph_index_bytes(self.index)
        self.record(secs, rss, size, "memory_bytes()['total']" if hasattr(
            self.index, "memory_bytes") else "arrays' nbytes", parts,
            f"mean search degree {self.index.degrees.mean():.1f}")

    def grid(self):
        return [(b, t) for t in CODED_TABLES for b in BEAMS]

    @staticmethod
    def label(p):
        return f"beam {p[0]}, tables {p[1]}"

    def searcher(self, p):
        b, t = p
        search = self.index.search
        return lambda q: search(q, K, beam=b, entry_tables=t)[0]

    def batch(self, p, Q):
        b, t = p
        return self.index.search_batch(Q, K, beam=b, entry_tables=t)[0]


class Rows(Coded):
    """knngraph-lsh-rows: the full-row walk (quantizer="none") over knngraph-lsh's K-NN lists."""

    name, ours = "knngraph-lsh-rows", True

    def __init__(self, X, threads, log, source=None):
        super().__init__(X, threads, log)
        self.source = source

    def build(self):
        def make():
            return KNNGraphIndex("euclidean", n_neighbors=20, n_jobs=self.threads, seed=0,
                                 quantizer="none")

        if self.source is not None:
            ids, sq = squared_graph(self.source.index)
            self.index, secs, rss = measured_build(lambda: make().fit_graph(self.X, ids, sq))
            note = "K-NN lists of knngraph-lsh reused (fit_graph): build = search graph + LSH"
        else:
            self.index, secs, rss = measured_build(lambda: make().fit(self.X))
            note = "own NN-descent (knngraph-lsh not selected)"
        size, parts = graph_index_bytes(self.index)
        self.record(secs, rss, size, "memory_bytes()['total']" if hasattr(
            self.index, "memory_bytes") else "arrays' nbytes", parts, note)

    def grid(self):
        return [(b, e, t) for t in ENTRY_TABLES for e in EPSILONS for b in ROW_BEAMS]

    @staticmethod
    def label(p):
        return f"beam {p[0]}, eps {p[1]}, tables {p[2]}"

    def searcher(self, p):
        b, e, t = p
        search = self.index.search
        return lambda q: search(q, K, beam=b, epsilon=e, entry_tables=t)[0]

    def batch(self, p, Q):
        b, e, t = p
        return self.index.search_batch(Q, K, beam=b, epsilon=e, entry_tables=t)[0]


class Hnswlib(System):
    name, ours = "hnswlib", False

    def build(self):
        import hnswlib

        def fit():
            index = hnswlib.Index(space="l2", dim=self.X.shape[1])
            index.init_index(max_elements=self.n, ef_construction=200, M=16, random_seed=0)
            index.add_items(self.X, np.arange(self.n), num_threads=self.threads)
            return index

        self.index, secs, rss = measured_build(fit)
        with tempfile.TemporaryDirectory() as tmp:
            self.index.save_index(os.path.join(tmp, "hnsw.bin"))
            size = path_bytes(Path(tmp) / "hnsw.bin")
        self.record(secs, rss, size, "saved file (save_index)", note="M=16, efConstruction=200")

    def grid(self):
        return HNSW_EF

    def searcher(self, ef):
        self.index.set_ef(ef)
        self.index.set_num_threads(1)
        query = self.index.knn_query
        return lambda q: query(q[None, :], k=K, num_threads=1)[0][0]

    def batch(self, ef, Q):
        self.index.set_ef(ef)
        return self.index.knn_query(Q, k=K, num_threads=self.threads)[0]


class PyNNDescent(System):
    name, ours = "pynndescent", False

    def build(self):
        from pynndescent import NNDescent

        def fit():
            index = NNDescent(self.X, n_neighbors=20, n_jobs=self.threads, random_state=0)
            index.prepare()
            return index

        self.index, secs, rss = measured_build(fit)
        try:
            size, what = len(pickle.dumps(self.index, protocol=pickle.HIGHEST_PROTOCOL)), "pickle"
        except Exception as exc:  # noqa: BLE001 - a size we cannot take is reported, not fatal
            size, what = None, f"n/a (pickle failed: {type(exc).__name__})"
        self.record(secs, rss, size, what, note="n_neighbors=20, prepare()")

    def grid(self):
        return PYNN_EPS

    def searcher(self, eps):
        query = self.index.query
        return lambda q: query(q[None, :], k=K, epsilon=eps)[0][0]

    def batch(self, eps, Q):
        return self.index.query(Q, k=K, epsilon=eps)[0]


class _SavingGlass:
    """Stands in for the glass module inside the adapter's fit, to save the graph before
    ``glass.Searcher`` takes it over (a Graph handed to a Searcher is emptied)."""

    def __init__(self, glass, path):
        self._glass, self._path = glass, path

    def __getattr__(self, name):
        return getattr(self._glass, name)

    def Searcher(self, graph, *args, **kw):  # noqa: N802 - glass's name
        graph.save(str(self._path))
        return self._glass.Searcher(graph, *args, **kw)


class Glass(System):
    """glass through the plugin's adapter (HNSW R=32, L=200, SQ8U walk, FP32 re-rank)."""

    name, ours = "glass", False
    PARAMS = {"R": 32, "L": 200, "quant": "SQ8U", "refine": "FP32"}

    def __init__(self, X, threads, log, calls):
        super().__init__(X, threads, log)
        self.calls = calls

    def build(self):
        from ann_benchmarks_plugin.algorithms.peer_glass import module

        self.adapter = module.Glass("euclidean", dict(self.PARAMS))
        real = module.glass
        with tempfile.TemporaryDirectory() as tmp:
            graph_file = Path(tmp) / "glass.graph"
            module.glass = _SavingGlass(real, graph_file)
            try:
                _, secs, rss = measured_build(lambda: self.adapter.fit(self.X))
            finally:
                module.glass = real
            graph = path_bytes(graph_file) if graph_file.exists() else None
        n, d = self.X.shape
        codes, rows = n * d, 4 * n * d
        size = None if graph is None else graph + codes + rows
        self.record(secs, rss, size, "graph file + SQ8U codes (n d B) + FP32 rows (4 n d B), "
                    "computed", {"graph_file": graph, "sq8u_codes": codes, "fp32_rows": rows},
                    "R=32, L=200, SQ8U walk + FP32 re-rank; adapter's fit (all cores)")

    def grid(self):
        return GLASS_EF

    def searcher(self, ef):
        self.adapter.set_query_arguments(ef)
        if self.calls == "adapter":
            query = self.adapter.query
            return lambda q: query(q, K)
        search = self.adapter.searcher.search
        return lambda q: search(q, K)[0]

    def batch(self, ef, Q):
        self.adapter.set_query_arguments(ef)
        return self.adapter.searcher.batch_search(Q, K, self.threads)[0]


class SymphonyQG(System):
    """SymphonyQG (rabitqlib.SymqgIndex) through the plugin's adapter (degree 32, beam 400)."""

    name, ours = "symphonyqg", False
    PARAMS = {"degree": 32, "ef_construction": 400}

    def __init__(self, X, threads, log, calls):
        super().__init__(X, threads, log)
        self.calls = calls

    def build(self):
        from ann_benchmarks_plugin.algorithms.peer_symphonyqg import module

        self.adapter = module.SymphonyQG("euclidean", dict(self.PARAMS))
        _, secs, rss = measured_build(lambda: self.adapter.fit(self.X))
        with tempfile.TemporaryDirectory() as tmp:
            self.adapter.index.save(os.path.join(tmp, "symqg.index"))
            size = path_bytes(tmp)
        self.record(secs, rss, size, "saved file (SymqgIndex.save)",
                    note=f"degree 32, ef_construction 400, rows padded to {self.adapter.dim} "
                         "dims; adapter's fit (all cores)")

    def grid(self):
        return [ef for ef in SYMQG_EF if ef >= K]

    def searcher(self, ef):
        self.adapter.set_query_arguments(ef)
        if self.calls == "adapter":
            query = self.adapter.query
            return lambda q: query(q, K)
        search, row, d = self.adapter.index.search, np.zeros((1, self.adapter.dim), np.float32), \
            self.X.shape[1]

        def direct(q):
            row[0, :d] = q
            return search(row, K, ef, 1)[0][0]

        return direct

    def batch(self, ef, Q):
        Qp = np.zeros((Q.shape[0], self.adapter.dim), np.float32)
        Qp[:, :Q.shape[1]] = Q
        return self.adapter.index.search_batch(Qp, K, max(ef, K), self.threads)[0]


def make_systems(names, X, threads, log, calls):
    out = {}
    for name in SYSTEMS:  # the build order: ours first (the row walk reuses the coded one's lists)
        if name not in names:
            continue
        if name == "knngraph-lsh":
            out[name] = Coded(X, threads, log)
        elif name == "knngraph-lsh-rows":
            out[name] = Rows(X, threads, log, out.get("knngraph-lsh"))
        elif name == "hnswlib":
            out[name] = Hnswlib(X, threads, log)
        elif name == "pynndescent":
            out[name] = PyNNDescent(X, threads, log)
        elif name == "glass":
            out[name] = Glass(X, threads, log, calls)
        else:
            out[name] = SymphonyQG(X, threads, log, calls)
    return out


def warm_up(names, X, threads, batch):
    """Compile (or load from numba's cache) the kernels of ours and pynndescent on a small slice,
    outside the timed builds."""
    X = X[:3000]
    if any(n in OURS for n in names):
        for quantizer in ("rabitq", "none"):
            g = KNNGraphIndex("euclidean", n_neighbors=20, n_jobs=threads,
                              quantizer=quantizer).fit(X)
            g.search(X[0], K, entry_tables=2)
            if batch:
                g.search_batch(X[:4], K)
    if "pynndescent" in names:
        from pynndescent import NNDescent

        index = NNDescent(X, n_neighbors=20, n_jobs=threads, random_state=0)
        index.prepare()
        index.query(X[:1], k=K)


def one_thread():
    """Every library this process loaded searches on one thread from here on."""
    numba.set_num_threads(1)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(1)
    if "glass" in sys.modules:
        sys.modules["glass"].set_num_threads(1)


HEARTBEAT = 60.0  # seconds between progress lines inside a sweep


def sweep(system, Q, true_d, runs, batch, max_points, threads):
    out = []
    n = system.n
    grid = thin_grid(system.grid(), max_points)
    last = time.monotonic()
    for i, p in enumerate(grid):
        fn = system.searcher(p)
        fn(Q[0])
        best, ids = time_queries(fn, Q, runs, K)  # seconds per query of the fastest pass
        ids[ids >= n] = -1  # a library's padding (uint32 max) of a short answer
        point = {"param": list(p) if isinstance(p, tuple) else p, "label": system.label(p),
                 "recall": recall_of(system.X, Q, true_d, ids, K), "qps": 1.0 / best}
        if batch:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            t0 = time.perf_counter()
            res = system.batch(p, Q)
            secs = time.perf_counter() - t0
            one_thread()
            if res is not None:
                res = np.asarray(res).astype(np.int64)[:, :K]
                res[(res >= n)] = -1
                point["batch_qps"] = len(Q) / secs
                point["batch_recall"] = recall_of(system.X, Q, true_d, res, K)
        out.append(point)
        if time.monotonic() - last > HEARTBEAT:
            system.log(f"  {system.name}: {i + 1}/{len(grid)} points, {point['label']}: recall "
                       f"{point['recall']:.4f}, {point['qps']:,.0f} QPS")
            last = time.monotonic()
    return out


def curve(points, key="qps"):
    return [(p["recall"] if key == "qps" else p["batch_recall"], p[key]) for p in points
            if key in p]


def summarize(repeats):
    """Per target: [{system: QPS at the target on that repeat's frontier}] over the repeats."""
    return {str(t): [{n: pareto_at(curve(pts), t) for n, pts in rep.items()} for rep in repeats]
            for t in TARGETS}


def ratios(s):
    """{"ours / peer": {target: (lo, hi) or None}} for every ours x peer pair of the run."""
    names = list(s["repeats"][0])
    out = {}
    for o in [n for n in names if n in OURS]:
        for p in [n for n in names if n not in OURS]:
            out[f"{o} / {p}"] = {str(t): ratio_range([c[o] for c in s["at"][str(t)]],
                                                     [c[p] for c in s["at"][str(t)]])
                                 for t in TARGETS}
    return out


def mb(v):
    return "n/a" if v is None else f"{v / 1e6:,.1f}"


def fmt_ratio(lo_hi):
    """A ratio range as "lo-hi", one value when both print alike, "not reached" for None."""
    if not lo_hi:
        return "not reached"
    lo, hi = (f"{v:.2f}" for v in lo_hi)
    return lo if lo == hi else f"{lo}-{hi}"


def markdown(s):
    i = s["info"]
    names = list(s["repeats"][0])
    raw = s["n"] * s["dim"] * 4
    orders = "; ".join(" > ".join(o) for o in s["orders"])
    lines = [f"# K-NN graph search: ours vs the graph leaders on {s['dataset']} "
             f"({s['n']:,} x {s['dim']})", "",
             *header_lines(i, s["load_end"]),
             f"- {s['queries']} queries, each timed alone on one thread (ann-benchmarks style), "
             f"best of {s['runs']} passes per point; {len(s['repeats'])} repeats in one process, "
             f"the order of the systems reversed every other repeat ({orders}); builds on "
             f"{s['threads']} threads (peers' adapters: every usable core)",
             "- QPS at a recall@10 level: interpolated on each repeat's Pareto frontier, shown "
             "as min-max over the repeats; hnswlib and pynndescent called directly, glass and "
             "symphonyqg through "
             + CALLS[s["calls"]]
             + ("; angular: unit-normalised rows searched in L2 by every system"
                if s["metric"] == "angular" else ""), "",
             "| system | " + " | ".join(f"QPS @ {t}" for t in TABLE_TARGETS)
             + " | build (s) | index MB | raw MB | max recall@10 |",
             "| --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " | --- | --- | --- | --- |"]
    for n in names:
        b = s["builds"][n]
        reused = " (K-NN lists reused)" if "reused" in (b["note"] or "") else ""
        lines.append(f"| {n}{' (ours)' if n in OURS else ''} | " + " | ".join(
            fmt_range([c[n] for c in s["at"][str(t)]]) for t in TABLE_TARGETS)
            + f" | {b['build_s']:.1f}{reused} | {mb(b['index_bytes'])} | {mb(raw)} | "
            f"{s['max_recall'][n]:.4f} |")
    rat = s["ratios"]
    if rat:
        lines += ["", "| ours / peer | " + " | ".join(f"@ {t}" for t in TABLE_TARGETS) + " |",
                  "| --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " |"]
        for pair, cells in rat.items():
            lines.append(f"| {pair} | " + " | ".join(
                fmt_ratio(cells[str(t)]) for t in TABLE_TARGETS) + " |")
        lines += ["", "A ratio spans min over the repeats of ours / max of the peer .. max of "
                  "ours / min of the peer (one value when they agree)."]
    lines += ["", "| system | index bytes: what | resident memory growth over the build (MB) "
              "| notes |", "| --- | --- | --- | --- |"]
    for n in names:
        b = s["builds"][n]
        lines.append(f"| {n} | {b['index_what']} | {mb(b['rss_growth'])} | {b['note'] or ''} |")
    for n in names:
        if s["builds"][n]["index_parts"]:
            lines += ["", f"{n} index bytes by part: `{s['builds'][n]['index_parts']}`"]
    if any("batch_qps" in p for rep in s["repeats"] for pts in rep.values() for p in pts):
        lines += ["", f"Batch mode ({s['threads']} threads, the whole query set per call), QPS "
                  "at recall@10 (first repeat):", "",
                  "| recall@10 | " + " | ".join(names) + " |",
                  "| --- | " + " | ".join("---" for _ in names) + " |"]
        rep = s["repeats"][0]
        for t in TABLE_TARGETS:
            lines.append(f"| {t} | " + " | ".join(
                fmt_range([pareto_at(curve(rep[n], "batch_qps"), t)]) if any(
                    "batch_qps" in p for p in rep[n]) else "n/a" for n in names) + " |")
    lines += ["", "| repeat | system | parameters | recall@10 | QPS |",
              "| --- | --- | --- | --- | --- |"]
    for r, rep in enumerate(s["repeats"]):
        for name, pts in rep.items():
            lines += [f"| {r} | {name} | {p.get('label', p['param'])} | {p['recall']:.4f} | "
                      f"{p['qps']:,.0f} |" for p in pts]
    return "\n".join(lines) + "\n"


def plot(s, path):
    """Recall@10 vs QPS (log), each system's frontier per repeat (later repeats paler); batch
    mode dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8.5, 6))
    lows = [p["recall"] for rep in s["repeats"] for pts in rep.values() for p in pts]
    for r, rep in enumerate(s["repeats"]):
        for name, pts in rep.items():
            f = frontier([(min(x, 0.9999), y) for x, y in curve(pts)])
            ours = name in OURS
            ax.plot([x for x, _ in f], [y for _, y in f], "o-" if ours else "s--",
                    ms=3, lw=2.0 if ours else 1.2, color=COLORS.get(name),
                    alpha=1.0 if r == 0 else 0.45, label=name if r == 0 else None)
            if r == 0 and any("batch_qps" in p for p in pts):
                f = frontier([(min(x, 0.9999), y) for x, y in curve(pts, "batch_qps")])
                ax.plot([x for x, _ in f], [y for _, y in f], ":", color=COLORS.get(name),
                        alpha=0.6, label=f"{name} (batch, {s['threads']} threads)")
    ax.set_yscale("log")
    ax.set_xscale("logit", nonpositive="clip")  # spreads 0.9 / 0.99 / 0.999 evenly
    ax.set_xlim(max(0.5, min(lows) if lows else 0.5), 0.9999)
    ticks = [t for t in (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
             if t >= ax.get_xlim()[0]]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("recall@10 (logit scale; 1.0 drawn at the right edge)")
    ax.set_ylabel("queries per second, one query per call, 1 thread (log)")
    ax.set_title(f"{s['dataset']} ({s['n']:,} x {s['dim']}): {len(s['repeats'])} repeats "
                 "(later ones paler)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def parse_systems(text, ap):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        ap.error(f"--systems: unknown {unknown} (known: {','.join(SYSTEMS)})")
    return [n for n in SYSTEMS if n in names]


def main(argv=None):
    """Run the benchmark (see the module docstring); returns the summary written to JSON. The
    process's numba thread count is restored afterwards (the sweeps set it to 1)."""
    return common.restoring_threads(_main, argv)


def _main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 parents=[options(out=ROOT / "results" / "knngraph")])
    ap.add_argument("--tag", default=None, help="file name tag (default <dataset>-<n/1000>k)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated subset of %(default)s")
    ap.add_argument("--runs", type=int, default=2, help="timed passes per point (best kept)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="sweeps, the order of the systems reversed every other one")
    ap.add_argument("--threads", type=int, default=usable_cpus(), help="build / batch threads")
    ap.add_argument("--calls", choices=("adapter", "direct"), default="adapter",
                    help="glass / symphonyqg: time the plugin adapter's query() (as the harness "
                         "runs it) or the library's search call")
    ap.add_argument("--max-points", type=int, default=None,
                    help="at most this many points of every grid, evenly spaced (smoke runs)")
    ap.add_argument("--batch", action="store_true", help="also time batch mode")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the plot of a finished run")
    a = ap.parse_args(argv)
    if a.replot:
        src = Path(a.replot)
        plot(json.loads(src.read_text()), src.with_suffix(".png"))
        return
    if min(a.queries, a.runs, a.repeats, a.threads, a.max_points or 1) < 1:
        ap.error("--queries, --runs, --repeats, --threads and --max-points must be >= 1")
    names = parse_systems(a.systems, ap)
    check_peers(names)
    log = Log()
    info = run_info("bench_graph_search", argv, PACKAGES)
    data = data_path(a.data)
    X, Q, _, true_d, metric = load_data(data, queries=a.queries)
    X, Q, true_d = l2_space(X, Q, true_d[:, :K], metric)
    dataset = data.name.removesuffix(".hdf5")
    tag = a.tag or f"{dataset}-{X.shape[0] // 1000}k"
    log(f"data {data}: {X.shape[0]:,} x {X.shape[1]} {metric}, {len(Q)} queries; systems "
        f"{', '.join(names)}")

    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    warm_up(names, X, a.threads, a.batch)
    systems = make_systems(names, X, a.threads, log, a.calls)
    for name, system in systems.items():
        log(f"building {name}")
        numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
        system.build()
        b = system.info
        log(f"{name} built in {b['build_s']:.1f} s, index {mb(b['index_bytes'])} MB "
            f"({b['index_what']}), resident memory +{mb(b['rss_growth'])} MB")
    one_thread()
    swept, orders = common.sweep_repeats(
        names, a.repeats,
        lambda n: sweep(systems[n], Q, true_d, a.runs, a.batch, a.max_points, a.threads),
        lambda n, got, t: pareto_at(curve(got), t), log, TABLE_TARGETS)
    repeats = [{n: rep[n] for n in names} for rep in swept]
    summary = {"info": info, "dataset": dataset, "metric": metric, "n": X.shape[0],
               "dim": X.shape[1], "queries": len(Q), "runs": a.runs, "threads": a.threads,
               "calls": a.calls, "max_points": a.max_points, "orders": orders,
               "builds": {n: s.info for n, s in systems.items()},
               "raw_bytes": int(X.shape[0] * X.shape[1] * 4), "repeats": repeats,
               "at": summarize(repeats),
               "max_recall": {n: max(p["recall"] for rep in repeats for p in rep[n])
                              for n in names},
               "load_end": os.getloadavg()[0]}
    summary["ratios"] = ratios(summary)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"search_{tag}"
    write_atomic(stem.with_suffix(".json"), json.dumps(summary, indent=1, default=str))
    write_atomic(stem.with_suffix(".md"), markdown(summary))
    plot(summary, stem.with_suffix(".png"))
    log(f"wrote {stem.with_suffix('.md')}")
    write_atomic(stem.with_suffix(".log"), log.text())
    return summary


if __name__ == "__main__":
    main()
