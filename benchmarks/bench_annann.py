"""Does the learned space earn its place? ANNANN variants vs the raw-space cluster index.

Same data, same number of clusters, same run: the raw baseline (ClusterIndex, k-means in the
original space) and AnnannIndex with the autoencoder alone, + DEC (IDEC), + the k-NN-preserving
term, + both; NeuralLshIndex (K-NN graph partition + neural router; rows in the router's part,
or in their graph part for nlsh-partition); and raw-4sqrt, annann-raw's default of 4 sqrt(n)
clusters, the QPS line the learned variants must reach. For each C: recall@10 (annann.data.evaluation.knn_recall on the true distances of the
returned ids), candidates scanned per query, and single-query QPS (each query timed alone, best of
--runs passes). Also training time, build time and index memory. The question asked: at equal
recall, does the learned space need no more candidates than k-means in the raw space?

    python -m benchmarks.bench_annann --n 20000 --n-clusters 128 --queries 200   # validation
    python -m benchmarks.bench_annann --n 300000 --n-clusters 1024 --train-sample 50000
    python -m benchmarks.bench_annann --n 0 --variants raw,raw-4sqrt,nlsh --tag sift1m-nlsh
"""

import argparse
import csv
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from annann.core.atomic import atomic_path
from annann.data.evaluation import knn_recall
from annann.data.groundtruth import exact_knn
from annann.ivf.index import ClusterIndex
from annann.learned.index import AnnannIndex
from annann.learned.neural_lsh import NeuralLshIndex
from benchmarks.common import (data_path, load_data, options, run_info, true_distances,
                               versions_text, write_atomic)

K = 10
PACKAGES = ("numpy", "scikit-learn", "tensorflow-cpu", "tensorflow", "hnswlib", "numba")
VARIANTS = {  # name -> training parameters (None = raw space, no transform)
    "raw": None,
    "ae": {"dec": False, "knn_weight": 0.0},
    "ae+dec": {"dec": True, "knn_weight": 0.0},
    "ae+knn": {"dec": False, "knn_weight": 1.0},
    "ae+dec+knn": {"dec": True, "knn_weight": 1.0},
    "raw-4sqrt": None,
    "nlsh": {"assign": "router"},
    "nlsh-partition": {"assign": "partition"},
}


def run_queries(index, Q, C, runs):
    """Best-of-runs mean seconds per single query, ids (m, K), mean candidates per query."""
    best = np.inf
    ids = np.full((Q.shape[0], K), -1, dtype=np.int64)
    cand = np.zeros(Q.shape[0])
    for _ in range(runs):
        times = np.empty(Q.shape[0])
        for t, q in enumerate(Q):
            t0 = time.perf_counter()
            found, _ = index.search(q, K, C=C)
            times[t] = time.perf_counter() - t0
            ids[t, :len(found)] = found[:K]
            cand[t] = index.last_stats["scanned"]
        best = min(best, times.mean())
    return best, ids, float(cand.mean())


def candidates_at(rows, target):
    """Candidates per query needed to reach ``target`` recall (log-linear interpolation over C)."""
    pts = sorted((r["candidates"], r["recall"]) for r in rows)
    for (c0, r0), (c1, r1) in zip(pts, pts[1:]):
        if r0 >= target:
            return c0
        if r0 < target <= r1:
            f = (target - r0) / (r1 - r0)
            return float(np.exp(np.log(c0) + f * (np.log(c1) - np.log(c0))))
    return pts[0][0] if pts and pts[0][1] >= target else None


