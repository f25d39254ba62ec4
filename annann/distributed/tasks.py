"""The data-movement tasks of one distributed round (pure functions of their inputs, so Dask can
rerun them on another worker after a failure).

route_rows (per chunk): which of its rows are core rows of which partition, with their neighbour
ids. plan_rows (per partition): the rows it needs, core rows plus their neighbours (the halo),
grouped by owning chunk. select_rows (per chunk and partition): those rows' vectors and lists.
merge_shard (per chunk): every partition's version of the chunk's lists merged into one heap per
row (core versions first, then the previous lists, then the halo versions), the update count, and the shard written as the round's checkpoint.
"""

import numpy as np

from .checkpoint import save_shard
from .merge import count_new, merge_versions


def route_rows(assign, shard, lo, n_parts):
    """Per partition: (global ids of this chunk's core rows, neighbour ids or None).

    Only rows holding a new entry ask for their neighbours: a row whose entries are all old has
    joined them all already, so its neighbours' vectors would bring no new pair.
    """
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(n_parts + 1))
    wanted = None
    if shard is not None:
        wanted = np.where(shard[2].any(axis=1)[:, None], shard[0], -1)
    out = []
    for p in range(n_parts):
        r = order[bounds[p]:bounds[p + 1]]
        out.append((lo + r.astype(np.int64), None if wanted is None else wanted[r]))
    return out


def plan_rows(routed, chunk_starts):
    """Per chunk: (sorted global ids, is-core flags) of the rows this partition needs from it."""
    core = np.concatenate([r[0] for r in routed])
    need = core
    lists = [r[1] for r in routed if r[1] is not None]
    if lists:
        nb = np.concatenate([x.ravel() for x in lists]).astype(np.int64)
        need = np.union1d(core, nb[nb >= 0])
    need = np.unique(need)
    is_core = np.isin(need, core, assume_unique=True)
    bounds = np.searchsorted(need, np.append(chunk_starts[1:], np.iinfo(np.int64).max))
    starts = np.concatenate([[0], bounds[:-1]])
    return [(need[a:b], is_core[a:b]) for a, b in zip(starts, bounds)]


def select_rows(X, shard, lo, planned):
    """(gids, is_core, vectors, (ids, dists, flags) or None) of the planned rows of this chunk."""
    gids, is_core = planned
    r = gids - lo
    lists = None if shard is None else (shard[0][r], shard[1][r], shard[2][r])
    return gids, is_core, X[r], lists


def merge_shard(prev, lo, n_rows, pool, results, path):
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
    if prev is not None:  # rows whose neighbours stayed away joined a partial list
        core.append((np.arange(n_rows), *prev))
    ids, dists, flags = merge_versions(n_rows, pool, core + halo)
    if prev is None:
        updates = int((ids >= 0).sum())
    else:
        updates = int(count_new(ids, prev[0]))
    size = save_shard(path, ids, dists, flags)
    return {"updates": updates, "filled": int((ids >= 0).sum()), "shard_bytes": int(size),
            "bytes_in": int(sum(sum(a.nbytes for a in r) for r in results if r is not None))}
