"""Benchmark: the distributed K-NN graph build (Dask LocalCluster) vs the single-machine build.

Both build the K=20 graph of the first n rows of a SIFT file on the same 2 cores: the
single-machine KNNGraphIndex (2 numba threads, in a child process so its peak RSS is its own) and
``annann.distributed_build`` on a LocalCluster of --workers processes with one thread each. Graph
recall is by id against the exact graph on --graph-sample sampled nodes (annann.graph_quality).
Per round of the distributed build: wall time, distance evaluations, partition sizes, bytes into
the partition and merge tasks (the shuffle a cluster moves), bytes actually sent between the
worker processes, checkpoint bytes, and each worker's peak RSS (its monitor, sampled every 0.5 s).
Output: results/distributed/bench_<n>.json + .md. The 1M run takes minutes: wrap it in
``flock /tmp/annann-bench.lock`` on a shared machine.

    flock /tmp/annann-bench.lock python benchmarks/bench_distributed.py --n 100000
    flock /tmp/annann-bench.lock python benchmarks/bench_distributed.py
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

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annann.core.atomic import atomic_path  # noqa: E402
from annann.distributed.graph_file import read_graph  # noqa: E402
from annann.graph.quality import GraphRecallProbe  # noqa: E402
from ann_benchmarks_plugin.provenance import machine_info, versions_text  # noqa: E402

K = 20
PACKAGES = ("numpy", "numba", "dask", "distributed", "h5py")


def _single_child(data, n, out, threads, conn):
    """Child process: single-machine build; sends (seconds, peak RSS, stats), saves the ids."""
    import numba

    from annann.graph.index import KNNGraphIndex

    numba.set_num_threads(threads)
    with h5py.File(data, "r") as f:
        X = np.ascontiguousarray(f["train"][:n], dtype=np.float32)
    KNNGraphIndex(n_neighbors=K, n_jobs=threads).fit(X[:5000])  # compile/load numba code
    t0 = time.perf_counter()
    idx = KNNGraphIndex(n_neighbors=K, n_jobs=threads, seed=0).fit(X)
    seconds = time.perf_counter() - t0
    np.save(out, idx.neighbor_graph[0])
    conn.send((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
               {k: idx.last_stats[k] for k in ("graph_seconds", "prepare_seconds", "dist_evals",
                                               "iterations")}))


def run_single(data, n, threads, tmp):
    """Single-machine build in a fresh process: (result dict, graph ids)."""
    out = Path(tmp) / "single_ids.npy"
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_single_child, args=(data, n, str(out), threads, child))
    proc.start()
    seconds, rss, stats = parent.recv()
    proc.join()
    return {"seconds": seconds, "peak_rss": rss, **stats}, np.load(out)


def input_path(data, n, tmp):
    """The HDF5 file itself for all rows, else the first n rows written to a .npy in tmp."""
    with h5py.File(data, "r") as f:
        total = f["train"].shape[0]
        if n >= total:
            return str(data), total
        path = Path(tmp) / f"first_{n}.npy"
        np.save(path, np.asarray(f["train"][:n], dtype=np.float32))
    return str(path), n


def run_distributed(path, n, args, tmp):
    """Distributed build on a LocalCluster: (result dict, graph ids)."""
    from distributed import Client, LocalCluster

    from annann.distributed.build import build_knn_graph

    out = Path(tmp) / "graph"
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print(f"dashboard: {client.dashboard_link}", flush=True)
        with h5py.File(args.data, "r") as f:  # load the numba kernels in the workers, untimed
            warm = np.asarray(f["train"][:4000], dtype=np.float32)
        build_knn_graph(warm, Path(tmp) / "warm", client, n_neighbors=K,
                        partition_size=1000, chunk_rows=1000, max_rounds=1)
        t0 = time.time()
        stats = build_knn_graph(path, out, client, progress=True, n_neighbors=K,
                                partition_size=args.partition_size, chunk_rows=args.chunk_rows,
                                max_rounds=args.rounds, seed=0)
        seconds = time.time() - t0
        peaks = client.run(_peak_since, since=t0)
    ids, _, _ = read_graph(out)
    return {"seconds": seconds, "peak_rss_per_worker": peaks, **stats}, ids


def _peak_since(dask_worker, since):
    """Largest RSS the worker's monitor sampled since a time."""
    q = dask_worker.monitor.quantities
    return int(max([m for m, t in zip(q["memory"], q["time"]) if t >= since] or [0]))


