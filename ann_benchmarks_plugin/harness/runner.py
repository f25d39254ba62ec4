"""Run every matching definition of algos.yaml on a dataset, each in a fresh process.

Before the first child starts, everything that can be checked is checked once, here: the options,
the dataset (layout, ground truth at least k wide, ids in range, finite values), the definitions
(schema, modules, constructor and query arguments); a problem is one DatasetError /
DefinitionError / ValueError and nothing is written. A run then holds a lock on its results
folder (dataset and k): a second run on the same folder waits or refuses. Children die with the
runner (parent-death signal) and hold the lock too, so a re-run never races a leftover child.
Finished results are skipped (unless forced), failures are reported and do not stop the others.
"""

import contextlib
import fcntl
import importlib
import inspect
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from annann.core.atomic import clean_stale_in
from annann.core.procs import child_env
from annann.core.validation import check_positive_int
from annann.data.datasets import DatasetError, check_layout, dataset_name, find_dataset, get_dataset

from .definitions import DefinitionError, algorithm_names, get_definitions
from .results import is_complete, result_path

LOCK_NAME = ".annann-bench.lock"
CHECK_CHUNK_BYTES = 1 << 26  # rows read at a time when checking a dataset's values

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


class ResultsLocked(RuntimeError):
    """Another run holds the lock of the same results folder (dataset and k)."""


def resolve_dataset(name, data_dir=None, download=True, count=None):
    """Path, metric, dimension and train size of a dataset, downloading a registered name if
    needed. With ``count``, the whole file is checked for a k=count run (see check_dataset)."""
    path = find_dataset(name, data_dir)
    if path is None:
        path = get_dataset(name, data_dir, download=download).path
    try:
        with h5py.File(path, "r") as f:
            metric = check_layout(f, str(path))
            dimension = int(f["train"].shape[1])
            n_train = int(f["train"].shape[0])
            if count is not None:
                check_dataset(f, str(path), count)
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc
    return Path(path).resolve(), metric, dimension, n_train


