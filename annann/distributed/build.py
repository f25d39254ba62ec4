"""The K-NN graph build on a Dask cluster, out of core (issue #9).

Data stays in row chunks on the workers (read there from the file, or the chunks of a dask array);
the client only holds small per-chunk and per-partition bookkeeping.

* Round 0: the rows are split into partitions of at most ``partition_size`` rows by the
  variable-length LSH (``lsh_partition``); each partition builds its local K-NN graph with the
  single-machine kernels (local LSH start + NN-descent, ``partition_join``).
* Rounds 1..max_rounds: a fresh LSH partition (new seed per round); each partition takes its core
  rows plus their current neighbours (the halo) with their lists and runs a few local NN-descent
  iterations; all versions of a row's list are merged by row (numba heap merge). Stops when a
  round changes fewer than delta * n * pool_size list entries.
* After every round each chunk's lists are written as checkpoint shards and the manifest is
  updated (``graph_checkpoint``); a resumed build skips finished rounds. Tasks are pure and
  submitted with retries, and a round reads its inputs from the files, so a dead worker costs
  only the lost tasks of the current round.
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
from .input import InputError, open_source, row_ranges
from .join import join_partition
from .partition import lsh_partition
from .tasks import merge_shard, plan_rows, route_rows, select_rows


@dataclass
class BuildSettings:
    """Parameters of the distributed build (defaults follow KNNGraphIndex where they overlap).

    partition_size bounds the core rows of a partition task; chunk_rows is the read / shard size;
    first_iters: local NN-descent iterations of round 0 (as max_iters); local_iters: per later
    round; refine_tables: local LSH tables joined in later rounds (fresh candidates).
    """

    n_neighbors: int = 20
    pool_size: int = None
    partition_size: int = 100_000
    chunk_rows: int = 100_000
    bucket_size: int = 32
    lsh_tables: int = 8
    refine_tables: int = 1
    rho: float = 1.0
    max_candidates: int = None
    delta: float = 0.001
    max_rounds: int = 10
    first_iters: int = 30
    local_iters: int = 2
    seed: int = 0
    metric: str = "euclidean"

    def __post_init__(self):
        for name in ("n_neighbors", "partition_size", "chunk_rows", "lsh_tables", "first_iters",
                     "local_iters"):
            check_positive_int(getattr(self, name), name)
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
        if not 0.0 <= float(self.delta) <= 1.0:
            raise ValueError(f"delta: must be in [0, 1], got {self.delta}")
        if self.partition_size <= self.pool_size:
            raise ValueError(f"partition_size={self.partition_size} must exceed pool_size="
                             f"{self.pool_size}")
        check_metric(self.metric)
        self.seed = int(self.seed)

    def identity(self):
        """The settings a checkpoint must match (stopping rules may change on resume)."""
        return {k: v for k, v in asdict(self).items() if k not in ("max_rounds", "delta")}


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


def open_input(client, data, settings, dataset=None, retries=3):
    """(chunk futures, row ranges, fingerprint) of a path or an array, read on the workers."""
    if isinstance(data, (str, Path)):
        source = open_source(data, dataset, settings.metric)
        bounds = row_ranges(source.n, settings.chunk_rows)
        chunks = [client.submit(source.read, lo, hi, pure=False, retries=retries)
                  for lo, hi in bounds]
        return chunks, bounds, source.fingerprint()
    return _array_input(client, data, settings, retries)


def _task_settings(settings, dim, task_threads):
    s = asdict(settings)
    s["dim"] = int(dim)
    s["task_threads"] = int(task_threads)
    s["n_candidates"] = (max(1, int(round(settings.rho * settings.pool_size)))
                         if settings.max_candidates is None else settings.max_candidates)
    return s


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


def _run_round(client, r, chunks, bounds, shards_prev, settings, tsettings, ckpt_dir, retries,
               progress):
    """One round: partition, route, plan, select, join, merge; returns (stats list, parts)."""
    sub = dict(pure=False, retries=retries)
    starts = np.array([lo for lo, _ in bounds], dtype=np.int64)
    assign, sizes = lsh_partition(client, chunks, bounds, tsettings["dim"],
                                  settings.partition_size, settings.seed * 7919 + r,
                                  retries=retries)
    n_parts = len(sizes)
    shards = ([None] * len(bounds) if shards_prev is None else
              [client.submit(ckpt.load_shard, p, **sub) for p in shards_prev])
    routed = [client.submit(route_rows, a, s, lo, n_parts, **sub)
              for a, s, (lo, _) in zip(assign, shards, bounds)]
    plans = []
    for p in range(n_parts):
        pieces = [client.submit(_item, rt, p, **sub) for rt in routed]
        plans.append(client.submit(plan_rows, pieces, starts, **sub))
    joins = []
    for p, plan in enumerate(plans):
        sel = [client.submit(select_rows, chunks[c], shards[c], lo, client.submit(_item, plan, c,
                                                                                  **sub), **sub)
               for c, (lo, _) in enumerate(bounds)]
        joins.append(client.submit(join_partition, sel, starts, tsettings, r, p, **sub))
    merges = []
    for c, (lo, hi) in enumerate(bounds):
        results = [client.submit(_item, j, c, **sub) for j in joins]
        merges.append(client.submit(merge_shard, shards[c], lo, hi - lo, settings.pool_size,
                                    results, str(ckpt.shard_path(ckpt_dir, r, c)), **sub))
    part_stats = [client.submit(_item, j, -1, **sub) for j in joins]
    _wait(client, merges, f"round {r} ({n_parts} partitions)", progress)
    return client.gather(merges), client.gather(part_stats), sizes


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
    chunks, bounds, fp = open_input(client, data, settings, dataset, retries)
    n, dim = fp["n"], fp["dim"]
    if n <= settings.n_neighbors:
        raise InputError(f"input has {n} rows; n_neighbors={settings.n_neighbors} needs more")
    if n >= np.iinfo(np.int32).max:
        raise InputError(f"input has {n} rows; ids are int32, at most {np.iinfo(np.int32).max - 1}")
    identity = settings.identity()
    manifest = ckpt.read_manifest(ckpt_dir) if resume else None
    if manifest is not None:
        ckpt.check_compatible(manifest, fp, identity, ckpt_dir)
    else:
        ckpt.clear_checkpoint(ckpt_dir)
    history = manifest["history"] if manifest else []
    start = manifest["round"] + 1 if manifest else 0
    converged = bool(manifest and manifest["converged"])
    tsettings = _task_settings(settings, dim, task_threads)
    threshold = settings.delta * n * settings.pool_size
    r = start
    while r <= settings.max_rounds and not converged:
        t_round = time.time()
        before = _probe(client, t_round)
        prev = None if r == 0 else [ckpt.shard_path(ckpt_dir, r - 1, c) for c in range(len(bounds))]
        merged, parts, sizes = _run_round_again_if_lost(client, r, chunks, bounds, prev,
                                                        settings, tsettings, ckpt_dir, retries,
                                                        progress)
        after = _probe(client, t_round)
        updates = sum(m["updates"] for m in merged)
        converged = r > 0 and updates <= threshold
        stats = {"round": r, "seconds": time.time() - t_round, "updates": updates,
                 "n_parts": len(sizes), "max_core": int(max(p["n_core"] for p in parts)),
                 "max_local": int(max(p["n_local"] for p in parts)),
                 "mean_local": float(np.mean([p["n_local"] for p in parts])),
                 "dist_evals": int(sum(p["dist_evals"] for p in parts)),
                 "join_bytes_in": int(sum(p["bytes_in"] for p in parts)),
                 "merge_bytes_in": int(sum(m["bytes_in"] for m in merged)),
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
    client.cancel(chunks)
    t_write = time.perf_counter()
    blocks = ((lo, *ckpt.load_shard(ckpt.shard_path(ckpt_dir, last, c))[:2])
              for c, (lo, _) in enumerate(bounds))
    totals = {"rounds": len(history), "last_round": last, "converged": converged,
              "seconds": time.perf_counter() - t0, "n": n, "dim": dim}
    write_graph(output, n, settings.n_neighbors, blocks, settings.metric,
                {"input": fp, "settings": asdict(settings), "stats": {**totals,
                                                                      "history": history}})
    totals["write_seconds"] = time.perf_counter() - t_write
    if not keep_checkpoint:
        ckpt.clear_checkpoint(ckpt_dir)
    totals["seconds"] = time.perf_counter() - t0
    return {**totals, "history": history, "settings": asdict(settings), "output": str(output),
            "checkpoint_dir": str(ckpt_dir)}
