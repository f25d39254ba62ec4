"""A small results directory for the website tests: one dataset as an exported CSV (the committed
form), one as .hdf5 result files with its ground truth, and three study folders."""

import base64
import json
from pathlib import Path

import numpy as np

from ann_benchmarks_plugin.reporting.export import write_csv
from ann_benchmarks_plugin.harness.metrics import MetricTable
from ann_benchmarks_plugin.harness.results import store_results
from annann.data.datasets import build_dataset

CSV_STEM = "toy-16-euclidean"
HDF5_DATASET = "tiny-8-euclidean"
PNG_1X1 = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
                           "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _row(algo, name, recall, qps, build, size, distcomps):
    return {"algo": algo, "name": name, "k-nn": recall, "epsilon": min(1.0, recall + 0.02),
            "qps": qps, "speedup": qps / 100.0, "p50": 1000.0 / qps, "p95": 1500.0 / qps,
            "p99": 2000.0 / qps, "build": build, "indexsize": size, "candidates": 10.0,
            "distcomps": distcomps}


def csv_rows():
    """Rows of the CSV dataset: two builds of alpha (one dominated point), beta, gamma (distance
    computations not reported), bruteforce."""
    rows = []
    for n, build, size in ((10, 2.0, 4000.0), (20, 3.0, 5000.0)):
        for c, (recall, qps) in zip((1, 2, 4, 8), ((0.5, 900), (0.7, 700), (0.85, 400),
                                                   (0.95, 200))):
            bump = 0.05 if n == 20 else 0.0
            rows.append(_row("alpha", f"alpha(n={n}, C={c})", recall + bump, qps - 50 * bump * 20,
                             build, size, 10.0 * c))
    rows.append(_row("alpha", "alpha(n=10, C=3)", 0.6, 300, 2.0, 4000.0, 30.0))  # dominated
    for ef, (recall, qps) in zip((10, 20, 40), ((0.8, 1200), (0.9, 800), (0.99, 300))):
        rows.append(_row("beta", f"beta(M=4, ef={ef})", recall, qps, 5.0, 8000.0, 5.0 * ef))
    for p, (recall, qps) in zip((1, 2), ((0.75, 600), (0.97, 250))):
        rows.append(_row("gamma", f"gamma(lists=8, nprobe={p})", recall, qps, 1.0, 3000.0, 0.0))
    rows.append(_row("bruteforce", "bruteforce()", 1.0, 100, 0.01, 1.0, 0.0))
    return rows


