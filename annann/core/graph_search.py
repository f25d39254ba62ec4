"""Best-first beam search over a graph stored as an adjacency array, the walk both engines use:
the K-NN graph's search (``graph.beam_search``) and the IVF's routing over the HNSW of its
centroids (``ivf.centroid_graph``, on HNSW's bottom layer).

The beam (the ``beam`` best nodes seen) and the k best are bounded max-heaps, the nodes still to
expand a min-heap (``core.heaps``), as in hnswlib: expand the nearest unexpanded node, push its
unvisited neighbours that beat the beam's worst, stop when the nearest unexpanded node is farther
than the beam's worst, or, with ``scale`` < inf, farther than ``scale`` times the k-th best
distance (pynndescent's epsilon rule, scale = (1 + epsilon)^2 on squared distances): an easy
query stops early, a hard one uses the whole beam. Heaps cost O(log beam) per node where the
sorted pool they replace shifted O(beam) entries, which dominated at beams of 256 and more.
Every distance computed is offered to the k best, so a beam smaller than k is allowed: the walk
stops sooner and still returns k nodes (beams below k measured reaching a recall at fewer
distances than a beam of k).

Distances are computed four rows at a time (``sq_l2_vec_four``): the four rows stream through
the cache side by side, four memory reads in flight where one row at a time keeps one (eight at
a time measured no better).

Visited marks are one bit per node (``visited_set``): n / 8 bytes, which stay in cache for a
million nodes where an 8-byte stamp per node did not. The walk records what it marks and clears
exactly those bits before it returns, so the set is clean for the next query with no per-query
memset. The rows of a node's unvisited neighbours are prefetched before the first of their
distances is computed, and the neighbour list of the next node to expand while this one is
worked on (``core.prefetch``). Each of these measured faster (docs/design-notes.md).
"""

import numpy as np
from numba import njit

from .distances import sq_l2_vec, sq_l2_vec_four
from .heaps import heap_push, min_heap_pop, min_heap_push, sort_pairs
from .prefetch import prefetch_row

TOUCHED = 1 << 16  # marks recorded per search; a walk that marks more clears the whole set


def visited_set(n, touched=TOUCHED):
    """(bits uint8 ((n + 7) // 8,), touched int64 (touched,)): an empty visited set for n nodes."""
    return np.zeros((int(n) + 7) // 8, dtype=np.uint8), np.empty(int(touched), dtype=np.int64)


@njit(cache=True, inline="always")
def is_marked(bits, j):
    """Whether node j is marked."""
    return ((bits[j >> 3] >> (j & 7)) & 1) != 0


@njit(cache=True, inline="always")
def mark(bits, j):
    """Mark node j."""
    bits[j >> 3] |= np.uint8(1 << (j & 7))


@njit(cache=True)
def clear_marks(bits, ids, count):
    """Unmark ids[:count]."""
    for t in range(count):
        bits[ids[t] >> 3] = 0


@njit(cache=True, fastmath=True, inline="always")
def push_scored(q, X, ids, count, fd, pool_i, pool_d, best_i, best_d, cand_d, cand_i, n_cand):
    """Score ids[:count] against q, four rows per pass (``sq_l2_vec_four``: four memory streams
    in flight), and push each into the beam, the k best and the candidates it enters; returns
    the new candidate count. Rows are pushed in list order, as one at a time would."""
    f = 0
    while f < count:
        if f + 4 <= count:
            fd[0], fd[1], fd[2], fd[3] = sq_l2_vec_four(q, X, ids[f], ids[f + 1], ids[f + 2],
                                                        ids[f + 3])
            step = 4
        else:
            fd[0] = sq_l2_vec(q, X, ids[f])
            step = 1
        for u in range(step):
            j = ids[f + u]
            d = fd[u]
            heap_push(best_i, best_d, best_i, 0, j, d, j)
            if heap_push(pool_i, pool_d, pool_i, 0, j, d, j):
                n_cand = min_heap_push(cand_d, cand_i, n_cand, d, j)
        f += step
    return n_cand


@njit(cache=True, fastmath=True)
def beam_search(q, X, neighbors, degrees, entries, n_entries, k, beam, scale, bits, touched):
    """Best-first search from entries[:n_entries] (distinct ids, marked or not); returns (ids
    int64 (<=k,), squared distances (<=k,), distances computed). On return every bit it or the
    caller set for the entries and the nodes it reached is clear again."""
    L = beam
    pool_i = np.full((1, L), -1, dtype=np.int64)  # the beam: max-heap with +inf free slots
    pool_d = np.full((1, L), np.inf, dtype=np.float32)
    best_i = np.full((1, k), -1, dtype=np.int64)  # the k best: max-heap
    best_d = np.full((1, k), np.inf, dtype=np.float32)
    cand_d = np.empty(n_entries + L * neighbors.shape[1], dtype=np.float32)
    cand_i = np.empty(cand_d.shape[0], dtype=np.int64)  # to expand: min-heap
    fresh = np.empty(neighbors.shape[1], dtype=np.int64)
    fd = np.empty(4, dtype=np.float32)
    n_cand = 0
    n_dist = 0
    n_touched = 0
    overflow = False
    for e in range(n_entries):
        prefetch_row(X, entries[e])
        mark(bits, entries[e])
    n_cand = push_scored(q, X, entries, n_entries, fd, pool_i, pool_d, best_i, best_d, cand_d,
                         cand_i, n_cand)
    n_dist += n_entries
    while n_cand > 0:
        d_next = cand_d[0]
        if d_next > pool_d[0, 0] or d_next > scale * best_d[0, 0]:
            break  # nothing left can enter the beam, or the epsilon rule stops the walk
        node, n_cand = min_heap_pop(cand_d, cand_i, n_cand)
        if n_cand > 0:
            prefetch_row(neighbors, cand_i[0])  # the list expanded next, read while this one runs
        n_fresh = 0
        for s in range(degrees[node]):
            j = neighbors[node, s]
            if not is_marked(bits, j):
                mark(bits, j)
                if n_touched < touched.shape[0]:
                    touched[n_touched] = j
                    n_touched += 1
                else:
                    overflow = True
                fresh[n_fresh] = j
                n_fresh += 1
                prefetch_row(X, j)
        n_cand = push_scored(q, X, fresh, n_fresh, fd, pool_i, pool_d, best_i, best_d, cand_d,
                             cand_i, n_cand)
        n_dist += n_fresh
    if overflow:
        bits[:] = 0
    else:
        clear_marks(bits, entries, n_entries)
        clear_marks(bits, touched, n_touched)
    sort_pairs(best_d[0], best_i[0], k)
    m = 0
    while m < k and best_i[0, m] >= 0:
        m += 1
    return best_i[0, :m].copy(), best_d[0, :m].copy(), n_dist
