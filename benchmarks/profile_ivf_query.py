"""Where the microseconds of one cluster-index query go: Python wrapper, centroid routing, scan.

Loads (or builds and saves) a ClusterIndex on the 1M SIFT set and times 1,000 queries one at a
time at several C (r = 1): the whole ``search`` call, the routing alone and the numba kernel
alone; the wrapper's share is what is left. In the sub-package layout the routing (our walk of
the centroid HNSW) runs inside the kernel, so the kernel is timed whole and the routing apart; in
the flat layout of earlier checkouts the routing was hnswlib's Python call before the kernel
(rank + scan). Runs on this checkout, or on an older one through PYTHONPATH (a checkout from
before the sub-package layout is read through its old module paths):

    python benchmarks/profile_ivf_query.py --index /tmp/ivf4096 --out results/cluster_index/profile_after
    PYTHONPATH=/tmp/before python benchmarks/profile_ivf_query.py --index /tmp/ivf4096-old \\
        --out results/cluster_index/profile_before
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = str(ROOT.parent / "shared" / "data" / "fg-sift-128-euclidean.hdf5")

import annann  # noqa: E402

# Which layout: decided by the package found, never by trying imports (an editable install's
# finder would serve the sub-packages of another checkout).
NEW = (Path(annann.__file__).parent / "ivf").is_dir()
if NEW:
    from annann.ivf.centroid_graph import route
    from annann.ivf.index import ClusterIndex
    from annann.ivf.scan import search_query
else:  # a checkout from before the sub-package layout
    from annann.cluster_index import ClusterIndex
    from annann.cluster_scan import search_query


def kernel(idx, q, cand, C, k):
    """The numba call of one query: routing + rank + scan (new), rank + scan on cand (old)."""
    s = idx._store
    out_i, out_d = np.empty(k, np.int64), np.empty(k, np.float32)
    if NEW:
        g = idx._graph
        return search_query(s.vectors, s.slot_ids, s.starts, s.counts, idx._centroids, q, q, C,
                            k, *g.args(C), out_i, out_d)
    return search_query(s.vectors, s.slot_ids, s.starts, s.counts, idx._centroids, cand, q, C, k,
                        out_i, out_d)


def routing(idx, q, C):
    """The routing alone: our walk of the centroid HNSW (new), hnswlib's call (old)."""
    if NEW:
        g = idx._graph
        return route(q, *g.args(C))
    return idx._graph.query(q[None, :], C)


def write_atomic(path, text):
    """Write text to a temp file beside path, then rename it over (runs on old checkouts too)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def best_of(fns, runs):
    """Best time of each function over runs passes, the functions interleaved in every pass (so
    drift of a shared machine hits them alike)."""
    best = [np.inf] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--index", required=True, help="saved index directory (built if absent)")
    ap.add_argument("--lists", type=int, default=4096)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--C", default="4,16,64")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True, help="output stem (.json and .md are written)")
    a = ap.parse_args(argv)
    with h5py.File(a.data, "r") as f:
        Q = np.ascontiguousarray(f["test"][:a.queries], dtype=np.float32)
        if Path(a.index).exists():
            idx = ClusterIndex.load(a.index)
        else:
            X = np.ascontiguousarray(f["train"][:], dtype=np.float32)
            idx = ClusterIndex("euclidean", n_clusters=a.lists, seed=0).fit(X)
            idx.save(a.index)
    idx.rerank = 1
    k = 10
    rows = []
    for C in (int(c) for c in a.C.split(",")):
        idx.search(Q[0], k, C=C)
        cands = [None if NEW else idx._graph.query(q[None, :], C)[0] for q in Q]
        kernel(idx, Q[0], cands[0], C, k)
        routing(idx, Q[0], C)
        total, walk, call = best_of([lambda: [idx.search(q, k, C=C) for q in Q],
                                     lambda: [routing(idx, q, C) for q in Q],
                                     lambda: [kernel(idx, q, c, C, k) for q, c in zip(Q, cands)]],
                                    a.runs)
        n = len(Q)
        scan = call - walk if NEW else call
        rows.append({"C": C, "total_us": total / n * 1e6, "routing_us": walk / n * 1e6,
                     "kernel_us": scan / n * 1e6,
                     "wrapper_us": (total - walk - scan) / n * 1e6})
        print(rows[-1], flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    layout = "sub-package layout" if NEW else "flat layout"
    command = " ".join(["benchmarks/profile_ivf_query.py"] + (sys.argv[1:] if argv is None
                                                              else argv))
    md = [f"# One cluster-index query, where the time goes ({layout}, {a.queries} queries of "
          f"{Path(a.data).name}, {a.lists} lists, r = 1, best of {a.runs} passes)", "",
          f"Command: `{command}`",
          "", "| C | whole search (us) | routing (us) | rank + scan (us) | Python wrapper: the "
          "rest (us) |", "| --- | --- | --- | --- | --- |"]
    md += [f"| {r['C']} | {r['total_us']:.1f} | {r['routing_us']:.1f} | {r['kernel_us']:.1f} | "
           f"{r['wrapper_us']:.1f} |" for r in rows]
    write_atomic(out.with_suffix(".json"), json.dumps({"rows": rows, "layout": layout}, indent=1))
    write_atomic(out.with_suffix(".md"), "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