def plot(rows, variants, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for v in variants:
        vr = sorted((r for r in rows if r["variant"] == v), key=lambda r: r["C"])
        axes[0].plot([r["recall"] for r in vr], [r["candidates"] for r in vr], "o-", label=v)
        axes[1].plot([r["recall"] for r in vr], [r["qps"] for r in vr], "o-", label=v)
    axes[0].set(xlabel="recall@10", ylabel="candidates scanned / query", yscale="log",
                title="candidates vs recall (lower is better)")
    axes[1].set(xlabel="recall@10", ylabel="queries / s (single query)", yscale="log",
                title="QPS vs recall (higher is better)")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 parents=[options(out="results/annann", tag="")])
    ap.add_argument("--n", type=int, default=300000, help="first n train rows (0 = all)")
    ap.add_argument("--n-clusters", type=int, default=1024)
    ap.add_argument("--C", default="1,2,4,8,16,32,64")
    ap.add_argument("--rerank", type=int, default=10)
    ap.add_argument("--train-sample", type=int, default=50000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--code-dim", type=int, default=32)
    ap.add_argument("--hidden", default="96,64")
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--knn-weight", type=float, default=1.0, help="k-NN term weight where on")
    ap.add_argument("--max-iter", type=int, default=0, help="stage-2 steps (0 = ten passes)")
    ap.add_argument("--partitioner", default="metis", choices=("kahip", "metis"),
                    help="Neural LSH graph partitioner")
    ap.add_argument("--graph-k", type=int, default=10, help="Neural LSH: K of the partitioned graph")
    ap.add_argument("--router-hidden", default="256")
    ap.add_argument("--router-epochs", type=int, default=8)
    ap.add_argument("--router-sample", type=int, default=300000)
    ap.add_argument("--threads", type=int, default=1, help="training threads (router)")
    ap.add_argument("--variants", default="raw,ae,ae+dec,ae+knn,ae+dec+knn")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    info = run_info("bench_annann", argv, PACKAGES)
    info["load_start"] = os.getloadavg()[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = data_path(args.data)
    X, Q, _, _, _ = load_data(data, queries=args.queries, truth=False)
    n_all = X.shape[0]
    n = n_all if args.n <= 0 else min(args.n, n_all)
    X = X[:n].copy() if n < n_all else X
    Cs = [int(c) for c in args.C.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    print(f"data {data}: first {n} of {n_all} train rows, {Q.shape[0]} queries", flush=True)
    t0 = time.perf_counter()
    _, gt_d = exact_knn(X, Q, K, progress=True)
    print(f"ground truth {time.perf_counter() - t0:.1f}s", flush=True)

    rows, builds = [], []
    for v in variants:
        params = VARIANTS[v]
        t0 = time.perf_counter()
        if params is None:
            k = 4.0 if v == "raw-4sqrt" else args.n_clusters
            index = ClusterIndex(n_clusters=k, rerank=args.rerank, seed=args.seed,
                                 progress=True).fit(X)
            train_s, train_log = 0.0, {}
        elif v.startswith("nlsh"):
            router = {"hidden": tuple(int(h) for h in args.router_hidden.split(",")),
                      "epochs": args.router_epochs, "train_sample": args.router_sample,
                      "threads": args.threads}
            index = NeuralLshIndex(n_parts=args.n_clusters, n_neighbors=args.graph_k,
                                   partitioner=args.partitioner, assign=params["assign"],
                                   seed=args.seed, progress=True, router=router).fit(X)
            train_log = index.train_log
            train_s = float(train_log["router"]["wall_seconds"])
        else:
            params = dict(params, knn_weight=args.knn_weight if params["knn_weight"] else 0.0)
            train = dict(params, code_dim=args.code_dim, epochs=args.epochs,
                         hidden=tuple(int(h) for h in args.hidden.split(",")), gamma=args.gamma,
                         train_sample=args.train_sample, max_iter=args.max_iter)
            index = AnnannIndex(n_clusters=args.n_clusters, rerank=args.rerank, seed=args.seed,
                                progress=True, train=train).fit(X)
            train_log = index.train_log
            train_s = float(train_log["wall_seconds"])
        build_s = time.perf_counter() - t0
        mem = index.memory_bytes()
        imb = index.imbalance()
        b = {"variant": v, "build_s": round(build_s, 2), "train_s": round(train_s, 2),
             "index_bytes": int(mem["total"]), "overhead_bytes": int(mem["total"] - mem["vectors"]),
             "imbalance_max_over_mean": round(imb["max_over_mean"], 2), "imbalance_cv":
             round(imb["cv"], 3), "empty_clusters": imb["empty"],
             "train_log": {key: train_log.get(key) for key in
                           ("seconds", "train_rows", "cut_fraction", "router_agrees_with_partition")}
             | {"stage2_stopped": (train_log.get("stage2") or {}).get("stopped"),
                "stage2_steps": (train_log.get("stage2") or {}).get("steps"),
                "stage1_epochs": len((train_log.get("stage1") or {}).get("loss", []))}}
        builds.append(b)
        print(json.dumps(b), flush=True)
        for C in Cs:
            sec, ids, cand = run_queries(index, Q, C, args.runs)
            rec = float(knn_recall(gt_d, true_distances(X, Q, ids), K).mean())
            r = {"variant": v, "C": C, "recall": round(rec, 4), "candidates": round(cand, 1),
                 "qps": round(1.0 / sec, 1), "ms_per_query": round(1000 * sec, 4)}
            rows.append(r)
            print(json.dumps(r), flush=True)
        del index
    info["load_end"] = os.getloadavg()[0]

    tag = f"_{args.tag}" if args.tag else ""
    targets = (0.8, 0.9, 0.95, 0.99)
    cmp = {}
    raw_rows = [r for r in rows if r["variant"] == "raw"]
    for v in variants:
        vr = [r for r in rows if r["variant"] == v]
        cmp[v] = {}
        for t in targets:
            c = candidates_at(vr, t)
            base = candidates_at(raw_rows, t) if raw_rows else None
            cmp[v][str(t)] = {"candidates": None if c is None else round(c, 1),
                              "ratio_vs_raw": (None if (c is None or not base)
                                               else round(c / base, 3))}
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_atomic(out / f"bench_annann{tag}.csv", buf.getvalue())
    write_atomic(out / f"bench_annann{tag}.json", json.dumps(
        {"info": info, "args": vars(args), "n_train": n, "builds": builds, "rows": rows,
         "candidates_at_recall": cmp}, indent=1))
    plot(rows, variants, out / f"bench_annann{tag}.png")

    md = [f"# ANNANN learned space vs raw-space k-means ({data.name})", "",
          f"- data: first {n:,} of {n_all:,} train rows, {Q.shape[0]} queries, k={K}, "
          f"{args.n_clusters} clusters for every variant, rerank={args.rerank}",
          f"- encoder: {args.hidden} -> {args.code_dim}, trained on {args.train_sample:,}"
          " sampled rows,"
          f" <= {args.epochs} epochs stage 1; gamma={args.gamma};"
          f" k-NN term weight {args.knn_weight} where on",
          f"- Neural LSH (nlsh*): K-NN graph K={args.graph_k} cut by {args.partitioner}, router"
          f" {args.router_hidden} trained {args.router_epochs} epochs on <= {args.router_sample:,}"
          f" rows ({args.threads} threads), C parts scanned (no re-rank)",
          f"- machine: {info['nproc']} cores, {info['cpu']}; {info['date_utc']}; git {info['git']};"
          f" {versions_text(info)}",
          f"- load average (1 min): {info['load_start']:.2f} at start,"
          f" {info['load_end']:.2f} at end"
          " (shared machine: QPS is noisy; candidates are not)",
          f"- command: `{info['command']}`", "",
          "## Build", "", "| variant | train s | build s (incl. train) | index MB | overhead MB |"
          " max/mean cluster | stage 2 stop |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for b in builds:
        md.append(f"| {b['variant']} | {b['train_s']} | {b['build_s']} |"
                  f" {b['index_bytes'] / 2**20:.1f} |"
                  f" {b['overhead_bytes'] / 2**20:.2f} | {b['imbalance_max_over_mean']} |"
                  f" {b['train_log']['stage2_stopped'] or '-'} |")
    md += ["", "## Recall@10, candidates and QPS per C", "",
           "| variant | C | recall@10 | candidates/query | QPS |",
           "| --- | --- | --- | --- | --- |"]
    md += [f"| {r['variant']} | {r['C']} | {r['recall']:.4f} | {r['candidates']:.0f} |"
           f" {r['qps']:.0f} |"
           for r in rows]
    md += ["", "## Candidates needed for a recall (interpolated; ratio to raw, < 1 = learned wins)",
           "", "| variant | " + " | ".join(f"recall {t}" for t in targets) + " |",
           "| --- |" + " --- |" * len(targets)]
    for v in variants:
        cells = []
        for t in targets:
            c = cmp[v][str(t)]
            cells.append("not reached" if c["candidates"] is None else
                         f"{c['candidates']:.0f}" + (f" ({c['ratio_vs_raw']}x)"
                                                     if c["ratio_vs_raw"] is not None else ""))
        md.append(f"| {v} | " + " | ".join(cells) + " |")
    md += ["", f"![plot](bench_annann{tag}.png)", ""]
    write_atomic(out / f"bench_annann{tag}.md", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
