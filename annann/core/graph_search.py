"""Best-first beam search over a graph stored as an adjacency array, the walk both engines use:
the K-NN graph's search (``graph.beam_search``) and the IVF's routing over the HNSW of its
centroids (``ivf.centroid_graph``, on HNSW's bottom layer).

A sorted pool of ``beam`` entries (``core.heaps`` pool), KGraph / NSG style: expand the nearest
unexpanded entry, insert its unvisited neighbours that beat the pool's worst, stop when every pool
entry is expanded. ``visited`` stamps replace a per-query set: node j was seen by this query iff
visited[j] == stamp, so nothing is cleared between queries.
"""

import numpy as np
from numba import njit

from .distances import sq_l2_vec
from .heaps import pool_insert, pool_position


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
