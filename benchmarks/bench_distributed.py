"""Benchmark: the distributed K-NN graph build (Dask LocalCluster) vs the single-machine build.

Both build the K=20 graph of the first n rows of a SIFT file on the same cores: the single-machine
KNNGraphIndex (2 numba threads, in a child process so its peak RSS is its own) and
``annann.distributed.build`` on a LocalCluster of W worker processes with one thread each, for
every W of --workers (1, 2 and 4 by default), in the alternating order single, W..., single, so
the single build is timed twice (the spread shows the machine's noise). Graph recall is by id
against the exact graph on --graph-sample sampled nodes (annann.graph_quality), for the final
graph and after every round (read from the round's checkpoint shards; that reading is excluded
from the wall time). Per round of the distributed build: wall time, distance evaluations,
partition sizes, bytes the partitions read from storage, bytes of (id, distance, flag) lists
exchanged, bytes actually sent between the worker processes, checkpoint bytes, and each worker's
peak RSS (its monitor, sampled every 0.5 s). Output: results/distributed/bench_<n>.json + .md.
The 1M run takes many minutes: wrap it in ``flock /tmp/annann-bench.lock`` on a shared machine.

    flock /tmp/annann-bench.lock python -m benchmarks.bench_distributed --n 100000
    flock /tmp/annann-bench.lock python -m benchmarks.bench_distributed
"""

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from annann.distributed.graph_file import read_graph
from annann.graph.quality import GraphRecallProbe
from benchmarks.common import (ROOT, data_path, load_data, options, run_info, versions_text,
                               write_atomic)

K = 20
PACKAGES = ("numpy", "numba", "dask", "distributed", "h5py")


def _single_child(rows, out, threads, conn):
    """Child process: single-machine build of the rows in the .npy ``rows`` (the distributed
    build's input); sends (seconds, peak RSS, stats), saves the ids."""
    import numba

    from annann.graph.index import KNNGraphIndex

    numba.set_num_threads(threads)
    X = np.ascontiguousarray(np.load(rows), dtype=np.float32)
    KNNGraphIndex(n_neighbors=K, n_jobs=threads).fit(X[:5000])  # compile/load numba code
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    t0 = time.perf_counter()
    idx = KNNGraphIndex(n_neighbors=K, n_jobs=threads, seed=0).fit(X)
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    np.save(out, idx.neighbor_graph[0])
    conn.send((seconds, usage.ru_utime + usage.ru_stime - cpu0, usage.ru_maxrss * 1024,
               {k: idx.last_stats[k] for k in ("graph_seconds", "prepare_seconds", "dist_evals",
                                               "iterations")}))


def run_single(rows, threads, tmp):
    """Single-machine build of the .npy ``rows`` in a fresh process: (result dict, graph ids)."""
    out = Path(tmp) / "single_ids.npy"
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_single_child, args=(rows, str(out), threads, child))
    proc.start()
    seconds, cpu, rss, stats = parent.recv()
    proc.join()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": rss, **stats}, np.load(out)


def input_path(data, n, tmp):
    """The first n rows (all: n >= rows) written to a .npy in tmp, as the workers map them.

    (A compressed HDF5 input would be staged to the same layout by the build itself; writing it
    here keeps that one-time copy out of every timed run.)"""
    X = load_data(data, rows=n, truth=False)[0]
    n = X.shape[0]
    path = Path(tmp) / f"first_{n}.npy"
    np.save(path, X)
    return str(path), n