def _chunks(dset):
    """Row slices of an HDF5 dataset, about CHECK_CHUNK_BYTES each."""
    row_bytes = max(1, int(np.prod(dset.shape[1:], dtype=np.int64)) * dset.dtype.itemsize)
    step = max(1, CHECK_CHUNK_BYTES // row_bytes)
    for start in range(0, dset.shape[0], step):
        yield start, dset[start:start + step]


def check_dataset(f, where, count):
    """Raise DatasetError unless the open dataset file ``f`` (layout already checked) can score a
    k=count run: ground truth at least count wide, integer ids in [0, train rows), finite train,
    test and ground-truth distances. Reads the file in chunks; names the first bad row."""
    n_train = int(f["train"].shape[0])
    if count > n_train:
        raise ValueError(f"--count {count} is larger than the train set of {where} ({n_train})")
    width = int(f["neighbors"].shape[1])
    if width < count:
        raise DatasetError(f"{where}: the ground truth holds {width} neighbours per query, so "
                           f"recall@{count} cannot be computed; use --count {width} or less, or "
                           f"recompute the ground truth with k >= {count}")
    if not np.issubdtype(f["neighbors"].dtype, np.integer):
        raise DatasetError(f"{where}: neighbors must hold integer ids, not "
                           f"{f['neighbors'].dtype}")
    for key in ("train", "test"):
        for start, rows in _chunks(f[key]):
            bad = ~np.isfinite(rows).all(axis=1)
            if bad.any():
                raise DatasetError(f"{where}: {key} holds NaN or inf (row "
                                   f"{start + int(np.flatnonzero(bad)[0])})")
    for start, rows in _chunks(f["neighbors"]):
        bad = ((rows < 0) | (rows >= n_train)).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            ids = rows[i][(rows[i] < 0) | (rows[i] >= n_train)]
            raise DatasetError(f"{where}: neighbors row {start + i} holds id {int(ids[0])}, "
                               f"outside the train set [0, {n_train})")
    for start, rows in _chunks(f["distances"]):
        head = rows[:, :count]
        bad = ~(np.isfinite(head) & (head >= 0)).all(axis=1)
        if bad.any():
            raise DatasetError(f"{where}: distances row {start + int(np.flatnonzero(bad)[0])} "
                               f"holds NaN, inf or a negative value in its first {count} columns")


def check_run_options(count, runs, timeout, max_n=None, wait=0):
    """ValueError naming the option unless the run's numeric options are usable."""
    check_positive_int(count, "--count")
    check_positive_int(runs, "--runs")
    if max_n is not None:
        check_positive_int(max_n, "--max-n")
    for value, name in ((timeout, "--timeout"), (wait, "--wait")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"{name}: must be a number of seconds, got {value!r}")
    if timeout <= 0:
        raise ValueError(f"--timeout: must be > 0 seconds, got {timeout}")
    if wait < 0:
        raise ValueError(f"--wait: must be >= 0 seconds, got {wait}")


@contextlib.contextmanager
def _child_import_path():
    """sys.path as a child started with this environment sees it (cwd, then PYTHONPATH)."""
    saved = list(sys.path)
    extra = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [p for p in extra if p not in sys.path]
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return None


def check_definitions(defs):
    """Import each definition's module and construct it with its arguments (no data is seen), and
    check that set_query_arguments takes every query argument group; DefinitionError names the
    algorithm, run group and arguments of the first one that fails. The constructors are the
    adapters' own checks of argument names and types; the query arguments' values are checked by
    the child right after the build, before anything is timed or written."""
    with _child_import_path():
        for d in defs:
            where = (f"algorithm {d.algorithm!r}, run group {d.run_group!r}, arguments "
                     f"{json.dumps(d.arguments, default=str)}")
            try:
                module = importlib.import_module(f"{d.module}.module")
            except Exception as exc:
                raise DefinitionError(f"{where}: cannot import {d.module}.module "
                                      f"({type(exc).__name__}: {exc})") from exc
            constructor = getattr(module, d.constructor, None)
            if constructor is None:
                raise DefinitionError(f"{where}: {d.module}.module has no constructor "
                                      f"{d.constructor!r}")
            sig = _signature(constructor)
            try:
                if sig is not None:
                    sig.bind(*d.arguments)
            except TypeError as exc:
                raise DefinitionError(f"{where}: {d.constructor}{sig} cannot take them "
                                      f"({exc})") from exc
            try:
                algo = constructor(*d.arguments)
            except Exception as exc:
                raise DefinitionError(f"{where}: {d.constructor} refused them "
                                      f"({type(exc).__name__}: {exc})") from exc
            query_sig = _signature(getattr(algo, "set_query_arguments", None))
            for q in d.query_argument_groups:
                if not isinstance(q, list):
                    q = [q]
                try:
                    if query_sig is not None:
                        query_sig.bind(*q)
                except TypeError as exc:
                    raise DefinitionError(f"{where}: set_query_arguments{query_sig} cannot take "
                                          f"the query arguments {json.dumps(q)} ({exc})") from exc
            with contextlib.suppress(Exception):
                algo.done()


def lock_path(results_dir, dataset, count):
    """The lock file of a dataset's results at k=count."""
    return Path(results_dir) / dataset / str(count) / LOCK_NAME


@contextlib.contextmanager
def results_lock(results_dir, dataset, count, wait=0.0, log=None):
    """Hold the lock of ``results_dir/dataset/count`` (flock on a lock file) while the block
    runs; yields the lock's file descriptor (children that inherit it hold the lock too).

    Another holder: wait up to ``wait`` seconds (``log`` is told once), then ResultsLocked
    naming the holder. The lock goes with the last process holding it, even one killed hard.
    """
    path = lock_path(results_dir, dataset, count)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
                if time.monotonic() >= deadline:
                    raise ResultsLocked(
                        f"{path.parent} is in use by another annann-bench run ({holder}); wait "
                        f"for it to finish (or pass --wait SECONDS), or use another "
                        f"--results-dir (--force does not break the lock)") from None
                if log and not told:
                    log(f"waiting for the run holding {path.parent} ({holder})")
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid {os.getpid()}, since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}: "
                       f"{' '.join(sys.argv)}\n").encode(), 0)
        yield fd
    finally:
        os.close(fd)


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
                  cpu=None, progress=True):
    """The command line of run_algorithm for one definition (``cpu``: pin it to that CPU;
    ``progress`` False: no progress bars)."""
    cmd = [sys.executable, "-m", "ann_benchmarks_plugin.harness.run_algorithm",
           "--dataset", str(dataset), "--results-dir", str(results_dir),
           "--algorithm", definition.algorithm, "--module", definition.module,
           "--constructor", definition.constructor, "--count", str(count), "--runs", str(runs)]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if batch:
        cmd.append("--batch")
    if not progress:
        cmd.append("--no-progress")
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


