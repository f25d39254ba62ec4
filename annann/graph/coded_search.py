"""The graph walk on codes: each node's block holds its own row and its neighbours' RaBitQ codes,
coded against the node itself, so expanding a node is one contiguous read.

Each node owns one row of a (n, words) uint64 buffer (``block_layout``; a whole number of cache
lines, in the graph's storage order, degree R fixed), read through float32 / int32 / uint64 views:
* the node's rotated, zero-padded row, P float32 (``core.rotation``: distances are those of the
  original rows);
* per neighbour, three float32 factors: ``offset`` (|r|^2 + rescale * (sum(p') - 2 <bits, p'>)),
  ``rescale`` and ``error`` of ``core.rabitq``, where r = o' - p' is the neighbour's residual
  from the node p (R of each, factor-major);
* the R neighbour ids, int32, -1 after the last;
* the R codes, W words each, word-major (word w of neighbour s at w * R + s), so the popcounts
  of the R neighbours vectorise (``core.rabitq.ip_neighbours``).

Because <bits, q' - p'> = <bits, q'> - <bits, p'> and the second term is stored (folded into
``offset``), the query is rotated and quantised once per query, not once per node: expanding p
costs one exact distance |q' - p'|^2 (p's own row, read anyway) plus 4-bit popcounts over the R
codes, and the estimate of neighbour o is

    offset + |q' - p'|^2 + rescale * (2 <bits, q'> - sum(q')).

The walk (``coded_beam_search``, the SymphonyQG scheme: Gou et al., SIGMOD 2025; the idea, not
their code): candidates enter the beam by their estimated distance (minus ``margin`` times the
estimate's error bound), are expanded nearest estimate first, and every expanded node's exact
distance goes to the k best. The walk stops when the nearest unexpanded candidate is farther than
the beam's worst estimate. Only expanded nodes are answers, so the k best are exact distances.
"""

import numpy as np
from numba import njit, prange

from ..core.distances import sq_l2_vec_at
from ..core.graph_search import clear_marks, is_marked, mark
from ..core.heaps import heap_push, sort_pairs
from ..core.prefetch import prefetch_span
from ..core.rabitq import ERROR, FACTORS, RESCALE, encode_residual, ip_neighbours, quantize_query
from ..core.rotation import rotate_into

OFFSET = 0  # the folded additive factor of a neighbour (in the ADD slot of core.rabitq)


