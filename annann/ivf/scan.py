"""Numba kernels of the cluster-index query path: route to candidate clusters, rank them, scan
them, keep a top-k.

All distances are squared L2 (angular data is stored unit-normalised, so squared L2 = 2 - 2 cos),
computed by the shared kernels of ``core.distances``; the top-k is a ``core.heaps`` row heap.
``search_query`` answers one query in one call (routing through the centroid HNSW of
``centroid_graph`` included); ``search_queries`` loops over a batch.

Two scans: ``scan_clusters`` reads every member row in full (exact); ``scan_coded_clusters``
reads the members' RaBitQ codes (``core.rabitq``: 1 bit per rotated coordinate, coded against a
fixed centre of the cluster), estimates every distance with its error bound, and computes the
exact distance, from the row, only for members whose lower bound (estimate - margin * error)
beats the current k-th best. Those rows are prefetched together before the first is read, so
their memory latencies overlap; the next cluster's codes and factors are prefetched while one
cluster is scanned (short runs that the hardware prefetcher does not pick up on its own; measured
faster: docs/design-notes.md). The first cluster seeds the top-k with the k members of smallest
estimate, so the bound has a threshold to work against from the start.
"""

import numpy as np
from numba import njit

from ..core.distances import convert_distances, sq_l2_block, sq_l2_vec
from ..core.heaps import heap_push, min_heap_pop, min_heapify, sort_pairs
from ..core.prefetch import prefetch_row, prefetch_span
from ..core.rabitq import ERROR, OFFSET, QUERY_BITS, RESCALE, estimate_distance, ip_columns, \
    quantize_query
from ..core.rotation import rotate_into
from ..core.trees import predict_trees
from .centroid_graph import EXACT, MIN_EF, route

