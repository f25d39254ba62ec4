"""k-means settings of the cluster index: recall@10 vs vectors scanned, build time.

For each variant ``passes:refine`` (mini-batch passes over the 32-per-cluster sample, then Lloyd
iterations on 64 per cluster) the centres are computed, the index is built on them (same
routing, same r = 1) and 1,000 queries are answered in a batch at a few C; recall@10 by distance
threshold and the mean vectors scanned per query are recorded. What decides the defaults of
``ivf/kmeans.py``:

    python benchmarks/bench_kmeans.py                          # 1M SIFT, 4,000 lists
    python benchmarks/bench_kmeans.py --data data/fashion-mnist-784-euclidean.hdf5 --tag fashion
"""

import argparse
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
from annann.ivf.index import ClusterIndex  # noqa: E402
from annann.ivf.kmeans import fit_centers  # noqa: E402
from ann_benchmarks_plugin.provenance import machine_info, versions_text  # noqa: E402

DEFAULT_DATA = str(ROOT.parent / "shared" / "data" / "fg-sift-128-euclidean.hdf5")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--lists", default="4sqrt", help="number of lists, or 4sqrt")
    ap.add_argument("--variants", default="10:0,10:5,5:5,3:8",
                    help="comma-separated passes:refine pairs")
    ap.add_argument("--C", default="4,16,32,64")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "results" / "cluster_index"))
    ap.add_argument("--tag", default="sift-1m")
    a = ap.parse_args(argv)
    with h5py.File(a.data, "r") as f:
        X = np.ascontiguousarray(f["train"][:], dtype=np.float32)
        Q = np.ascontiguousarray(f["test"][:a.queries], dtype=np.float32)
        gt = np.asarray(f["distances"][:a.queries, :10], dtype=np.float64)
    n = X.shape[0]
    lists = round(4 * math.sqrt(n)) if a.lists == "4sqrt" else int(a.lists)
    command = " ".join(["benchmarks/bench_kmeans.py"] + (sys.argv[1:] if argv is None else argv))
    info = machine_info(command, ("numpy", "scikit-learn", "numba"), ROOT)
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
            d = np.sqrt(((X[np.maximum(ids, 0)].astype(np.float64) - Q[:, None, :]) ** 2)
                        .sum(axis=2))
            d[ids < 0] = np.inf
            row["points"].append({"C": C, "recall": float(knn_recall(gt, d, 10).mean()),
                                  "scanned": index.last_stats["scanned"] / len(Q)})
        rows.append(row)
        print(row, flush=True)
    lines = [f"# k-means settings on {Path(a.data).name} ({n:,} rows, {lists} lists)", "",
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
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"kmeans_{a.tag}.json") as tmp:
        tmp.write_text(json.dumps({"info": info, "lists": lists, "rows": rows}, indent=1))
    with atomic_path(out / f"kmeans_{a.tag}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
