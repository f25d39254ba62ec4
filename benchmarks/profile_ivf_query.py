"""Where the microseconds of one cluster-index query go: Python wrapper, centroid routing, scan.

Loads (or builds and saves) a ClusterIndex on the 1M SIFT set and times 1,000 queries one at a
time at several C (r = 1): the whole ``search`` call, the routing alone and the numba kernel
alone; the wrapper's share is what is left. The routing (our walk of the centroid HNSW) runs
inside the kernel, so the kernel is timed whole and the routing apart. With the coded scan (the
default), the kernel is also cut into its stages, each timed cumulatively over the same queries
inside one numba loop: routing, ranking the clusters, rotating the query, pass 1 over the codes,
and pass 2 (the rows re-ranked exactly), with the codes and rows read per query. It profiles the
annann it imports: this checkout, or another one (sub-package layout) run from its root with
this checkout's ``benchmarks`` on PYTHONPATH:

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
from numba import njit

from annann.core.rabitq import QUERY_BITS, quantize_query
from annann.core.rotation import rotate_into
from annann.ivf.centroid_graph import EXACT, MIN_EF, route
from annann.ivf.index import ClusterIndex
from annann.ivf.scan import rank_clusters, rerank_kept, scan_codes, search_one_coded, search_query
from benchmarks.common import best_of, command_line, data_path, load_data, options, write_atomic

LAYOUT = "sub-package layout"
STAGES = ("routing", "ranking", "rotation + quantisation", "pass 1: codes", "pass 2: rows")


@njit(cache=True)
def coded_stages(Q, vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                 centres_rot, signs, block, C, k, margin, centres, bottom, bottom_degrees,
                 upper, upper_degrees, upper_start, entry, top_level, exact_route, bits, touched,
                 q_rot, last):
    """The coded query's stages up to ``last`` (an index of STAGES) for every row of Q, as
    ``ivf.scan.search_query_coded`` runs them (non-adaptive); returns (codes scanned, rows
    re-ranked) in total."""
    scanned = 0
    exact = 0
    out_i = np.empty(k, dtype=np.int64)
    out_d = np.empty(k, dtype=np.float32)
    for t in range(Q.shape[0]):
        q = Q[t]
        want = min(C, centres.shape[0])
        cand, _, _ = route(q, centres, bottom, bottom_degrees, upper, upper_degrees,
                           upper_start, entry, top_level, want,
                           EXACT if exact_route else max(want, MIN_EF), bits, touched)
        if last == 0:
            continue
        chosen = np.empty(C, dtype=np.int64)
        chosen_d = np.empty(C, dtype=np.float32)
        n_chosen, _ = rank_clusters(centroids, counts, cand, q, C, chosen, chosen_d)
        if last == 1:
            continue
        rotate_into(q, signs, block, q_rot)
        planes = np.empty((QUERY_BITS, codes.shape[0]), np.uint64)
        delta, low, qsum, _, _ = quantize_query(q_rot, planes)
        if last == 2:
            continue
        scratch = (np.empty(largest, np.int64), np.empty(largest, np.int64),
                   np.empty(largest, np.float32), np.empty(largest, np.float32))
        room = 1
        for u in range(n_chosen):
            room += counts[chosen[u]]
        up_i = np.full((1, k), -1, dtype=np.int64)
        up_d = np.full((1, k), np.inf, dtype=np.float32)
        cand_lb, cand_row, m, s = scan_codes(
            starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, n_chosen,
            np.empty(0, np.int64), 0, q_rot, (planes, delta, low, qsum), margin, -1, scratch,
            np.empty(room, np.float32), np.empty(room, np.int64), 0, up_i, up_d)
        scanned += s
        if last == 3:
            continue
        _, e = rerank_kept(vectors, slot_ids, q, cand_lb, cand_row, m, up_d[0, 0], k, out_i,
                           out_d)
        exact += e
    return scanned, exact


def kernel(idx, q, C, k):
    """The numba call of one query: routing + rank + scan (coded or exact, as the index)."""
    s = idx._store
    out_i, out_d = np.empty(k, np.int64), np.empty(k, np.float32)
    g = idx._graph
    if idx.coded:
        before, after = idx._static_args()
        return search_one_coded(*before, q, q, C, k, np.float32(1.9), idx.rerank,
                                *idx._stop_args(None), idx._features, *after, out_i, out_d)
    return search_query(s.vectors, s.slot_ids, s.starts, s.counts, idx._centroids, q, q, C,
                        k, *g.args(C), out_i, out_d)


def stage_times(idx, Q, C, k, runs, margin=1.9):
    """{stage: microseconds per query} of the coded kernel's stages (differences of cumulative
    runs), and the codes and rows read per query."""
    s, g = idx._store, idx._graph
    args = (s.vectors, s.slot_ids, s.starts, s.counts, max(idx._largest, 1), idx._centroids,
            *idx._coded_args(), C, k, np.float32(margin), *g.walk_args()[:-3], g.exact,
            g.bits, g.touched, idx._q_rot)
    cumulative = []
    for last in range(len(STAGES)):
        coded_stages(Q[:2], *args, last)
        best = best_of([lambda: coded_stages(Q, *args, last)], runs)[0]
        cumulative.append(best / len(Q) * 1e6)
    scanned, exact = coded_stages(Q, *args, len(STAGES) - 1)
    times = {name: cumulative[i] - (cumulative[i - 1] if i else 0.0)
             for i, name in enumerate(STAGES)}
    return times, scanned / len(Q), exact / len(Q)


def routing(idx, q, C):
    """The routing alone: our walk of the centroid HNSW."""
    g = idx._graph
    return route(q, *g.args(C))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[options()])
    ap.add_argument("--index", required=True, help="saved index directory (built if absent)")
    ap.add_argument("--lists", type=int, default=4000)
    ap.add_argument("--C", default="4,16,64")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True, help="output stem (.json and .md are written)")
    a = ap.parse_args(argv)
    data = data_path(a.data)
    X, Q, _, _, _ = load_data(data, queries=a.queries, truth=False)
    if Path(a.index).exists():
        idx = ClusterIndex.load(a.index)
    else:
        idx = ClusterIndex("euclidean", n_clusters=a.lists, seed=0, quantizer="rabitq").fit(X)
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
        if idx.coded:
            stages, codes, exact = stage_times(idx, Q, C, k, a.runs)
            rows[-1].update({"stages_us": stages, "codes_per_query": codes,
                             "rows_per_query": exact})
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
    if idx.coded:
        md += ["", "The coded kernel's stages (microseconds per query, each stage timed as the "
               "difference of cumulative runs of one numba loop; margin 1.9):", "",
               "| C | " + " | ".join(STAGES) + " | codes read | rows read |",
               "| --- |" + " --- |" * (len(STAGES) + 2)]
        md += [f"| {r['C']} | " + " | ".join(f"{r['stages_us'][name]:.1f}" for name in STAGES)
               + f" | {r['codes_per_query']:.0f} | {r['rows_per_query']:.0f} |" for r in rows]
    write_atomic(out.with_suffix(".json"), json.dumps({"rows": rows, "layout": LAYOUT}, indent=1))
    write_atomic(out.with_suffix(".md"), "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
