"""Run every matching definition of algos.yaml on a dataset, each in a fresh process.

Finished results are skipped (unless forced), failures are reported and do not stop the others.
"""

import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import h5py
from tqdm.auto import tqdm

from annann.data.datasets import DatasetError, check_layout, dataset_name, find_dataset, get_dataset

from .definitions import DefinitionError, algorithm_names, get_definitions
from .results import is_complete, result_path

# Thread-pool sizes of a lane's child: one, as the lane has one CPU.
LANE_THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")


@dataclass
class RunReport:
    """What a run did: result files written, definitions skipped as finished, and failures."""

    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def ok(self):
        """True when no definition failed."""
        return not self.failed


def resolve_dataset(name, data_dir=None, download=True):
    """Path, metric, dimension and point type of a dataset, downloading a registered name if needed."""
    path = find_dataset(name, data_dir)
    if path is None:
        path = get_dataset(name, data_dir, download=download).path
    try:
        with h5py.File(path, "r") as f:
            metric = check_layout(f, str(path))
            dimension = int(f["train"].shape[1])
            n_train = int(f["train"].shape[0])
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc
    return Path(path).resolve(), metric, dimension, n_train


def select_definitions(definitions_path, metric, dimension, count, algorithms=None,
                       run_disabled=False, max_n=None, run_groups=None):
    """Definitions for this metric, filtered by algorithm names (unknown names are an error).

    run_groups: optional {algorithm: [run group names]} keeping only those groups of the
    algorithms it names (a name no definition has is an error).
    """
    defs = get_definitions(definitions_path, dimension, "float", metric, count)
    for algo, groups in (run_groups or {}).items():
        have = {d.run_group for d in defs if d.algorithm == algo}
        missing = sorted(set(groups) - have)
        if missing:
            raise DefinitionError(f"{algo}: no run group {', '.join(missing)} for {metric} data "
                                  f"(has: {', '.join(sorted(have)) or 'none'})")
        defs = [d for d in defs if d.algorithm != algo or d.run_group in groups]
    if algorithms:
        known = set(algorithm_names(definitions_path))
        unknown = [a for a in algorithms if a not in known]
        if unknown:
            raise DefinitionError(f"unknown algorithm(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")
        defs = [d for d in defs if d.algorithm in algorithms]
        if not defs:
            raise DefinitionError(f"{', '.join(algorithms)}: no definition for {metric} data")
    elif not run_disabled:
        defs = [d for d in defs if not d.disabled]
    return defs[:max_n] if max_n else defs


def child_command(definition, dataset, query_groups, count, runs, batch, data_dir, results_dir,
                  cpu=None):
    """The command line of run_algorithm for one definition (``cpu``: pin it to that CPU)."""
    cmd = [sys.executable, "-m", "ann_benchmarks_plugin.run_algorithm",
           "--dataset", str(dataset), "--results-dir", str(results_dir),
           "--algorithm", definition.algorithm, "--module", definition.module,
           "--constructor", definition.constructor, "--count", str(count), "--runs", str(runs)]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if batch:
        cmd.append("--batch")
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    cmd.append(json.dumps(definition.arguments))
    cmd += [json.dumps(q) for q in query_groups]
    return cmd


def lane_cpus(parallelism):
    """One CPU per lane from this process's affinity mask; ValueError if there are too few."""
    if int(parallelism) != parallelism or parallelism < 1:
        raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        raise ValueError("parallelism > 1 pins each lane to a CPU, which needs Linux") from None
    if parallelism > len(cpus):
        raise ValueError(f"parallelism {parallelism} needs as many CPUs; this process may use "
                         f"{len(cpus)}")
    return cpus[:int(parallelism)]


def _run_local(cmd, timeout, capture, env=None):
    """Run a child command; None on success, else the last line of its error output."""
    try:
        proc = subprocess.run(cmd, timeout=timeout, capture_output=capture, text=True, env=env)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    except OSError as exc:  # could not start the child at all
        return f"cannot start {cmd[0]}: {exc}"
    if proc.returncode == 0:
        return None
    return ((proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"])[0]


def run_benchmark(dataset, algorithms=None, count=10, runs=5, batch=False, force=False,
                  definitions_path="algos.yaml", max_n=None, data_dir=None, results_dir="results",
                  timeout=7200, run_disabled=False, progress=True, capture=False, docker=None,
                  run_groups=None, parallelism=1, first=()):
    """Benchmark the selected definitions on a dataset; return a RunReport.

    With ``docker`` (a docker_runner.DockerOptions) each definition runs in a fresh container of
    its docker_tag image instead of a local process. ``parallelism`` N > 1 (local runs) runs N
    definitions at a time, like the harness's --parallelism: each lane is pinned to its own CPU
    and its builds get one thread, so two timed phases never share a core. ``first``: algorithm
    names started before the others (the longest builds, so the lanes finish together).
    """
    cpus = lane_cpus(parallelism) if parallelism != 1 else [None]
    if docker is not None and len(cpus) > 1:
        raise ValueError("parallelism applies to local runs; containers run one at a time")
    path, metric, dimension, n_train = resolve_dataset(dataset, data_dir)
    if count > n_train:
        raise ValueError(f"--count {count} is larger than the train set of {dataset} ({n_train})")
    name = dataset_name(path)
    defs = select_definitions(definitions_path, metric, dimension, count, algorithms,
                              run_disabled, max_n, run_groups)
    rank = {algo: i for i, algo in enumerate(first)}
    defs = sorted(defs, key=lambda d: rank.get(d.algorithm, len(rank)))
    report = RunReport()
    bar = tqdm(total=len(defs), desc=f"{name} k={count}", unit="def", disable=not progress)
    jobs = queue.Queue()
    for d in defs:
        groups = d.query_argument_groups or [[]]
        pending = [q for q in groups
                   if force or not is_complete(result_path(results_dir, name, count, d, q, batch))]
        if pending:
            jobs.put((d, pending))
        else:
            report.skipped.append(f"{d.algorithm} {json.dumps(d.arguments)}")
            bar.update(1)
    lock = threading.Lock()

    def lane(cpu):
        env = None if cpu is None else dict(os.environ, **dict.fromkeys(LANE_THREAD_VARS, "1"))
        while True:
            try:
                d, pending = jobs.get_nowait()
            except queue.Empty:
                return
            label = f"{d.algorithm} {json.dumps(d.arguments)}"
            with lock:
                bar.set_postfix_str(d.algorithm)
            todo = pending if d.query_argument_groups else []
            if docker is not None:
                from .docker_runner import container_command, run_in_container

                cmd = container_command(child_command(d, name, todo, count, runs, batch, "/data",
                                                      "/results"))
                error = run_in_container(d.docker_tag, cmd, path, results_dir, timeout, docker)
            else:
                cmd = child_command(d, path, todo, count, runs, batch, data_dir, results_dir, cpu)
                error = _run_local(cmd, timeout, capture, env)
            with lock:
                if error:
                    report.failed.append((label, error))
                    tqdm.write(f"FAILED {label}: {error}", file=sys.stderr)
                else:
                    report.written += [result_path(results_dir, name, count, d, q, batch)
                                       for q in pending]
                bar.update(1)

    if len(cpus) == 1:
        lane(cpus[0])
    else:
        lanes = [threading.Thread(target=lane, args=(cpu,), daemon=True) for cpu in cpus]
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
    bar.close()
    return report
