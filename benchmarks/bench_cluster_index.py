"""Recall@10 vs single-thread QPS: annann's raw cluster index next to faiss IVF<n>_HNSW32,Flat.

Same data, same number of lists (an int, or ``4sqrt`` = 4 sqrt(n), faiss's best list count here),
same C / nprobe ladder, same run. Both are built first; then the search passes run --repeats
times, the order of the two systems alternating, each query timed alone on one thread (as
ann-benchmarks does), best of --runs passes per point. faiss's HNSW quantizer runs every nprobe
twice, with efSearch = max(32, nprobe) (our centroid walk's rule) and max(64, 2 nprobe) (our
faiss adapter's), and faiss's frontier is taken over both. Recall@10 is by distance threshold on
the true distances of the returned ids; QPS at a recall level is interpolated on each repeat's
Pareto frontier and reported with its spread over the repeats.

    python benchmarks/bench_cluster_index.py --n 100000 --lists 1024 --repeats 1   # quick
    python benchmarks/bench_cluster_index.py --lists 4sqrt                          # 1M SIFT
    python benchmarks/bench_cluster_index.py --data data/fashion-mnist-784-euclidean.hdf5 \\
        --lists 4sqrt --tag fashion
"""

import argparse
import csv
import io
import json
import math
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annann.core.atomic import atomic_path  # noqa: E402
from annann.data.evaluation import knn_recall  # noqa: E402
from annann.data.groundtruth import exact_knn  # noqa: E402
from annann.ivf.index import ClusterIndex  # noqa: E402
from ann_benchmarks_plugin.provenance import machine_info, versions_text  # noqa: E402

DEFAULT_DATA = str(ROOT.parent / "shared" / "data" / "fg-sift-128-euclidean.hdf5")
K = 10
LADDER = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 200, 256]
TARGETS = (0.8, 0.9, 0.95, 0.99)
PACKAGES = ("numpy", "numba", "scikit-learn", "hnswlib", "faiss-cpu")


def true_distances(train, Q, ids):
    """Exact L2 of each returned id (padded -1 -> inf), float64."""
    out = np.full(ids.shape, np.inf)
    ok = ids >= 0
    diff = train[np.where(ok, ids, 0)].astype(np.float64) - Q[:, None, :].astype(np.float64)
    out[ok] = np.sqrt((diff ** 2).sum(axis=2))[ok]
    return out


def time_queries(search, Q, runs):
    """Per-query best-of-runs mean time (s) and the ids of the last run (m, K)."""
    best = np.inf
    ids = np.full((Q.shape[0], K), -1, dtype=np.int64)
    for _ in range(runs):
        times = np.empty(Q.shape[0])
        for t, q in enumerate(Q):
            t0 = time.perf_counter()
            found = search(q)
            times[t] = time.perf_counter() - t0
            ids[t, :len(found)] = found[:K]
        best = min(best, times.mean())
    return best, ids


def pareto(points):
    """Points (recall, qps) not dominated by another (higher recall and higher qps)."""
    pts = sorted(points, key=lambda p: (-p[0], -p[1]))
    front, best = [], -1.0
    for r, q in pts:
        if q > best:
            front.append((r, q))
            best = q
    return sorted(front)


def qps_at(points, target):
    """QPS at recall ``target`` on the Pareto frontier, linear interpolation; None if not reached."""
    front = pareto(points)
    if not front or front[-1][0] < target:
        return None
    for (r0, q0), (r1, q1) in zip(front, front[1:]):
        if r0 <= target <= r1:
            return q0 + (q1 - q0) * (target - r0) / (r1 - r0) if r1 > r0 else max(q0, q1)
    return front[0][1]  # the lowest-recall frontier point already exceeds the target


class Ours:
    name = "annann-raw"

    def __init__(self, lists, args):
        self.index = ClusterIndex("euclidean", n_clusters=lists, rerank=1, seed=args.seed)

    def build(self, train):
        t0 = time.perf_counter()
        self.index.fit(train)
        return {"build_s": time.perf_counter() - t0, "memory": self.index.memory_bytes(),
                "imbalance": self.index.imbalance()}

    def points(self, grid):
        return [C for C in grid if C <= self.index.n_clusters_]

    def searcher(self, C):
        self.index.counters.reset()
        return lambda q: self.index.search(q, K, C=C)[0]

    def scanned(self, runs, m):
        return self.index.counters.mean("scanned")


