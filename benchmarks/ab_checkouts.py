"""A/B: the same fixed workload on two checkouts of annann, alternating, on the 1M SIFT set.

Checks that a change that should not change speed (a refactoring) does not: each round runs the
workload once per checkout in a fresh process (order A B, then B A, ...), so drift of a shared
machine hits both sides alike. The workload: build the K-NN graph (K=20, LSH start) and the
cluster index (4096 lists), then answer the first --queries queries one at a time (best of
--runs passes) at a few search settings; recall@10 by distance threshold.

    git worktree add /tmp/before <commit>
    python -m benchmarks.ab_checkouts --a /tmp/before --b . --rounds 2 --out results/ab/layout

Both checkouts must have the sub-package layout (annann/graph, annann/ivf). The data is read
once here (benchmarks.common.load_data) and handed to the workload as .npy files, so the
workload needs nothing of a checkout but its two index classes. (results/ab/layout*.md compared
the flat layout with the sub-package one: an earlier version of this script read both.) Writes
<out>.json and <out>.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (ROOT, data_path, load_data, options, run_info, versions_text,
                               write_atomic)

WORKLOAD = r'''
import json, sys, time
from pathlib import Path
import numpy as np
from annann.graph.index import KNNGraphIndex
from annann.ivf.index import ClusterIndex
arrays, runs, parts = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X, Q, true_d = (np.load(arrays / f"{name}.npy") for name in ("train", "queries", "true_d"))

def recall(ids):
    d = np.sqrt(((X[ids].astype(np.float64) - Q[:, None, :]) ** 2).sum(axis=2))
    return float((d <= true_d[:, 9:10] + 1e-3).mean())

def timed(search, setting):
    best, ids = np.inf, None
    for _ in range(runs):
        out = []
        t = 0.0
        for q in Q:
            t0 = time.perf_counter()
            out.append(search(q, setting))
            t += time.perf_counter() - t0
        best, ids = min(best, t), np.array(out)
    return {"setting": setting, "qps": len(Q) / best, "recall": recall(ids)}

# warm-up: every kernel compiled (or loaded from numba's cache) before anything is timed
w = X[:3000]
KNNGraphIndex("euclidean", n_neighbors=20, init="lsh", seed=0).fit(w).search(Q[0], 10, beam=16)
ClusterIndex("euclidean", n_clusters=32, seed=0).fit(w).search(Q[0], 10, C=2)
res = {}
if "graph" in parts:
    t0 = time.perf_counter()
    g = KNNGraphIndex("euclidean", n_neighbors=20, init="lsh", seed=0).fit(X)
    res["graph_build_s"] = time.perf_counter() - t0
    res["graph"] = [timed(lambda q, b: g.search(q, 10, beam=b)[0], b) for b in (16, 48, 128)]
    del g
if "ivf" in parts:
    t0 = time.perf_counter()
    c = ClusterIndex("euclidean", n_clusters=4096, seed=0).fit(X)
    res["ivf_build_s"] = time.perf_counter() - t0
    res["ivf"] = [timed(lambda q, C: c.search(q, 10, C=C)[0], C) for C in (8, 24, 64)]
print(json.dumps(res))
'''


def save_arrays(data, n_queries, folder):
    """train, the first queries and their true 10-NN distances as .npy files in folder."""
    X, Q, _, true_d, _ = load_data(data, queries=n_queries)
    for name, a in (("train", X), ("queries", Q), ("true_d", true_d[:, :10].astype(np.float64))):
        np.save(Path(folder) / f"{name}.npy", a)
    return str(folder)


def run_one(checkout, args, arrays):
    env = dict(os.environ, PYTHONPATH=str(Path(checkout).resolve()))
    proc = subprocess.run([sys.executable, "-c", WORKLOAD, arrays, str(args.runs), args.parts],
                          env=env, capture_output=True, text=True,
                          cwd=str(Path(checkout).resolve()))
    if proc.returncode != 0:
        raise SystemExit(f"workload failed in {checkout}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(vals, fmt):
    return f"{min(vals):{fmt}}-{max(vals):{fmt}}" if len(vals) > 1 else f"{vals[0]:{fmt}}"


def report(results, args, info):
    lines = [f"# A/B of two checkouts on {data_path(args.data).name} ({args.queries} queries, best "
             f"of {args.runs} passes, {args.rounds} rounds alternating)", "",
             f"A = `{args.a}` ({results['A'][0]['git']}), B = `{args.b}` "
             f"({results['B'][0]['git']}). Machine: {info['cpu']}, {info['nproc']} CPUs; "
             f"{info['date_utc']}; {versions_text(info)}.", "",
             "| figure | A (min-max over rounds) | B (min-max over rounds) | B / A (medians) |",
             "| --- | --- | --- | --- |"]

    def row(name, get, fmt=",.1f"):
        a = [get(r) for r in results["A"]]
        b = [get(r) for r in results["B"]]
        ratio = sorted(b)[len(b) // 2] / sorted(a)[len(a) // 2]
        lines.append(f"| {name} | {spread(a, fmt)} | {spread(b, fmt)} | {ratio:.3f} |")

    for part, label in (("graph", "beam"), ("ivf", "C")):
        if part not in results["A"][0]:
            continue
        row(f"{part} build (s)", lambda r: r[f"{part}_build_s"])
        for i, s in enumerate(results["A"][0][part]):
            row(f"{part} {label}={s['setting']} QPS", lambda r, i=i: r[part][i]["qps"])
            row(f"{part} {label}={s['setting']} recall@10", lambda r, i=i: r[part][i]["recall"],
                ".4f")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[options()])
    ap.add_argument("--a", required=True, help="checkout A (e.g. a git worktree of the base)")
    ap.add_argument("--b", default=str(ROOT), help="checkout B (default: this one)")
    ap.add_argument("--runs", type=int, default=2, help="timed passes per setting (best kept)")
    ap.add_argument("--rounds", type=int, default=2, help="A/B rounds, order alternating")
    ap.add_argument("--parts", default="graph,ivf", help="which indexes: graph, ivf or both")
    ap.add_argument("--out", default=str(ROOT / "results" / "ab" / "ab"))
    args = ap.parse_args(argv)
    if min(args.queries, args.runs, args.rounds) < 1:
        ap.error("--queries, --runs and --rounds must be >= 1")
    if not set(args.parts.split(",")) <= {"graph", "ivf"} or not args.parts:
        ap.error(f"--parts: expected graph, ivf or graph,ivf, got {args.parts!r}")
    from ann_benchmarks_plugin.harness.provenance import git_state

    info = run_info("ab_checkouts", argv, ("numpy", "numba", "hnswlib", "scikit-learn"))
    results = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="ab_checkouts_") as tmp:
        arrays = save_arrays(args.data, args.queries, tmp)
        for rnd in range(args.rounds):
            order = ("A", "B") if rnd % 2 == 0 else ("B", "A")
            for side in order:
                checkout = args.a if side == "A" else args.b
                t0 = time.time()
                r = run_one(checkout, args, arrays)
                r["git"] = git_state(Path(checkout).resolve())
                r["wall_s"] = time.time() - t0
                results[side].append(r)
                print(f"round {rnd} {side}: " + ", ".join(
                    f"{k} {v:.1f}" for k, v in r.items() if k.endswith("_s")), flush=True)
    out = Path(args.out)
    write_atomic(out.with_suffix(".json"), json.dumps({"meta": info, "results": results}, indent=1))
    write_atomic(out.with_suffix(".md"), report(results, args, info))
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