def block_layout(padded, degree):
    """Word offsets of one node's block (see the module docstring) and its size in 64-bit words:
    (row, factors, ids, codes, words), the first three in float32 / int32 units (2 per word)."""
    row = 0
    factors = row + padded                      # float32 units
    ids = factors + FACTORS * degree            # int32 units
    codes_units = ids + degree                  # 32-bit units so far
    codes_units += codes_units % 2              # align the codes to a 64-bit word
    codes = codes_units // 2                    # uint64 units
    words = codes + padded // 64 * degree
    words = -(-words // 8) * 8                  # whole cache lines per block
    return row, factors, ids, codes, words


@njit(cache=True, parallel=True, fastmath=True)
def encode_blocks(rows, neighbors, degrees, R, f32, i32, u64, layout):
    """Fill each node's block (see the module docstring) from the rotated rows and the search
    graph: the first min(degree, R) neighbours of each node, coded against the node. f32 / i32
    / u64 are float32 / int32 / uint64 views of one (n, words) buffer; layout from
    ``block_layout``."""
    n, P = rows.shape
    W = P // 64
    o_row, o_fac, o_ids, o_codes = layout[0], layout[1], layout[2], layout[3]
    for p in prange(n):
        r = np.empty(P, dtype=np.float32)
        code = np.empty((W, 1), dtype=np.uint64)
        fac = np.empty((FACTORS, 1), dtype=np.float32)
        psum = 0.0
        for i in range(P):
            f32[p, o_row + i] = rows[p, i]
            psum += rows[p, i]
        m = min(degrees[p], R)
        for s in range(R):
            if s >= m:
                i32[p, o_ids + s] = -1
                for w in range(W):
                    u64[p, o_codes + w * R + s] = 0
                f32[p, o_fac + OFFSET * R + s] = np.inf
                f32[p, o_fac + RESCALE * R + s] = 0.0
                f32[p, o_fac + ERROR * R + s] = 0.0
                continue
            o = neighbors[p, s]
            i32[p, o_ids + s] = o
            for i in range(P):
                r[i] = rows[o, i] - rows[p, i]
            encode_residual(r, code, fac, 0)
            for w in range(W):
                u64[p, o_codes + w * R + s] = code[w, 0]
            ip_p = np.float32(0.0)  # <bits, p'>: the coordinates where the residual is positive
            for i in range(P):
                ip_p += rows[p, i] if r[i] > 0 else np.float32(0.0)
            f32[p, o_fac + OFFSET * R + s] = fac[0, 0] + fac[RESCALE, 0] * (psum - 2.0 * ip_p)
            f32[p, o_fac + RESCALE * R + s] = fac[RESCALE, 0]
            f32[p, o_fac + ERROR * R + s] = fac[ERROR, 0]


@njit(cache=True, inline="always")
def pool_entry(d, j):
    """One int64 beam entry: the float32 bits of d (clipped at 0, so that they order as
    integers) above node j, the lowest bit left for the expanded flag. Entries sort by (d, j),
    and one array moves on an insertion where three did (a large share of a walk's time:
    docs/design-notes.md)."""
    return (np.int64(np.float32(max(d, np.float32(0.0))).view(np.int32)) << 32) | \
        (np.int64(j) << 1)


@njit(cache=True, inline="always")
def entry_node(e):
    """The node of a beam entry."""
    return (e & np.int64(0xFFFFFFFF)) >> 1


@njit(cache=True, inline="always")
def entry_distance(e):
    """The distance of a beam entry."""
    return np.int32(e >> 32).view(np.float32)


@njit(cache=True, inline="always")
def beam_insert(pool, size, cap, e):
    """Insert entry e into the sorted beam pool[:size] of at most cap entries; returns (new
    size, its position, or cap when it does not make the beam)."""
    if size == cap and e >= pool[size - 1]:
        return size, cap
    lo = 0
    hi = size
    while lo < hi:
        mid = (lo + hi) >> 1
        if pool[mid] < e:
            lo = mid + 1
        else:
            hi = mid
    for t in range(size if size < cap else size - 1, lo, -1):
        pool[t] = pool[t - 1]
    pool[lo] = e
    return min(size + 1, cap), lo


@njit(cache=True, fastmath=True)
def coded_beam_search(q_rot, f32, i32, u64, layout, R, entries, n_entries, k, beam, margin,
                      planes, delta, low, qsum, bits, touched, exclude):
    """Best-first search on codes from entries[:n_entries] (distinct, marked or not); returns
    (ids int64 (<=k,), exact squared distances, nodes expanded, the nearest entry's squared
    distance). Node ``exclude`` is walked through but never answered (-1: none). On return
    every bit it or the caller set is clear again.

    The beam is a sorted array of L = max(beam, k) entries (``pool_entry``), as hnswlib's and
    SymphonyQG's buffers are: the next node to expand is the first unexpanded entry, found from
    a cursor that an insertion ahead of it moves back. The block of the next node is prefetched
    when it is chosen, and the block of a neighbour inserted at or next to the cursor when it
    is inserted (it is expanded soon): the walk waits on memory for most of its time otherwise.
    """
    o_row, o_fac, o_ids, o_codes, words = layout[0], layout[1], layout[2], layout[3], layout[4]
    L = max(beam, k)
    pool = np.empty(L + 1, dtype=np.int64)
    best_i = np.full((1, k), -1, dtype=np.int64)  # the k best, exact: max-heap
    best_d = np.full((1, k), np.inf, dtype=np.float32)
    acc = np.empty(R, dtype=np.int64)
    ones = np.empty(R, dtype=np.int64)
    lower = np.empty(R, dtype=np.float32)
    est = np.empty(R, dtype=np.float32)
    size = 0
    n_touched = 0
    overflow = False
    expanded = 0
    two = np.float32(2.0)
    nearest_entry = np.float32(np.inf)
    for e in range(n_entries):
        j = entries[e]
        mark(bits, j)
        d = sq_l2_vec_at(q_rot, f32, j, o_row)
        if j != exclude:
            nearest_entry = min(nearest_entry, d)
        size, _ = beam_insert(pool, size, L, pool_entry(d, j))
    cursor = 0
    while cursor < size:
        node = entry_node(pool[cursor])
        pool[cursor] |= 1
        nxt = cursor + 1
        while nxt < size and (pool[nxt] & 1):
            nxt += 1
        if nxt < size:  # the likely next block loads while this one is worked on
            prefetch_span(u64, entry_node(pool[nxt]), 0, words)
        cursor = nxt
        d = sq_l2_vec_at(q_rot, f32, node, o_row)
        expanded += 1
        if node != exclude:
            heap_push(best_i, best_d, best_i, 0, node, d, node)
        qn = np.sqrt(d)
        ip_neighbours(u64, node, o_codes, R, planes, acc, ones)
        f_off = np.uint64(o_fac + OFFSET * R)
        f_res = np.uint64(o_fac + RESCALE * R)
        f_err = np.uint64(o_fac + ERROR * R)
        for s in range(R):  # every estimate and its lower bound at once (vectorises)
            u = np.uint64(s)
            v = f32[node, f_off + u] + d + f32[node, f_res + u] * (
                two * (delta * np.float32(acc[s]) + low * np.float32(ones[s])) - qsum)
            est[s] = v
            lower[s] = v - margin * f32[node, f_err + u] * qn
        worst = entry_distance(pool[L - 1]) if size == L else np.float32(np.inf)
        for s in range(R):
            j = i32[node, o_ids + s]
            if j < 0:
                break
            if lower[s] >= worst or is_marked(bits, j):
                continue
            mark(bits, j)
            if n_touched < touched.shape[0]:
                touched[n_touched] = j
                n_touched += 1
            else:
                overflow = True
            size, pos = beam_insert(pool, size, L, pool_entry(est[s], j))
            if pos <= cursor:  # expanded next or soon: load its block now
                prefetch_span(u64, j, 0, words)
                cursor = pos
            if size == L:
                worst = entry_distance(pool[L - 1])
    if overflow:
        bits[:] = 0
    else:
        clear_marks(bits, entries, n_entries)
        clear_marks(bits, touched, n_touched)
    sort_pairs(best_d[0], best_i[0], k)
    m = 0
    while m < k and best_i[0, m] >= 0:
        m += 1
    return best_i[0, :m].copy(), best_d[0, :m].copy(), expanded, nearest_entry


N_FEATURES = 6


@njit(cache=True)
def walk_features(d, expanded, first_beam, nearest_entry, n_entries, out):
    """The features learned termination predicts a walk's beam from, after a first walk with
    beam ``first_beam`` found squared distances d (sorted): the spread of what it found (k-th
    and middle over nearest), the nearest distance's logarithm, how much of the beam it
    expanded, how far the entry points were, and how many there were."""
    m = d.shape[0]
    if m == 0:
        out[:] = 0.0
        return
    d1 = np.sqrt(max(d[0], np.float32(1e-30)))
    out[0] = np.sqrt(d[m - 1]) / d1
    out[1] = np.sqrt(d[m // 2]) / d1
    out[2] = np.log(d1)
    out[3] = expanded / first_beam
    out[4] = np.sqrt(nearest_entry) / d1 if np.isfinite(nearest_entry) else np.float32(1e3)
    out[5] = n_entries


@njit(cache=True)
def prepare_coded_query(v, signs, block, q_rot, planes):
    """Rotate the (checked, normalised) query v into q_rot and quantise it into planes; returns
    (delta, low, sum of q_rot)."""
    rotate_into(v, signs, block, q_rot)
    delta, low, qsum, _, _ = quantize_query(q_rot, planes)
    return delta, low, qsum
