"""The tasks of one distributed round (pure functions of their inputs and of files that never change
once written, so Dask can rerun them on another worker after a failure).

split_rows (per chunk): the chunk's row ids by partition. run_partition (per partition): reads its
rows' vectors from the input and their lists from the previous round's shards itself (shared
storage, by row id), runs the local NN-descent (``join``) and returns its rows' new lists split by
owning chunk: only ids, distances and flags travel between workers, never vectors. merge_shard
(per chunk): every partition's version of the chunk's lists merged into one heap per row (core
versions first, then the previous lists, then the halo versions), the update count, and the shard
written as the round's checkpoint.
"""

import time

import numpy as np

from . import checkpoint as ckpt
from .join import first_build, numba_threads, refine_rows
from .merge import count_new, merge_versions


def split_rows(assign, lo, n_parts):
    """Per partition: the global ids (sorted int64) of this chunk's rows assigned to it."""
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(n_parts + 1))
    return [lo + order[bounds[p]:bounds[p + 1]].astype(np.int64) for p in range(n_parts)]


def _halo(core, lists, all_neighbours):
    """Neighbours of the core rows outside them (all, or only those of rows with a new entry)."""
    ids, _, flags = lists
    asked = ids if all_neighbours else ids[flags.any(axis=1)]
    nb = np.sort(asked[asked >= 0].astype(np.int64))
    nb = nb[np.r_[True, nb[1:] != nb[:-1]]] if nb.size else nb
    if not core.size:
        return nb
    pos = np.minimum(np.searchsorted(core, nb), core.shape[0] - 1)
    return nb[core[pos] != nb]


def run_partition(source, pieces, prev_paths, chunk_starts, settings, round_no, part_no):
    """The local build of one partition; returns one (gids, ids, dists, flags, is_core) or None per
    chunk, then a stats dict (rows, distance evaluations, bytes read and returned, seconds)."""
    s = settings
    t0 = time.perf_counter()
    core = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    with numba_threads(s["task_threads"]):
        if round_no == 0:
            X = source.read_rows(core)
            bytes_read = X.nbytes
            t1 = time.perf_counter()
            ids, dists, st = first_build(X, s, part_no)
            out = (core, np.where(ids >= 0, core[np.maximum(ids, 0)], -1).astype(np.int32), dists,
                   np.zeros(ids.shape, np.uint8), np.ones(core.shape[0], bool))
            evals, history, n_local = st["dist_evals"], [h["updates"] for h in st["history"]], \
                core.shape[0]
        else:
            pool = s["pool_size"]
            c_lists = ckpt.load_rows(prev_paths, chunk_starts, core, pool)
            full = round_no == 1
            halo = _halo(core, c_lists, full)
            h_lists = ckpt.load_rows(prev_paths, chunk_starts, halo, pool)
            gids = np.concatenate([core, halo])
            is_core = np.arange(gids.shape[0]) < core.shape[0]
            X = np.concatenate([source.read_rows(core), source.read_rows(halo)])
            lists = tuple(np.concatenate([a, b]) for a, b in zip(c_lists, h_lists))
            bytes_read = X.nbytes + sum(a.nbytes for a in lists)
            t1 = time.perf_counter()
            out, evals, history = refine_rows(gids, is_core, X, lists, s, round_no, part_no,
                                                 full)
            n_local = gids.shape[0]
    t2 = time.perf_counter()
    gids = out[0]
    bounds = np.searchsorted(gids, np.append(chunk_starts, np.iinfo(np.int64).max))
    res = []
    for c in range(len(chunk_starts)):
        a, b = bounds[c], bounds[c + 1]
        res.append(tuple(x[a:b] for x in out) if b > a else None)
    bytes_out = sum(sum(x.nbytes for x in r) for r in res if r is not None)
    res.append({"part": part_no, "n_core": int(core.shape[0]), "n_local": int(n_local),
                "dist_evals": int(evals), "local_updates": history, "bytes_read": int(bytes_read),
                "bytes_out": int(bytes_out), "read_seconds": t1 - t0, "join_seconds": t2 - t1})
    return res


def merge_shard(prev_path, lo, n_rows, pool, results, path):
    """Merge the partitions' versions of rows lo..lo+n_rows-1; write the shard; return stats."""
    core, halo = [], []
    for res in results:
        if res is None:
            continue
        gids, ids, dists, flags, is_core = res
        rows = gids - lo
        for target, m in ((core, is_core), (halo, ~is_core)):
            if m.any():
                target.append((rows[m], ids[m], dists[m], flags[m]))
    prev = None if prev_path is None else ckpt.load_shard(prev_path)
    if prev is not None:  # rows whose neighbours stayed away joined a partial list
        core.append((np.arange(n_rows), *prev))
    ids, dists, flags = merge_versions(n_rows, pool, core + halo)
    updates = int((ids >= 0).sum()) if prev is None else int(count_new(ids, prev[0]))
    size = ckpt.save_shard(path, ids, dists, flags)
    return {"updates": updates, "filled": int((ids >= 0).sum()), "shard_bytes": int(size),
            "bytes_in": int(sum(sum(a.nbytes for a in r) for r in results if r is not None))}
