"""The K-NN graph build on a Dask cluster, out of core (issues #9, #23).

The input is read on the workers by row id from shared storage (memory-mapped ``.npy`` / texmex /
contiguous HDF5, or a per-chunk ``.npy`` copy staged once beside the checkpoint for compressed
HDF5, zarr and dask arrays); vectors never travel through Dask. The client only holds small
per-chunk and per-partition bookkeeping.

* Round 0: the rows are split into partitions of at most ``partition_size`` rows (default: about
  one per worker thread) by median cuts along the principal directions of a row sample
  (``lsh_partition``); each partition runs the single-machine NN-descent on its rows
  (``join.first_build``).
* Rounds 1..max_rounds: a fresh LSH partition (data-difference directions as the single-machine
  LSH, new seed per round); each partition reads its core
  rows plus their current neighbours (the halo) with their lists from the previous round's shards
  and runs local NN-descent iterations (``join.refine_rows``); the partitions' versions of a row's
  list, (id, distance, flag) entries only, are merged by row (numba heap merge). Stops when a
  round changes at most round_delta * n * pool_size list entries (or after round 0 if it had one
  partition: that is the single-machine build).
* After every round each chunk's lists are written as checkpoint shards and the manifest is
  updated (``checkpoint``); a resumed build skips finished rounds. Tasks are pure and submitted
  with retries, and a round reads its inputs from the files, so a dead worker costs only the lost
  tasks of the current round.
* The graph (K nearest of the pool, sorted) is written in row blocks into an index directory
  (``graph_file``); ``graph_file.load_graph_index`` turns it into a searchable KNNGraphIndex.
"""

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..core.distances import check_metric, normalize_rows
from ..core.validation import check_positive_int
from ..graph.nndescent import default_pool_size
from . import checkpoint as ckpt
from .graph_file import write_graph
from .input import InputError, StagedSource, open_source, row_ranges, stage_chunk
from .partition import lsh_partition
from .tasks import merge_shard, run_partition, split_rows

MAX_AUTO_PARTITION = 2_000_000  # rows: the automatic partition size never exceeds this


