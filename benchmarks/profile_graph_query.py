"""Where the microseconds of one K-NN graph query go: Python wrapper, LSH entry, distances, walk.

Builds a KNNGraphIndex (K=20, library defaults: the walk on codes) and, over the same K-NN
lists, its full-row twin (quantizer="none"), and times --queries queries one at a time at
several beams (entry tables as given).

The coded walk: the whole ``search`` call, the numba kernel alone (``lsh_coded_search``), the
LSH entry alone, the query's rotation and quantisation (``prepare_coded_query``), and the walk
(the rest of the kernel), per query and per expanded node; then the walk once more on blocks
already in cache (each query walked twice in a row, the second timed): the difference is the
time the walk waits on memory.

The full-row walk: the whole call, the kernel (``lsh_beam_search``), the LSH entry and the
distance floor: the same rows the walk evaluated (the entry points and the walk's recorded
visits, in the walk's order) computed again in one tight loop, four rows per pass as the walk
does, with the rows of the other queries in between so they are not in cache. What is left of
the kernel is the walk's own work: heaps, visited bits, the neighbour lists' reads. Each part
is the best of --runs passes, the parts interleaved in every pass.

    python -m benchmarks.profile_graph_query --out results/knngraph/profile_sift-1m
    python -m benchmarks.profile_graph_query --data data/fashion-mnist-784-euclidean.hdf5 \\
        --out results/knngraph/profile_fashion-mnist
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from numba import njit

from annann.core.distances import sq_l2_vec, sq_l2_vec_four
from annann.core.graph_search import clear_marks
from annann.data.evaluation import knn_recall
from annann.graph.beam_search import lsh_beam_search, lsh_coded_search
from annann.graph.coded_search import coded_beam_search, prepare_coded_query
from annann.graph.index import KNNGraphIndex
from annann.graph.lsh import query_candidates
from benchmarks.common import best_of, data_path, load_data, options, run_info, write_atomic


@njit(cache=True)
def entry_only(q, directions, left, thresholds, starts, ends, roots, orders, bits, out):
    """The LSH entry of one query (its marks cleared again); returns the entry count."""
    c = query_candidates(q, directions, left, thresholds, starts, ends, roots, orders, 1, bits,
                         out)
    clear_marks(bits, out, c)
    return c


@njit(cache=True, fastmath=True)
def distances_of(Q, X, rows, starts):
    """Squared distances of query r to rows[starts[r]:starts[r + 1]], every query in turn, four
    rows per pass as the walk computes them (``sq_l2_vec_four``)."""
    s = 0.0
    for r in range(Q.shape[0]):
        t = starts[r]
        while t + 4 <= starts[r + 1]:
            a, b, c, d = sq_l2_vec_four(Q[r], X, rows[t], rows[t + 1], rows[t + 2], rows[t + 3])
            s += a + b + c + d
            t += 4
        while t < starts[r + 1]:
            s += sq_l2_vec(Q[r], X, rows[t])
            t += 1
    return s


@njit(cache=True)
def walks(Q, f32, i32, u64, layout, R, signs, block, directions, left, thresholds, starts, ends,
          roots, orders, k, beam, bits, touched, entry_buf, q_rot, planes, part, twice):
    """Every query's coded walk up to ``part`` (0: the LSH entry, 1: + rotation and
    quantisation, 2: + the walk), each walked ``twice`` times in a row (the last on warm
    blocks); returns the nodes expanded in total (of the last walks)."""
    expanded = 0
    for r in range(Q.shape[0]):
        for rep in range(twice):
            c = query_candidates(Q[r], directions, left, thresholds, starts, ends, roots, orders,
                                 1, bits, entry_buf)
            if part == 0:
                clear_marks(bits, entry_buf, c)
                continue
            delta, low, qsum = prepare_coded_query(Q[r], signs, block, q_rot, planes)
            if part == 1:
                clear_marks(bits, entry_buf, c)
                continue
            _, _, e, _ = coded_beam_search(q_rot, f32, i32, u64, layout, R, entry_buf, c, k,
                                           beam, np.float32(0.0), planes, delta, low, qsum,
                                           bits, touched, -1)
            if rep == twice - 1:
                expanded += e
    return expanded


def coded_profile(idx, Q, true_d, beam, tables, runs):
    """The coded walk's parts at one beam (see the module docstring), microseconds per query."""
    k, n = 10, len(Q)
    t = idx.tables
    lsh = (t.directions[:tables], t.left, t.thresholds, t.starts, t.ends, t.roots[:tables],
           t.orders)
    scratch = (idx._bits[0], idx._touched[0], idx._entry_buf[0], idx._q_rot[0], idx._planes[0])
    args = (*idx._block_views, idx.max_degree, idx._rotation.signs, idx._rotation.block, *lsh,
            k, beam, *scratch)
    kernel_args = idx._search_args(k, beam, None, tables, None)
    stop = idx._stop_args(None)
    found = np.array([idx.search(q, k, beam=beam, entry_tables=tables)[1] for q in Q])
    recall = float(knn_recall(true_d, found, k).mean())
    for part in range(3):
        walks(Q[:2], *args, part, 1)
    walks(Q[:2], *args, 2, 2)
    parts = best_of([
        lambda: [idx.search(q, k, beam=beam, entry_tables=tables) for q in Q],
        lambda: [lsh_coded_search(q, *idx._coded_arrays(), *kernel_args, *stop, -1,
                                  idx._features[0], idx._bits[0], idx._touched[0],
                                  idx._entry_buf[0], idx._q_buf[0], idx._q_rot[0],
                                  idx._planes[0]) for q in Q],
        lambda: walks(Q, *args, 0, 1), lambda: walks(Q, *args, 1, 1),
        lambda: walks(Q, *args, 2, 1), lambda: walks(Q, *args, 2, 2)], runs)
    total, kernel, entry, prepared, walked, twice = (p / n * 1e6 for p in parts)
    expanded = walks(Q, *args, 2, 1) / n
    warm = twice - walked  # the second walk of each query, on blocks in cache
    walk = walked - prepared
    warm_walk = warm - prepared
    return {"beam": beam, "recall": recall, "expanded": expanded, "total_us": total,
            "wrapper_us": total - kernel, "kernel_us": kernel, "lsh_entry_us": entry,
            "prepare_us": prepared - entry, "walk_us": walk,
            "ns_per_expansion": walk * 1e3 / expanded,
            "warm_ns_per_expansion": warm_walk * 1e3 / expanded,
            "memory_share": max(0.0, 1.0 - warm_walk / walk)}