def _run_local(cmd, timeout, capture, env=None, quiet=False, pass_fds=()):
    """Run a child command; None on success, else the last line of its error output.

    The child's stderr is forwarded as it comes (progress bars included) unless ``capture``;
    its stdout is dropped when ``capture`` or ``quiet``. The child gets ``child_env`` (it dies
    with this process) and inherits ``pass_fds`` (the results lock). A child still running
    when this function leaves (timeout, interrupt) is killed.
    """
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if capture or quiet else None,
                                stderr=subprocess.PIPE, env=child_env(env), pass_fds=pass_fds)
    except OSError as exc:  # could not start the child at all
        return f"cannot start {cmd[0]}: {exc}"
    tail = bytearray()

    def pump():
        while True:
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                return
            tail.extend(chunk)
            del tail[:-8192]
            if not capture:
                sys.stderr.write(chunk.decode(errors="replace"))
                sys.stderr.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        proc.stderr.close()
    if code == 0:
        return None
    lines = [ln.strip() for ln in tail.decode(errors="replace").replace("\r", "\n").splitlines()]
    lines = [ln for ln in lines if ln]
    if code < 0:
        return f"killed by {signal.Signals(-code).name}" + (f" ({lines[-1]})" if lines else "")
    return lines[-1] if lines else f"exit status {code}"


def _stamp(path):
    """What identifies one version of a file (None if absent): an atomic rewrite changes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def run_benchmark(dataset, algorithms=None, count=10, runs=5, batch=False, force=False,
                  definitions_path="algos.yaml", max_n=None, data_dir=None, results_dir="results",
                  timeout=7200, run_disabled=False, progress=True, capture=False, docker=None,
                  run_groups=None, parallelism=1, first=(), wait=0):
    """Benchmark the selected definitions on a dataset; return a RunReport.

    With ``docker`` (a docker_runner.DockerOptions) each definition runs in a fresh container of
    its docker_tag image instead of a local process. ``parallelism`` N > 1 (local runs) runs N
    definitions at a time, like the harness's --parallelism: each lane is pinned to its own CPU
    and its builds get one thread, so two timed phases never share a core. ``first``: algorithm
    names started before the others (the longest builds, so the lanes finish together).
    ``wait``: seconds to wait for another run holding the same results folder (then
    ResultsLocked). Problems found before the first child starts raise and write nothing.
    """
    check_run_options(count, runs, timeout, max_n, wait)
    cpus = lane_cpus(parallelism) if parallelism != 1 else [None]
    if docker is not None and len(cpus) > 1:
        raise ValueError("parallelism applies to local runs; containers run one at a time")
    path, metric, dimension, n_train = resolve_dataset(dataset, data_dir, count=count)
    name = dataset_name(path)
    defs = select_definitions(definitions_path, metric, dimension, count, algorithms,
                              run_disabled, max_n, run_groups)
    if docker is None:  # in docker mode the modules live in the images
        check_definitions(defs)
    rank = {algo: i for i, algo in enumerate(first)}
    defs = sorted(defs, key=lambda d: rank.get(d.algorithm, len(rank)))
    log = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else None
    with results_lock(results_dir, name, count, wait, log) as lock_fd:
        if docker is not None:
            from .docker_runner import remove_orphans

            remove_orphans(docker, lock_path(results_dir, name, count))
        return _run_locked(defs, path, name, count, runs, batch, force, data_dir, results_dir,
                           timeout, progress, capture, docker, cpus, lock_fd)


def _run_locked(defs, path, name, count, runs, batch, force, data_dir, results_dir, timeout,
                progress, capture, docker, cpus, lock_fd):
    """The part of run_benchmark that runs under the results lock."""
    report = RunReport()
    bar = tqdm(total=len(defs), desc=f"{name} k={count}", unit="def", disable=not progress)
    jobs = queue.Queue()
    for d in defs:
        groups = d.query_argument_groups or [[]]
        paths = [result_path(results_dir, name, count, d, q, batch) for q in groups]
        clean_stale_in(paths[0].parent)  # leftovers of killed saves
        pending = [q for q, p in zip(groups, paths) if force or not is_complete(p)]
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
            paths = [result_path(results_dir, name, count, d, q, batch) for q in pending]
            before = [_stamp(p) for p in paths]
            if docker is not None:
                from .docker_runner import container_command, run_in_container

                cmd = container_command(child_command(d, name, todo, count, runs, batch, "/data",
                                                      "/results"))
                error = run_in_container(d.docker_tag, cmd, path, results_dir, timeout, docker,
                                         lock_key=lock_path(results_dir, name, count))
            else:
                cmd = child_command(d, path, todo, count, runs, batch, data_dir, results_dir, cpu,
                                    progress)
                error = _run_local(cmd, timeout, capture, env, quiet=not progress,
                                   pass_fds=(lock_fd,))
            written = [p for p, b in zip(paths, before) if _stamp(p) != b and is_complete(p)]
            with lock:
                report.written += written
                if error:
                    if written:
                        error += f" (after writing {len(written)} of {len(paths)} result files)"
                    report.failed.append((label, error))
                    if progress:  # at once; the caller reports every failure at the end
                        tqdm.write(f"FAILED {label}: {error}", file=sys.stderr)
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