PREFETCH = 8  # heap entries whose rows are requested ahead of the exact distance computed


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
def rank_clusters(centroids, counts, candidates, q, C, chosen, chosen_d):
    """Keep the C non-empty candidate clusters nearest to q (by original-space centroid).

    Writes them nearest first (ties by smaller cluster id) into ``chosen`` and their squared
    centroid distances into ``chosen_d``; returns (how many, centroid distances computed).
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
            chosen_d[size] = keys[0, t]
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
    n_chosen, comps = rank_clusters(centroids, counts, cand, q, C, chosen,
                                    np.empty(C, dtype=np.float32))
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


@njit(cache=True, fastmath=True, inline="always")
def estimate_members(codes, factors, centres_rot, c, s0, n, q_rot, planes, delta, low, qsum,
                     acc, ones, est, lower, margin):
    """Estimated distances (est) and their lower bounds (est - margin * error) of the n members
    of cluster c, stored from row s0, for the rotated query q_rot quantised once into planes
    (the centre's part is folded into the factors: ``core.rabitq.encode_against``)."""
    qn2 = np.float32(0.0)
    for i in range(q_rot.shape[0]):
        t = q_rot[i] - centres_rot[c, i]
        qn2 += t * t
    qn = np.sqrt(qn2)
    ip_columns(codes, s0, n, planes, acc, ones)
    u0 = np.uint64(s0)  # unsigned offsets: the loop vectorises (see core.rabitq)
    for r in range(n):
        u = u0 + np.uint64(r)
        e = estimate_distance(acc[r], ones[r], factors[OFFSET, u], factors[RESCALE, u], delta,
                              low, qsum, qn2)
        est[r] = e
        err = factors[ERROR, u]  # 0 for a member at its centre: exact, even with margin inf
        lower[r] = e - margin * err * qn if err > 0 else e


@njit(cache=True, fastmath=True)
def scan_codes(starts, counts, slot_ids, codes, factors, centres_rot, chosen, t0, t1, skip,
               n_skip, q_rot, query, margin, exclude, scratch, cand_lb, cand_row, m, up_i, up_d):
    """Pass 1 over chosen[t0:t1] (clusters in skip[:n_skip] left out): estimate every member,
    keep (lower bound, row) of those whose lower bound beats the k-th smallest upper bound so far
    (up_i / up_d, a max-heap), the row of id ``exclude`` never. Returns (cand_lb, cand_row, kept
    so far, scanned): the two arrays are replaced by larger ones when they fill up. query:
    (planes, delta, low, sum) of the rotated query quantised once (``core.rabitq``)."""
    acc, ones, est, lower = scratch
    planes, delta, low, qsum = query
    scanned = 0
    for t in range(t0, t1):
        c = chosen[t]
        done = False
        for u in range(n_skip):
            done = done or skip[u] == c
        if done:
            continue
        s0 = starts[c]
        n = counts[c]
        scanned += n
        if t + 1 < t1:  # the next cluster's codes and factors load while this one runs
            nxt = chosen[t + 1]
            for w in range(codes.shape[0]):
                prefetch_span(codes, w, starts[nxt], counts[nxt])
            for f in range(factors.shape[0]):
                prefetch_span(factors, f, starts[nxt], counts[nxt])
        estimate_members(codes, factors, centres_rot, c, s0, n, q_rot, planes, delta, low, qsum,
                         acc, ones, est, lower, margin)
        if m + n > cand_lb.shape[0]:
            grown = max(2 * cand_lb.shape[0], m + n)
            lb2 = np.empty(grown, dtype=np.float32)
            row2 = np.empty(grown, dtype=np.int64)
            lb2[:m] = cand_lb[:m]
            row2[:m] = cand_row[:m]
            cand_lb, cand_row = lb2, row2
        bound = up_d[0, 0]
        for r in range(n):
            if lower[r] < bound and slot_ids[s0 + r] != exclude:
                cand_lb[m] = lower[r]
                cand_row[m] = s0 + r
                m += 1
                upper = est[r] + (est[r] - lower[r])
                if upper < bound:
                    heap_push(up_i, up_d, up_i, 0, s0 + r, upper, s0 + r)
                    bound = up_d[0, 0]
    return cand_lb, cand_row, m, scanned


@njit(cache=True, fastmath=True)
def rerank_kept(vectors, slot_ids, q, cand_lb, cand_row, m, bound, k, out_i, out_d):
    """Pass 2: exact distances of the kept rows whose lower bound is below ``bound``, nearest
    lower bound first (popped from a min-heap built in linear time: a pass stops after a few of
    them, so sorting them all would cost more than the distances), the rows next in line
    prefetched; stops at the first lower bound beyond the k-th exact distance. Returns (found,
    exact distances computed)."""
    ids = np.full((1, k), -1, dtype=np.int64)
    keys = np.full((1, k), np.inf, dtype=np.float32)
    keep = 0
    for j in range(m):  # what the final bound already excludes
        if cand_lb[j] < bound:
            cand_lb[keep] = cand_lb[j]
            cand_row[keep] = cand_row[j]
            keep += 1
    min_heapify(cand_lb, cand_row, keep)
    exact = 0
    size = keep
    while size > 0 and cand_lb[0] < keys[0, 0]:
        for j in range(1, min(PREFETCH, size)):  # the heap's top levels: next in line
            prefetch_row(vectors, cand_row[j])
        row, size = min_heap_pop(cand_lb, cand_row, size)
        d = sq_l2_vec(q, vectors, row)
        exact += 1
        if d < keys[0, 0]:
            heap_push(ids, keys, ids, 0, slot_ids[row], d, slot_ids[row])
    return sorted_heap(ids, keys, out_i, out_d), exact


@njit(cache=True)
def stop_features(chosen_d, n_chosen, first, kth_upper, out):
    """The features learned termination predicts from, after the first clusters' codes: the
    distances to the centroids of ranks 1, first, 2 first and 4 first, the k-th smallest upper
    bound so far, relative to the nearest centroid's (scale-free), and the logarithm of that
    distance."""
    d0 = np.sqrt(max(chosen_d[0], np.float32(1e-30)))
    last = max(n_chosen - 1, 0)
    out[0] = np.sqrt(chosen_d[min(1, last)]) / d0
    out[1] = np.sqrt(chosen_d[min(first, last)]) / d0
    out[2] = np.sqrt(chosen_d[min(2 * first, last)]) / d0
    out[3] = np.sqrt(chosen_d[min(4 * first, last)]) / d0
    kth = np.sqrt(max(kth_upper, np.float32(0.0))) if np.isfinite(kth_upper) else np.float32(1e30)
    out[4] = kth / d0
    out[5] = kth / np.sqrt(max(chosen_d[min(first, last)], np.float32(1e-30)))
    out[6] = np.log(d0)
    out[7] = n_chosen


N_FEATURES = 8


@njit(cache=True)
def clusters_for(pred, shift, first, cap):
    """Clusters to scan for a predicted log2 count (plus the target's shift), in [first, cap]."""
    return min(max(int(np.ceil(2.0 ** (pred + shift))), first), cap)


@njit(cache=True)
def search_query_coded(vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                       centres_rot, signs, block, z, q, C, k, margin, r, first, trees, base, shift,
                       exclude, features, centres, bottom, bottom_degrees, upper, upper_degrees,
                       upper_start, entry, top_level, exact_route, bits, touched, q_rot, out_i,
                       out_d):
    """One query on the coded scan (see the module docstring): route z to C * r centres, keep
    the C whose centroids are nearest to q, rotate q once, pass 1 over their codes, pass 2 over
    the rows kept. With a termination model (``trees`` non-empty; ``core.trees``): route to
    first * 4 * r centres only, pass 1 over the first ``first`` clusters, predict from the
    features (written to ``features``) how many clusters this query needs, route again if it
    needs more than were routed, and continue pass 1 up to that many (at most C). Rows of id
    ``exclude`` are never answered (training on the data's own rows). Returns (found, codes
    scanned, exact distances, centroid distance computations, clusters scanned)."""
    adaptive = trees[0].shape[0] > 0
    # adaptive: route as many as one beam of MIN_EF gives for the price of fewer (and the 4 first
    # the features look at); a query predicted to need more is routed again
    n_route = min(C, max(4 * first, MIN_EF // r)) if adaptive else C
    n_centres = centres.shape[0]
    want = min(n_route * r, n_centres)
    cand, _, comps = route(z, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
                           entry, top_level, want, EXACT if exact_route else max(want, MIN_EF),
                           bits, touched)
    chosen = np.empty(C, dtype=np.int64)
    chosen_d = np.empty(C, dtype=np.float32)
    n_chosen, c2 = rank_clusters(centroids, counts, cand, q, n_route, chosen, chosen_d)
    comps += c2
    rotate_into(q, signs, block, q_rot)
    planes = np.empty((QUERY_BITS, codes.shape[0]), np.uint64)
    delta, low, qsum, _, _ = quantize_query(q_rot, planes)
    query = (planes, delta, low, qsum)
    largest = max(largest, 1)  # the largest cluster: scratch for any of them
    scratch = (np.empty(largest, np.int64), np.empty(largest, np.int64),
               np.empty(largest, np.float32), np.empty(largest, np.float32))
    room = 0
    for t in range(n_chosen):
        room += counts[chosen[t]]
    cand_lb = np.empty(max(room, 1), dtype=np.float32)
    cand_row = np.empty(max(room, 1), dtype=np.int64)
    up_i = np.full((1, k), -1, dtype=np.int64)
    up_d = np.full((1, k), np.inf, dtype=np.float32)
    none = np.empty(0, dtype=np.int64)
    if not adaptive:
        cand_lb, cand_row, m, scanned = scan_codes(
            starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, n_chosen, none, 0,
            q_rot, query, margin, exclude, scratch, cand_lb, cand_row, 0, up_i, up_d)
        used = n_chosen
    else:
        f = min(first, n_chosen)
        cand_lb, cand_row, m, scanned = scan_codes(
            starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, f, none, 0, q_rot,
            query, margin, exclude, scratch, cand_lb, cand_row, 0, up_i, up_d)
        stop_features(chosen_d, n_chosen, first, up_d[0, 0], features)
        used = clusters_for(predict_trees(features, trees[0], trees[1], trees[2], trees[3],
                                          trees[4], base), shift, f, C)
        if used > n_chosen and n_chosen == n_route:  # needs more than were routed: route again
            done = chosen[:f].copy()
            want = min(used * r, n_centres)
            cand, _, c1 = route(z, centres, bottom, bottom_degrees, upper, upper_degrees,
                                upper_start, entry, top_level, want,
                                EXACT if exact_route else max(want, MIN_EF), bits, touched)
            n_chosen, c2 = rank_clusters(centroids, counts, cand, q, used, chosen, chosen_d)
            comps += c1 + c2
            cand_lb, cand_row, m, s2 = scan_codes(
                starts, counts, slot_ids, codes, factors, centres_rot, chosen, 0, n_chosen, done,
                f, q_rot, query, margin, exclude, scratch, cand_lb, cand_row, m, up_i, up_d)
        else:
            cand_lb, cand_row, m, s2 = scan_codes(
                starts, counts, slot_ids, codes, factors, centres_rot, chosen, f,
                min(used, n_chosen), none, 0, q_rot, query, margin, exclude, scratch, cand_lb, cand_row,
                m, up_i, up_d)
        scanned += s2
        used = min(used, n_chosen)
    found, exact = rerank_kept(vectors, slot_ids, q, cand_lb, cand_row, m, up_d[0, 0], k, out_i,
                               out_d)
    return found, scanned, exact, comps, used


@njit(cache=True)
def search_one_coded(vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                     centres_rot, signs, block, z, q, C, k, margin, r, first, trees, base, shift,
                     features, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
                     entry, top_level, exact_route, bits, touched, q_rot, angular, out_i, out_d):
    """search_query_coded for one query of the public search: found is -1 for a query holding
    NaN or inf (the caller raises, naming it), and the distances come back in the metric (L2,
    or 1 - cosine on unit rows), as ``core.distances.convert_distances`` makes them."""
    for i in range(q.shape[0]):  # no fastmath here: it would drop the check
        if not np.isfinite(q[i]) or not np.isfinite(z[i % z.shape[0]]):
            return -1, 0, 0, 0, 0
    found, scanned, exact, comps, used = search_query_coded(
        vectors, slot_ids, starts, counts, largest, centroids, codes, factors, centres_rot, signs,
        block, z, q, C, k, margin, r, first, trees, base, shift, -1, features, centres, bottom,
        bottom_degrees, upper, upper_degrees, upper_start, entry, top_level, exact_route, bits,
        touched, q_rot, out_i, out_d)
    convert_distances(out_d[:found], angular)
    return found, scanned, exact, comps, used


@njit(cache=True)
def search_queries_coded(vectors, slot_ids, starts, counts, largest, centroids, codes, factors,
                         centres_rot, signs, block, Z, Q, C, k, margin, r, first, trees, base,
                         shift, exclude, features, centres, bottom, bottom_degrees, upper,
                         upper_degrees, upper_start, entry, top_level, exact_route, bits,
                         touched, q_rot, out_i, out_d):
    """search_query_coded for every row of Q (routing rows Z; exclude[t] for query t, features
    (m, N_FEATURES) of each); returns totals (scanned, exact, comps, clusters)."""
    scanned = 0
    exact = 0
    comps = 0
    clusters = 0
    for t in range(Q.shape[0]):
        _, s, e, c, u = search_query_coded(
            vectors, slot_ids, starts, counts, largest, centroids, codes, factors, centres_rot,
            signs, block, Z[t], Q[t], C, k, margin, r, first, trees, base, shift, exclude[t],
            features[t], centres, bottom, bottom_degrees, upper, upper_degrees, upper_start,
            entry, top_level, exact_route, bits, touched, q_rot, out_i[t], out_d[t])
        scanned += s
        exact += e
        comps += c
        clusters += u
    return scanned, exact, comps, clusters
