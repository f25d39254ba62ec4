"""NN-descent (Dong, Charikar & Li 2011; KGraph) with the seed's LSH initialisation.

Where things happen:
* ``init_random`` / ``init_from_buckets``: the starting graph (random ids, or all pairs inside each
  variable-length LSH bucket, then random fill of rows still short of K).
* ``sample_candidates``: per node, the new and old candidate lists - forward neighbours plus reverse
  neighbours (gathered by destination first, ``reverse_edges``), each list a bounded heap keyed by
  a deterministic random priority (sampling rate rho).
  Sampled new forward neighbours are flagged old afterwards (``mark_sampled_old``), so a pair of two
  old neighbours is never evaluated again (the seed's "state flag").
* ``join_chunk``: the local join - every new-new and new-old pair of a node's candidates is a
  candidate edge; its distance is computed (with the switchable pruning of ``core.distances``)
  and kept as an update when it beats either endpoint's current K-th distance.
* ``apply_updates``: **the NN-descent update** - push each kept pair into both endpoints' heaps.
  Rows are partitioned among threads and each thread applies the updates of its own rows in buffer
  order, so results do not depend on the thread count.
* ``descent_iteration``: one iteration (sampling, joins, updates), shared with the distributed build.
* ``nn_descent``: the iteration loop; stops when updates < delta * N * K or after max_iters.

Heaps hold squared L2 distances. Distance evaluations are counted per node inside the kernels.
"""

import time

import numpy as np
from numba import njit, prange
from tqdm.auto import tqdm

from ..core.distances import (sq_l2, sq_l2_bounded, sq_l2_four, sq_l2_ip, squared_norms,
                              triangle_excludes)
from ..core.heaps import checked_heap_push, contains_id, count_filled, empty_heaps

PAIR_BUDGET = 1 << 22  # local-join pairs buffered between two update passes


