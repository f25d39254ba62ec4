"""Neighbour-list plumbing of the distributed build: id mapping, heap merge, update counting.

Global ids map to a partition's local rows through an open-addressing hash table (``to_local``),
O(1) per id without an array the size of the whole data set.

Lists are the bounded heaps of ``core.heaps`` (ids int32, squared distances float32, new-flag
uint8). Merging pushes entries with ``checked_heap_push``, so a merged row keeps the best entries
of all its versions without duplicates; the first version pushed decides the flag of an id present in several.
"""

import numpy as np
from numba import njit

from ..core.heaps import checked_heap_push, contains_id, empty_heaps


@njit(cache=True)
def push_rows(ids, dists, flags, rows, src_ids, src_d, src_f):
    """Push every entry (id >= 0) of source row r into heap row rows[r]."""
    for r in range(rows.shape[0]):
        row = rows[r]
        for s in range(src_ids.shape[1]):
            j = src_ids[r, s]
            if j >= 0:
                checked_heap_push(ids, dists, flags, row, j, src_d[r, s], src_f[r, s])


@njit(cache=True)
def count_new(ids, prev_ids):
    """Entries of each row of ids that its previous version prev_ids did not hold (the updates)."""
    c = 0
    for i in range(ids.shape[0]):
        for s in range(ids.shape[1]):
            j = ids[i, s]
            if j >= 0 and not contains_id(prev_ids, i, j):
                c += 1
    return c


@njit(cache=True)
def drop_known(ids, seed_ids):
    """Copy of ids with every entry already in the same row of seed_ids replaced by -1."""
    out = ids.copy()
    for i in range(ids.shape[0]):
        for s in range(ids.shape[1]):
            j = ids[i, s]
            if j >= 0 and contains_id(seed_ids, i, j):
                out[i, s] = -1
    return out


@njit(cache=True)
def hash_id(key, mask):
    """Start slot of a non-negative id in an open-addressing table of mask + 1 slots."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)) & mask


@njit(cache=True)
def build_id_table(gids):
    """Open-addressing table (keys, positions) of the distinct non-negative ids gids."""
    size = 1
    while size < 2 * gids.shape[0] + 2:
        size *= 2
    keys = np.full(size, -1, dtype=np.int64)
    vals = np.empty(size, dtype=np.int32)
    mask = size - 1
    for i in range(gids.shape[0]):
        h = hash_id(gids[i], mask)
        while keys[h] >= 0:
            h = (h + 1) & mask
        keys[h] = gids[i]
        vals[h] = i
    return keys, vals


@njit(cache=True)
def lookup_ids(keys, vals, ids):
    """Position of each id of ids (2-D) in the table, -1 where absent or negative."""
    out = np.full(ids.shape, -1, dtype=np.int32)
    mask = keys.shape[0] - 1
    for i in range(ids.shape[0]):
        for s in range(ids.shape[1]):
            j = ids[i, s]
            if j < 0:
                continue
            h = hash_id(j, mask)
            while keys[h] >= 0:
                if keys[h] == j:
                    out[i, s] = vals[h]
                    break
                h = (h + 1) & mask
    return out


def to_local(gids, ids):
    """Positions in gids (distinct global ids, any order) of the global ids in ids (2-D), -1
    where an id is not local."""
    keys, vals = build_id_table(np.asarray(gids, dtype=np.int64))
    return lookup_ids(keys, vals, np.asarray(ids))


def merge_versions(n_rows, capacity, pieces):
    """Heaps of n_rows rows from pieces (rows, ids, dists, flags) pushed in the order given."""
    ids, dists, flags = empty_heaps(n_rows, capacity)
    for rows, p_ids, p_d, p_f in pieces:
        if rows.shape[0]:
            push_rows(ids, dists, flags, rows.astype(np.int64), p_ids, p_d, p_f)
    return ids, dists, flags
