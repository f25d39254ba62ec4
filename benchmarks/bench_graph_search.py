"""K-NN graph search against hnswlib and pynndescent: recall@10 vs QPS, one run, peers built here.

Builds knngraph-lsh (K=20, library defaults), hnswlib (M=16, efConstruction=200) and pynndescent
(n_neighbors=20, its defaults, ``prepare()`` for search) on the same data, then sweeps each one's
query parameters (ours: beam x epsilon x entry tables, the grid of algos.yaml; hnswlib: ef;
pynndescent: epsilon) with every query timed alone on one thread, best of --runs passes per point.
The sweeps run --repeats times, the order of the three systems rotating, and the QPS at a recall
level is interpolated on each repeat's Pareto frontier. With --batch, the whole query set is
also answered in one call per point on every core (ours: ``search_batch``; hnswlib: knn_query
with all threads; pynndescent: query on all of X), as ann-benchmarks' --batch mode times it.

    python benchmarks/bench_graph_search.py                                      # 1M SIFT
    python benchmarks/bench_graph_search.py --data data/fashion-mnist-784-euclidean.hdf5 --tag fashion
    python benchmarks/bench_graph_search.py --replot results/knngraph/search_sift-1m.json

Angular sets are unit-normalised and searched in L2 by all three systems (the ranking of cosine
distance). Writes results/knngraph/search_<tag>.{md,json,log,png}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annann.core.atomic import atomic_path  # noqa: E402
from annann.core.cpus import usable_cpus  # noqa: E402
from annann.data.evaluation import knn_recall  # noqa: E402
from annann.graph.index import KNNGraphIndex  # noqa: E402
from ann_benchmarks_plugin.provenance import machine_info, versions_text  # noqa: E402

DEFAULT_DATA = str(ROOT.parent / "shared" / "data" / "fg-sift-128-euclidean.hdf5")
BEAMS = [4, 6, 8, 10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
EPSILONS = [0.1, 0.2, None]
ENTRY_TABLES = [1, 2, 8]
HNSW_EF = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 800]
PYNN_EPS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
TARGETS = (0.8, 0.9, 0.95, 0.99, 0.999)
PACKAGES = ("numpy", "numba", "hnswlib", "pynndescent")


def frontier(points):
    """The Pareto frontier (recall ascending) of (recall, qps) points."""
    front, best = [], -1.0
    for r, q in sorted(points, key=lambda p: (-p[0], -p[1])):
        if q > best:
            front.append((r, q))
            best = q
    return sorted(front)


def pareto_at(points, target):
    """QPS at recall target on the Pareto frontier of (recall, qps) points; None if not reached."""
    front = frontier(points)
    if not front or front[-1][0] < target:
        return None
    for (r0, q0), (r1, q1) in zip(front, front[1:]):
        if r0 <= target <= r1:
            return q0 + (q1 - q0) * (target - r0) / (r1 - r0) if r1 > r0 else max(q0, q1)
    return front[0][1]


class Systems:
    """The three indexes with their query grids, single and batch search functions."""

    def __init__(self, X, threads, log):
        self.X, self.threads, self.log = X, threads, log
        self.builds = {}

    def build(self):
        import hnswlib
        from pynndescent import NNDescent

        X = self.X
        n = X.shape[0]
        NNDescent(X[:3000], n_neighbors=20, n_jobs=self.threads, random_state=0).prepare()
        KNNGraphIndex(n_neighbors=20, n_jobs=self.threads).fit(X[:3000]).search(X[0], 10)
        t0 = time.perf_counter()
        self.ours = KNNGraphIndex(n_neighbors=20, n_jobs=self.threads, seed=0).fit(X)
        self.builds["knngraph-lsh"] = time.perf_counter() - t0
        self.log(f"knngraph-lsh built in {self.builds['knngraph-lsh']:.1f} s")
        t0 = time.perf_counter()
        self.hnsw = hnswlib.Index(space="l2", dim=X.shape[1])
        self.hnsw.init_index(max_elements=n, ef_construction=200, M=16, random_seed=0)
        self.hnsw.add_items(X, np.arange(n), num_threads=self.threads)
        self.builds["hnswlib"] = time.perf_counter() - t0
        self.log(f"hnswlib built in {self.builds['hnswlib']:.1f} s")
        t0 = time.perf_counter()
        self.pynn = NNDescent(X, n_neighbors=20, n_jobs=self.threads, random_state=0)
        self.pynn.prepare()
        self.builds["pynndescent"] = time.perf_counter() - t0
        self.log(f"pynndescent built and prepared in {self.builds['pynndescent']:.1f} s")

    def grid(self, name):
        if name == "knngraph-lsh":
            return [(b, e, t) for t in ENTRY_TABLES for e in EPSILONS for b in BEAMS]
        return HNSW_EF if name == "hnswlib" else PYNN_EPS

    def single(self, name, p):
        if name == "knngraph-lsh":
            b, e, t = p
            return lambda q: self.ours.search(q, 10, beam=b, epsilon=e, entry_tables=t)[0]
        if name == "hnswlib":
            self.hnsw.set_ef(p)
            self.hnsw.set_num_threads(1)
            return lambda q: self.hnsw.knn_query(q[None, :], k=10, num_threads=1)[0][0]
        return lambda q: self.pynn.query(q[None, :], k=10, epsilon=p)[0][0]

    def batch(self, name, p, Q):
        if name == "knngraph-lsh":
            b, e, t = p
            return self.ours.search_batch(Q, 10, beam=b, epsilon=e, entry_tables=t)[0]
        if name == "hnswlib":
            self.hnsw.set_ef(p)
            return self.hnsw.knn_query(Q, k=10, num_threads=self.threads)[0]
        return self.pynn.query(Q, k=10, epsilon=p)[0]


def recall_of(X, Q, true_d, ids):
    ids = np.asarray(ids, dtype=np.int64)
    d = np.sqrt(((X[np.maximum(ids, 0)].astype(np.float64) - Q[:, None, :]) ** 2).sum(axis=2))
    d[ids < 0] = np.inf
    return float(knn_recall(true_d, d, 10).mean())


def sweep(systems, name, Q, true_d, runs, batch):
    out = []
    for p in systems.grid(name):
        fn = systems.single(name, p)
        fn(Q[0])
        best, ids = np.inf, None
        for _ in range(runs):
            found, total = [], 0.0
            for q in Q:
                t0 = time.perf_counter()
                found.append(fn(q))
                total += time.perf_counter() - t0
            if total < best:
                best, ids = total, np.stack([np.asarray(f)[:10] for f in found])
        point = {"param": p, "recall": recall_of(systems.X, Q, true_d, ids), "qps": len(Q) / best}
        if batch:
            numba.set_num_threads(systems.threads)
            t0 = time.perf_counter()
            systems.batch(name, p, Q)
            point["batch_qps"] = len(Q) / (time.perf_counter() - t0)
            numba.set_num_threads(1)
        out.append(point)
    return out


def summarize(repeats):
    names = list(repeats[0])
    at = {}
    for t in TARGETS:
        at[str(t)] = [{n: pareto_at([(p["recall"], p["qps"]) for p in rep[n]], t) for n in names}
                      for rep in repeats]
    return at


def fmt_range(vals, spec=",.0f"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "not reached"
    lo, hi = min(vals), max(vals)
    return f"{lo:{spec}}" if lo == hi else f"{lo:{spec}}-{hi:{spec}}"


def markdown(s):
    i = s["info"]
    lines = [f"# K-NN graph search vs hnswlib and pynndescent on {s['dataset']} "
             f"({s['n']:,} x {s['dim']})", "",
             f"- command: `{i['command']}`",
             f"- machine: {i['nproc']} cores, {i['cpu']}; {i['date_utc']}; git {i['git']}; "
             f"load {i['load_avg']:.2f} at start, {s['load_end']:.2f} at end",
             f"- versions: {versions_text(i)}",
             f"- {s['queries']} queries, each timed alone on one thread, best of {s['runs']} "
             f"passes per point; {len(s['repeats'])} repeats, the order of the systems rotating; "
             f"builds on {s['threads']} threads: " + ", ".join(
                 f"{k} {v:.0f} s" for k, v in s["builds"].items()), "",
             "| recall@10 | knngraph-lsh QPS | hnswlib QPS | pynndescent QPS | ours / hnswlib | "
             "ours / pynndescent |", "| --- | --- | --- | --- | --- | --- |"]
    for t in TARGETS:
        cells = s["at"][str(t)]
        ours = [c["knngraph-lsh"] for c in cells]
        rh = [o / c["hnswlib"] if o and c["hnswlib"] else None for o, c in zip(ours, cells)]
        rp = [o / c["pynndescent"] if o and c["pynndescent"] else None
              for o, c in zip(ours, cells)]
        lines.append(f"| {t} | {fmt_range(ours)} | {fmt_range([c['hnswlib'] for c in cells])} | "
                     f"{fmt_range([c['pynndescent'] for c in cells])} | {fmt_range(rh, '.2f')} | "
                     f"{fmt_range(rp, '.2f')} |")
    lines += ["", "Max recall@10 on the grid: " + ", ".join(
        f"{n} {max(p['recall'] for rep in s['repeats'] for p in rep[n]):.4f}"
        for n in s["repeats"][0]) + "."]
    if "batch_qps" in s["repeats"][0]["knngraph-lsh"][0]:
        lines += ["", f"Batch mode ({s['threads']} threads, the whole query set per call), QPS at "
                  "recall@10 (first repeat):", "", "| recall@10 | knngraph-lsh | hnswlib | "
                  "pynndescent |", "| --- | --- | --- | --- |"]
        rep = s["repeats"][0]
        for t in TARGETS:
            vals = [pareto_at([(p["recall"], p["batch_qps"]) for p in rep[n]], t)
                    for n in ("knngraph-lsh", "hnswlib", "pynndescent")]
            lines.append(f"| {t} | " + " | ".join(fmt_range([v]) for v in vals) + " |")
    lines += ["", "| repeat | system | parameter | recall@10 | QPS |", "| --- | --- | --- | --- | --- |"]
    for r, rep in enumerate(s["repeats"]):
        for name, pts in rep.items():
            lines += [f"| {r} | {name} | {p['param']} | {p['recall']:.4f} | {p['qps']:.0f} |"
                      for p in pts]
    return "\n".join(lines) + "\n"


def plot(s, path):
    """Recall@10 vs QPS (log), each system's frontier per repeat; batch mode dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    colors = {"knngraph-lsh": "tab:red", "hnswlib": "tab:blue", "pynndescent": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r, rep in enumerate(s["repeats"]):
        for name, pts in rep.items():
            f = frontier([(min(p["recall"], 0.9999), p["qps"]) for p in pts])
            ax.plot([x for x, _ in f], [y for _, y in f], "o-", ms=3, color=colors[name],
                    alpha=1.0 if r == 0 else 0.5, label=name if r == 0 else None)
            if r == 0 and "batch_qps" in pts[0]:
                f = frontier([(min(p["recall"], 0.9999), p["batch_qps"]) for p in pts])
                ax.plot([x for x, _ in f], [y for _, y in f], "--", color=colors[name],
                        alpha=0.6, label=f"{name} (batch, {s['threads']} threads)")
    ax.set_yscale("log")
    ax.set_xscale("logit", nonpositive="clip")  # spreads 0.9 / 0.99 / 0.999 evenly
    ax.set_xlim(max(0.5, min(p["recall"] for rep in s["repeats"] for pts in rep.values()
                             for p in pts)), 0.9999)
    ticks = [t for t in (0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
             if t >= ax.get_xlim()[0]]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("recall@10 (logit scale; 1.0 drawn at the right edge)")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(f"{s['dataset']} ({s['n']:,} x {s['dim']}): one query per call, "
                 f"{len(s['repeats'])} repeats (the second paler)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=2, help="timed passes per point (best kept)")
    ap.add_argument("--repeats", type=int, default=2, help="sweeps, the order rotating")
    ap.add_argument("--threads", type=int, default=usable_cpus(), help="build / batch threads")
    ap.add_argument("--batch", action="store_true", help="also time batch mode")
    ap.add_argument("--out", default=str(ROOT / "results" / "knngraph"))
    ap.add_argument("--tag", default="sift-1m")
    ap.add_argument("--replot", metavar="JSON", help="only redraw the plot of a finished run")
    a = ap.parse_args(argv)
    if a.replot:
        src = Path(a.replot)
        plot(json.loads(src.read_text()), src.with_suffix(".png"))
        return
    if min(a.queries, a.runs, a.repeats, a.threads) < 1:
        ap.error("--queries, --runs, --repeats and --threads must be >= 1")
    command = " ".join(["benchmarks/bench_graph_search.py"] + (sys.argv[1:] if argv is None
                                                               else argv))
    info = machine_info(command, PACKAGES, ROOT)
    with h5py.File(a.data, "r") as f:
        X = np.ascontiguousarray(f["train"][:], dtype=np.float32)
        Q = np.ascontiguousarray(f["test"][:a.queries], dtype=np.float32)
        true_d = np.asarray(f["distances"][:a.queries, :10], dtype=np.float64)
        metric = f.attrs["distance"]
    metric = metric.decode() if isinstance(metric, bytes) else str(metric)
    if metric == "angular":
        # all three search the unit-normalised rows in L2: the ranking of cosine distance; the
        # ground truth's 1 - cos becomes the L2 distance of unit vectors, sqrt(2 (1 - cos))
        X, Q = (np.ascontiguousarray(A / np.linalg.norm(A, axis=1, keepdims=True),
                                     dtype=np.float32) for A in (X, Q))
        true_d = np.sqrt(2.0 * np.maximum(true_d, 0.0))
    elif metric != "euclidean":
        ap.error(f"metric {metric!r}: only euclidean and angular sets are supported")
    log_lines = []

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}"
        print(line, flush=True)
        log_lines.append(line)

    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    systems = Systems(X, a.threads, log)
    systems.build()
    numba.set_num_threads(1)
    names = ["knngraph-lsh", "hnswlib", "pynndescent"]
    repeats = []
    for r in range(a.repeats):
        order = names[r % 3:] + names[:r % 3]
        rep = {}
        for name in order:
            rep[name] = sweep(systems, name, Q, true_d, a.runs, a.batch)
            log(f"repeat {r} {name}: " + ", ".join(
                f"{t}: {(pareto_at([(p['recall'], p['qps']) for p in rep[name]], t) or 0):.0f}"
                for t in TARGETS))
        repeats.append({n: rep[n] for n in names})
    import os

    summary = {"info": info, "dataset": Path(a.data).name.removesuffix(".hdf5"), "n": X.shape[0],
               "dim": X.shape[1], "queries": len(Q), "runs": a.runs, "threads": a.threads,
               "builds": systems.builds, "repeats": repeats, "at": summarize(repeats),
               "load_end": os.getloadavg()[0]}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"search_{a.tag}"
    with atomic_path(stem.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=str))
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(summary))
    with atomic_path(stem.with_suffix(".log")) as tmp:
        tmp.write_text("\n".join(log_lines) + "\n")
    plot(summary, stem.with_suffix(".png"))
    log(f"wrote {stem.with_suffix('.md')}")


if __name__ == "__main__":
    main()
