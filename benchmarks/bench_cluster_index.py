"""Recall@10 vs single-thread QPS: annann's raw cluster index next to faiss IVF<n>_HNSW32,Flat.

Same data, same number of lists, same run. Each query is timed alone (as ann-benchmarks does), the
best of --runs passes is kept; recall@10 by distance threshold (annann.data.evaluation.knn_recall) on the
true distances of the returned ids. Also reports build times and index memory over the raw vectors.

    python benchmarks/bench_cluster_index.py --n 100000 --lists 1024   # quick validation
    python benchmarks/bench_cluster_index.py                            # 1M SIFT, 4096 lists
"""

import argparse
import csv
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from annann.ivf.index import ClusterIndex
from annann.data.evaluation import knn_recall
from annann.data.groundtruth import exact_knn
from ann_benchmarks_plugin.provenance import machine_info, versions_text

# ../shared/data beside the repository root, as the tests use it
DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data"
                   / "fg-sift-128-euclidean.hdf5")
K = 10
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "numba", "scikit-learn", "hnswlib", "faiss-cpu")


def loadavg():
    return os.getloadavg()[0]


def true_distances(train, Q, ids):
    """Exact L2 of each returned id (padded -1 -> inf), float64."""
    out = np.full(ids.shape, np.inf)
    ok = ids >= 0
    rows = np.where(ok, ids, 0)
    diff = train[rows].astype(np.float64) - Q[:, None, :].astype(np.float64)
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


def run_ours(train, Q, gt_d, args, log):
    idx = ClusterIndex("euclidean", n_clusters=args.lists, rerank=10, seed=args.seed,
                       kmeans_sample=args.kmeans_sample)
    t0 = time.perf_counter()
    idx.fit(train)
    build = time.perf_counter() - t0
    mem = idx.memory_bytes()
    log(f"annann-raw: build {build:.1f} s, memory {mem}, imbalance {idx.imbalance()}")
    idx.search(Q[0], K, C=1)  # numba dispatch warm-up
    rows = []
    for r in args.rerank:
        idx.rerank = r
        for C in args.C:
            scanned = 0

            def search(q):
                nonlocal scanned
                ids, _ = idx.search(q, K, C=C)
                scanned += idx.last_stats["scanned"]
                return ids

            t, ids = time_queries(search, Q, args.runs)
            rec = float(knn_recall(gt_d, true_distances(train, Q, ids), K).mean())
            rows.append({"system": "annann-raw", "params": f"C={C},r={r}", "recall": rec,
                         "qps": 1.0 / t, "candidates": scanned / (args.runs * len(Q))})
            log(f"  annann-raw C={C} r={r}: recall {rec:.4f} qps {1 / t:.0f}")
    return {"build_s": build, "memory": mem, "imbalance": idx.imbalance()}, rows