class Faiss:
    name = "faiss IVF-HNSW32,Flat"

    def __init__(self, lists, args):
        import faiss

        self.faiss, self.lists, self.threads = faiss, lists, args.build_threads

    def build(self, train):
        faiss = self.faiss
        faiss.omp_set_num_threads(self.threads)
        self.index = faiss.index_factory(train.shape[1], f"IVF{self.lists}_HNSW32,Flat")
        t0 = time.perf_counter()
        self.index.train(train)
        self.index.add(train)
        build = time.perf_counter() - t0
        faiss.omp_set_num_threads(1)
        self.ivf = faiss.extract_index_ivf(self.index)
        return {"build_s": build, "serialized_bytes": int(faiss.serialize_index(self.index).nbytes)}

    def points(self, grid):
        return [(p, ef) for p in grid if p <= self.lists
                for ef in sorted({max(32, p), max(64, 2 * p)})]

    def searcher(self, point):
        nprobe, ef = point
        self.ivf.nprobe = nprobe
        self.faiss.downcast_index(self.ivf.quantizer).hnsw.efSearch = ef
        self.faiss.cvar.indexIVF_stats.reset()
        return lambda q: self.index.search(q[None, :], K)[1][0]

    def scanned(self, runs, m):
        return self.faiss.cvar.indexIVF_stats.ndis / (runs * m)


def measure(system, grid, train, Q, gt_d, runs, log):
    rows = []
    for p in system.points(grid):
        search = system.searcher(p)
        t, ids = time_queries(search, Q, runs)
        rec = float(knn_recall(gt_d, true_distances(train, Q, ids), K).mean())
        param = p if isinstance(p, int) else f"{p[0]} (efSearch {p[1]})"
        rows.append({"system": system.name, "param": param, "recall": rec, "qps": 1.0 / t,
                     "scanned": system.scanned(runs, len(Q))})
        log(f"  {system.name} {param}: recall {rec:.4f} qps {1 / t:.0f} scanned "
            f"{rows[-1]['scanned']:.0f}")
    return rows


def summarize(repeats):
    """Per target: QPS of each system and the ratio in every repeat, and their ranges."""
    out = {}
    for target in TARGETS:
        cells = []
        for rows in repeats:
            qs = {name: qps_at([(r["recall"], r["qps"]) for r in rows if r["system"] == name],
                               target) for name in (Ours.name, Faiss.name)}
            ratio = (qs[Ours.name] / qs[Faiss.name]) if all(qs.values()) else None
            cells.append({"ours": qs[Ours.name], "faiss": qs[Faiss.name], "ratio": ratio})
        out[str(target)] = cells
    return out


