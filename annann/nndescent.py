"""NN-descent (Dong, Charikar & Li 2011; KGraph) with the seed's LSH initialisation.

Where things happen:
* ``init_random`` / ``init_from_buckets``: the starting graph (random ids, or all pairs inside each
  variable-length LSH bucket, then random fill of rows still short of K).
* ``sample_candidates``: per node, the new and old candidate lists - forward neighbours plus reverse
  neighbours, each list a bounded heap keyed by a deterministic random priority (sampling rate rho).
  Sampled new forward neighbours are flagged old afterwards (``mark_sampled_old``), so a pair of two
  old neighbours is never evaluated again (the seed's "state flag").
* ``join_chunk``: the local join - every new-new and new-old pair of a node's candidates is a
  candidate edge; its distance is computed (with the switchable pruning of ``distance_kernels``)
  and kept as an update when it beats either endpoint's current K-th distance.
* ``apply_updates``: **the NN-descent update** - push each kept pair into both endpoints' heaps.
  Rows are partitioned among threads and each thread applies the updates of its own rows in buffer
  order, so results do not depend on the thread count.
* ``nn_descent``: the iteration loop; stops when updates < delta * N * K or after max_iters.

Heaps hold squared L2 distances. Distance evaluations are counted per node inside the kernels.
"""

import time

import numpy as np
from numba import njit, prange
from tqdm.auto import tqdm

from .distance_kernels import pair_sq_l2, sq_l2, triangle_excludes
from .heaps import contains_id, count_filled, empty_heaps, heap_push

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
            heap_push(ids, dists, flags, i, j, sq_l2(X, i, X, j), 1)


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
                heap_push(ids, dists, flags, a, b, d, 1)
                heap_push(ids, dists, flags, b, a, d, 1)


@njit(cache=True, parallel=True)
def sample_candidates(ids, dists, flags, salt, n_parts, new_ids, new_pr, new_d, old_ids, old_pr,
                      old_d):
    """Build new/old candidate lists (forward + reverse neighbours), sampled by random priority."""
    n, K = ids.shape
    for p in prange(n_parts):
        lo = p * n // n_parts
        hi = (p + 1) * n // n_parts
        for i in range(n):
            for s in range(K):
                j = ids[i, s]
                if j < 0:
                    continue
                pr = random_priority(min(i, j), max(i, j), salt)
                d = dists[i, s]
                if flags[i, s]:
                    if lo <= i < hi:
                        heap_push(new_ids, new_pr, new_d, i, j, pr, d)
                    if lo <= j < hi:
                        heap_push(new_ids, new_pr, new_d, j, i, pr, d)
                else:
                    if lo <= i < hi:
                        heap_push(old_ids, old_pr, old_d, i, j, pr, d)
                    if lo <= j < hi:
                        heap_push(old_ids, old_pr, old_d, j, i, pr, d)


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


@njit(cache=True, fastmath=True, inline="always")
def evaluate_pair(X, sq_norms, ids, dists, a, b, da, db, abandon, triangle, inner_product,
                  skip_known):
    """Squared distance of (a, b) if it can improve either heap, else +inf; second value: computed?

    skip_known: first look a and b up in each other's lists (no distance if both already hold it).
    """
    if a == b:
        return np.float32(np.inf), 0
    bound = max(dists[a, 0], dists[b, 0])
    if skip_known and contains_id(ids, a, b) and contains_id(ids, b, a):
        return np.float32(np.inf), 0
    if triangle and triangle_excludes(da, db, bound):
        return np.float32(np.inf), 0
    d = pair_sq_l2(X, sq_norms, a, b, bound, abandon, inner_product)
    if d >= bound:
        return np.float32(np.inf), 1
    return d, 1


@njit(cache=True)
def join_with(X, sq_norms, ids, dists, a, da, cand_ids, cand_d, i, start, pos, up_a, up_b, up_d,
              abandon, triangle, inner_product, skip_known):
    """Pair a with candidates cand_ids[i, start:] of node i, writing update slots from pos on.

    Returns (next slot, distances computed).
    """
    computed = 0
    for y in range(start, cand_ids.shape[1]):
        b = cand_ids[i, y]
        if b < 0:
            continue
        d, c = evaluate_pair(X, sq_norms, ids, dists, a, b, da, cand_d[i, y], abandon, triangle,
                             inner_product, skip_known)
        computed += c
        up_a[pos] = a if d < np.inf else -1
        up_b[pos] = b
        up_d[pos] = d
        pos += 1
    return pos, computed


@njit(cache=True, parallel=True)
def join_chunk(X, sq_norms, ids, dists, new_ids, new_d, old_ids, old_d, lo, hi, offsets, up_a,
               up_b, up_d, abandon, triangle, inner_product, skip_known, counts):
    """Local join of nodes lo..hi-1: write one update slot per candidate pair (a = -1 if useless).

    Each new candidate meets the later new ones and every old one; old-old pairs never meet.
    """
    for i in prange(lo, hi):
        pos = offsets[i - lo]
        computed = 0
        for x in range(new_ids.shape[1]):
            a = new_ids[i, x]
            if a < 0:
                continue
            da = new_d[i, x]
            pos, c_new = join_with(X, sq_norms, ids, dists, a, da, new_ids, new_d, i, x + 1, pos,
                                   up_a, up_b, up_d, abandon, triangle, inner_product, skip_known)
            pos, c_old = join_with(X, sq_norms, ids, dists, a, da, old_ids, old_d, i, 0, pos,
                                   up_a, up_b, up_d, abandon, triangle, inner_product, skip_known)
            computed += c_new + c_old
        counts[i] += computed