def run_faiss(train, Q, gt_d, args, log):
    import faiss
    faiss.omp_set_num_threads(args.build_threads)
    index = faiss.index_factory(train.shape[1], f"IVF{args.lists}_HNSW32,Flat")
    t0 = time.perf_counter()
    index.train(train)
    index.add(train)
    build = time.perf_counter() - t0
    nbytes = int(faiss.serialize_index(index).nbytes)
    log(f"faiss: build {build:.1f} s, serialized {nbytes} bytes")
    faiss.omp_set_num_threads(1)
    ivf = faiss.extract_index_ivf(index)
    rows = []
    for p in args.nprobe:
        ivf.nprobe = p
        t, ids = time_queries(lambda q: index.search(q[None, :], K)[1][0], Q, args.runs)
        rec = float(knn_recall(gt_d, true_distances(train, Q, ids), K).mean())
        rows.append({"system": "faiss IVF_HNSW32,Flat", "params": f"nprobe={p}", "recall": rec,
                     "qps": 1.0 / t, "candidates": None})
        log(f"  faiss nprobe={p}: recall {rec:.4f} qps {1 / t:.0f}")
    return {"build_s": build, "serialized_bytes": nbytes}, rows


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5))
    for system in sorted({r["system"] for r in rows}):
        front = pareto([(r["recall"], r["qps"]) for r in rows if r["system"] == system])
        ax.plot([p[0] for p in front], [p[1] for p in front], "o-", label=system)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (1 thread)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=None, help="use the first n train rows (exact GT recomputed)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--lists", type=int, default=4096)
    ap.add_argument("--C", type=lambda s: [int(x) for x in s.split(",")],
                    default=[1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128])
    ap.add_argument("--rerank", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 10])
    ap.add_argument("--nprobe", type=lambda s: [int(x) for x in s.split(",")],
                    default=[1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--kmeans-sample", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/cluster_index")
    ap.add_argument("--tag", default=None, help="file name stem (default sift<n>)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info(" ".join([sys.executable] + sys.argv), PACKAGES, ROOT)
    info["load_start"] = loadavg()
    with h5py.File(args.data, "r") as f:
        n_all = f["train"].shape[0]
        n = min(args.n or n_all, n_all)
        train = np.ascontiguousarray(f["train"][:n], dtype=np.float32)
        Q = np.ascontiguousarray(f["test"][:args.queries], dtype=np.float32)
        if n == n_all:
            gt_d = np.asarray(f["distances"][:args.queries, :K], dtype=np.float64)
        else:
            gt_d = exact_knn(train, Q, K, "euclidean")[1].astype(np.float64)
    tag = args.tag or f"sift{n // 1000}k"
    log_path = out / f"{tag}.log"
    log_file = open(log_path, "w")

    def log(msg):
        line = f"[{datetime.now(timezone.utc).strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    log(f"data {args.data}: n={n}, queries={len(Q)}, lists={args.lists}, info {info}")
    ours, rows = run_ours(train, Q, gt_d, args, log)
    theirs, frows = run_faiss(train, Q, gt_d, args, log)
    rows += frows
    info["load_end"] = loadavg()

    raw = n * train.shape[1] * 4
    ours["overhead_vs_raw"] = (ours["memory"]["total"] - raw) / raw
    theirs["overhead_vs_raw"] = (theirs["serialized_bytes"] - raw) / raw
    summary = {"info": info, "n": n, "queries": len(Q), "lists": args.lists, "raw_bytes": raw,
               "annann_raw": ours, "faiss": theirs, "points": rows}
    for target in (0.9, 0.95):
        a = qps_at([(r["recall"], r["qps"]) for r in rows if r["system"] == "annann-raw"], target)
        b = qps_at([(r["recall"], r["qps"]) for r in rows if r["system"] != "annann-raw"], target)
        summary[f"qps_at_{target}"] = {"annann_raw": a, "faiss": b,
                                       "ratio": (a / b) if a and b else None}
    with open(out / f"{tag}.json", "w") as f:
        json.dump(summary, f, indent=1, default=float)
    with open(out / f"{tag}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["system", "params", "recall", "qps", "candidates"])
        w.writeheader()
        w.writerows(rows)
    plot(rows, out / f"{tag}.png", f"{Path(args.data).stem}, n={n}, {args.lists} lists, k=10")
    write_markdown(out / f"{tag}.md", summary, args)
    log(f"done: {json.dumps({k: v for k, v in summary.items() if k.startswith('qps_at')})}")


def write_markdown(path, s, args):
    i = s["info"]
    fmt = lambda v: "n/a" if v is None else f"{v:,.0f}"  # noqa: E731
    lines = [f"# Cluster index vs faiss IVF{s['lists']}_HNSW32,Flat ({s['n']:,} x 128 SIFT)", "",
             f"- command: `{i['command']}`",
             f"- machine: {i['nproc']} cores, {i['cpu']}; date {i['date_utc']}; git {i['git']}; "
             f"1-min load {i['load_start']:.2f} at start, {i['load_end']:.2f} at end (shared "
             "machine)",
             f"- versions: {versions_text(i)}",
             f"- {s['queries']} queries, each timed alone on one thread, best of {args.runs} runs; "
             "recall@10 by distance threshold", "",
             "| | annann-raw | faiss | ratio |", "| --- | --- | --- | --- |"]
    for t in (0.9, 0.95):
        q = s[f"qps_at_{t}"]
        ratio = "n/a" if q["ratio"] is None else f"{q['ratio']:.2f}"
        lines.append(f"| QPS at recall {t} (Pareto, interpolated) | {fmt(q['annann_raw'])} | "
                     f"{fmt(q['faiss'])} | {ratio} |")
    a, b = s["annann_raw"], s["faiss"]
    lines += [f"| build time (s; faiss {args.build_threads} OpenMP threads; ours: scikit-learn "
              f"k-means on 1 thread, BLAS assignment and hnswlib on all cores) | "
              f"{a['build_s']:.1f} | {b['build_s']:.1f} | |",
              f"| index bytes over raw vectors | {a['overhead_vs_raw'] * 100:.1f} % "
              f"(memory_bytes total {a['memory']['total']:,}) | {b['overhead_vs_raw'] * 100:.1f} % "
              f"(serialized {b['serialized_bytes']:,}) | |", "",
              f"annann-raw memory_bytes: `{a['memory']}`", "",
              f"cluster imbalance: `{a['imbalance']}`", "",
              "| system | params | recall@10 | QPS | vectors scanned |", "| --- | --- | --- | --- | --- |"]
    for r in s["points"]:
        c = "" if r["candidates"] is None else f"{r['candidates']:.0f}"
        lines.append(f"| {r['system']} | {r['params']} | {r['recall']:.4f} | {r['qps']:.0f} | {c} |")
    Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
