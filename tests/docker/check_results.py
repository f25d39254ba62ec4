"""Check result files written by containers: count, layout, owner, recall; print a Markdown table.

Usage: check_results.py [--any] RESULTS_DIR DATASET_PATH DEFINITIONS UID ALGORITHM...
Exits non-zero (after printing every problem) if any check fails.
"""

import sys
from pathlib import Path

import h5py
import numpy as np

from annann.data.datasets import read_dataset
from annann.data.evaluation import knn_recall
from ann_benchmarks_plugin.harness.results import REQUIRED_ATTRS, is_complete, result_path
from ann_benchmarks_plugin.harness.runner import select_definitions

COUNT = 10
MIN_RECALL = {"bruteforce": 0.999}  # exact; every other algorithm: its best point must reach 0.5
DEFAULT_MIN_RECALL = 0.5


def check(results_dir, dataset_path, definitions, uid, algorithm, any_definition=False):
    """(problems, table rows) for the first definition of one algorithm (or, with
    any_definition, for whatever result files of it exist: the harness picks definitions at random)."""
    dataset = read_dataset(dataset_path)
    folder = Path(results_dir) / dataset.name / str(COUNT) / algorithm
    files = sorted(folder.glob("*.hdf5")) if folder.is_dir() else []
    problems, rows = [], []
    if any_definition:
        paths = files
        if not files:
            problems.append(f"{algorithm}: no result files in {folder}")
    else:
        d = select_definitions(definitions, dataset.distance, dataset.train.shape[1], COUNT,
                               [algorithm])[0]
        groups = d.query_argument_groups or [[]]
        paths = [result_path(results_dir, dataset.name, COUNT, d, q) for q in groups]
        if len(files) != len(groups):
            problems.append(f"{algorithm}: {len(files)} result files in {folder}, expected "
                            f"{len(groups)}")
    best = 0.0
    for path in paths if files else []:
        if not is_complete(path):
            problems.append(f"{algorithm}: missing or incomplete {path}")
            continue
        if path.stat().st_uid != uid:
            problems.append(f"{path}: owned by uid {path.stat().st_uid}, expected {uid}")
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            missing = [a for a in REQUIRED_ATTRS if a not in attrs]
            if missing:
                problems.append(f"{path}: attrs missing {missing}")
            m = dataset.test.shape[0]
            if f["neighbors"].shape != (m, COUNT) or f["neighbors"].dtype != np.int32:
                problems.append(f"{path}: neighbors {f['neighbors'].shape} {f['neighbors'].dtype}")
            if f["distances"].dtype != np.float32 or f["times"].shape != (m,):
                problems.append(f"{path}: distances/times layout")
            recall = float(np.mean(knn_recall(dataset.distances, f["distances"][:], COUNT)))
        best = max(best, recall)
        rows.append((algorithm, str(attrs.get("name")), recall, 1.0 / attrs["best_search_time"],
                     attrs["build_time"], attrs["index_size"]))
    need = MIN_RECALL.get(algorithm, DEFAULT_MIN_RECALL)
    if rows and best < need:
        problems.append(f"{algorithm}: best recall {best:.3f} < {need}")
    return problems, rows


def main(argv):
    any_definition = argv[:1] == ["--any"]
    results_dir, dataset_path, definitions, uid, *algorithms = argv[1:] if any_definition else argv
    problems, rows = [], []
    for algorithm in algorithms:
        p, r = check(results_dir, dataset_path, definitions, int(uid), algorithm, any_definition)
        problems += p
        rows += r
    print("| algorithm | name | recall@10 | QPS | build (s) | index (kB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for algo, name, recall, qps, build, size in rows:
        print(f"| {algo} | {name} | {recall:.4f} | {qps:.0f} | {build:.2f} | {size:.0f} |")
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