def visited_rows(idx, Q, args):
    """Per query, the rows the walk computed a distance to, in its order (CSR: rows, starts)."""
    rows, starts = [], [0]
    for q in Q:
        _, _, nd = lsh_beam_search(q, idx.X, idx.neighbors, idx.degrees, idx.labels, *args, idx._bits[0],
                                   idx._touched[0], idx._entry_buf[0], idx._q_buf[0])
        c = entry_only(q, *args[:7], idx._bits[0], idx._entry_buf[0])
        rows.append(idx._entry_buf[0, :c].copy())
        lsh_beam_search(q, idx.X, idx.neighbors, idx.degrees, idx.labels, *args, idx._bits[0],
                        idx._touched[0], idx._entry_buf[0], idx._q_buf[0])
        rows.append(idx._touched[0, :nd - c].copy())
        starts.append(starts[-1] + nd)
    return np.concatenate(rows).astype(np.int64), np.asarray(starts, dtype=np.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[options()],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--beams", default="16,64,256", help="beams profiled")
    ap.add_argument("--entry-tables", type=int, default=8, help="LSH tables hashed per query")
    ap.add_argument("--coded-beams", default="16,64,128,256", help="beams profiled, coded walk")
    ap.add_argument("--coded-entry-tables", type=int, default=1,
                    help="LSH tables hashed per query, coded walk")
    ap.add_argument("--runs", type=int, default=5, help="passes per part, best kept")
    ap.add_argument("--out", required=True, help="output stem (.json and .md are written)")
    a = ap.parse_args(argv)
    data = data_path(a.data)
    X, Q, _, true_d, _ = load_data(data, queries=a.queries)
    true_d = true_d[:, :10]
    t0 = time.perf_counter()
    coded = KNNGraphIndex(n_neighbors=20, seed=0, quantizer="rabitq").fit(X)
    build = time.perf_counter() - t0
    ids, dist = coded.neighbor_graph
    sq = dist.astype(np.float32) ** 2 if coded.metric == "euclidean" else 2 * dist
    idx = KNNGraphIndex(coded.metric, n_neighbors=20, seed=0, quantizer="none").fit_graph(
        X, ids, sq)
    k, n = 10, len(Q)
    coded_out = []
    for beam in (int(b) for b in a.coded_beams.split(",")):
        coded_out.append(coded_profile(coded, Q, true_d, beam, a.coded_entry_tables, a.runs))
        print(coded_out[-1], flush=True)
    rows_out = []
    for beam in (int(b) for b in a.beams.split(",")):
        args = idx._search_args(k, beam, None, a.entry_tables, None)
        rows, starts = visited_rows(idx, Q, args)
        found = np.array([idx.search(q, k, beam=beam, entry_tables=a.entry_tables)[1] for q in Q])
        recall = float(knn_recall(true_d, found, k).mean())
        bits, buf = idx._bits[0], idx._entry_buf[0]
        parts = best_of([
            lambda: [idx.search(q, k, beam=beam, entry_tables=a.entry_tables) for q in Q],
            lambda: [lsh_beam_search(q, idx.X, idx.neighbors, idx.degrees, idx.labels, *args, bits,
                                     idx._touched[0], buf, idx._q_buf[0]) for q in Q],
            lambda: [entry_only(q, *args[:7], bits, buf) for q in Q],
            lambda: distances_of(Q, idx.X, rows, starts)], a.runs)
        total, kernel, entry, dist = (p / n * 1e6 for p in parts)
        rows_out.append({"beam": beam, "recall": recall, "dist_comps": float(starts[-1] / n),
                         "total_us": total, "wrapper_us": total - kernel, "kernel_us": kernel,
                         "lsh_entry_us": entry, "distances_us": dist,
                         "walk_us": kernel - entry - dist,
                         "ns_per_distance": dist * 1e3 / (starts[-1] / n)})
        print(rows_out[-1], flush=True)
    out = Path(a.out)
    info = run_info("profile_graph_query", argv, ("numpy", "numba"))
    command = info["command"]
    md = [f"# One K-NN graph query, where the time goes ({n} queries of {data.name}, "
          f"{X.shape[0]:,} x {X.shape[1]}, best of {a.runs} passes)",
          "", f"- command: `{command}`",
          f"- machine: {info['nproc']} cores, {info['cpu']}; {info['date_utc']}; git "
          f"{info['git']}; load {info['load_avg']} at the end; index built in {build:.0f} s",
          "", "## The coded walk (the default)", "",
          f"Entry tables {a.coded_entry_tables}. Whole search = Python wrapper + kernel; kernel ="
          " LSH entry + the query's rotation and quantisation + the walk; warm: the same walk "
          "again on blocks already in cache; memory share = 1 - warm / walk.", "",
          "| beam | recall@10 | nodes expanded | whole search (us) | wrapper (us) | LSH entry "
          "(us) | rotate + quantise (us) | walk (us) | ns per expansion | warm ns per expansion "
          "| memory share |", "| --- |" + " --- |" * 10]
    md += [f"| {r['beam']} | {r['recall']:.4f} | {r['expanded']:.0f} | {r['total_us']:.1f} | "
           f"{r['wrapper_us']:.1f} | {r['lsh_entry_us']:.1f} | {r['prepare_us']:.1f} | "
           f"{r['walk_us']:.1f} | {r['ns_per_expansion']:.0f} | "
           f"{r['warm_ns_per_expansion']:.0f} | {r['memory_share']:.0%} |" for r in coded_out]
    md += ["", "## The full-row walk (quantizer none, the same K-NN lists)", "",
          f"Entry tables {a.entry_tables}. Whole search = Python wrapper + kernel; kernel = LSH entry + distances + walk "
          "(heaps, visited bits, neighbour lists), the distances timed on the same rows in the "
          "walk's order", "",
          "| beam | recall@10 | distances / query | whole search (us) | wrapper (us) | LSH entry "
          "(us) | distances (us) | walk (us) | ns per distance |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r['beam']} | {r['recall']:.4f} | {r['dist_comps']:.0f} | {r['total_us']:.1f} | "
           f"{r['wrapper_us']:.1f} | {r['lsh_entry_us']:.1f} | {r['distances_us']:.1f} | "
           f"{r['walk_us']:.1f} | {r['ns_per_distance']:.0f} |" for r in rows_out]
    for suffix, text in ((".json", json.dumps({"rows": rows_out, "coded": coded_out,
                                               "machine": info}, indent=1)),
                         (".md", "\n".join(md) + "\n")):
        write_atomic(out.with_suffix(suffix), text)


if __name__ == "__main__":
    main()
