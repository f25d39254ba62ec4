"""Cost model of the distributed K-NN graph build: fitted on the 1M runs, extrapolated to 1B rows.

Reads results/distributed/bench_<n>.json (bench_distributed.py: single-machine runs and
distributed runs on 1, 2 and 4 worker processes) and measures one more thing: the cost of a
distance evaluation inside NN-descent at d=128 and d=1024 (20,000 random Gaussian rows, one
thread), whose ratio scales the measured d=128 cost to d=1024. Writes
results/distributed/cost_model.json and prints the fitted terms and the extrapolation; the
assumption behind each term is in docs/distributed_cost_model.md.

    flock /tmp/annann-bench.lock python -m benchmarks.dist_cost_model
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, write_atomic

POOL = 25  # default_pool_size(20)


def eval_seconds(dim, n=20_000, seed=0):
    """CPU seconds per distance evaluation of a one-thread NN-descent on n random rows (CPU time,
    so other jobs on the machine do not inflate it)."""
    import numba

    from annann.graph.lsh import LSHTables
    from annann.graph.nndescent import nn_descent

    numba.set_num_threads(1)
    X = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    tables = LSHTables(8, 32, seed).build(X)
    nn_descent(X[:2000], POOL, None, max_iters=1)  # load the kernels
    t0 = time.process_time()
    _, _, stats = nn_descent(X, POOL, tables, max_iters=8, n_parts=1, seed=seed)
    return (time.process_time() - t0) / stats["dist_evals"]


def per_run(run, n):
    """Per-row figures of one distributed run (round 0 vs the later rounds)."""
    h = run["history"]
    later = h[1:]
    evals = sum(x["dist_evals"] for x in h)
    return {"workers": run["workers"], "partitions": h[0]["n_parts"], "rounds": len(h),
            "seconds": run["seconds"], "cpu_seconds": run["cpu_seconds"],
            "recall": run["recall"], "round0_recall": h[0]["recall"],
            "round_recalls": [x["recall"] for x in h],
            "cpu_ns_per_eval": 1e9 * run["cpu_seconds"] / evals,
            "round0_evals_per_row": h[0]["dist_evals"] / n,
            "refine_evals_per_row": sum(x["dist_evals"] for x in later) / n,
            "refine_local_rows_per_row": sum(x["mean_local"] * x["n_parts"] for x in later) / n,
            "read_bytes_per_row": sum(x["read_bytes"] for x in h) / n,
            "exchange_bytes_per_row": sum(x["exchange_bytes"] for x in h) / n,
            "sent_bytes_per_row": sum(x["worker_sent_bytes"] for x in h) / n,
            "checkpoint_bytes_per_row_round": h[-1]["checkpoint_bytes"] / n,
            "partition_seconds_per_round": [x["partition_seconds"] for x in h],
            "peak_rss_per_worker": max(run["peak_rss_per_worker"].values())}


def fit(rows):
    """The fitted terms (docs/distributed_cost_model.md says what each assumes)."""
    split = [r for r in rows if r["partitions"] > 1]
    levels = [np.log2(r["partitions"]) for r in split]
    # round 0 keeps a fraction q of the true neighbours per level of median cuts
    q = float(np.exp(np.polyfit(levels, [np.log(r["round0_recall"]) for r in split], 1)[0]
                     if len(split) > 1 else np.log(split[0]["round0_recall"]) / levels[0]))
    lm = np.log([1 - r["round0_recall"] for r in split])

    def power(key):  # key = c * missing ** e, through the measured runs
        e, c = np.polyfit(lm, np.log([r[key] for r in split]), 1)
        return [float(e), float(np.exp(c))]

    slope, icpt = np.polyfit(lm, [r["rounds"] for r in split], 1)
    return {"q_per_level": q,
            "round0_evals_per_row": float(np.mean([r["round0_evals_per_row"] for r in rows])),
            "refine_evals_power": power("refine_evals_per_row"),
            "refine_local_rows_power": power("refine_local_rows_per_row"),
            "rounds_per_log_missing": [float(slope), float(icpt)],
            "cpu_ns_per_eval_128": float(np.median([r["cpu_ns_per_eval"] for r in rows])),
            "partition_seconds_per_level": float(np.median(
                [s / max(1.0, np.log2(r["partitions"])) for r in split
                 for s in r["partition_seconds_per_round"]]))}


def extrapolate(f, eval_ratio, dim, n=10 ** 9, partition=1_000_000, workers=1000):
    """Costs of one build of n rows of dimension dim from the fitted terms."""
    parts = -(-n // partition)
    levels = float(np.log2(parts))
    r0 = f["q_per_level"] ** levels
    missing = 1 - r0
    e, c = f["refine_evals_power"]
    evals_ref = c * missing ** e
    e, c = f["refine_local_rows_power"]
    local_ref = c * missing ** e  # local rows per row, summed over rounds >= 1
    ns = f["cpu_ns_per_eval_128"] * (eval_ratio if dim == 1024 else 1.0)
    core_s = n * (f["round0_evals_per_row"] + evals_ref) * ns * 1e-9
    rounds = max(2, int(np.ceil(f["rounds_per_log_missing"][0] * np.log(missing)
                                + f["rounds_per_log_missing"][1])))
    row_read = 4 * dim + 9 * POOL + 8  # vector, list record, id
    halo_per_core = min(local_ref / max(1, rounds - 1), POOL)  # a round's local rows per core row
    return {"n": n, "dim": dim, "partition_size": partition, "partitions": parts,
            "workers": workers, "round0_recall": r0, "missing_after_round0": missing,
            "round0_evals_per_row": f["round0_evals_per_row"], "refine_evals_per_row": evals_ref,
            "rounds": rounds, "cpu_core_hours": core_s / 3600,
            "wall_hours_on_workers": (core_s / workers
                                      + rounds * levels * f["partition_seconds_per_level"]) / 3600,
            "read_tb": n * (1 + local_ref) * row_read / 1e12,
            "exchange_tb": n * (1 + local_ref) * (9 * POOL + 9) / 1e12,
            "checkpoint_gb_per_round": n * 9 * POOL / 1e9, "data_tb": 4 * dim * n / 1e12,
            "largest_task_rows": partition * halo_per_core,
            "task_memory_gb": partition * halo_per_core * (2 * 4 * dim + 6 * 9 * POOL) / 1e9}


def main(argv=None):
    """Fit the terms on the 1M report, extrapolate, write cost_model.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", default=str(ROOT / "results/distributed/bench_1000000.json"))
    ap.add_argument("--eval-ratio", type=float, default=None,
                    help="reuse a measured ns(d=1024) / ns(d=128) ratio")
    args = ap.parse_args(argv)
    report = json.loads(Path(args.report).read_text())
    n = report["meta"]["n"]
    rows = sorted((per_run(r, n) for r in report["distributed"]), key=lambda r: r["workers"])
    measured_ns = None
    if args.eval_ratio is None:
        t128, t1024 = eval_seconds(128), eval_seconds(1024)
        ratio = t1024 / t128
        measured_ns = {"128": t128 * 1e9, "1024": t1024 * 1e9}
        print(f"CPU ns per evaluation (20k random rows): d=128 {t128 * 1e9:.0f}, "
              f"d=1024 {t1024 * 1e9:.0f}, ratio {ratio:.2f}", flush=True)
    else:
        ratio = args.eval_ratio
    f = fit(rows)
    model = {"report": Path(args.report).name, "measured": rows, "fitted": f,
             "eval_ratio_1024_over_128": ratio, "eval_cpu_ns_random_rows": measured_ns,
             "single": [{k: s[k] for k in ("seconds", "cpu_seconds", "graph_seconds", "recall",
                                           "dist_evals", "peak_rss")}
                        for s in report.get("single", [])],
             "extrapolated": [extrapolate(f, ratio, d) for d in (128, 1024)]}
    write_atomic(ROOT / "results/distributed/cost_model.json", json.dumps(model, indent=1))
    print(json.dumps({"fitted": f, "extrapolated": model["extrapolated"]}, indent=1))


if __name__ == "__main__":
    main()
