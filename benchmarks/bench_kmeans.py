"""k-means settings of the cluster index: recall@10 vs vectors scanned, build time.

For each variant ``passes:refine`` (mini-batch passes over the 32-per-cluster sample, then Lloyd
iterations on 64 per cluster) the centres are computed, the index is built on them (same
routing, same r = 1) and 1,000 queries are answered in a batch at a few C; recall@10 by distance
threshold and the mean vectors scanned per query are recorded. What decides the defaults of
``ivf/kmeans.py``:

    python -m benchmarks.bench_kmeans                          # 1M SIFT, 4,000 lists
    python -m benchmarks.bench_kmeans --data data/fashion-mnist-784-euclidean.hdf5 --tag fashion
    python -m benchmarks.bench_kmeans --data bigann-10k-128-euclidean --lists 32 --variants 2:1 \\
        --C 4 --queries 20 --out /tmp/kmeans --tag smoke           # seconds, the embedded set
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from annann.ivf.index import ClusterIndex
from annann.ivf.kmeans import fit_centers
from benchmarks.common import (ROOT, data_path, load_data, options, recall_of, run_info,
                               versions_text, write_atomic)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 parents=[options(out=ROOT / "results" / "cluster_index",
                                                  tag="sift-1m")])
    ap.add_argument("--lists", default="4sqrt", help="number of lists, or 4sqrt")
    ap.add_argument("--variants", default="10:0,10:5,5:5,3:8",
                    help="comma-separated passes:refine pairs")
    ap.add_argument("--C", default="4,16,32,64")
    a = ap.parse_args(argv)
    data = data_path(a.data)
    X, Q, _, gt, _ = load_data(data, queries=a.queries)
    gt = gt[:, :10].astype(np.float64)
    n = X.shape[0]
    lists = round(4 * math.sqrt(n)) if a.lists == "4sqrt" else int(a.lists)
    info = run_info("bench_kmeans", argv, ("numpy", "scikit-learn", "numba"))
    command = info["command"]
    rows = []
    for variant in a.variants.split(","):
        passes, refine = (int(x) for x in variant.split(":"))
        t0 = time.perf_counter()
        centers = fit_centers(X, lists, seed=0, max_iter=passes, refine_iters=refine)
        seconds = time.perf_counter() - t0
        index = ClusterIndex("euclidean", n_clusters=lists, rerank=1, seed=0).fit(X,
                                                                                 centers=centers)
        row = {"passes": passes, "refine": refine, "kmeans_s": seconds,
               "cv": index.imbalance()["cv"], "points": []}
        for C in (int(c) for c in a.C.split(",")):
            ids, _ = index.search_batch(Q, 10, C=C)
            row["points"].append({"C": C, "recall": recall_of(X, Q, gt, ids),
                                  "scanned": index.last_stats["scanned"] / len(Q)})
        rows.append(row)
        print(row, flush=True)
    lines = [f"# k-means settings on {data.name} ({n:,} rows, {lists} lists)", "",
             f"Command: `{command}`; {info['cpu']}, {info['nproc']} CPUs, {info['date_utc']}, "
             f"git {info['git']}; {versions_text(info)}.", "",
             "| mini-batch passes | Lloyd iterations | k-means s | cv of cluster sizes | "
             + " | ".join(f"C={p['C']}: recall @ scanned" for p in rows[0]["points"]) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in rows[0]["points"]) + " |"]
    for r in rows:
        lines.append(f"| {r['passes']} | {r['refine']} | {r['kmeans_s']:.1f} | {r['cv']:.2f} | "
                     + " | ".join(f"{p['recall']:.4f} @ {p['scanned']:,.0f}" for p in r["points"])
                     + " |")
    out = Path(a.out)
    write_atomic(out / f"kmeans_{a.tag}.json", json.dumps({"info": info, "lists": lists,
                                                          "rows": rows}, indent=1))
    write_atomic(out / f"kmeans_{a.tag}.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
