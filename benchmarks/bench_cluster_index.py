"""Recall@10 vs single-thread QPS: annann's cluster index next to the IVF leaders, one process.

Systems (``--systems`` picks a subset):

- ``annann-raw`` (ours): ``ClusterIndex(n_clusters=--lists, seed)``, its default scan of RaBitQ
  codes (quantizer="rabitq": a member's row is re-ranked exactly when its lower bound beats the
  k-th best); grid C (--ladder) x r (--rerank: C * r routing candidates, set as
  ``index.rerank``) x margin (--margins, default 1.0 and 1.9);
- ``annann-raw-rows`` (ours): the exact scan of every member row (quantizer="none") over the
  SAME clusters (``fit(X, centers=, labels=)`` with annann-raw's centres and assignment: no
  second k-means; its own fit when annann-raw is not selected); grid C x r;
- ``annann-raw-disk`` (ours, with ``--disk``): annann-raw with ``storage="disk"`` (raw rows
  memmapped from a temp dir, codes in RAM), same clusters; its RAM is ``memory_bytes()["ram"]``.
  The sweeps read the rows through a warm page cache (the file was just written): its QPS is
  the memmap's overhead, not a cold disk's;
- ``faiss-ivf-hnsw``: faiss ``IVF<lists>_HNSW32,Flat`` with the same lists and the C ladder as
  nprobe, efSearch max(32, nprobe) and max(64, 2 nprobe) (its frontier over both), as before;
- ``rabitq-ivf`` (``rabitqlib.IvfIndex``, 4 sqrt(n) faiss k-means lists, 7 bits), ``scann``
  (pybind extension, no TensorFlow; euclidean: upstream's two groups, 2000 leaves x 4 dims per
  block and 600 leaves x 2, plain squared L2; angular: 2000 leaves x 2, anisotropic threshold
  0.2 on dot product; leaves scaled as 2.0 / 0.6 sqrt(n)), ``lorann`` (1 and 2 sqrt(n) clusters,
  global_dim auto, rank 32) and ``faiss-ivfpqfs`` (``IVF<n>,PQ<d/2>x4fs`` in IndexRefineFlat,
  0.5 / 1 / 2 / 4 sqrt(n) lists), through the plugin's adapters (``peer_*``: fit,
  set_query_arguments, query, the code the harness runs; ``--calls direct`` calls the libraries)
  with the grids of algos.yaml. A system with several builds is one curve: the Pareto frontier
  over all its builds' points, as ann-benchmarks draws an algorithm.

Everything is built first (ours: k-means on scikit-learn's thread, Lloyd and assignment on every
core; the peers on every usable core); then the sweeps run --repeats times, the order of the
systems reversed every other repeat, each query timed alone on one thread (ann-benchmarks
style), best of --runs passes per point. Recall@10 is by distance threshold on the true
distances of the returned ids; QPS at recall 0.9 / 0.95 / 0.99 is interpolated on each repeat's
Pareto frontier and shown as min-max over the repeats; an ours / peer ratio spans min(ours) /
max(peer) .. max(ours) / min(peer). Index size: ours ``memory_bytes()["total"]``; the peers
their saved index (faiss: serialize_index; scann: serialize; lorann, rabitqlib: save), with the
growth of resident memory over the build beside it. A peer that is not installed stops the run
(leave it out with --systems).

    python -m benchmarks.bench_cluster_index --n 100000 --lists 1024 --repeats 1   # quick
    python -m benchmarks.bench_cluster_index --lists 4sqrt --disk                   # 1M SIFT
    python -m benchmarks.bench_cluster_index --data data/fashion-mnist-784-euclidean.hdf5 \\
        --lists 4sqrt --tag fashion

Angular sets are unit-normalised and searched in L2 by every system (scann by dot product, its
upstream configuration; the same ranking). Writes results/cluster_index/bench_<tag>.{md,json,
csv,log,png}.
"""

import argparse
import csv
import gc
import importlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from annann.ivf.index import ClusterIndex
from benchmarks import common
from benchmarks.common import (ROOT, Log, data_path, fmt_range, header_lines, l2_space,
                               load_data, options, path_bytes, ratio_range, recall_of,
                               run_info, thin_grid, time_queries, write_atomic)
from benchmarks.common import frontier as pareto, pareto_at as qps_at

K = 10
LADDER = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256,
          320, 400, 512, 640, 800]
