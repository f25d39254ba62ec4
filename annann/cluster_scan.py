"""Numba kernels of the cluster-index query path: rank candidate clusters, scan them, keep a top-k.

All distances are squared L2 (angular data is stored unit-normalised, so squared L2 = 2 - 2 cos).
One call answers one query with no per-vector Python work; ``search_queries`` loops over a batch.
"""

import numpy as np
from numba import njit

from .selection import sort_pairs


@njit(cache=True, fastmath=True, inline="always")
def squared_distance(a, b):
    """Squared L2 distance of two float32 vectors of equal length."""
    s = np.float32(0.0)
    for j in range(a.shape[0]):
        t = a[j] - b[j]
        s += t * t
    return s


@njit(cache=True, inline="always")
def heap_push(heap_d, heap_i, size, d, i):
    """Offer (d, i) to a bounded max-heap of capacity len(heap_d) holding ``size`` items.

    Returns the new size. The root holds the worst kept distance, so a full heap rejects
    anything not closer than it in O(1).
    """
    cap = heap_d.shape[0]
    if size < cap:
        pos = size
        size += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if heap_d[parent] >= d:
                break
            heap_d[pos] = heap_d[parent]
            heap_i[pos] = heap_i[parent]
            pos = parent
        heap_d[pos] = d
        heap_i[pos] = i
        return size
    if d >= heap_d[0]:
        return size
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= cap:
            break
        child = left
        if left + 1 < cap and heap_d[left + 1] > heap_d[left]:
            child = left + 1
        if heap_d[child] <= d:
            break
        heap_d[pos] = heap_d[child]
        heap_i[pos] = heap_i[child]
        pos = child
    heap_d[pos] = d
    heap_i[pos] = i
    return size


@njit(cache=True)
def sort_heap(heap_d, heap_i, size, out_i, out_d):
    """Write the heap's items nearest first (ties by smaller id) into out_i/out_d; pad the rest.

    Sorts heap_d/heap_i[:size] in place (they are scratch once the scan is done).
    """
    sort_pairs(heap_d, heap_i, size)
    for t in range(size):
        out_i[t] = heap_i[t]
        out_d[t] = heap_d[t]
    for t in range(size, out_i.shape[0]):
        out_i[t] = -1
        out_d[t] = np.inf


@njit(cache=True)
def rank_clusters(centroids, counts, candidates, q, C, chosen):
    """Keep the C non-empty candidate clusters nearest to q (by original-space centroid).

    Writes them nearest first (ties by smaller cluster id) into ``chosen``; returns (how many,
    centroid distances computed).
    """
    heap_d = np.empty(C, dtype=np.float32)
    heap_i = np.empty(C, dtype=np.int64)
    size = 0
    comps = 0
    for t in range(candidates.shape[0]):
        c = candidates[t]
        if c < 0 or counts[c] == 0:
            continue
        comps += 1
        size = heap_push(heap_d, heap_i, size, squared_distance(centroids[c], q), c)
    sort_pairs(heap_d, heap_i, size)
    for t in range(size):
        chosen[t] = heap_i[t]
    return size, comps


@njit(cache=True, fastmath=True)
def block_distances(vectors, start, count, q, out):
    """Squared L2 from q to rows start..start+count into out[:count] (a tight, SIMD loop)."""
    d = q.shape[0]
    for r in range(count):
        acc = np.float32(0.0)
        for j in range(d):
            diff = vectors[start + r, j] - q[j]
            acc += diff * diff
        out[r] = acc


@njit(cache=True)
def scan_clusters(vectors, slot_ids, starts, counts, chosen, n_chosen, q, k, out_i, out_d):
    """Exact k nearest stored vectors to q inside the chosen clusters; returns vectors scanned.

    Per cluster: distances into a scratch block first (vectorises), then only those beating the
    current k-th best touch the heap.
    """
    heap_d = np.empty(k, dtype=np.float32)
    heap_i = np.empty(k, dtype=np.int64)
    largest = 0
    for t in range(n_chosen):
        largest = max(largest, counts[chosen[t]])
    scratch = np.empty(largest, dtype=np.float32)
    size = 0
    scanned = 0
    for t in range(n_chosen):
        c = chosen[t]
        s0 = starts[c]
        n = counts[c]
        scanned += n
        block_distances(vectors, s0, n, q, scratch)
        for r in range(n):
            if size < k or scratch[r] < heap_d[0]:
                size = heap_push(heap_d, heap_i, size, scratch[r], slot_ids[s0 + r])
    sort_heap(heap_d, heap_i, size, out_i, out_d)
    return scanned


@njit(cache=True)
def search_query(vectors, slot_ids, starts, counts, centroids, candidates, q, C, k, out_i, out_d):
    """Rank the candidate clusters, scan the C best; returns (vectors scanned, centroid comps)."""
    chosen = np.empty(C, dtype=np.int64)
    n_chosen, comps = rank_clusters(centroids, counts, candidates, q, C, chosen)
    scanned = scan_clusters(vectors, slot_ids, starts, counts, chosen, n_chosen, q, k, out_i, out_d)
    return scanned, comps


@njit(cache=True)
def search_queries(vectors, slot_ids, starts, counts, centroids, candidates, Q, C, k, out_i, out_d):
    """search_query for every row of Q (candidates (m, r*C)); returns total (scanned, comps)."""
    scanned = 0
    comps = 0
    for t in range(Q.shape[0]):
        s, c = search_query(vectors, slot_ids, starts, counts, centroids, candidates[t], Q[t], C, k,
                            out_i[t], out_d[t])
        scanned += s
        comps += c
    return scanned, comps