def make_results(root):
    """Write the fixture under root: returns (results_dir, data_dir)."""
    root = Path(root)
    results, data = root / "results", root / "data"
    results.mkdir(parents=True)
    write_csv(MetricTable(csv_rows()), results / f"{CSV_STEM}.csv")
    (results / f"{CSV_STEM}.md").write_text(
        f"## {CSV_STEM}: recall@10 vs QPS (Pareto points)\n\nProduced by `annann-bench reproduce "
        "--only small` on 2026-01-02 03:04 UTC (git abc1234): 2 cores (Intel(R) Xeon(R) "
        "Processor), python 3.11.7.\n\n| algorithm | recall |\n|---|---|\n| alpha | 0.5 |\n")
    (results / f"{CSV_STEM}-run1.md").write_text(
        "## earlier\n\nProduced by `x` on 2025-12-31 23:00 UTC: 2 cores (AMD EPYC), python.\n")

    rng = np.random.default_rng(0)
    train, test = rng.standard_normal((300, 8)), rng.standard_normal((20, 8))
    dataset = build_dataset(data / f"{HDF5_DATASET}.hdf5", train, test, "euclidean", count=10,
                            progress=False)
    import h5py
    with h5py.File(dataset, "r") as f:
        true_ids, true_dist = f["neighbors"][:], f["distances"][:]
    folder = results / HDF5_DATASET / "10"
    settings = [("exact", "exact(L=1, q=1)", 0, 0.004), ("exact", "exact(L=1, q=2)", 0, 0.003),
                ("noisy", "noisy(L=5, q=1)", 6, 0.001), ("noisy", "noisy(L=5, q=2)", 3, 0.002),
                ("noisy", "noisy(L=5, q=4)", 1, 0.0025), ("noisy", "noisy(L=5, q=3)", 5, 0.003)]
    for i, (algo, name, wrong, best) in enumerate(settings):
        dist = true_dist.copy()
        if wrong:
            dist[:, -wrong:] = dist[:, -1:] * 3.0
        attrs = {"algo": algo, "dataset": HDF5_DATASET, "name": name, "distance": "euclidean",
                 "count": 10, "batch_mode": False, "run_count": 1,
                 "build_time": 1.0 if algo == "exact" else 2.5,
                 "index_size": 100.0 if algo == "exact" else 250.0, "best_search_time": best,
                 "candidates": 10.0, "expect_extra": False, "dist_comps": 20 * (i + 1) * 100}
        store_results(folder / algo / f"{name.replace(' ', '')}.hdf5", attrs, true_ids, dist,
                      np.full(20, best))

    stream = results / "streaming" / HDF5_DATASET / "uniform"
    stream.mkdir(parents=True)
    for algo, base in (("annann-raw", 0.9), ("annann-raw-static", 0.95)):
        steps = [{"step": 0, "op": "insert", "seconds": 0.1, "n": 100}]
        for s in range(1, 4):
            steps.append({"step": 2 * s - 1, "op": "search", "recall": base - 0.01 * s,
                          "qps": 1000.0 + s, "p99_ms": 1.5, "active": 100 * s,
                          "prepare_seconds": 0.0})
            steps.append({"step": 2 * s, "op": "insert", "seconds": 0.1, "n": 100})
        doc = {"dataset": HDF5_DATASET, "runbook": "uniform", "steps": steps,
               "summary": {"algorithm": algo, "score": base, "mean_qps": 1000.0,
                           "insert_seconds": 0.3, "delete_seconds": 0.0, "prepare_seconds": 0.0},
               "command": "annann-bench stream", "machine": {"platform": "Linux-test"},
               "date": "2026-01-05T10:00:00+00:00"}
        (stream / f"{algo}.json").write_text(json.dumps(doc))
    (results / "streaming" / f"{HDF5_DATASET}-uniform.md").write_text(
        "## runbook uniform\n\n| algorithm | score |\n|---|---|\n| annann-raw | 0.9 |\n")

    graph = results / "knngraph"
    graph.mkdir()
    (graph / "bench_1.json").write_text(json.dumps({
        "meta": {"nproc": 2, "cpu": "Intel(R) Xeon(R) Processor",
                 "date_utc": "2026-01-03 01:00:00 UTC", "n": 1000, "dim": 8},
        "builds": [{"name": "pynndescent NNDescent", "seconds": 2.0, "recall": 0.96, "note": "x"},
                   {"name": "knngraph-lsh", "seconds": 3.0, "recall": 0.95}],
        "curves": {"knngraph-lsh": [{"iteration": i, "seconds": 1.0 + i, "recall": 0.3 * i,
                                     "dist_evals": 100 * i} for i in range(3)]},
        "search": {"knngraph-lsh": [{"param": 10, "recall": 0.9, "qps": 5000.0},
                                    {"param": 20, "recall": 0.95, "qps": 3000.0}]}}))
    (graph / "bench_1.md").write_text(
        "# K-NN graph benchmark\n\nMachine: 2 CPUs, Intel(R) Xeon(R) Processor; 2026-01-03 "
        "01:00:00 UTC; python 3.11.7.\n\n![recall plot](bench_1.png)\n\nSee [the other "
        "report](bench_2.md) and [a missing one](missing.md).\n")
    (graph / "bench_2.md").write_text(
        "# Second\n\nMachine: 4 CPUs, AMD EPYC; 2026-01-04 02:00 UTC.\n")
    (graph / "bench_1.png").write_bytes(PNG_1X1)

    cluster = results / "cluster_index"
    cluster.mkdir()
    (cluster / "odd.json").write_text(json.dumps({"foo": 1}))
    (cluster / "README.md").write_text("# Cluster index\n\nMachine: 2-core AMD EPYC VM, load 1.\n\n"
                                       "## Current (2026-01-06)\n\ntext\n")
    return results, data