@njit(cache=True)
def mix64(x):
    """splitmix64 finaliser: a well-mixed uint64 from a uint64."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True)
def random_priority(i, j, salt):
    """Deterministic pseudo-random float in [0, 1) for the pair (i, j) and a salt."""
    h = mix64(np.uint64(i) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(j) + mix64(np.uint64(salt)))
    return np.float32((h >> np.uint64(40)) * (1.0 / (1 << 24)))


@njit(cache=True, parallel=True)
def init_random(X, ids, dists, flags, seed, counts):
    """Fill every heap row up to K entries with random distinct ids (never the node itself)."""
    n, K = ids.shape
    for i in prange(n):
        attempt = 0
        while ids[i, 0] < 0 and attempt < 50 * K:  # root is an empty slot until the row is full
            j = np.int64(mix64(np.uint64(seed) * np.uint64(1000003) + np.uint64(i) * np.uint64(K * 64)
                               + np.uint64(attempt)) % np.uint64(n))
            attempt += 1
            if j == i or contains_id(ids, i, j):
                continue
            counts[i] += 1
            checked_heap_push(ids, dists, flags, i, j, sq_l2(X, i, X, j), 1)


@njit(cache=True, parallel=True)
def init_from_buckets(X, order, starts, ends, ids, dists, flags, counts):
    """All pairs inside each bucket of one table. Buckets are disjoint, so threads never collide."""
    for g in prange(starts.shape[0]):
        s = starts[g]
        e = ends[g]
        for u in range(s, e):
            a = order[u]
            for v in range(u + 1, e):
                b = order[v]
                d = sq_l2(X, a, X, b)
                counts[a] += 1
                checked_heap_push(ids, dists, flags, a, b, d, 1)
                checked_heap_push(ids, dists, flags, b, a, d, 1)


@njit(cache=True, parallel=True)
def reverse_edges(ids, payload, n_parts):
    """CSR of the reverse edges by destination: (indptr, src, value): i is in row j's range when
    j is in row i of ids (-1: empty slot), with payload[i, s] of that slot (the edge's flag or
    distance). Each thread fills the rows of its own range from a scan of every list, so a row's
    sources come in ascending order whatever the thread count."""
    n, K = ids.shape
    deg = np.zeros(n + 1, dtype=np.int64)
    for p in prange(n_parts):
        lo = p * n // n_parts
        hi = (p + 1) * n // n_parts
        for i in range(n):
            for s in range(K):
                j = ids[i, s]
                if lo <= j < hi:
                    deg[j + 1] += 1
    for j in range(n):
        deg[j + 1] += deg[j]
    fill = deg[:-1].copy()
    src = np.empty(deg[n], dtype=np.int32)
    value = np.empty(deg[n], dtype=payload.dtype)
    for p in prange(n_parts):
        lo = p * n // n_parts
        hi = (p + 1) * n // n_parts
        for i in range(n):
            for s in range(K):
                j = ids[i, s]
                if lo <= j < hi:
                    src[fill[j]] = i
                    value[fill[j]] = payload[i, s]
                    fill[j] += 1
    return deg, src, value


@njit(cache=True, parallel=True)
def sample_candidates(ids, dists, flags, salt, n_parts, new_ids, new_pr, new_d, old_ids, old_pr,
                      old_d, with_dists):
    """Build new/old candidate lists (forward + reverse neighbours), sampled by random priority.

    Per row j, in one pass over its own heaps: the new list from j's new forward neighbours and
    the nodes listing j as new (``reverse_edges``), then, only if that list is not empty, the old
    list likewise: an old list only meets new candidates in the local join, so a row without any
    would never use it. A pair's priority is a hash of the pair, the same from either end, and a
    heap keeps the lowest priorities whatever the push order, so the lists do not depend on the
    thread count. Gathering the reverse edges by destination first keeps every heap push on the
    row being built, where pushes into scattered rows were cache misses (measured faster, the
    lists unchanged: docs/design-notes.md).
    with_dists: also keep each candidate's distance in new_d / old_d (only the triangle bound
    reads it; a reverse candidate's distance is looked up in its own list); without, the id
    array doubles as the heap payload, one row fewer to touch per push.
    """
    n, K = ids.shape
    indptr, src, rev_new = reverse_edges(ids, flags, n_parts)
    for j in prange(n):
        for old in range(2):
            if old == 1 and count_filled(new_ids, j) == 0:
                break
            h_ids = old_ids if old else new_ids
            h_pr = old_pr if old else new_pr
            h_d = old_d if old else new_d
            want = 0 if old else 1
            for s in range(K):
                a = ids[j, s]
                if a >= 0 and flags[j, s] == want:
                    pr = random_priority(min(a, j), max(a, j), salt)
                    if with_dists:
                        checked_heap_push(h_ids, h_pr, h_d, j, a, pr, dists[j, s])
                    else:
                        checked_heap_push(h_ids, h_pr, h_ids, j, a, pr, a)
            for e in range(indptr[j], indptr[j + 1]):
                if rev_new[e] == want:
                    a = src[e]
                    pr = random_priority(min(a, j), max(a, j), salt)
                    if with_dists:
                        d = np.float32(np.inf)
                        for s in range(K):
                            if ids[a, s] == j:
                                d = dists[a, s]
                        checked_heap_push(h_ids, h_pr, h_d, j, a, pr, d)
                    else:
                        checked_heap_push(h_ids, h_pr, h_ids, j, a, pr, a)


@njit(cache=True, parallel=True)
def mark_sampled_old(ids, flags, new_ids):
    """Flag as old every new forward neighbour that made it into this round's new candidates."""
    n, K = ids.shape
    for i in prange(n):
        for s in range(K):
            if flags[i, s] and contains_id(new_ids, i, ids[i, s]):
                flags[i, s] = 0


@njit(cache=True, parallel=True)
def count_pairs(new_ids, old_ids, lo, hi, out):
    """Number of local-join pairs of nodes lo..hi-1 (new-new upper triangle plus new x old)."""
    for i in prange(lo, hi):
        nn = count_filled(new_ids, i)
        no = count_filled(old_ids, i)
        out[i - lo] = nn * (nn - 1) // 2 + nn * no


JOIN_BLOCK = 64  # nodes per parallel task of the local join (one gather buffer per task)
OWNER_BLOCK = 16  # rows per ownership block of the update pass (blocks alternate between threads)


@njit(cache=True)
def gather_candidates(X, sq_norms, kth, new_ids, new_d, old_ids, old_d, i, rows, cid, cd, thr,
                      norms, need_d, need_norms):
    """Copy node i's new then old candidates' rows into rows[:m]; returns (m, number new).

    Alongside: ids (cid), current K-th distances (thr) and, when a pruning switch reads them,
    distances to i (cd, need_d) and squared norms (need_norms). Gathering puts the pairs of one
    local join in a few contiguous kilobytes of cache.
    """
    m = 0
    for src in range(2):
        lst = new_ids if src == 0 else old_ids
        lst_d = new_d if src == 0 else old_d
        if src == 1:
            n_new = m
        for x in range(lst.shape[1]):
            a = lst[i, x]
            if a < 0:
                continue
            for t in range(X.shape[1]):
                rows[m, t] = X[a, t]
            cid[m] = a
            thr[m] = kth[a]
            if need_d:
                cd[m] = lst_d[i, x]
            if need_norms:
                norms[m] = sq_norms[a]
            m += 1
    return m, n_new


