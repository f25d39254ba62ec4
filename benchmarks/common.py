"""What every benchmark script shares: where the data is, how it is loaded, the provenance of a
run, atomic result files, and the recall / QPS helpers that several scripts used to copy.

Run the scripts from the repository root as ``python -m benchmarks.<name>`` (so ``benchmarks``,
``annann`` and ``ann_benchmarks_plugin`` import without any path manipulation).

Data: ``--data`` takes a dataset file path or an ann-benchmarks name. A name is looked up as
``annann.data.datasets.find_dataset`` does it (``./data``, each directory of ``ANNANN_DATA_PATH``,
then the sets embedded in the package), and last in ``../shared/data`` beside the clone, where the
project's machines keep the real 1M SIFT set (``fg-sift-128-euclidean``, the default). Files are
read with ``annann.data.datasets.read_dataset`` (validated layout), never with h5py directly.
"""

import argparse
import dataclasses
import gc
import importlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from annann.core.atomic import atomic_path
from annann.core.memory import release_free_memory
from annann.data.datasets import DatasetError, find_dataset, first_rows, read_dataset, search_dirs
from annann.data.evaluation import knn_recall
from ann_benchmarks_plugin.harness.provenance import machine_info, versions_text

ROOT = Path(__file__).resolve().parents[1]
# the project's machines keep the real sets here (annann-bench reproduce looks there too)
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATA = "fg-sift-128-euclidean"  # 1M x 128 real SIFT descriptors (../shared/data/README.md)


def data_path(data):
    """The dataset file of ``data``: a path (must exist), else a name looked up as
    ``find_dataset`` does (./data, ANNANN_DATA_PATH, the embedded sets), else in
    ../shared/data beside the clone. Raises DatasetError naming where it looked."""
    data = str(data)
    path = find_dataset(data)
    is_name = not (data.endswith(".hdf5") or os.sep in data)
    if path is None and is_name and (SHARED_DATA / f"{data}.hdf5").is_file():
        path = SHARED_DATA / f"{data}.hdf5"
    if path is None:
        where = "no such file" if not is_name else "looked in " + ", ".join(
            str(d) for d in search_dirs() + [SHARED_DATA])
        raise DatasetError(f"dataset {data!r} not found ({where})")
    return Path(path)


def load_data(data, queries=None, rows=None, k=100, truth=True):
    """(train, test, neighbors, distances, metric) of a dataset (a path or name, see data_path).

    ``queries``: keep the first test rows; ``rows``: keep the first train rows, the exact ground
    truth (k columns) then recomputed for them (``first_rows``); ``truth=False`` skips that and
    returns None for neighbors and distances. Arrays are float32 (train/test, C-contiguous copies
    of the kept rows), int64 ids and float32 distances, as read_dataset returns them.
    """
    ds = read_dataset(data_path(data))
    if queries is not None:
        ds = dataclasses.replace(ds, test=ds.test[:queries].copy(),
                                 neighbors=ds.neighbors[:queries], distances=ds.distances[:queries])
    if rows is not None and rows < ds.train.shape[0]:
        if truth:
            ds = first_rows(ds, int(rows), count=k)
        else:
            ds = dataclasses.replace(ds, neighbors=None, distances=None)
        ds = dataclasses.replace(ds, train=ds.train[:rows].copy())
    elif not truth:
        ds = dataclasses.replace(ds, neighbors=None, distances=None)
    return ds.train, ds.test, ds.neighbors, ds.distances, ds.distance


def command_line(script, argv=None):
    """How the run was started, as it is re-run: ``python -m benchmarks.<script> <args>``."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python", "-m", f"benchmarks.{script}", *argv])


def run_info(script, argv=None, packages=()):
    """Provenance of a run (``machine_info``: machine, date, load, versions of ``packages``, git
    state of this checkout) with the command that re-runs it."""
    return machine_info(command_line(script, argv), packages, ROOT)


def header_lines(info, load_end=None):
    """The provenance bullets of a Markdown report: command, machine (+ load), versions."""
    load = f"1-min load {info['load_avg']:.2f} at start" + (
        f", {load_end:.2f} at end" if load_end is not None else "")
    return [f"- command: `{info['command']}`",
            f"- machine: {info['nproc']} cores, {info['cpu']}; {info['date_utc']}; "
            f"git {info['git']}; {load}",
            f"- versions: {versions_text(info)}"]


def write_atomic(path, content):
    """Write text or bytes to ``path`` through a temp file renamed over it (annann.core.atomic),
    so an interrupted run never leaves half a result file. Returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)
    return path


