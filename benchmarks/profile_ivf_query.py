"""Where the microseconds of one cluster-index query go: Python wrapper, centroid routing, scan.

Loads (or builds and saves) a ClusterIndex on the 1M SIFT set and times 1,000 queries one at a
time at several C (r = 1): the whole ``search`` call, the routing alone and the numba kernel
alone; the wrapper's share is what is left. The routing (our walk of the centroid HNSW) runs
inside the kernel, so the kernel is timed whole and the routing apart. It profiles the annann
it imports: this checkout, or another one (sub-package layout) run from its root with this
checkout's ``benchmarks`` on PYTHONPATH:

    python -m benchmarks.profile_ivf_query --index /tmp/ivf4096 --out results/cluster_index/profile_after
    cd /tmp/before && PYTHONPATH=/work/main python -m benchmarks.profile_ivf_query \\
        --index /tmp/ivf4096-old --out /work/main/results/cluster_index/profile_before

(``results/cluster_index/profile_before.md`` was measured on the flat layout of earlier
checkouts, where the routing was hnswlib's Python call before the kernel, by an earlier version
of this script that read both layouts: ``git log benchmarks/profile_ivf_query.py``.)
"""

import argparse
import json
from pathlib import Path

import numpy as np

from annann.ivf.centroid_graph import route
from annann.ivf.index import ClusterIndex
from annann.ivf.scan import search_query
from benchmarks.common import best_of, command_line, data_path, load_data, options, write_atomic

LAYOUT = "sub-package layout"


def kernel(idx, q, C, k):
    """The numba call of one query: routing + rank + scan."""
    s = idx._store
    out_i, out_d = np.empty(k, np.int64), np.empty(k, np.float32)
    g = idx._graph
    return search_query(s.vectors, s.slot_ids, s.starts, s.counts, idx._centroids, q, q, C,
                        k, *g.args(C), out_i, out_d)


def routing(idx, q, C):
    """The routing alone: our walk of the centroid HNSW."""
    g = idx._graph
    return route(q, *g.args(C))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[options()])
    ap.add_argument("--index", required=True, help="saved index directory (built if absent)")
    ap.add_argument("--lists", type=int, default=4096)
    ap.add_argument("--C", default="4,16,64")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True, help="output stem (.json and .md are written)")
    a = ap.parse_args(argv)
    data = data_path(a.data)
    X, Q, _, _, _ = load_data(data, queries=a.queries, truth=False)
    if Path(a.index).exists():
        idx = ClusterIndex.load(a.index)
    else:
        idx = ClusterIndex("euclidean", n_clusters=a.lists, seed=0).fit(X)
        idx.save(a.index)
    del X
    idx.rerank = 1
    k = 10
    rows = []
    for C in (int(c) for c in a.C.split(",")):
        idx.search(Q[0], k, C=C)
        kernel(idx, Q[0], C, k)
        routing(idx, Q[0], C)
        total, walk, call = best_of([lambda: [idx.search(q, k, C=C) for q in Q],
                                     lambda: [routing(idx, q, C) for q in Q],
                                     lambda: [kernel(idx, q, C, k) for q in Q]],
                                    a.runs)
        n = len(Q)
        scan = call - walk
        rows.append({"C": C, "total_us": total / n * 1e6, "routing_us": walk / n * 1e6,
                     "kernel_us": scan / n * 1e6,
                     "wrapper_us": (total - walk - scan) / n * 1e6})
        print(rows[-1], flush=True)
    out = Path(a.out)
    command = command_line("profile_ivf_query", argv)
    md = [f"# One cluster-index query, where the time goes ({LAYOUT}, {a.queries} queries of "
          f"{data.name}, {a.lists} lists, r = 1, best of {a.runs} passes)", "",
          f"Command: `{command}`",
          "", "| C | whole search (us) | routing (us) | rank + scan (us) | Python wrapper: the "
          "rest (us) |", "| --- | --- | --- | --- | --- |"]
    md += [f"| {r['C']} | {r['total_us']:.1f} | {r['routing_us']:.1f} | {r['kernel_us']:.1f} | "
           f"{r['wrapper_us']:.1f} |" for r in rows]
    write_atomic(out.with_suffix(".json"), json.dumps({"rows": rows, "layout": LAYOUT}, indent=1))
    write_atomic(out.with_suffix(".md"), "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