def plot(repeats, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    for i, rows in enumerate(repeats):
        for name, color in ((Ours.name, "C0"), (Faiss.name, "C1")):
            front = pareto([(r["recall"], r["qps"]) for r in rows if r["system"] == name])
            ax.plot([p[0] for p in front], [p[1] for p in front], "o-", color=color, alpha=0.8,
                    label=name if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format="png")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def fmt_range(vals, spec):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "not reached"
    lo, hi = min(vals), max(vals)
    return f"{lo:{spec}}" if lo == hi else f"{lo:{spec}}-{hi:{spec}}"


def write_markdown(path, s, args):
    i = s["info"]
    lines = [f"# annann-raw vs faiss IVF{s['lists']}_HNSW32,Flat on {s['dataset']} "
             f"({s['n']:,} x {s['dim']})", "",
             f"- command: `{i['command']}`",
             f"- machine: {i['nproc']} cores, {i['cpu']}; {i['date_utc']}; git {i['git']}; "
             f"1-min load {i['load_start']:.2f} at start, {s['load_end']:.2f} at end",
             f"- versions: {versions_text(i)}",
             f"- {s['queries']} queries, each timed alone on one thread, best of {args.runs} "
             f"passes per point; {len(s['repeats'])} repeats, the order of the systems "
             "alternating; recall@10 by distance threshold; same C / nprobe ladder for both", "",
             "| recall@10 | annann-raw QPS | faiss QPS | ratio (per repeat) |",
             "| --- | --- | --- | --- |"]
    for t in TARGETS:
        cells = s["at"][str(t)]
        lines.append(f"| {t} | {fmt_range([c['ours'] for c in cells], ',.0f')} | "
                     f"{fmt_range([c['faiss'] for c in cells], ',.0f')} | "
                     f"{fmt_range([c['ratio'] for c in cells], '.2f')} |")
    a, b = s["annann_raw"], s["faiss"]
    lines += ["", "| | annann-raw | faiss |", "| --- | --- | --- |",
              f"| build time (s) | {a['build_s']:.1f} | {b['build_s']:.1f} |",
              f"| index bytes over the raw vectors | {a['overhead_vs_raw'] * 100:.1f} % "
              f"(memory_bytes) | {b['overhead_vs_raw'] * 100:.1f} % (serialized) |",
              f"| max recall@10 on the ladder | {a['max_recall']:.4f} | {b['max_recall']:.4f} |",
              "", f"Builds: faiss with {args.build_threads} OpenMP threads; ours with "
              "scikit-learn's k-means on one thread, the Lloyd refinement and assignment on "
              "all cores.", "", f"annann-raw memory_bytes: `{a['memory']}`", "",
              f"cluster imbalance: `{a['imbalance']}`", "",
              "| repeat | system | C / nprobe | recall@10 | QPS | vectors scanned |",
              "| --- | --- | --- | --- | --- | --- |"]
    for rep, rows in enumerate(s["repeats"]):
        lines += [f"| {rep} | {r['system']} | {r['param']} | {r['recall']:.4f} | {r['qps']:.0f} | "
                  f"{r['scanned']:.0f} |" for r in rows]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=None, help="use the first n train rows (exact GT recomputed)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--lists", default="4sqrt", help="number of lists, or 4sqrt (4 sqrt(n))")
    ap.add_argument("--ladder", type=lambda s: [int(x) for x in s.split(",")], default=LADDER,
                    help="C / nprobe values (the same for both)")
    ap.add_argument("--runs", type=int, default=2, help="timed passes per point (best kept)")
    ap.add_argument("--repeats", type=int, default=2, help="search repeats, order alternating")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "cluster_index"))
    ap.add_argument("--tag", default=None, help="file name stem (default <dataset>-<n>)")
    args = ap.parse_args(argv)
    if min(args.queries, args.runs, args.repeats) < 1:
        ap.error("--queries, --runs and --repeats must be >= 1")

    out = Path(args.out)
    command = " ".join(["benchmarks/bench_cluster_index.py"] + (sys.argv[1:] if argv is None
                                                                else argv))
    info = machine_info(command, PACKAGES, ROOT)
    info["load_start"] = info["load_avg"]
    with h5py.File(args.data, "r") as f:
        n_all = f["train"].shape[0]
        n = min(args.n or n_all, n_all)
        train = np.ascontiguousarray(f["train"][:n], dtype=np.float32)
        Q = np.ascontiguousarray(f["test"][:args.queries], dtype=np.float32)
        if n == n_all:
            gt_d = np.asarray(f["distances"][:args.queries, :K], dtype=np.float64)
        else:
            gt_d = exact_knn(train, Q, K, "euclidean")[1].astype(np.float64)
    lists = round(4 * math.sqrt(n)) if args.lists == "4sqrt" else int(args.lists)
    dataset = Path(args.data).name.removesuffix(".hdf5")
    tag = args.tag or f"{dataset}-{n // 1000}k"
    out.mkdir(parents=True, exist_ok=True)
    log_lines = []

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}"
        print(line, flush=True)
        log_lines.append(line)

    log(f"data {args.data}: n={n}, queries={len(Q)}, lists={lists}")
    ours, theirs = Ours(lists, args), Faiss(lists, args)
    built = {}
    for system in (ours, theirs):
        built[system.name] = system.build(train)
        log(f"{system.name}: built {built[system.name]}")
    ours.searcher(1)(Q[0])  # numba dispatch warm-up
    repeats = []
    for rep in range(args.repeats):
        rows = []
        for system in ((ours, theirs) if rep % 2 == 0 else (theirs, ours)):
            rows += measure(system, args.ladder, train, Q, gt_d, args.runs, log)
        repeats.append(rows)
    raw = n * train.shape[1] * 4
    a, b = built[Ours.name], built[Faiss.name]
    a["overhead_vs_raw"] = (a["memory"]["total"] - raw) / raw
    b["overhead_vs_raw"] = (b["serialized_bytes"] - raw) / raw
    for name, d in ((Ours.name, a), (Faiss.name, b)):
        d["max_recall"] = max(r["recall"] for rows in repeats for r in rows if r["system"] == name)
    summary = {"info": info, "dataset": dataset, "n": n, "dim": int(train.shape[1]),
               "queries": len(Q), "lists": lists, "raw_bytes": raw, "annann_raw": a,
               "faiss": b, "repeats": repeats, "at": summarize(repeats),
               "load_end": round(__import__("os").getloadavg()[0], 2)}
    with atomic_path(out / f"{tag}.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1, default=float))
    with atomic_path(out / f"{tag}.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["repeat", "system", "param", "recall", "qps", "scanned"])
        w.writeheader()
        w.writerows({"repeat": rep, **r} for rep, rows in enumerate(repeats) for r in rows)
    plot(repeats, out / f"{tag}.png", f"{dataset}, n={n}, {lists} lists, k=10")
    write_markdown(out / f"{tag}.md", summary, args)
    with atomic_path(out / f"{tag}.log") as tmp:
        tmp.write_text("\n".join(log_lines) + "\n")
    log(f"done: {json.dumps(summary['at'])}")


if __name__ == "__main__":
    main()