@njit(cache=True, parallel=True)
def apply_updates(ids, dists, flags, up_a, up_b, up_d, total, n_parts, changed):
    """The NN-descent update: push each kept pair (a, b, d) into heap a and heap b, as new."""
    n = ids.shape[0]
    for p in prange(n_parts):
        lo = p * n // n_parts
        hi = (p + 1) * n // n_parts
        c = 0
        for u in range(total):
            a = up_a[u]
            if a < 0:
                continue
            b = up_b[u]
            if lo <= a < hi:
                c += heap_push(ids, dists, flags, a, b, up_d[u], 1)
            if lo <= b < hi:
                c += heap_push(ids, dists, flags, b, a, up_d[u], 1)
        changed[p] = c


def local_join_round(X, sq_norms, ids, dists, flags, new_ids, new_d, old_ids, old_d, n_parts,
                     abandon, triangle, inner_product, skip_known, counts):
    """One pass of local joins over all nodes, chunked to bound the update buffer; returns updates."""
    n = ids.shape[0]
    per_node = np.empty(n, dtype=np.int64)
    count_pairs(new_ids, old_ids, 0, n, per_node)
    ends = np.cumsum(per_node)
    changed = np.zeros(n_parts, dtype=np.int64)
    total_updates = 0
    lo = 0
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, base + PAIR_BUDGET, side="right"))
        hi = max(hi, lo + 1)
        offsets = np.concatenate([[0], ends[lo:hi - 1] - base]).astype(np.int64)
        total = int(ends[hi - 1] - base)
        up_a = np.empty(total, dtype=np.int32)
        up_b = np.empty(total, dtype=np.int32)
        up_d = np.empty(total, dtype=np.float32)
        join_chunk(X, sq_norms, ids, dists, new_ids, new_d, old_ids, old_d, lo, hi, offsets, up_a,
                   up_b, up_d, abandon, triangle, inner_product, skip_known, counts)
        apply_updates(ids, dists, flags, up_a, up_b, up_d, total, n_parts, changed)
        total_updates += int(changed.sum())
        lo = hi
    return total_updates


def nn_descent(X, n_neighbors, init_tables=None, rho=1.0, delta=0.001, max_iters=30,
               max_candidates=None, abandon=False, triangle=False, inner_product=False,
               skip_known=False, n_parts=2, seed=0, callback=None, progress=False):
    """Build the approximate K-NN graph of X (float32, C-contiguous, rows already normalised).

    init_tables: a built ``LSHTables`` (LSH initialisation) or None (random initialisation, the
    KGraph baseline). abandon / triangle / inner_product: the distance pruning switches of
    ``distance_kernels``; skip_known: look each pair up in both lists before computing it (measured
    slower than computing, so off). max_candidates: new/old list size (default rho * K). callback(stats) is called after init (iteration 0) and after every iteration
    with a dict holding the heaps and running counters; its own time is excluded from ``seconds``.
    Returns (ids int32 (n, K), squared distances float32 (n, K), stats), rows unsorted (heaps).
    """
    n = X.shape[0]
    K = n_neighbors
    C = max(1, int(round(rho * K))) if max_candidates is None else max_candidates
    ids, dists, flags = empty_heaps(n, K)
    counts = np.zeros(n, dtype=np.int64)
    sq_norms = np.einsum("ij,ij->i", X, X).astype(np.float32)
    history = []
    t0 = time.perf_counter()
    excluded = 0.0

    def report(iteration, updates):
        nonlocal excluded
        stats = {"iteration": iteration, "updates": updates, "dist_evals": int(counts.sum()),
                 "seconds": time.perf_counter() - t0 - excluded}
        history.append(stats)
        if callback is not None:
            c0 = time.perf_counter()
            callback(dict(stats, ids=ids, sq_dists=dists))
            excluded += time.perf_counter() - c0

    if init_tables is not None:
        for t in range(init_tables.n_tables):
            order, starts, ends = init_tables.buckets(t)
            init_from_buckets(X, order, starts, ends, ids, dists, flags, counts)
    init_random(X, ids, dists, flags, seed, counts)
    report(0, n * K)
    threshold = delta * n * K
    bar = tqdm(total=max_iters, desc="nn-descent", disable=not progress, unit="iter")
    for it in range(1, max_iters + 1):
        new_ids, new_pr, new_d = empty_heaps(n, C, np.float32)
        old_ids, old_pr, old_d = empty_heaps(n, C, np.float32)
        sample_candidates(ids, dists, flags, seed * 1000 + it, n_parts, new_ids, new_pr, new_d,
                          old_ids, old_pr, old_d)
        mark_sampled_old(ids, flags, new_ids)
        updates = local_join_round(X, sq_norms, ids, dists, flags, new_ids, new_d, old_ids, old_d,
                                   n_parts, abandon, triangle, inner_product, skip_known,
                                   counts)
        bar.update(1)
        report(it, updates)
        if updates <= threshold:
            break
    bar.close()
    return ids, dists, {"history": history, "dist_evals": int(counts.sum()),
                        "iterations": history[-1]["iteration"], "seconds": history[-1]["seconds"]}