RERANKS = [1]  # routing candidates per scanned cluster: 1, the centroid HNSW ranks in raw space
MARGINS = [1.0, 1.9]
TARGETS = (0.8, 0.9, 0.95, 0.99)
TABLE_TARGETS = (0.9, 0.95, 0.99)
# the peers' grids, from algos.yaml (upstream ann-benchmarks' configs)
RABITQ_NPROBE = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
SCANN_PAIRS = [(1, 30), (2, 30), (4, 30), (8, 30), (30, 120), (35, 100), (40, 80), (45, 80),
               (50, 80), (55, 95), (60, 110), (65, 110), (75, 110), (90, 110), (110, 120),
               (130, 150), (150, 200), (170, 200), (200, 300), (220, 500), (250, 500), (310, 300),
               (400, 300), (500, 500), (800, 1000)]
LORANN_PAIRS = [(8, 100), (16, 200), (24, 300), (32, 400), (48, 600), (64, 800), (96, 1000),
                (128, 1500), (192, 2000), (256, 3000)]
PQFS_NPROBE = [1, 5, 10, 50, 100, 200]
PQFS_REORDER = [0, 10, 100, 1000]
# builds: upstream's absolute counts on 1M written as multiples of sqrt(n) (2000 = 2.0 sqrt(1M))
SCANN_BUILDS = {"euclidean": [{"n_leaves": 2.0, "dims_per_block": 4, "avq_threshold": None},
                              {"n_leaves": 0.6, "dims_per_block": 2, "avq_threshold": None}],
                "angular": [{"n_leaves": 2.0, "dims_per_block": 2, "avq_threshold": 0.2}]}
LORANN_BUILDS = [{"n_clusters": c, "global_dim": "auto", "rank": 32, "train_size": 5}
                 for c in (1.0, 2.0)]
PQFS_LISTS = [0.5, 1.0, 2.0, 4.0]
RABITQ_BUILDS = [{"n_lists": 4.0, "nbits": 7}]

OURS = ("annann-raw", "annann-raw-rows", "annann-raw-disk")
PEERS = ("faiss-ivf-hnsw", "rabitq-ivf", "scann", "lorann", "faiss-ivfpqfs")
SYSTEMS = OURS + PEERS
ADAPTERS = "ann_benchmarks_plugin.algorithms."
PEER_MODULES = {"faiss-ivf-hnsw": ("faiss",),
                "rabitq-ivf": ("faiss", "rabitqlib", ADAPTERS + "peer_rabitq_ivf.module"),
                "scann": (ADAPTERS + "peer_scann.module",),  # loads scann's pybind .so only
                "lorann": ("lorann", ADAPTERS + "peer_lorann.module"),
                "faiss-ivfpqfs": ("faiss", ADAPTERS + "peer_faiss_ivfpqfs.module")}
PIP_NAMES = {"faiss-ivf-hnsw": "faiss-cpu", "rabitq-ivf": "rabitqlib (Python >= 3.11), faiss-cpu",
             "scann": "scann", "lorann": "lorann (compiles from source)",
             "faiss-ivfpqfs": "faiss-cpu"}
PACKAGES = ("numpy", "numba", "scikit-learn", "faiss-cpu", "rabitqlib", "scann", "lorann")
COLORS = {"annann-raw": "tab:red", "annann-raw-rows": "tab:orange", "annann-raw-disk": "tab:pink",
          "faiss-ivf-hnsw": "tab:blue", "rabitq-ivf": "tab:brown", "scann": "tab:green",
          "lorann": "tab:purple", "faiss-ivfpqfs": "tab:cyan"}

CALLS = common.CALLS


def check_peers(names):
    """SystemExit naming the selected peers that do not import (``common.check_peers``)."""
    common.check_peers("bench_cluster_index", names, PEER_MODULES, PIP_NAMES)


measured_build = common.measured_build


def sqrt_count(f, n):
    return int(round(f * math.sqrt(n)))


def dedup(grid):
    seen, out = set(), []
    for p in grid:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


class System:
    """One benchmarked system: one or more builds, each with a query grid of single-query
    functions; its curve is the frontier over every build's points."""

    name = None
    ours = False
    scans = False  # reports vectors scanned per query

    def __init__(self, X, args, log):
        self.X, self.n, self.args, self.log = X, X.shape[0], args, log
        self.builds = []  # [{"build": label, "build_s", "rss_growth", "index_bytes", ...}]

    def record(self, label, secs, rss, size, what, **extra):
        self.builds.append({"build": label, "build_s": secs, "rss_growth": rss,
                            "index_bytes": size, "index_what": what, **extra})
        self.log(f"{self.name} [{label}] built in {secs:.1f} s, index "
                 f"{mb(size)} MB ({what}), resident memory +{mb(rss)} MB")

    def points(self):
        """[(build index, query parameter)] in sweep order."""
        raise NotImplementedError

    def searcher(self, b, p):
        raise NotImplementedError

    def label(self, b, p):
        return str(p)

    def scanned(self, runs, m):
        return None


