"""Neighbour-list plumbing of the distributed build: id mapping, heap merge, update counting.

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


def to_local(sorted_gids, sorter, ids):
    """Positions (in local order) of global ids, -1 where an id is not local; sorter sorts gids."""
    ids = np.asarray(ids, dtype=np.int64)
    pos = np.searchsorted(sorted_gids, ids)
    pos = np.minimum(pos, sorted_gids.shape[0] - 1)
    hit = (sorted_gids[pos] == ids) & (ids >= 0)
    return np.where(hit, sorter[pos], -1).astype(np.int32)


def merge_versions(n_rows, capacity, pieces):
    """Heaps of n_rows rows from pieces (rows, ids, dists, flags) pushed in the order given."""
    ids, dists, flags = empty_heaps(n_rows, capacity)
    for rows, p_ids, p_d, p_f in pieces:
        if rows.shape[0]:
            push_rows(ids, dists, flags, rows.astype(np.int64), p_ids, p_d, p_f)
    return ids, dists, flags
