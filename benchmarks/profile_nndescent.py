"""Where NN-descent's build time goes: wall seconds per kernel of one LSH-initialised build.

Wraps the kernels of annann.graph.nndescent with timers (each kernel call is already a whole parallel
pass, so the wrapper costs nothing measurable), builds once and prints the split plus the graph
recall (exact on 1,000 sampled nodes). Writes results/knngraph/profile_<n>_pool<pool>.json.

    python -m benchmarks.profile_nndescent --n 1000000 --pool 25
"""

import argparse
import json
import os
import time
from pathlib import Path

from annann.core.heaps import sorted_rows
from annann.graph import nndescent
from annann.graph.lsh import LSHTables
from annann.graph.quality import GraphRecallProbe
from benchmarks.common import ROOT, command_line, load_data, options, write_atomic

KERNELS = ("init_from_buckets", "init_random", "sample_candidates", "mark_sampled_old",
           "count_pairs", "join_chunk", "apply_updates")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 parents=[options(queries=None, out=ROOT / "results/knngraph")])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--pool", type=int, default=25)
    ap.add_argument("--tables", type=int, default=8)
    args = ap.parse_args(argv)
    X = load_data(args.data, rows=args.n, truth=False)[0]
    nndescent.nn_descent(X[:3000], args.k, LSHTables(2, 32, 0).build(X[:3000]), max_iters=1)
    seconds = dict.fromkeys(KERNELS, 0.0)

    def timed(name, fn):
        def run(*a):
            t = time.perf_counter()
            out = fn(*a)
            seconds[name] += time.perf_counter() - t
            return out
        return run

    for name in KERNELS:
        setattr(nndescent, name, timed(name, getattr(nndescent, name)))
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    tables = LSHTables(args.tables, 32, 0).build(X)
    seconds["lsh_tables"] = time.perf_counter() - t0
    ids, sq, stats = nndescent.nn_descent(X, args.pool, tables, n_parts=2)
    total = time.perf_counter() - t0
    probe = GraphRecallProbe(X, args.k, 1000, "euclidean", seed=0)
    recall = probe.recall(sorted_rows(ids, sq)[0])
    report = {"command": command_line("profile_nndescent", argv),
              "n": X.shape[0], "k": args.k, "pool": args.pool, "total_seconds": total,
              "graph_recall": recall, "iterations": stats["iterations"],
              "dist_evals": stats["dist_evals"], "load_avg_start": load,
              "load_avg_end": os.getloadavg()[0], "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "kernel_seconds": {k: round(v, 2) for k, v in sorted(seconds.items(),
                                                                    key=lambda kv: -kv[1])}}
    out = Path(args.out) / f"profile_{X.shape[0]}_pool{args.pool}.json"
    write_atomic(out, json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