# ---- ours ----------------------------------------------------------------------------------
class Ours(System):
    """annann-raw: the cluster index scanning RaBitQ codes (quantizer="rabitq")."""

    name, ours, scans = "annann-raw", True, True
    quantizer, storage = "rabitq", "memory"

    def __init__(self, X, args, log, lists, source=None):
        super().__init__(X, args, log)
        self.lists, self.source, self.storage_path = lists, source, None

    def make(self):
        return ClusterIndex("euclidean", n_clusters=self.lists, rerank=1, seed=self.args.seed,
                            quantizer=self.quantizer, storage=self.storage,
                            storage_path=self.storage_path)

    def build(self):
        clusters = reused_clusters(self.source) if self.source is not None else None
        if clusters is None:
            self.index, secs, rss = measured_build(lambda: self.make().fit(self.X))
            note = None if self.source is None else "own k-means (reuse failed)"
        else:
            centers, labels = clusters
            self.index, secs, rss = measured_build(
                lambda: self.make().fit(self.X, centers=centers, labels=labels))
            note = f"clusters of {self.source.name} reused (no k-means in the build time)"
        m = self.index.memory_bytes()
        self.record(f"{self.index.n_clusters_} lists", secs, rss, int(m["total"]),
                    "memory_bytes()['total']", memory=m, note=note,
                    imbalance=self.index.imbalance())

    def grid(self):
        return [(C, r, m) for m in self.args.margins for r in self.args.rerank
                for C in self.args.ladder if C <= self.index.n_clusters_]

    def points(self):
        return [(0, p) for p in self.grid()]

    def label(self, b, p):
        return f"C {p[0]}, r {p[1]}" + (f", margin {p[2]}" if len(p) > 2 else "")

    def searcher(self, b, p):
        C, r, m = p
        index = self.index
        index.rerank = r
        index.counters.reset()
        search = index.search
        return lambda q: search(q, K, C=C, margin=m)[0]

    def scanned(self, runs, m):
        return self.index.counters.mean("scanned")


class OursRows(Ours):
    """annann-raw-rows: the exact scan of every member row (quantizer="none")."""

    name, quantizer = "annann-raw-rows", "none"

    def grid(self):
        return [(C, r) for r in self.args.rerank for C in self.args.ladder
                if C <= self.index.n_clusters_]

    def searcher(self, b, p):
        C, r = p
        index = self.index
        index.rerank = r
        index.counters.reset()
        search = index.search
        return lambda q: search(q, K, C=C)[0]


class OursDisk(Ours):
    """annann-raw-disk: annann-raw with the raw rows memmapped from a temp dir."""

    name, storage = "annann-raw-disk", "disk"

    def build(self):
        self.storage_path = tempfile.mkdtemp(prefix="bench-cluster-disk-",
                                             dir=self.args.disk_dir)
        super().build()
        self.builds[-1]["disk_bytes"] = path_bytes(self.storage_path)

    def cleanup(self):
        self.index = None
        gc.collect()
        shutil.rmtree(self.storage_path, ignore_errors=True)


def reused_clusters(source):
    """(centres, labels by id) of a fitted annann index, to build a twin over the same clusters
    (``fit(X, centers=, labels=)``); None if the index does not expose them."""
    try:
        index = source.index
        store = index._store
        labels = store.clusters_of_rows(store.rows_of(np.arange(index.size)))
        return np.asarray(index._routing), np.asarray(labels, dtype=np.int64)
    except (AttributeError, KeyError, ValueError, TypeError):
        return None


