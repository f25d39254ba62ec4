"""Beam search over the search graph (KGraph / NSG style) from the query's LSH buckets.

``beam_search``: a best-first search with a sorted pool of ``beam`` entries (``core.heaps``
pool): expand the nearest unexpanded entry, insert its unvisited neighbours that beat the pool's
worst, stop when every pool entry is expanded. ``lsh_beam_search`` takes the entry points from the
query's bucket in the LSH tables. Everything per query runs inside one numba call.
"""

import numpy as np
from numba import njit

from ..core.distances import sq_l2_vec
from ..core.heaps import pool_insert, pool_position
from .lsh import query_candidates


@njit(cache=True, fastmath=True)
def beam_search(q, X, neighbors, degrees, entries, n_entries, k, beam, visited, stamp):
    """Best-first search from entries; returns (ids int64 (k,), squared dists (k,), n_dist).

    visited (n,) int64 holds the stamp of the query that last saw each node; stamp is new per query.
    """
    L = max(beam, k)
    pool_id = np.empty(L + 1, dtype=np.int64)
    pool_d = np.empty(L + 1, dtype=np.float32)
    pool_done = np.zeros(L + 1, dtype=np.bool_)
    size = 0
    n_dist = 0
    for e in range(n_entries):
        j = entries[e]
        if visited[j] == stamp:
            continue
        visited[j] = stamp
        d = sq_l2_vec(q, X, j)
        n_dist += 1
        size = pool_insert(pool_id, pool_d, pool_done, size, L, j, d)
    cur = 0
    while cur < size:
        if pool_done[cur]:
            cur += 1
            continue
        pool_done[cur] = True
        node = pool_id[cur]
        nxt = size
        for s in range(degrees[node]):
            j = neighbors[node, s]
            if visited[j] == stamp:
                continue
            visited[j] = stamp
            d = sq_l2_vec(q, X, j)
            n_dist += 1
            if size == L and d >= pool_d[L - 1]:
                continue
            pos = pool_position(pool_d, size, d)
            size = pool_insert(pool_id, pool_d, pool_done, size, L, j, d)
            if pos < nxt:
                nxt = pos
        cur = min(nxt, cur + 1)  # a closer new entry is expanded next
    m = min(k, size)
    return pool_id[:m].copy(), pool_d[:m].copy(), n_dist


@njit(cache=True)
def lsh_beam_search(q, X, neighbors, degrees, directions, left, thresholds, starts, ends, roots,
                    orders, k, beam, visited, stamp, entry_buf):
    """One query: entry points = q's LSH buckets, then beam search. Uses stamps 2s and 2s+1."""
    c = query_candidates(q, directions, left, thresholds, starts, ends, roots, orders, 1, visited,
                         2 * stamp, entry_buf)
    return beam_search(q, X, neighbors, degrees, entry_buf, c, k, beam, visited, 2 * stamp + 1)


@njit(cache=True)
def lsh_beam_search_many(Q, X, neighbors, degrees, directions, left, thresholds, starts, ends,
                         roots, orders, k, beam, visited, stamp0, entry_buf):
    """Queries one after another (one thread); rows padded with -1 / inf. Returns n_dist total."""
    m = Q.shape[0]
    out_i = np.full((m, k), -1, dtype=np.int64)
    out_d = np.full((m, k), np.inf, dtype=np.float32)
    total = 0
    for r in range(m):
        ids, d, nd = lsh_beam_search(Q[r], X, neighbors, degrees, directions, left, thresholds,
                                     starts, ends, roots, orders, k, beam, visited, stamp0 + r,
                                     entry_buf)
        out_i[r, :ids.shape[0]] = ids
        out_d[r, :ids.shape[0]] = d
        total += nd
    return out_i, out_d, total