@njit(cache=True, fastmath=True)
def join_node(rows, m, n_new, cid, cd, thr, norms, ids, pos, up_a, up_b, up_d, abandon,
              triangle, inner_product, skip_known, dx):
    """The local join of one node over its gathered candidates (new x later new, new x old).

    For each new candidate x the distances to the later candidates go to dx first (four at a
    time through ``sq_l2_four`` when no pruning switch is on; dx = inf for a pruned pair), then
    a pair is kept as an update when it beats either endpoint's current K-th distance; an
    endpoint whose K-th distance it does not beat is stored complemented (~id, see
    ``apply_updates``). The update writes are spelled out here on purpose: moved into a helper
    taking the arrays, numba reference-counts them on every call and the join runs several
    times slower (docs/design-notes.md).
    Returns (next free update slot, distances computed).
    """
    plain = not (abandon or triangle or inner_product or skip_known)
    computed = 0
    for x in range(n_new):
        a = cid[x]
        y = x + 1
        if plain:
            while y + 4 <= m:
                dx[y], dx[y + 1], dx[y + 2], dx[y + 3] = sq_l2_four(rows, x, y, y + 1, y + 2,
                                                                    y + 3)
                y += 4
            while y < m:
                dx[y] = sq_l2(rows, x, rows, y)
                y += 1
            computed += m - x - 1
        else:
            for y in range(x + 1, m):
                b = cid[y]
                bound = max(thr[x], thr[y])
                dx[y] = np.inf
                if b == a or (skip_known and contains_id(ids, a, b) and contains_id(ids, b, a)):
                    continue
                if triangle and triangle_excludes(cd[x], cd[y], bound):
                    continue
                if inner_product:
                    dx[y] = sq_l2_ip(rows, x, y, norms)
                elif abandon:
                    dx[y] = sq_l2_bounded(rows, x, y, bound)
                else:
                    dx[y] = sq_l2(rows, x, rows, y)
                computed += 1
        tx = thr[x]
        for y in range(x + 1, m):
            d = dx[y]
            if d < tx or d < thr[y]:
                b = cid[y]
                if b != a:
                    up_a[pos] = a if d < tx else ~a
                    up_b[pos] = b if d < thr[y] else ~b
                    up_d[pos] = d
                    pos += 1
    return pos, computed


@njit(cache=True, parallel=True)
def join_chunk(X, sq_norms, ids, kth, new_ids, new_d, old_ids, old_d, lo, hi, offsets, used,
               up_a, up_b, up_d, abandon, triangle, inner_product, skip_known, counts):
    """Local joins of nodes lo..hi-1; node i writes its kept updates from offsets[i - lo] on.

    used[i - lo] receives how many it wrote. Old-old pairs never meet (the seed's state flag).
    """
    width = new_ids.shape[1] + old_ids.shape[1]
    n_blocks = (hi - lo + JOIN_BLOCK - 1) // JOIN_BLOCK
    for blk in prange(n_blocks):
        rows = np.empty((width, X.shape[1]), dtype=np.float32)
        cid = np.empty(width, dtype=np.int32)
        cd = np.empty(width, dtype=np.float32)
        thr = np.empty(width, dtype=np.float32)
        norms = np.empty(width, dtype=np.float32)
        dx = np.empty(width, dtype=np.float32)
        for i in range(lo + blk * JOIN_BLOCK, min(hi, lo + (blk + 1) * JOIN_BLOCK)):
            if count_filled(new_ids, i) == 0:
                continue  # no new candidate, no pair: skip the gather
            m, n_new = gather_candidates(X, sq_norms, kth, new_ids, new_d, old_ids, old_d, i,
                                         rows, cid, cd, thr, norms, triangle, inner_product)
            start = offsets[i - lo]
            end, computed = join_node(rows, m, n_new, cid, cd, thr, norms, ids, start, up_a,
                                      up_b, up_d, abandon, triangle, inner_product, skip_known,
                                      dx)
            used[i - lo] = end - start
            counts[i] += computed