def true_distances(train, Q, ids):
    """Exact L2 distance of each returned id (padded -1 -> inf), float64 (m, k)."""
    out = np.full(ids.shape, np.inf)
    ok = ids >= 0
    diff = train[np.where(ok, ids, 0)].astype(np.float64) - Q[:, None, :].astype(np.float64)
    out[ok] = np.sqrt((diff ** 2).sum(axis=2))[ok]
    return out


def recall_of(train, Q, true_d, ids, k=10):
    """Mean recall@k by distance threshold (knn_recall) of returned ids (m, >=k), L2."""
    ids = np.asarray(ids, dtype=np.int64)
    return float(knn_recall(true_d, true_distances(train, Q, ids), k).mean())


def time_queries(search, Q, runs, k=10):
    """Each query timed alone, best of ``runs`` passes: (mean seconds per query of the fastest
    pass, ids (m, k) of the last pass, padded with -1). ``search(q)`` returns the ids."""
    best = np.inf
    ids = np.full((Q.shape[0], k), -1, dtype=np.int64)
    for _ in range(runs):
        times = np.empty(Q.shape[0])
        for t, q in enumerate(Q):
            t0 = time.perf_counter()
            found = search(q)
            times[t] = time.perf_counter() - t0
            found = np.asarray(found)[:k]
            ids[t, :len(found)] = found
        best = min(best, times.mean())
    return best, ids


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


def frontier(points):
    """The Pareto frontier (recall ascending) of (recall, qps) points: those no other point beats
    on both."""
    front, best = [], -1.0
    for r, q in sorted(points, key=lambda p: (-p[0], -p[1])):
        if q > best:
            front.append((r, q))
            best = q
    return sorted(front)


def pareto_at(points, target):
    """QPS at recall ``target`` on the Pareto frontier of (recall, qps) points, linear
    interpolation; None if not reached."""
    front = frontier(points)
    if not front or front[-1][0] < target:
        return None
    for (r0, q0), (r1, q1) in zip(front, front[1:]):
        if r0 <= target <= r1:
            return q0 + (q1 - q0) * (target - r0) / (r1 - r0) if r1 > r0 else max(q0, q1)
    return front[0][1]  # the lowest-recall frontier point already exceeds the target


def fmt_range(vals, spec=",.0f"):
    """"lo-hi" of the values that are not None (one value if they agree; "not reached" if none)."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "not reached"
    lo, hi = min(vals), max(vals)
    return f"{lo:{spec}}" if lo == hi else f"{lo:{spec}}-{hi:{spec}}"


def options(queries=1000, out=None, tag=None):
    """Parent parser of the options the scripts share: ``--data`` (a path or name, default the
    1M SIFT set), ``--queries`` (first test rows), and ``--out`` / ``--tag`` when given a default
    (each script's own; leave None to define them in the script)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="dataset file or name (./data, ANNANN_DATA_PATH, embedded sets, "
                         "../shared/data; default %(default)s)")
    if queries is not None:
        ap.add_argument("--queries", type=int, default=queries, help="first test queries used")
    if out is not None:
        ap.add_argument("--out", default=str(out), help="output directory")
    if tag is not None:
        ap.add_argument("--tag", default=tag, help="file name tag")
    return ap


# ---- side-by-side runs (bench_graph_search, bench_cluster_index) ----------------------------
def l2_space(X, Q, true_d, metric):
    """(X, Q, true L2 distances float64) for searching every system in L2: angular rows and
    queries unit-normalised (the ranking of cosine distance), the ground truth's 1 - cos turned
    into the L2 distance of unit vectors, sqrt(2 (1 - cos)). ValueError for another metric."""
    true_d = np.asarray(true_d, dtype=np.float64)
    if metric == "euclidean":
        return X, Q, true_d
    if metric != "angular":
        raise ValueError(f"metric {metric!r}: only euclidean and angular sets are supported")
    X, Q = (np.ascontiguousarray(A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-30),
                                 dtype=np.float32) for A in (X, Q))
    return X, Q, np.sqrt(2.0 * np.maximum(true_d, 0.0))


