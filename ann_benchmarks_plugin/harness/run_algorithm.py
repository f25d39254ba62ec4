"""Run ONE definition in this process: build once, then time every query argument group.

The runner starts this module in a fresh process per definition (``python -m
ann_benchmarks_plugin.harness.run_algorithm``), so the RSS difference around ``fit`` measures that
index alone; its command line mirrors the harness's run_algorithm.py, plus where to read and write.
Started by the runner it dies with the runner (annann.core.procs.die_with_parent). Every query
argument group is applied once right after the build, before anything is timed, so a bad one
fails the definition without writing any of its result files.
"""

import argparse
import importlib
import json
import os
import sys
import time
import traceback

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from annann.core.distances import distances as exact_distances
from annann.core.procs import die_with_parent
from annann.data.datasets import get_dataset

from .definitions import Definition
from .results import result_path, store_results


def instantiate(definition):
    """Import ``<module>.module`` and call the constructor with the definition's arguments."""
    module = importlib.import_module(f"{definition.module}.module")
    constructor = getattr(module, definition.constructor, None)
    if constructor is None:
        raise AttributeError(f"{definition.module}.module has no constructor "
                             f"{definition.constructor!r}")
    return constructor(*definition.arguments)


def _as_ids(result, n_train):
    """Validate what query() returned: 1-D, unique, valid train ids."""
    ids = np.asarray(result).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"query returned non-integer ids (dtype {ids.dtype})")
    ids = ids.astype(np.int64)
    ids = ids[ids >= 0]
    if len(np.unique(ids)) != len(ids):
        raise AssertionError("Implementation returned duplicated candidates")
    if ids.size and ids.max() >= n_train:
        raise IndexError(f"query returned id {int(ids.max())} but the train set has {n_train} rows")
    return ids


def true_distances_of(train, test, found, metric, count):
    """(m, count) distances of returned ids recomputed from train (inf where nothing was returned)."""
    out = np.full((len(found), count), np.inf, dtype=np.float32)
    for i, ids in enumerate(found):
        ids = ids[:count]
        if ids.size:
            out[i, :ids.size] = exact_distances(test[i], train[ids], metric)
    return out


def run_queries(algo, train, test, count, runs, batch, progress=True):
    """Time the queries like the harness: each query() call alone, best mean over runs."""
    best = float("inf")
    found, times = None, None
    for run in range(runs):
        if batch:
            t0 = time.perf_counter()
            algo.batch_query(test, count)
            total = time.perf_counter() - t0
            results = algo.get_batch_results()
            found = [_as_ids(r, len(train)) for r in results]
            times = np.full(len(test), total / len(test))
        else:
            found, times = [], np.empty(len(test))
            bar = tqdm(test, desc=f"  run {run + 1}/{runs}", disable=not progress, leave=False,
                       mininterval=1.0, delay=2.0)
            for i, q in enumerate(bar):
                t0 = time.perf_counter()
                r = algo.query(q, count)
                times[i] = time.perf_counter() - t0
                found.append(_as_ids(r, len(train)))
        best = min(best, float(times.mean()))
    return found, times, best


def run_definition(definition, dataset, count, runs, batch, results_dir, progress=True):
    """Build the definition's index on the dataset and store one result file per query group."""
    algo = instantiate(definition)
    try:
        mem0 = algo.get_memory_usage()
        t0 = time.perf_counter()
        algo.fit(dataset.train)
        build_time = time.perf_counter() - t0
        index_size = algo.get_memory_usage() - mem0
        print(f"built {definition.algorithm} in {build_time:.2f} s, index size {index_size:.0f} kB",
              flush=True)
        for query_args in definition.query_argument_groups:
            try:  # every group once before any is timed: a bad one writes nothing
                algo.set_query_arguments(*query_args)
            except Exception as exc:
                raise ValueError(f"query arguments {json.dumps(query_args)} refused: "
                                 f"{type(exc).__name__}: {exc}") from exc
        paths = []
        for query_args in definition.query_argument_groups or [[]]:
            if query_args:
                algo.set_query_arguments(*query_args)
            with threadpool_limits(1):  # queries are single-threaded, as in the harness
                found, times, best = run_queries(algo, dataset.train, dataset.test, count, runs,
                                                 batch, progress)
            neighbors = np.full((len(found), count), -1, dtype=np.int32)
            for i, ids in enumerate(found):
                neighbors[i, :min(count, ids.size)] = ids[:count]
            attrs = {
                "algo": definition.algorithm, "dataset": dataset.name, "name": str(algo),
                "distance": dataset.distance, "count": int(count), "batch_mode": bool(batch),
                "run_count": int(runs), "build_time": float(build_time),
                "index_size": float(index_size), "best_search_time": float(best),
                "candidates": float(np.mean([ids.size for ids in found])), "expect_extra": False,
            }
            attrs.update(algo.get_additional())
            dists = true_distances_of(dataset.train, dataset.test, found, dataset.distance, count)
            path = result_path(results_dir, dataset.name, count, definition, query_args, batch)
            store_results(path, attrs, neighbors, dists, times)
            print(f"  {attrs['name']}: {1.0 / best:.1f} QPS -> {path}", flush=True)
            paths.append(path)
        return paths
    finally:
        algo.done()


def main(argv=None):
    """Command line of the per-definition child process; returns the exit status."""
    p = argparse.ArgumentParser(description="Run one algorithm definition (used by annann-bench run).")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--results-dir", default="results")
    p.add_argument("--algorithm", required=True)
    p.add_argument("--module", required=True)
    p.add_argument("--constructor", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--batch", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--cpu", type=int, default=None,
                   help="pin this process (and its children) to this one CPU")
    p.add_argument("build", help="JSON list of constructor arguments")
    p.add_argument("queries", nargs="*", default=[], help="JSON list per query argument group")
    a = p.parse_args(argv)
    definition = Definition(a.algorithm, a.constructor, a.module, "", json.loads(a.build),
                            [json.loads(q) for q in a.queries], False)
    try:
        if a.cpu is not None:
            os.sched_setaffinity(0, {a.cpu})
        dataset = get_dataset(a.dataset, a.data_dir, download=False)
        if a.count > dataset.train.shape[0]:
            raise ValueError(f"--count {a.count} is larger than the train set "
                             f"({dataset.train.shape[0]} rows)")
        run_definition(definition, dataset, a.count, a.runs, a.batch, a.results_dir,
                       progress=not a.no_progress)
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    die_with_parent()  # a runner killed hard takes this child with it
    sys.exit(main())