@njit(cache=True, parallel=True)
def apply_updates(ids, dists, flags, kth, up_a, up_b, up_d, offsets, used, n_parts, changed):
    """The NN-descent update: push each kept pair (a, b, d) into heap a and heap b, as new.

    Each thread owns interleaved blocks of OWNER_BLOCK rows and applies, in buffer order, the
    updates touching them. Interleaved, not halves: one chunk's updates land on rows near the
    chunk's nodes (points are in LSH bucket order), so halves would leave one thread idle.
    An endpoint stored complemented (~a) had d >= its K-th distance when the pair was emitted;
    K-th distances only shrink, so that push would be refused and is skipped without touching
    the heap (a cache miss saved per side). Negative ids never match an owner. kth holds each
    row's K-th distance (its heap root) in 4 bytes a row, so a refused push is decided in cache
    without reading the heap row (measured faster: docs/design-notes.md); the owner keeps it
    current.
    """
    for p in prange(n_parts):
        c = 0
        for g in range(offsets.shape[0]):
            for u in range(offsets[g], offsets[g] + used[g]):
                a = up_a[u]
                b = up_b[u]
                d = up_d[u]
                if a >= 0 and (a // OWNER_BLOCK) % n_parts == p and d < kth[a]:
                    if checked_heap_push(ids, dists, flags, a, b if b >= 0 else ~b, d, 1):
                        kth[a] = dists[a, 0]
                        c += 1
                if b >= 0 and (b // OWNER_BLOCK) % n_parts == p and d < kth[b]:
                    if checked_heap_push(ids, dists, flags, b, a if a >= 0 else ~a, d, 1):
                        kth[b] = dists[b, 0]
                        c += 1
        changed[p] = c


def local_join_round(X, sq_norms, ids, dists, flags, new_ids, new_d, old_ids, old_d, n_parts,
                     abandon, triangle, inner_product, skip_known, counts):
    """One pass of local joins over all nodes, chunked to bound the update buffer; returns updates."""
    n = ids.shape[0]
    per_node = np.empty(n, dtype=np.int64)
    count_pairs(new_ids, old_ids, 0, n, per_node)
    ends = np.cumsum(per_node)
    changed = np.zeros(n_parts, dtype=np.int64)
    kth = np.ascontiguousarray(dists[:, 0])  # the K-th distances, 4 bytes a row: checks hit cache
    total_updates = 0
    lo = 0
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + PAIR_BUDGET, side="right"))
        hi = max(hi, lo + 1)
        offsets = np.concatenate([[0], ends[lo:hi - 1] - base]).astype(np.int64)
        used = np.zeros(hi - lo, dtype=np.int64)
        total = int(ends[hi - 1] - base)
        up_a = np.empty(total, dtype=np.int32)
        up_b = np.empty(total, dtype=np.int32)
        up_d = np.empty(total, dtype=np.float32)
        join_chunk(X, sq_norms, ids, kth, new_ids, new_d, old_ids, old_d, lo, hi, offsets, used,
                   up_a, up_b, up_d, abandon, triangle, inner_product, skip_known, counts)
        apply_updates(ids, dists, flags, kth, up_a, up_b, up_d, offsets, used, n_parts, changed)
        total_updates += int(changed.sum())
        lo = hi
    return total_updates


def candidate_heaps(n, capacity, with_dists):
    """(ids, priorities, distances) of n empty candidate heaps. Only the triangle bound reads the
    distances; without it they are a 1-row placeholder and the ids double as the heap payload."""
    ids = np.full((n, capacity), -1, dtype=np.int32)
    priorities = np.full((n, capacity), np.inf, dtype=np.float32)
    return ids, priorities, np.zeros((n if with_dists else 1, capacity), dtype=np.float32)


def descent_iteration(X, sq_norms, ids, dists, flags, n_candidates, salt, n_parts, counts,
                      abandon=False, triangle=False, inner_product=False, skip_known=False):
    """One NN-descent iteration on the heaps (in place): sample the new/old candidate lists, flag
    the sampled ones old, run the local joins and apply the updates; returns the update count.

    The single-machine build (``nn_descent``) and the distributed build's partitions both run it.
    """
    n = ids.shape[0]
    new_ids, new_pr, new_d = candidate_heaps(n, n_candidates, triangle)
    old_ids, old_pr, old_d = candidate_heaps(n, n_candidates, triangle)
    sample_candidates(ids, dists, flags, salt, n_parts, new_ids, new_pr, new_d, old_ids, old_pr,
                      old_d, triangle)
    mark_sampled_old(ids, flags, new_ids)
    return local_join_round(X, sq_norms, ids, dists, flags, new_ids, new_d, old_ids, old_d,
                            n_parts, abandon, triangle, inner_product, skip_known, counts)