def rss_bytes():
    """Resident memory of this process (bytes), as ann-benchmarks measures it around fit."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def path_bytes(path):
    """Bytes of a file, or of every file under a directory."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def ratio_range(ours, peer):
    """(lo, hi) of ours / peer over repeats: min of ours / max of the peer, max of ours / min of
    the peer (None where either side never reached the level)."""
    ours, peer = [v for v in ours if v], [v for v in peer if v]
    if not ours or not peer:
        return None
    return min(ours) / max(peer), max(ours) / min(peer)


def thin_grid(grid, max_points=None):
    """At most max_points of grid, evenly spaced, both ends kept (None: the whole grid)."""
    grid = list(grid)
    if max_points is None or len(grid) <= max_points:
        return grid
    if max_points == 1:
        return grid[-1:]
    keep = sorted({round(i * (len(grid) - 1) / (max_points - 1)) for i in range(max_points)})
    return [grid[i] for i in keep]


class Log:
    """Progress lines with a UTC time stamp, printed as they come and kept (``lines``) for the
    run's .log file."""

    def __init__(self):
        self.lines = []

    def __call__(self, msg):
        line = f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}"
        print(line, flush=True)
        self.lines.append(line)

    def text(self):
        return "\n".join(self.lines) + "\n"


def check_peers(script, names, modules, pip_names):
    """Import every selected peer's modules (``modules[name]``, a tuple); SystemExit naming the
    missing ones, how to install them (``pip_names[name]``) and the ``--systems`` that leaves
    them out. Called before any data is loaded, so a missing peer costs nothing."""
    missing = []
    for name in names:
        for module in modules.get(name, ()):
            try:
                importlib.import_module(module)
            except ImportError as exc:  # ModuleNotFoundError, or a broken build of the library
                missing.append((name, f"{name} (import {module}: {exc}; pip install "
                                      f"{pip_names[name]} or pip install -e .[peers])"))
                break
    if missing:
        gone = {n for n, _ in missing}
        raise SystemExit(f"{script}: peer(s) not installed: "
                         + "; ".join(m for _, m in missing) + ". Install them, or leave them "
                         f"out: --systems {','.join(n for n in names if n not in gone)}")


CALLS = {"adapter": "the plugin adapters (their query(), as the harness runs it)",
         "direct": "direct library calls (--calls direct)"}


def measured_build(fn):
    """(fn(), seconds, resident-memory growth in bytes); the freed heap is handed back to the OS
    before and after (``release_free_memory``), so the growth is what the index holds."""
    gc.collect()
    release_free_memory()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    gc.collect()
    release_free_memory()
    return out, secs, rss_bytes() - rss0


def sweep_order(names, rep):
    """The order of the systems in repeat ``rep``: reversed every other repeat and rotated by one
    every two, so no system always runs first (warm caches) or last (a tired machine)."""
    order = list(names) if rep % 2 == 0 else list(names)[::-1]
    shift = (rep // 2) % len(order)
    return order[shift:] + order[:shift]


def restoring_threads(run, argv):
    """``run(argv)`` with numba's thread count restored afterwards (the sweeps set it to 1, and a
    test or a caller in the same process should not inherit that)."""
    import numba

    previous = numba.get_num_threads()
    try:
        return run(argv)
    finally:
        numba.set_num_threads(previous)


def sweep_repeats(names, repeats, sweep, level, log, targets=(0.9, 0.95, 0.99)):
    """Every system swept once per repeat, in ``sweep_order``. ``sweep(name)`` returns the
    system's points (dicts with a 'recall'); ``level(name, points, target)`` the QPS at a recall
    level for the log line (None if never reached). Returns ([{name: points} in the order swept,
    one dict per repeat], [the order of each repeat])."""
    out, orders = [], []
    for rep in range(repeats):
        order = sweep_order(names, rep)
        orders.append(order)
        swept = {}
        for name in order:
            log(f"repeat {rep}: sweeping {name}")
            swept[name] = got = sweep(name)
            log(f"repeat {rep} {name}: QPS " + ", ".join(
                f"@{t} {(level(name, got, t) or 0):,.0f}" for t in targets)
                + f"; max recall {max(p['recall'] for p in got):.4f}")
        out.append(swept)
    return out, orders