def run_distributed(path, n, workers, args, tmp, probe):
    """Distributed build on a LocalCluster of `workers` processes: (result dict, graph ids)."""
    from distributed import Client, LocalCluster

    from annann.core.heaps import sorted_rows
    from annann.distributed import checkpoint as ckpt
    from annann.distributed.build import build_knn_graph

    out = Path(tmp) / f"graph_{workers}"
    ckpt_dir = Path(tmp) / f"graph_{workers}.ckpt"
    recalls, excluded = [], []

    def on_round(stats):
        t = time.perf_counter()
        shards = sorted(ckpt.round_dir(ckpt_dir, stats["round"]).glob("shard_*.npy"))
        ids, sq = (np.concatenate(a) for a in zip(*(ckpt.load_shard(p)[:2] for p in shards)))
        recalls.append(probe.recall(sorted_rows(ids, sq)[0][:, :K]))
        print(f"round {stats['round']}: recall {recalls[-1]:.4f}", flush=True)
        excluded.append(time.perf_counter() - t)

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print(f"{workers} workers, dashboard: {client.dashboard_link}", flush=True)
        # load the numba kernels in the workers, untimed
        warm = np.asarray(np.load(path, mmap_mode="r")[:4000], dtype=np.float32)
        build_knn_graph(warm, Path(tmp) / "warm", client, n_neighbors=K,
                        partition_size=1000, chunk_rows=1000, max_rounds=1)
        cpu0 = sum(client.run(_cpu_seconds).values())
        t0 = time.time()
        stats = build_knn_graph(path, out, client, checkpoint_dir=ckpt_dir, progress=True,
                                n_neighbors=K, partition_size=args.partition_size,
                                chunk_rows=args.chunk_rows, max_rounds=args.rounds, seed=0,
                                on_round=on_round)
        seconds = time.time() - t0 - sum(excluded)
        cpu = sum(client.run(_cpu_seconds).values()) - cpu0
        peaks = client.run(_peak_since, since=t0)
    for h, r in zip(stats["history"], recalls):
        h["recall"] = r
    ids, _, _ = read_graph(out)
    return {"workers": workers, "seconds": seconds, "cpu_seconds": cpu,
            "peak_rss_per_worker": peaks, **stats}, ids


def _cpu_seconds():
    """User + system CPU seconds of this worker process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_since(dask_worker, since):
    """Largest RSS the worker's monitor sampled since a time."""
    q = dask_worker.monitor.quantities
    return int(max([m for m, t in zip(q["memory"], q["time"]) if t >= since] or [0]))