def default_pool_size(n_neighbors):
    """Heap capacity during the build for a K-NN graph of n_neighbors: max(20, 1.25 K).

    With K = 20 a pool of 20 stalled below the graph recall the build aims at and 25 passed it
    (results/knngraph/, docs/design-notes.md).
    """
    return max(20, -(-5 * int(n_neighbors) // 4))


def unpermute_rows(ids, dists, perm):
    """Heaps built on X[perm] as heaps of X: row perm[r] gets row r with its ids mapped by perm."""
    out_ids = np.empty_like(ids)
    out_d = np.empty_like(dists)
    out_ids[perm] = np.where(ids >= 0, perm[np.maximum(ids, 0)], -1)
    out_d[perm] = dists
    return out_ids, out_d


def nn_descent(X, n_neighbors, init_tables=None, rho=1.0, delta=0.001, max_iters=30,
               max_candidates=None, abandon=False, triangle=False, inner_product=False,
               skip_known=False, n_parts=2, seed=0, callback=None, progress=False, reorder=True):
    """Build the approximate K-NN graph of X (float32, C-contiguous, rows already normalised).

    init_tables: a built ``LSHTables`` (LSH initialisation) or None (random initialisation, the
    KGraph baseline). abandon / triangle / inner_product: the distance pruning switches of
    ``core.distances``; skip_known: look each pair up in both lists before computing it (measured
    slower than computing, so off). max_candidates: new/old list size (default rho * K).
    reorder (LSH start only): work on a copy of X permuted into the first table's bucket order, so
    that near points sit near in memory and the joins' gathers and heap updates mostly hit cache
    (at 1M x 128 the rows no longer fit in cache); ids are mapped back before anything is returned.
    callback(stats) is called after init (iteration 0) and after every iteration with a dict
    holding the heaps and running counters; its own time is excluded from ``seconds``.
    Returns (ids int32 (n, K), squared distances float32 (n, K), stats), rows unsorted (heaps).
    """
    t0 = time.perf_counter()
    n = X.shape[0]
    K = n_neighbors
    C = max(1, int(round(rho * K))) if max_candidates is None else max_candidates
    perm = None
    if init_tables is not None and reorder:
        perm = init_tables.orders[0].astype(np.int64)
        X = X[perm]
    ids, dists, flags = empty_heaps(n, K)
    counts = np.zeros(n, dtype=np.int64)
    sq_norms = squared_norms(X).astype(np.float32)
    history = []
    excluded = 0.0

    def original(a, b):
        """(ids, distances) in the caller's numbering."""
        return (a, b) if perm is None else unpermute_rows(a, b, perm)

    def report(iteration, updates):
        nonlocal excluded
        stats = {"iteration": iteration, "updates": updates, "dist_evals": int(counts.sum()),
                 "seconds": time.perf_counter() - t0 - excluded}
        history.append(stats)
        if callback is not None:
            c0 = time.perf_counter()
            snap_ids, snap_d = original(ids, dists)
            callback(dict(stats, ids=snap_ids, sq_dists=snap_d))
            excluded += time.perf_counter() - c0

    if init_tables is not None:
        inverse = None
        if perm is not None:
            inverse = np.empty(n, dtype=np.int32)
            inverse[perm] = np.arange(n, dtype=np.int32)
        for t in range(init_tables.n_tables):
            order, starts, ends = init_tables.buckets(t)
            if inverse is not None:
                order = inverse[order]
            init_from_buckets(X, order, starts, ends, ids, dists, flags, counts)
    init_random(X, ids, dists, flags, seed, counts)
    report(0, n * K)
    threshold = delta * n * K
    bar = tqdm(total=max_iters, desc="nn-descent", disable=not progress, unit="iter")
    for it in range(1, max_iters + 1):
        updates = descent_iteration(X, sq_norms, ids, dists, flags, C, seed * 1000 + it, n_parts,
                                    counts, abandon, triangle, inner_product, skip_known)
        bar.update(1)
        report(it, updates)
        if updates <= threshold:
            break
    bar.close()
    ids, dists = original(ids, dists)
    return ids, dists, {"history": history, "dist_evals": int(counts.sum()),
                        "iterations": history[-1]["iteration"], "seconds": history[-1]["seconds"]}