def markdown(d):
    """The report as Markdown."""
    m, s, r = d["meta"], d.get("single"), d["distributed"]
    mb = 2 ** 20
    lines = [f"# Distributed K-NN graph build ({m['n']} x {m['dim']}, {m['dataset']}, K={K})", "",
             f"Command: `{m['command']}`  ",
             f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB; {m['date_utc']}; "
             f"{versions_text(m)}; git {m['git']}.  ",
             f"1-min load average at start {m['load_start']:.2f}, at end {m['load_end']:.2f}.  ",
             f"Distributed: LocalCluster of {m['workers']} worker processes x 1 thread, memory "
             f"limit {m['memory_limit']} each, partition_size {m['partition_size']}, chunk_rows "
             f"{m['chunk_rows']}. Single machine: KNNGraphIndex, 2 numba threads. Graph recall: "
             f"exact on {m['graph_sample']} sampled nodes.", "",
             "| build | wall s | graph recall | distance evals | peak RSS |",
             "| --- | --- | --- | --- | --- |"]
    if s:
        lines.append(f"| single machine (KNNGraphIndex) | {s['seconds']:.1f} | {s['recall']:.4f} | "
                     f"{s['dist_evals']:,} | {s['peak_rss'] / mb:.0f} MiB (one process) |")
    peaks = ", ".join(f"{v / mb:.0f}" for v in r["peak_rss_per_worker"].values())
    lines.append(f"| distributed ({len(r['history'])} rounds) | {r['seconds']:.1f} | "
                 f"{r['recall']:.4f} | {sum(h['dist_evals'] for h in r['history']):,} | "
                 f"{peaks} MiB per worker |")
    lines += ["", "Per round of the distributed build:", "",
              "| round | s | updates | partitions | max core | mean local rows | dist evals | "
              "MB into joins | MB into merges | MB sent between workers | checkpoint MB | "
              "peak RSS per worker MiB |", "| " + " | ".join(["---"] * 12) + " |"]
    for h in r["history"]:
        lines.append(
            f"| {h['round']} | {h['seconds']:.1f} | {h['updates']:,} | {h['n_parts']} | "
            f"{h['max_core']:,} | {h['mean_local']:,.0f} | {h['dist_evals']:,} | "
            f"{h['join_bytes_in'] / 1e6:.0f} | {h['merge_bytes_in'] / 1e6:.0f} | "
            f"{h['worker_sent_bytes'] / 1e6:.0f} | {h['checkpoint_bytes'] / 1e6:.0f} | "
            + ", ".join(f"{v / mb:.0f}" for v in h["worker_peak_rss"].values()) + " |")
    lines += ["", f"Graph file written in {r['write_seconds']:.1f} s."]
    return "\n".join(lines) + "\n"


def save(d, stem):
    """Write the JSON and Markdown reports atomically."""
    with atomic_path(stem.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(d, indent=1, default=str))
    with atomic_path(stem.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(d))


def main(argv=None):
    """Run both builds and write results/distributed/bench_<n>.{json,md}."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/fg-sift-128-euclidean.hdf5"))
    ap.add_argument("--n", type=int, default=10 ** 9, help="first n train rows (default all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--partition-size", type=int, default=50_000)
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--graph-sample", type=int, default=1000)
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "results/distributed"))
    args = ap.parse_args(argv)

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_dist_") as tmp:
        path, n = input_path(args.data, args.n, tmp)
        with h5py.File(args.data, "r") as f:
            X = np.ascontiguousarray(f["train"][:n], dtype=np.float32)
        probe = GraphRecallProbe(X, K, args.graph_sample, "euclidean", seed=0)
        meta = dict(machine_info(" ".join(["python", "benchmarks/bench_distributed.py"] + argv),
                                 PACKAGES, ROOT), n=n,
                    dim=int(X.shape[1]), dataset=Path(args.data).name, workers=args.workers,
                    memory_limit=args.memory_limit, partition_size=args.partition_size,
                    chunk_rows=args.chunk_rows, graph_sample=args.graph_sample,
                    load_start=load_start)
        del X
        d = {"meta": meta}
        stem = Path(args.out) / f"bench_{n}"
        if not args.skip_single:
            single, ids = run_single(args.data, n, 2, tmp)
            single["recall"] = probe.recall(ids)
            d["single"] = single
            print("single", single, flush=True)
        dist, ids = run_distributed(path, n, args, tmp)
        dist["recall"] = probe.recall(ids)
        d["distributed"] = dist
        d["meta"]["load_end"] = os.getloadavg()[0]
        save(d, stem)
        print(markdown(d))


if __name__ == "__main__":
    main()