@dataclass
class BuildSettings:
    """Parameters of the distributed build (defaults follow KNNGraphIndex where they overlap).

    partition_size bounds the core rows of a partition task (None: ~1.1 n / worker threads, so
    one partition per thread, at most MAX_AUTO_PARTITION); chunk_rows is the read / shard size;
    first_iters: NN-descent iterations of round 0 (as max_iters); local_iters: at most per later
    round; refine_tables: local LSH tables joined in later rounds (fresh candidates); delta: the
    local iterations' stop rule (as KNNGraphIndex); round_delta: the build stops after a round
    that changed at most round_delta * n * pool_size entries.
    """

    n_neighbors: int = 20
    pool_size: int = None
    partition_size: int = None
    chunk_rows: int = 100_000
    bucket_size: int = 32
    lsh_tables: int = 8
    refine_tables: int = 2
    rho: float = 1.0
    max_candidates: int = None
    delta: float = 0.001
    round_delta: float = 0.002
    max_rounds: int = 10
    first_iters: int = 30
    local_iters: int = 6
    seed: int = 0
    metric: str = "euclidean"

    def __post_init__(self):
        for name in ("n_neighbors", "chunk_rows", "lsh_tables", "first_iters", "local_iters"):
            check_positive_int(getattr(self, name), name)
        if self.partition_size is not None:
            check_positive_int(self.partition_size, "partition_size")
        check_positive_int(self.bucket_size, "bucket_size", minimum=2)
        check_positive_int(self.refine_tables, "refine_tables", minimum=0)
        check_positive_int(self.max_rounds, "max_rounds", minimum=0)
        self.pool_size = (default_pool_size(self.n_neighbors) if self.pool_size is None
                          else check_positive_int(self.pool_size, "pool_size"))
        if self.pool_size < self.n_neighbors:
            raise ValueError(f"pool_size={self.pool_size} must be >= n_neighbors="
                             f"{self.n_neighbors}")
        if not 0.0 < float(self.rho) <= 1.0:
            raise ValueError(f"rho: must be in (0, 1], got {self.rho}")
        for name in ("delta", "round_delta"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {getattr(self, name)}")
        if self.partition_size is not None and self.partition_size <= self.pool_size:
            raise ValueError(f"partition_size={self.partition_size} must exceed pool_size="
                             f"{self.pool_size}")
        check_metric(self.metric)
        self.seed = int(self.seed)

    def identity(self):
        """The settings a checkpoint must match (stopping rules may change on resume)."""
        return {k: v for k, v in asdict(self).items() if k not in ("max_rounds", "round_delta")}


def _checked_chunk(X, lo, metric):
    """Validate one chunk of a dask array (finite numbers) and normalise it for angular."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise InputError(f"input contains NaN or inf (first in row "
                         f"{lo + int(np.flatnonzero(~finite)[0])})")
    return normalize_rows(X) if metric == "angular" else X


def _array_input(client, x, settings, retries):
    """Chunk futures, row ranges and fingerprint of a dask (or numpy) array."""
    import dask.array as da

    x = x if isinstance(x, da.Array) else np.asarray(x)
    if x.ndim != 2:
        raise InputError(f"input array: expected 2-D (n, d), got shape {x.shape}")
    if not isinstance(x, da.Array):
        x = da.from_array(np.asarray(x), chunks=(settings.chunk_rows, -1))
    if any(np.isnan(s) for s in x.shape):
        raise InputError("input array: unknown chunk sizes; call compute_chunk_sizes() first")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"input array: is empty (shape {x.shape})")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise InputError(f"input array: expected numbers, got dtype {x.dtype}")
    x = x.rechunk((settings.chunk_rows, -1))
    bounds = row_ranges(x.shape[0], settings.chunk_rows)
    blocks = client.compute(list(x.to_delayed().ravel()), retries=retries)
    chunks = [client.submit(_checked_chunk, b, lo, settings.metric, pure=False, retries=retries)
              for b, (lo, _) in zip(blocks, bounds)]
    fp = {"kind": "dask", "name": x.name, "n": int(x.shape[0]), "dim": int(x.shape[1]),
          "metric": settings.metric}
    return chunks, bounds, fp


def _stage(client, chunks, bounds, folder, dim, retries):
    """Write the chunks (futures of arrays, or row readers) as StagedSource files; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    staged = StagedSource(folder, bounds, dim)
    if not staged.is_complete():
        client.gather([client.submit(stage_chunk, c, lo, hi, str(staged.chunk_path(i)), pure=False,
                                     retries=retries)
                       for i, (c, (lo, hi)) in enumerate(zip(chunks, bounds))])
    return staged


def open_input(client, data, settings, ckpt_dir, dataset=None, retries=3):
    """(row source the workers read by id, row ranges, fingerprint) of a path or an array.

    Paths that can be memory-mapped are read in place; the others (compressed or chunked HDF5,
    zarr) and arrays are staged once into ``<checkpoint>/input``, which must be on storage every
    worker sees (as the checkpoint itself)."""
    folder = Path(ckpt_dir) / "input"
    if isinstance(data, (str, Path)):
        source = open_source(data, dataset, settings.metric)
        bounds = row_ranges(source.n, settings.chunk_rows)
        if source.memmap() is None:
            source = _stage(client, [source.read] * len(bounds), bounds, folder, source.dim,
                            retries)
        return source, bounds, open_source(data, dataset, settings.metric).fingerprint()
    chunks, bounds, fp = _array_input(client, data, settings, retries)
    source = _stage(client, chunks, bounds, folder, fp["dim"], retries)
    client.cancel(chunks)
    return source, bounds, fp


def _task_settings(settings, dim, task_threads, partition_size):
    s = asdict(settings)
    s["dim"] = int(dim)
    s["task_threads"] = int(task_threads)
    s["partition_size"] = int(partition_size)
    s["n_candidates"] = (max(1, int(round(settings.rho * settings.pool_size)))
                         if settings.max_candidates is None else settings.max_candidates)
    return s


def auto_partition_size(client, n, settings, task_threads):
    """settings.partition_size, or ~1.1 n / (worker threads / task threads) capped."""
    if settings.partition_size is not None:
        return settings.partition_size
    threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    slots = max(1, threads // max(1, task_threads))
    size = min(MAX_AUTO_PARTITION, -(-11 * n // (10 * slots)))
    return max(size, settings.pool_size + 1)


def _worker_probe(dask_worker, since):
    """Peak process memory (sampled by the worker's monitor) since a time, bytes sent, spilled."""
    q = dask_worker.monitor.quantities
    mem = [m for m, t in zip(q["memory"], q["time"]) if t >= since]
    spilled = getattr(dask_worker.data, "spilled_total", None)
    return {"peak_rss": max(mem) if mem else dask_worker.monitor.get_process_memory(),
            "sent_bytes": dask_worker.transfer_outgoing_bytes_total,
            "spilled_bytes": int(spilled[1]) if spilled is not None else 0}


def _probe(client, since):
    try:
        return client.run(_worker_probe, since=since)
    except Exception:  # a worker restarting right now: probes are informative only
        return {}


def _run_round(client, r, source, bounds, prev, settings, tsettings, ckpt_dir, retries, progress):
    """One round: partition, split, local builds, merge; returns (merge stats, part stats, sizes,
    seconds spent partitioning)."""
    sub = dict(pure=False, retries=retries)
    starts = np.array([lo for lo, _ in bounds], dtype=np.int64)
    t0 = time.perf_counter()
    assign, sizes = lsh_partition(client, source, bounds, tsettings["partition_size"],
                                  settings.seed * 7919 + r, retries=retries,
                                  kind="pca" if r == 0 else "data")
    n_parts = len(sizes)
    split = [client.submit(split_rows, a, lo, n_parts, **sub) for a, (lo, _) in zip(assign, bounds)]
    prev = None if prev is None else [str(p) for p in prev]
    joins = [client.submit(run_partition, source, [client.submit(_item, sp, p, **sub)
                                                   for sp in split],
                           prev, starts, tsettings, r, p, **sub) for p in range(n_parts)]
    merges = []
    for c, (lo, hi) in enumerate(bounds):
        results = [client.submit(_item, j, c, **sub) for j in joins]
        merges.append(client.submit(merge_shard, None if prev is None else prev[c], lo, hi - lo,
                                    settings.pool_size, results,
                                    str(ckpt.shard_path(ckpt_dir, r, c)), **sub))
    part_stats = [client.submit(_item, j, -1, **sub) for j in joins]
    t_part = time.perf_counter() - t0
    _wait(client, merges, f"round {r} ({n_parts} partitions)", progress)
    return client.gather(merges), client.gather(part_stats), sizes, t_part


def _run_round_again_if_lost(client, r, *args):
    """_run_round, re-run whole (up to ``retries`` times) if a dead worker took intermediate
    results whose tasks Dask had already forgotten (the futures come back cancelled for "lost
    dependencies"). A round reads only the previous round's checkpoint files and the input
    chunks, and its tasks are pure, so a re-run gives the same shards."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    retries = args[-2]
    for attempt in range(retries + 1):
        try:
            return _run_round(client, r, *args)
        except (CancelledError, KilledWorker) as exc:
            if attempt == retries:
                raise
            print(f"round {r}: {type(exc).__name__} ({exc}); running the round again",
                  flush=True)


def _item(seq, i):
    """seq[i] (a task, so each piece of a task's output travels alone)."""
    return seq[i]


def _wait(client, futures, desc, progress):
    from distributed import as_completed

    with tqdm(total=len(futures), desc=desc, disable=not progress, unit="shard") as bar:
        for _ in as_completed(futures):
            bar.update(1)


def build_knn_graph(data, output, client, dataset=None, checkpoint_dir=None, resume=False,
                    progress=False, retries=3, task_threads=1, on_round=None,
                    keep_checkpoint=False, **params):
    """Build the K-NN graph of data (a file path or a dask/numpy array) on client's cluster.

    output: the graph directory (``graph_file``). checkpoint_dir: round checkpoints (default
    ``<output>.ckpt``); resume: continue from it (refused if input or settings differ).
    on_round(stats): called after every round; keep_checkpoint: keep the last round's shards after
    the graph is written (default: delete them). params: ``BuildSettings`` fields.
    Returns a dict of per-round statistics and totals.
    """
    settings = BuildSettings(**params)
    output = Path(output)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else output.with_name(output.name + ".ckpt")
    t0 = time.perf_counter()
    manifest = ckpt.read_manifest(ckpt_dir) if resume else None
    if manifest is None:
        ckpt.clear_checkpoint(ckpt_dir)
    source, bounds, fp = open_input(client, data, settings, ckpt_dir, dataset, retries)
    stage_seconds = time.perf_counter() - t0
    n, dim = fp["n"], fp["dim"]
    if n <= settings.n_neighbors:
        raise InputError(f"input has {n} rows; n_neighbors={settings.n_neighbors} needs more")
    if n >= np.iinfo(np.int32).max:
        raise InputError(f"input has {n} rows; ids are int32, at most {np.iinfo(np.int32).max - 1}")
    identity = settings.identity()
    if manifest is not None:
        ckpt.check_compatible(manifest, fp, identity, ckpt_dir)
    history = manifest["history"] if manifest else []
    start = manifest["round"] + 1 if manifest else 0
    converged = bool(manifest and manifest["converged"])
    tsettings = _task_settings(settings, dim, task_threads,
                               auto_partition_size(client, n, settings, task_threads))
    threshold = settings.round_delta * n * settings.pool_size
    r = start
    while r <= settings.max_rounds and not converged:
        t_round = time.time()
        before = _probe(client, t_round)
        prev = None if r == 0 else [ckpt.shard_path(ckpt_dir, r - 1, c) for c in range(len(bounds))]
        merged, parts, sizes, t_part = _run_round_again_if_lost(client, r, source, bounds, prev,
                                                        settings, tsettings, ckpt_dir, retries,
                                                        progress)
        after = _probe(client, t_round)
        updates = sum(m["updates"] for m in merged)
        converged = (r > 0 and updates <= threshold) or (r == 0 and len(sizes) == 1)
        stats = {"round": r, "seconds": time.time() - t_round, "updates": updates,
                 "partition_seconds": t_part, "n_parts": len(sizes),
                 "max_core": int(max(p["n_core"] for p in parts)),
                 "max_local": int(max(p["n_local"] for p in parts)),
                 "mean_local": float(np.mean([p["n_local"] for p in parts])),
                 "dist_evals": int(sum(p["dist_evals"] for p in parts)),
                 "max_read_seconds": float(max(p["read_seconds"] for p in parts)),
                 "max_join_seconds": float(max(p["join_seconds"] for p in parts)),
                 "local_updates": [p["local_updates"] for p in parts],
                 "read_bytes": int(sum(p["bytes_read"] for p in parts)),
                 "exchange_bytes": int(sum(m["bytes_in"] for m in merged)),
                 "checkpoint_bytes": int(sum(m["shard_bytes"] for m in merged)),
                 "worker_sent_bytes": int(sum(a["sent_bytes"] - before.get(w, {}).get(
                     "sent_bytes", 0) for w, a in after.items())),
                 "worker_peak_rss": {w: int(a["peak_rss"]) for w, a in after.items()},
                 "worker_spilled_bytes": {w: a["spilled_bytes"] for w, a in after.items()}}
        history.append(stats)
        ckpt.write_manifest(ckpt_dir, fp, identity, r, converged, history)
        ckpt.drop_rounds_before(ckpt_dir, r)
        if progress:
            print(f"round {r}: {stats['seconds']:.1f} s, {updates} updates "
                  f"(stop at <= {threshold:.0f}), {stats['n_parts']} partitions", flush=True)
        if on_round is not None:
            on_round(stats)
        r += 1
    last = history[-1]["round"]
    t_write = time.perf_counter()
    blocks = ((lo, *ckpt.load_shard(ckpt.shard_path(ckpt_dir, last, c))[:2])
              for c, (lo, _) in enumerate(bounds))
    totals = {"rounds": len(history), "last_round": last, "converged": converged,
              "seconds": time.perf_counter() - t0, "n": n, "dim": dim,
              "partition_size": tsettings["partition_size"], "input_kind": source.kind,
              "stage_seconds": stage_seconds}
    write_graph(output, n, settings.n_neighbors, blocks, settings.metric,
                {"input": fp, "settings": asdict(settings), "stats": {**totals,
                                                                      "history": history}})
    totals["write_seconds"] = time.perf_counter() - t_write
    if not keep_checkpoint:
        ckpt.clear_checkpoint(ckpt_dir)
    totals["seconds"] = time.perf_counter() - t0
    return {**totals, "history": history, "settings": asdict(settings), "output": str(output),
            "checkpoint_dir": str(ckpt_dir)}