# ---- peers ---------------------------------------------------------------------------------
class FaissIVFHNSW(System):
    """faiss IVF<lists>_HNSW32,Flat; nprobe on the C ladder, efSearch by two rules."""

    name, scans = "faiss-ivf-hnsw", True

    def __init__(self, X, args, log, lists):
        super().__init__(X, args, log)
        self.lists = lists

    def build(self):
        import faiss

        self.faiss = faiss

        def fit():
            faiss.omp_set_num_threads(self.args.build_threads)
            index = faiss.index_factory(self.X.shape[1], f"IVF{self.lists}_HNSW32,Flat")
            index.train(self.X)
            index.add(self.X)
            faiss.omp_set_num_threads(1)
            return index

        self.index, secs, rss = measured_build(fit)
        self.ivf = faiss.extract_index_ivf(self.index)
        self.record(f"{self.lists} lists", secs, rss,
                    int(faiss.serialize_index(self.index).nbytes), "serialize_index")

    def points(self):
        return [(0, (p, ef)) for p in self.args.ladder if p <= self.lists
                for ef in sorted({max(32, p), max(64, 2 * p)})]

    def label(self, b, p):
        return f"nprobe {p[0]} (efSearch {p[1]})"

    def searcher(self, b, p):
        nprobe, ef = p
        self.ivf.nprobe = nprobe
        self.faiss.downcast_index(self.ivf.quantizer).hnsw.efSearch = ef
        self.faiss.cvar.indexIVF_stats.reset()
        search = self.index.search
        return lambda q: search(q[None, :], K)[1][0]

    def scanned(self, runs, m):
        return self.faiss.cvar.indexIVF_stats.ndis / (runs * m)


class Adapted(System):
    """A peer behind its plugin adapter: one adapter object per build."""

    module = cls = None

    def __init__(self, X, args, log, metric):
        super().__init__(X, args, log)
        self.metric = metric
        self.adapters = []

    def configs(self):
        raise NotImplementedError

    def new(self, config):
        mod = importlib.import_module(ADAPTERS + self.module)
        return getattr(mod, self.cls)(self.metric, config)

    def build(self):
        for config in self.configs()[:self.args.max_builds]:
            adapter = self.new(config)
            _, secs, rss = measured_build(lambda: adapter.fit(self.X))
            self.adapters.append(adapter)
            size, what = self.saved_bytes(adapter)
            self.record(self.build_label(adapter), secs, rss, size, what,
                        config={k: v for k, v in config.items()} if isinstance(config, dict)
                        else config)

    def saved_bytes(self, adapter):
        raise NotImplementedError

    def build_label(self, adapter):
        raise NotImplementedError

    def set_arguments(self, adapter, p):
        adapter.set_query_arguments(p)

    def points(self):
        return [(b, p) for b, a in enumerate(self.adapters) for p in self.grid(a)]

    def label(self, b, p):
        return f"[{self.builds[b]['build']}] {p}"

    def searcher(self, b, p):
        a = self.adapters[b]
        self.set_arguments(a, p)
        if self.args.calls == "adapter":
            query = a.query
            return lambda q: query(q, K)
        return self.direct(a, p)


class RabitqIVF(Adapted):
    name, module, cls = "rabitq-ivf", "peer_rabitq_ivf.module", "RabitqIVF"

    def configs(self):
        return [dict(c) for c in RABITQ_BUILDS]

    def saved_bytes(self, a):
        with tempfile.TemporaryDirectory() as tmp:
            a.index.save(os.path.join(tmp, "ivf.index"))
            return path_bytes(tmp), "saved file (IvfIndex.save)"

    def build_label(self, a):
        return f"lists={a.n_lists}, nbits={a.nbits}"

    def grid(self, a):
        return [p for p in RABITQ_NPROBE if p <= a.n_lists]

    def direct(self, a, nprobe):
        search, row, d = a.index.search, np.zeros((1, a.dim), np.float32), self.X.shape[1]

        def query(q):
            row[0, :d] = q
            return search(row, K, nprobe, None, 1)[0][0]

        return query


class Scann(Adapted):
    name, module, cls = "scann", "peer_scann.module", "Scann"

    def configs(self):
        return [dict(c) for c in SCANN_BUILDS[self.metric]]

    def saved_bytes(self, a):
        with tempfile.TemporaryDirectory() as tmp:
            a.searcher.serialize(tmp, False)
            return path_bytes(tmp), "serialized assets (ScannNumpy.serialize)"

    def build_label(self, a):
        avq = "none" if math.isnan(a.avq_threshold) else f"{a.avq_threshold:g}"
        return f"leaves={a.n_leaves}, dims/block={a.dims_per_block}, avq={avq}"

    def set_arguments(self, a, p):
        a.set_query_arguments(list(p))

    def grid(self, a):
        return dedup([(min(leaves, a.n_leaves), reorder) for leaves, reorder in SCANN_PAIRS])

    def direct(self, a, p):
        leaves, reorder = p
        search, reorder = a.searcher.search, max(reorder, K)
        return lambda q: search(q, K, reorder, leaves)[0]


