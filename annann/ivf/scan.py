"""Numba kernels of the cluster-index query path: route to candidate clusters, rank them, scan
them, keep a top-k.

All distances are squared L2 (angular data is stored unit-normalised, so squared L2 = 2 - 2 cos),
computed by the shared kernels of ``core.distances``; the top-k is a ``core.heaps`` row heap.
``search_query`` answers one query in one call (routing through the centroid HNSW of
``centroid_graph`` included); ``search_queries`` loops over a batch.
"""

import numpy as np
from numba import njit

from ..core.distances import sq_l2_block, sq_l2_vec
from ..core.heaps import heap_push, sort_pairs
from .centroid_graph import route


@njit(cache=True)
def sorted_heap(ids, keys, out_i, out_d):
    """Write row 0 of a heap nearest first (ties by smaller id) into out_i/out_d; -1 / inf pad.

    Sorts the heap row in place (it is scratch once the scan is done); returns the entries found.
    """
    size = ids.shape[1]
    sort_pairs(keys[0], ids[0], size)
    found = 0
    for t in range(size):
        out_i[t] = ids[0, t]
        out_d[t] = keys[0, t] if ids[0, t] >= 0 else np.inf
        found += ids[0, t] >= 0
    return found


@njit(cache=True)
def rank_clusters(centroids, counts, candidates, q, C, chosen):
    """Keep the C non-empty candidate clusters nearest to q (by original-space centroid).

    Writes them nearest first (ties by smaller cluster id) into ``chosen``; returns (how many,
    centroid distances computed).
    """
    ids = np.full((1, C), -1, dtype=np.int64)
    keys = np.full((1, C), np.inf, dtype=np.float32)
    comps = 0
    for t in range(candidates.shape[0]):
        c = candidates[t]
        if c < 0 or counts[c] == 0:
            continue
        comps += 1
        heap_push(ids, keys, ids, 0, c, sq_l2_vec(q, centroids, c), c)
    sort_pairs(keys[0], ids[0], C)
    size = 0
    for t in range(C):
        if ids[0, t] >= 0:
            chosen[size] = ids[0, t]
            size += 1
    return size, comps


@njit(cache=True)
def scan_clusters(vectors, slot_ids, starts, counts, chosen, n_chosen, q, k, out_i, out_d):
    """Exact k nearest stored vectors to q inside the chosen clusters; returns (found, scanned).

    Per cluster: distances into a scratch block first (vectorises), then only those beating the
    current k-th best touch the heap.
    """
    ids = np.full((1, k), -1, dtype=np.int64)
    keys = np.full((1, k), np.inf, dtype=np.float32)
    largest = 0
    for t in range(n_chosen):
        largest = max(largest, counts[chosen[t]])
    scratch = np.empty(largest, dtype=np.float32)
    scanned = 0
    for t in range(n_chosen):
        c = chosen[t]
        s0 = starts[c]
        n = counts[c]
        scanned += n
        sq_l2_block(vectors, s0, n, q, scratch)
        for r in range(n):
            if scratch[r] < keys[0, 0]:
                heap_push(ids, keys, ids, 0, slot_ids[s0 + r], scratch[r], slot_ids[s0 + r])
    return sorted_heap(ids, keys, out_i, out_d), scanned


@njit(cache=True)
def search_query(vectors, slot_ids, starts, counts, centroids, z, q, C, k, centres, bottom,
                 bottom_degrees, upper, upper_degrees, upper_start, entry, top_level, n_cand, ef,
                 bits, touched, out_i, out_d):
    """Route z (the query in the routing space) to its n_cand nearest centres, keep the C whose
    original-space centroids are nearest to q, scan them; returns (found, vectors scanned,
    centroid distance computations)."""
    cand, _, routed = route(z, centres, bottom, bottom_degrees, upper, upper_degrees,
                            upper_start, entry, top_level, n_cand, ef, bits, touched)
    chosen = np.empty(C, dtype=np.int64)
    n_chosen, comps = rank_clusters(centroids, counts, cand, q, C, chosen)
    found, scanned = scan_clusters(vectors, slot_ids, starts, counts, chosen, n_chosen, q, k,
                                   out_i, out_d)
    return found, scanned, comps + routed


@njit(cache=True)
def search_queries(vectors, slot_ids, starts, counts, centroids, Z, Q, C, k, centres, bottom,
                   bottom_degrees, upper, upper_degrees, upper_start, entry, top_level, n_cand,
                   ef, bits, touched, out_i, out_d):
    """search_query for every row of Q (routing rows Z); returns total (scanned, comps)."""
    scanned = 0
    comps = 0
    for t in range(Q.shape[0]):
        _, s, c = search_query(vectors, slot_ids, starts, counts, centroids, Z[t], Q[t], C, k,
                               centres, bottom, bottom_degrees, upper, upper_degrees,
                               upper_start, entry, top_level, n_cand, ef, bits, touched,
                               out_i[t], out_d[t])
        scanned += s
        comps += c
    return scanned, comps