def markdown(d):
    """The report as Markdown."""
    m, singles, runs = d["meta"], d["single"], d["distributed"]
    mb = 2 ** 20
    lines = [f"# Distributed K-NN graph build ({m['n']} x {m['dim']}, {m['dataset']}, K={K})", "",
             f"Command: `{m['command']}`  ",
             f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB; {m['date_utc']}; "
             f"{versions_text(m)}; git {m['git']} (plus uncommitted changes).  ",
             f"1-min load average at start {m['load_start']:.2f}, at end {m['load_end']:.2f} "
             "(other jobs share the machine).  ",
             f"Distributed: LocalCluster of W worker processes x 1 thread, memory limit "
             f"{m['memory_limit']} each, partition_size {m['partition_size'] or 'auto'}, chunk_rows "
             f"{m['chunk_rows']}, input a .npy the workers map. Single machine: KNNGraphIndex, "
             f"2 numba threads. Graph recall: exact on {m['graph_sample']} sampled nodes. "
             "Runs in the order listed.", "",
             "| build | wall s | / single (mean) | CPU s (workers) | graph recall | rounds | "
             "distance evals | MB read | MB exchanged | MB sent between workers | peak RSS MiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = np.mean([s["seconds"] for s in singles]) if singles else None
    for run in d["order"]:
        lines.extend(_row(d, run, base, mb))
    lines += [""]
    for r in runs:
        lines += [f"Per round, {r['workers']} worker(s):", "",
                  "| round | s | partition s | recall | updates | partitions | max core | "
                  "max local rows | dist evals | max read s | max join s | MB read | "
                  "MB exchanged | MB sent | checkpoint MB | peak RSS per worker MiB |",
                  "| " + " | ".join(["---"] * 16) + " |"]
        for h in r["history"]:
            lines.append(
                f"| {h['round']} | {h['seconds']:.1f} | {h.get('partition_seconds', float('nan')):.1f} "
                f"| {h.get('recall', float('nan')):.4f} | "
                f"{h['updates']:,} | {h['n_parts']} | {h['max_core']:,} | {h['max_local']:,} | "
                f"{h['dist_evals']:,} | {h['max_read_seconds']:.1f} | "
                f"{h['max_join_seconds']:.1f} | {h['read_bytes'] / 1e6:.0f} | "
                f"{h['exchange_bytes'] / 1e6:.0f} | {h['worker_sent_bytes'] / 1e6:.0f} | "
                f"{h['checkpoint_bytes'] / 1e6:.0f} | "
                + ", ".join(f"{v / mb:.0f}" for v in h["worker_peak_rss"].values()) + " |")
        lines += ["", f"Graph file written in {r['write_seconds']:.1f} s.", ""]
    return "\n".join(lines) + "\n"


def _row(d, run, base, mb):
    """One line of the summary table for a run label ("single#i" or "dist#i")."""
    kind, i = run.split("#")
    if kind == "single":
        s = d["single"][int(i)]
        return [f"| single machine #{int(i) + 1} (KNNGraphIndex fit; K-NN graph part "
                f"{s['graph_seconds']:.1f} s) | {s['seconds']:.1f} | {s['seconds'] / base:.2f} | "
                f"{s.get('cpu_seconds', float('nan')):.0f} | {s['recall']:.4f} | - | "
                f"{s['dist_evals']:,} | - | - | - | {s['peak_rss'] / mb:.0f} (one process) |"]
    r = d["distributed"][int(i)]
    h = r["history"]
    ratio = f"{r['seconds'] / base:.2f}" if base else "-"
    peaks = ", ".join(f"{v / mb:.0f}" for v in r["peak_rss_per_worker"].values())
    return [f"| distributed, {r['workers']} worker(s) | {r['seconds']:.1f} | {ratio} | "
            f"{r.get('cpu_seconds', float('nan')):.0f} | {r['recall']:.4f} | {len(h)} | {sum(x['dist_evals'] for x in h):,} | "
            f"{sum(x['read_bytes'] for x in h) / 1e6:,.0f} | "
            f"{sum(x['exchange_bytes'] for x in h) / 1e6:,.0f} | "
            f"{sum(x['worker_sent_bytes'] for x in h) / 1e6:,.0f} | {peaks} (per worker) |"]


def save(d, stem):
    """Write the JSON and Markdown reports atomically."""
    write_atomic(stem.with_suffix(".json"), json.dumps(d, indent=1, default=str))
    write_atomic(stem.with_suffix(".md"), markdown(d))


def main(argv=None):
    """Run the builds and write results/distributed/bench_<n>.{json,md}."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 parents=[options(queries=None, out=ROOT / "results/distributed")])
    ap.add_argument("--n", type=int, default=10 ** 9, help="first n train rows (default all)")
    ap.add_argument("--workers", default="2,1,4", help="worker counts, run in this order")
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--partition-size", type=int, default=None, help="default: automatic")
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--graph-sample", type=int, default=1000)
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the report names (bench_<n>-<tag>)")
    args = ap.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_dist_") as tmp:
        data = data_path(args.data)
        path, n = input_path(data, args.n, tmp)
        X = np.load(path)
        probe = GraphRecallProbe(X, K, args.graph_sample, "euclidean", seed=0)
        meta = dict(run_info("bench_distributed", argv, PACKAGES), n=n,
                    dim=int(X.shape[1]), dataset=data.name, workers=workers,
                    memory_limit=args.memory_limit, partition_size=args.partition_size,
                    chunk_rows=args.chunk_rows, graph_sample=args.graph_sample,
                    load_start=load_start)
        del X
        d = {"meta": meta, "single": [], "distributed": [], "order": []}
        stem = Path(args.out) / (f"bench_{n}-{args.tag}" if args.tag else f"bench_{n}")
        plan = ([] if args.skip_single else ["single"]) + workers + \
            ([] if args.skip_single else ["single"])
        for step in plan:
            load = os.getloadavg()[0]
            if step == "single":
                single, ids = run_single(path, 2, tmp)
                single["recall"] = probe.recall(ids)
                single["load_before"] = load
                d["order"].append(f"single#{len(d['single'])}")
                d["single"].append(single)
                print("single", single, flush=True)
            else:
                dist, ids = run_distributed(path, n, step, args, tmp, probe)
                dist["recall"] = probe.recall(ids)
                dist["load_before"] = load
                d["order"].append(f"dist#{len(d['distributed'])}")
                d["distributed"].append(dist)
                print(f"distributed {step}: {dist['seconds']:.1f} s, recall {dist['recall']:.4f}",
                      flush=True)
        d["meta"]["load_end"] = os.getloadavg()[0]
        save(d, stem)
        print(markdown(d))


if __name__ == "__main__":
    main()