class Lorann(Adapted):
    name, module, cls = "lorann", "peer_lorann.module", "Lorann"

    def configs(self):
        return [dict(c) for c in LORANN_BUILDS]

    def saved_bytes(self, a):
        with tempfile.TemporaryDirectory() as tmp:
            a.index.save(os.path.join(tmp, "lorann.index"))
            return path_bytes(tmp), "saved file (LorannIndex.save)"

    def build_label(self, a):
        return f"clusters={a.n_clusters}, global_dim={a.global_dim}, rank={a.rank}"

    def set_arguments(self, a, p):
        a.set_query_arguments(list(p))

    def grid(self, a):
        return dedup([(min(c, a.n_clusters), r) for c, r in LORANN_PAIRS])

    def direct(self, a, p):
        clusters, points = p
        search, row, d = a.index.search, np.zeros(a.dim, np.float32), self.X.shape[1]

        def query(q):
            row[:d] = q
            return search(row, K, clusters, points, False, 1)

        return query


class FaissIVFPQfs(Adapted):
    name, module, cls = "faiss-ivfpqfs", "peer_faiss_ivfpqfs.module", "FaissIVFPQfs"

    def configs(self):
        return list(PQFS_LISTS)

    def new(self, lists):
        mod = importlib.import_module(ADAPTERS + self.module)
        return mod.FaissIVFPQfs(self.metric, lists)

    def saved_bytes(self, a):
        import faiss

        return int(faiss.serialize_index(a.index).nbytes), "serialize_index (with the refine rows)"

    def build_label(self, a):
        return f"lists={a.n_lists}, M={a.M}"

    def set_arguments(self, a, p):
        a.set_query_arguments(*p)

    def grid(self, a):
        return dedup([(min(p, a.n_lists), r) for p in PQFS_NPROBE for r in PQFS_REORDER])

    def direct(self, a, p):
        nprobe, reorder = p
        d = self.X.shape[1]
        row = np.zeros((1, a.dim), np.float32)
        if reorder == 0:
            search = a.base.search
        else:
            a.index.k_factor = max(1.0, reorder / K)
            search = a.index.search

        def query(q):
            row[0, :d] = q
            return search(row, K)[1][0]

        return query


def make_systems(names, X, args, log, lists, metric):
    out = {}
    for name in SYSTEMS:  # build order: ours first (the twins reuse annann-raw's clusters)
        if name not in names:
            continue
        src = out.get("annann-raw")
        out[name] = {"annann-raw": lambda: Ours(X, args, log, lists),
                     "annann-raw-rows": lambda: OursRows(X, args, log, lists, src),
                     "annann-raw-disk": lambda: OursDisk(X, args, log, lists, src),
                     "faiss-ivf-hnsw": lambda: FaissIVFHNSW(X, args, log, lists),
                     "rabitq-ivf": lambda: RabitqIVF(X, args, log, "euclidean"),
                     # scann keeps the data set's metric: its angular config is dot product + AVQ
                     "scann": lambda: Scann(X, args, log, metric),
                     "lorann": lambda: Lorann(X, args, log, "euclidean"),
                     "faiss-ivfpqfs": lambda: FaissIVFPQfs(X, args, log, "euclidean")}[name]()
    return out


def one_thread():
    """Every library this process loaded searches on one thread from here on."""
    import numba

    numba.set_num_threads(1)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(1)


def thinned(points, max_points):
    """At most max_points of every build's (build, parameter) points, in sweep order."""
    builds = dedup([b for b, _ in points])
    keep = {(b, p) for b in builds for p in thin_grid([p for c, p in points if c == b],
                                                        max_points)}
    return [bp for bp in points if bp in keep]


HEARTBEAT = 60.0  # seconds between progress lines inside a sweep


def measure(system, train, Q, gt_d, runs, max_points, log):
    rows = []
    points = thinned(system.points(), max_points)
    last = time.monotonic()
    for i, (b, p) in enumerate(points):
        search = system.searcher(b, p)
        search(Q[0])
        t, ids = time_queries(search, Q, runs, K)
        ids[ids >= train.shape[0]] = -1  # a library's padding (uint32 max) of a short answer
        rec = recall_of(train, Q, gt_d, ids, K)
        rows.append({"system": system.name, "build": system.builds[b]["build"],
                     "param": list(p) if isinstance(p, tuple) else p,
                     "label": system.label(b, p), "recall": rec, "qps": 1.0 / t,
                     "scanned": system.scanned(runs, len(Q))})
        if time.monotonic() - last > HEARTBEAT:
            log(f"  {system.name}: {i + 1}/{len(points)} points, {rows[-1]['label']}: recall "
                f"{rec:.4f}, {rows[-1]['qps']:,.0f} QPS")
            last = time.monotonic()
    return rows


