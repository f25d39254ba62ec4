"""Cost model of the distributed K-NN graph build: measured per-point costs, extrapolated to 1B rows.

Reads the distributed benchmark reports (results/distributed/bench_<n>.json, written by
bench_distributed.py) and measures one more thing: the cost of a distance evaluation inside the
local join at d=128 and d=1024 (NN-descent of 20,000 random Gaussian rows on one thread; the
local join is the same kernel the partitions run). Writes results/distributed/cost_model.json and
prints the tables of docs/distributed_cost_model.md. The assumptions of the extrapolation are in
that document.

    flock /tmp/annann-bench.lock python benchmarks/dist_cost_model.py
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annann.core.atomic import atomic_path  # noqa: E402

POOL = 20


def eval_seconds(dim, n=20_000, seed=0):
    """Seconds per distance evaluation of a one-thread local NN-descent on n random rows."""
    import numba

    from annann.graph.lsh import LSHTables
    from annann.graph.nndescent import nn_descent

    numba.set_num_threads(1)
    X = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    tables = LSHTables(8, 32, seed).build(X)
    nn_descent(X[:2000], POOL, None, max_iters=1)  # load the kernels
    t0 = time.perf_counter()
    _, _, stats = nn_descent(X, POOL, tables, max_iters=8, n_parts=1, seed=seed)
    return (time.perf_counter() - t0) / stats["dist_evals"], stats["dist_evals"]


def per_point(report):
    """Per-row totals over all rounds of one benchmark report."""
    d = report["distributed"]
    n, workers = report["meta"]["n"], report["meta"]["workers"]
    hist = d["history"]
    return {"n": n, "rounds": len(hist), "partitions": hist[0]["n_parts"], "seconds": d["seconds"],
            "core_seconds_per_row": d["seconds"] * workers / n,
            "evals_per_row": sum(h["dist_evals"] for h in hist) / n,
            "local_rows_per_row": sum(h["mean_local"] * h["n_parts"] for h in hist) / n,
            "join_bytes_per_row": sum(h["join_bytes_in"] for h in hist) / n,
            "merge_bytes_per_row": sum(h["merge_bytes_in"] for h in hist) / n,
            "sent_bytes_per_row": sum(h["worker_sent_bytes"] for h in hist) / n,
            "checkpoint_bytes_per_row_round": hist[-1]["checkpoint_bytes"] / n,
            "max_local_over_core": max(h["max_local"] / h["max_core"] for h in hist),
            "peak_rss_per_worker": max(max(h["worker_peak_rss"].values()) for h in hist),
            "recall": d["recall"], "single_recall": report.get("single", {}).get("recall"),
            "single_seconds": report.get("single", {}).get("seconds")}


FITTED = ("evals_per_row", "local_rows_per_row", "merge_bytes_per_row", "rounds",
          "max_local_over_core")


def fit_at(rows, partitions):
    """Per-row figures at a number of partitions: a straight line in log10(partitions) through
    the measured runs (they grow with the number of partitions, see the document)."""
    x = np.log10([r["partitions"] for r in rows])
    out = {}
    for key in FITTED:
        slope, icpt = np.polyfit(x, [r[key] for r in rows], 1)
        out[key] = max(float(slope * np.log10(partitions) + icpt), max(r[key] for r in rows))
    return out


def extrapolate(rows, t_eval, dim, n=10 ** 9, partition=1_000_000, chunk=10_000_000):
    """Costs of one build of n rows of dimension dim, from the runs measured at 128-d."""
    parts = int(np.ceil(n / (0.75 * partition)))
    f = fit_at(rows, parts)
    base = rows[-1]
    vec = 4 * dim
    row_bytes = vec + 9 + 9 * POOL  # one local row into a join: vector, id, core flag, list
    # time outside distance evaluations, per local row, at the largest run (scaled with bytes)
    other_per_local = ((base["core_seconds_per_row"] - base["evals_per_row"] * t_eval[128])
                       / base["local_rows_per_row"]) * row_bytes / (4 * 128 + 9 + 9 * POOL)
    core_s = n * (f["evals_per_row"] * t_eval[dim] + f["local_rows_per_row"] * other_per_local)
    max_local = min(f["max_local_over_core"], 1 + POOL) * partition
    return {"n": n, "dim": dim, "partition_size": partition, "chunk_rows": chunk,
            "partitions": parts, "fitted": f, "core_hours": core_s / 3600,
            "join_tb": f["local_rows_per_row"] * row_bytes * n / 1e12,
            "merge_tb": f["merge_bytes_per_row"] * n / 1e12,
            "checkpoint_gb_per_round": base["checkpoint_bytes_per_row_round"] * n / 1e9,
            "data_tb": vec * n / 1e12,
            "task_memory_gb": (max_local * (row_bytes + 2 * 12 * POOL) + 48e6) / 1e9,
            "tasks_per_round": 4 * (n // chunk) * parts}


def main(argv=None):
    """Measure the evaluation costs, combine them with the reports, write cost_model.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "results/distributed"))
    ap.add_argument("--eval-ns", type=float, nargs=2, default=None,
                    help="reuse measured ns per evaluation at d=128 and d=1024")
    args = ap.parse_args(argv)
    reports = sorted((json.loads(p.read_text()) for p in Path(args.results).glob("bench_*.json")),
                     key=lambda r: r["meta"]["n"])
    rows = [per_point(r) for r in reports]
    t_eval, evals = {}, {}
    for dim in (128, 1024):
        t_eval[dim], evals[dim] = (eval_seconds(dim) if args.eval_ns is None else
                                   (args.eval_ns[dim == 1024] * 1e-9, 0))
        print(f"d={dim}: {t_eval[dim] * 1e9:.0f} ns per distance evaluation "
              f"({evals[dim]:,} evaluations)", flush=True)
    model = {"measured": rows, "eval_seconds": {str(k): v for k, v in t_eval.items()},
             "eval_counts": {str(k): v for k, v in evals.items()},
             "extrapolated": [extrapolate(rows, t_eval, d) for d in (128, 1024)]}
    with atomic_path(Path(args.results) / "cost_model.json") as tmp:
        tmp.write_text(json.dumps(model, indent=1))
    for r in rows:
        print(json.dumps(r))
    for e in model["extrapolated"]:
        print(json.dumps(e))


if __name__ == "__main__":
    main()