def curve(rows, name, build=None):
    return [(r["recall"], r["qps"]) for r in rows
            if r["system"] == name and (build is None or r["build"] == build)]


def summarize(repeats, names):
    """Per target: [{system: QPS at the target on that repeat's frontier}] over the repeats."""
    return {str(t): [{n: qps_at(curve(rows, n), t) for n in names} for rows in repeats]
            for t in TARGETS}


def ratios(s, names):
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


def plot(s, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8.5, 6))
    for i, rows in enumerate(s["repeats"]):
        for name in s["systems"]:
            front = pareto(curve(rows, name))
            ours = name in OURS
            ax.plot([p[0] for p in front], [p[1] for p in front], "o-" if ours else "s--",
                    ms=3, lw=2.0 if ours else 1.2, color=COLORS.get(name),
                    alpha=1.0 if i == 0 else 0.45, label=name if i == 0 else None)
    ax.set_yscale("log")
    lows = [r["recall"] for rows in s["repeats"] for r in rows]
    ax.set_xlim(max(0.5, min(lows) if lows else 0.5), 1.001)
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second, one query per call, 1 thread (log)")
    ax.set_title(f"{s['dataset']} ({s['n']:,} x {s['dim']}), k=10: {len(s['repeats'])} repeats "
                 "(later ones paler)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def markdown(s):
    i = s["info"]
    names = s["systems"]
    raw = s["raw_bytes"]
    orders = "; ".join(" > ".join(o) for o in s["orders"])
    lines = [f"# Cluster index: ours vs the IVF leaders on {s['dataset']} "
             f"({s['n']:,} x {s['dim']})", "",
             *header_lines(i, s["load_end"]),
             f"- {s['queries']} queries, each timed alone on one thread (ann-benchmarks style), "
             f"best of {s['runs']} passes per point; {len(s['repeats'])} repeats in one process, "
             f"the order of the systems reversed every other repeat ({orders})",
             f"- ours: {s['lists']} lists, C ladder x r {s['rerank']} x margin {s['margins']} "
             f"(annann-raw-rows: C x r); recall@10 by distance threshold; QPS at a level "
             "interpolated on each repeat's Pareto frontier (over all of a system's builds), "
             f"min-max over the repeats; faiss-ivf-hnsw called directly, the other peers "
             "through "
             + CALLS[s["calls"]]
             + ("; angular: unit-normalised rows searched in L2 (scann: dot product)"
                if s["metric"] == "angular" else ""), "",
             "| system | " + " | ".join(f"QPS @ {t}" for t in TABLE_TARGETS)
             + " | build (s) | index MB | raw MB | max recall@10 |",
             "| --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " | --- | --- | --- | --- |"]
    for n in names:
        bs = s["builds"][n]
        secs = " / ".join(f"{b['build_s']:.1f}" for b in bs)
        size = " / ".join(mb(b["index_bytes"]) for b in bs)
        if any(b.get("note") and "reused" in b["note"] for b in bs):
            secs += " (clusters reused)"
        if n == "annann-raw-disk":
            size += f" (RAM {mb(bs[0]['memory']['ram'])})"
        lines.append(f"| {n}{' (ours)' if n in OURS else ''} | " + " | ".join(
            fmt_range([c[n] for c in s["at"][str(t)]]) for t in TABLE_TARGETS)
            + f" | {secs} | {size}"
            + f" | {mb(raw)} | {s['max_recall'][n]:.4f} |")
    if any(len(s["builds"][n]) > 1 for n in names):
        lines += ["", "Several builds: build time and size per build, in the order of the builds "
                  "table below."]
    if s["ratios"]:
        lines += ["", "| ours / peer | " + " | ".join(f"@ {t}" for t in TABLE_TARGETS) + " |",
                  "| --- | " + " | ".join("---" for _ in TABLE_TARGETS) + " |"]
        for pair, cells in s["ratios"].items():
            lines.append(f"| {pair} | " + " | ".join(
                fmt_ratio(cells[str(t)]) for t in TABLE_TARGETS) + " |")
        lines += ["", "A ratio spans min over the repeats of ours / max of the peer .. max of "
                  "ours / min of the peer (one value when they agree)."]
    lines += ["", "| system | build | build (s) | index MB: what | resident memory growth "
              "(MB) | " + " | ".join(f"QPS @ {t}" for t in TABLE_TARGETS)
              + " | max recall@10 |",
              "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in TABLE_TARGETS)
              + " | --- |"]
    for n in names:
        for b in s["builds"][n]:
            qs = [fmt_range([qps_at(curve(rows, n, b["build"]), t) for rows in s["repeats"]])
                  for t in TABLE_TARGETS]
            best = max((r["recall"] for rows in s["repeats"] for r in rows
                        if r["system"] == n and r["build"] == b["build"]), default=None)
            best = "n/a" if best is None else f"{best:.4f}"
            lines.append(f"| {n} | {b['build']} | {b['build_s']:.1f} | {mb(b['index_bytes'])}: "
                         f"{b['index_what']} | {mb(b['rss_growth'])} | " + " | ".join(qs)
                         + f" | {best} |")
    for n in names:
        for b in s["builds"][n]:
            if "memory" in b:
                lines += ["", f"{n} memory_bytes: `{b['memory']}`"
                          + (f"; {b['note']}" if b.get("note") else "")]
    if "annann-raw-disk" in names:
        d = s["builds"]["annann-raw-disk"][0]
        lines += ["", f"annann-raw-disk: RAM {mb(d['memory']['ram'])} MB (memory_bytes()['ram']),"
                  f" rows on disk {mb(d['memory']['disk'])} MB ({mb(d.get('disk_bytes'))} MB in "
                  "its directory); its QPS was taken with the rows in the page cache (written "
                  "just before, read again by every pass): a warm cache, not a cold disk."]
    lines += ["", "| repeat | system | parameters | recall@10 | QPS | vectors scanned |",
              "| --- | --- | --- | --- | --- | --- |"]
    for rep, rows in enumerate(s["repeats"]):
        for r in rows:
            scanned = "" if r["scanned"] is None else f"{r['scanned']:.0f}"
            lines.append(f"| {rep} | {r['system']} | {r['label']} | {r['recall']:.4f} | "
                         f"{r['qps']:,.0f} | {scanned} |")
    return "\n".join(lines) + "\n"


def parse_list(kind):
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def resolve_lists(text, n):
    """--lists: "4sqrt" (4 sqrt(n)), a float (that multiple of sqrt(n)) or an int."""
    text = str(text)
    if text.endswith("sqrt"):
        return sqrt_count(float(text[:-4] or 1), n)
    if "." in text:
        return sqrt_count(float(text), n)
    return int(text)


def main(argv=None):
    """Run the benchmark (see the module docstring); returns the summary written to JSON. The
    process's numba thread count is restored afterwards (the sweeps set it to 1)."""
    return common.restoring_threads(_main, argv)


def _main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 parents=[options(out=ROOT / "results" / "cluster_index")])
    ap.add_argument("--tag", default=None, help="file name tag (default <dataset>-<n/1000>k)")
    ap.add_argument("--systems", default=",".join(s for s in SYSTEMS if s != "annann-raw-disk"),
                    help="comma-separated subset of %(default)s (annann-raw-disk: see --disk)")
    ap.add_argument("--disk", action="store_true",
                    help="also run annann-raw with storage='disk' (annann-raw-disk)")
    ap.add_argument("--disk-dir", default=None, help="where the disk twin's rows go (temp dir)")
    ap.add_argument("--n", type=int, default=None,
                    help="use the first n train rows (exact ground truth recomputed)")
    ap.add_argument("--lists", default="4sqrt",
                    help="lists of ours and faiss-ivf-hnsw: Nsqrt, a float (x sqrt(n)) or an int")
    ap.add_argument("--ladder", type=parse_list(int), default=LADDER,
                    help="C of ours / nprobe of faiss-ivf-hnsw")
    ap.add_argument("--rerank", type=parse_list(int), default=RERANKS,
                    help="ours: routing candidates per scanned cluster (index.rerank)")
    ap.add_argument("--margins", type=parse_list(float), default=MARGINS,
                    help="annann-raw: the scan's margins")
    ap.add_argument("--runs", type=int, default=2, help="timed passes per point (best kept)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="sweeps, the order of the systems reversed every other one")
    ap.add_argument("--build-threads", type=int, default=2, help="faiss-ivf-hnsw's build threads")
    ap.add_argument("--calls", choices=("adapter", "direct"), default="adapter",
                    help="adapted peers: time the plugin adapter's query() (as the harness runs "
                         "it) or the library's search call")
    ap.add_argument("--max-points", type=int, default=None,
                    help="at most this many points of every system's grid (smoke runs)")
    ap.add_argument("--max-builds", type=int, default=None,
                    help="at most this many of every peer's builds, the first ones (smoke runs)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if min(args.queries, args.runs, args.repeats, args.max_points or 1, args.max_builds or 1) < 1:
        ap.error("--queries, --runs, --repeats, --max-points and --max-builds must be >= 1")
    if not args.ladder or not args.rerank or not args.margins:
        ap.error("--ladder, --rerank and --margins need at least one value")
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown or not names:
        ap.error(f"--systems: unknown {unknown} (known: {','.join(SYSTEMS)})")
    if args.disk:
        names.append("annann-raw-disk")
    names = [n for n in SYSTEMS if n in names]
    check_peers([n for n in names if n != "annann-raw-disk"])  # --disk adds that one

    log = Log()
    info = run_info("bench_cluster_index", argv, PACKAGES)
    data = data_path(args.data)
    # the first n rows (exact ground truth recomputed for them), or all
    train, Q, _, gt_d, metric = load_data(data, queries=args.queries, rows=args.n, k=K)
    train, Q, gt_d = l2_space(train, Q, gt_d[:, :K], metric)
    n = train.shape[0]
    try:
        lists = resolve_lists(args.lists, n)
    except ValueError:
        ap.error(f"--lists: expected Nsqrt, a float or an int, got {args.lists!r}")
    dataset = data.name.removesuffix(".hdf5")
    tag = args.tag or f"{dataset}-{n // 1000}k"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"data {data}: {n:,} x {train.shape[1]} {metric}, {len(Q)} queries, ours {lists} lists; "
        f"systems {', '.join(names)}")

    from annann.ivf.index import warm_up

    warm_up("euclidean")  # numba kernels compiled outside the timed builds
    ClusterIndex("euclidean", n_clusters=8, quantizer="none").fit(train[:500]).search(Q[0], K)
    systems = make_systems(names, train, args, log, lists, metric)
    try:
        for name, system in systems.items():
            log(f"building {name}")
            system.build()
        one_thread()
        swept, orders = common.sweep_repeats(
            names, args.repeats,
            lambda n: measure(systems[n], train, Q, gt_d, args.runs, args.max_points, log),
            lambda n, got, t: qps_at(curve(got, n), t), log, TABLE_TARGETS)
        repeats = [[p for got in rep.values() for p in got] for rep in swept]
    finally:
        for system in systems.values():
            if hasattr(system, "cleanup"):
                system.cleanup()
    summary = {"info": info, "dataset": dataset, "metric": metric, "n": n,
               "dim": int(train.shape[1]), "queries": len(Q), "runs": args.runs,
               "lists": lists, "rerank": args.rerank, "margins": args.margins,
               "calls": args.calls, "max_points": args.max_points,
               "max_builds": args.max_builds, "systems": names,
               "orders": orders, "raw_bytes": int(n * train.shape[1] * 4),
               "builds": {nm: s.builds for nm, s in systems.items()}, "repeats": repeats,
               "at": summarize(repeats, names),
               "max_recall": {nm: max(r["recall"] for rows in repeats for r in rows
                                      if r["system"] == nm) for nm in names},
               "load_end": round(os.getloadavg()[0], 2)}
    summary["ratios"] = ratios(summary, names)
    stem = out / f"bench_{tag}"
    write_atomic(stem.with_suffix(".json"), json.dumps(summary, indent=1, default=float))
    fh = io.StringIO(newline="")
    w = csv.DictWriter(fh, fieldnames=["repeat", "system", "build", "param", "recall", "qps",
                                       "scanned"], extrasaction="ignore")
    w.writeheader()
    w.writerows({"repeat": rep, **r} for rep, rows in enumerate(repeats) for r in rows)
    write_atomic(stem.with_suffix(".csv"), fh.getvalue())
    plot(summary, stem.with_suffix(".png"))
    write_atomic(stem.with_suffix(".md"), markdown(summary))
    log(f"wrote {stem.with_suffix('.md')}")
    write_atomic(stem.with_suffix(".log"), log.text())
    return summary


if __name__ == "__main__":
    main()
