"""Search over a K-NN graph: graph preparation (reverse edges + diversification) and beam search.

Preparation (``prepare_search_graph``), in the spirit of pynndescent's / NSG's pruning:
1. candidates of node i = its K-NN list plus its reverse neighbours (nodes listing i), nearest first;
2. diversify: keep candidate c only if no already-kept neighbour k is closer to c than i is
   (``alpha`` * d(k, c) <= d(i, c) discards c; alpha > 1 keeps more edges), up to ``max_degree``;
3. add the reverse edges of the diversified graph where a node still has room, so that pruning
   does not cut nodes off.

Beam search (``beam_search``): a best-first search with a sorted pool of ``beam`` entries (KGraph /
NSG style): expand the nearest unexpanded entry, insert its unvisited neighbours that beat the
pool's worst, stop when every pool entry is expanded. Entry points come from the caller (the
query's LSH bucket). Everything per query runs inside one numba call.
"""

import numpy as np
from numba import njit, prange

from .distance_kernels import sq_l2, sq_l2_vec
from .lsh import query_candidates
from .selection import sort_pairs


@njit(cache=True)
def reverse_lists(ids, dists):
    """CSR (indptr, rev_ids, rev_dists) of reverse edges: j lists i whenever i lists j."""
    n, K = ids.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for s in range(K):
            j = ids[i, s]
            if j >= 0:
                indptr[j + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    rev = np.empty(indptr[n], dtype=np.int32)
    rd = np.empty(indptr[n], dtype=np.float32)
    for i in range(n):
        for s in range(K):
            j = ids[i, s]
            if j >= 0:
                rev[fill[j]] = i
                rd[fill[j]] = dists[i, s]
                fill[j] += 1
    return indptr, rev, rd


@njit(cache=True, parallel=True)
def diversify(X, ids, dists, indptr, rev, rev_d, max_reverse, max_degree, alpha_sq, out, deg):
    """Diversified neighbour lists (squared distances in dists/rev_d) written to out / deg."""
    n, K = ids.shape
    for i in prange(n):
        r0 = indptr[i]
        n_rev = indptr[i + 1] - r0
        nr = min(n_rev, max_reverse)
        # the nearest reverse edges first when capping them
        rid = rev[r0:r0 + n_rev].copy()
        rd = rev_d[r0:r0 + n_rev].copy()
        sort_pairs(rd, rid, n_rev)
        cand = np.empty(K + nr, dtype=np.int32)
        cd = np.empty(K + nr, dtype=np.float32)
        m = 0
        for s in range(K):
            if ids[i, s] >= 0 and ids[i, s] != i:
                cand[m] = ids[i, s]
                cd[m] = dists[i, s]
                m += 1
        for s in range(nr):
            j = rid[s]
            dup = j == i
            for u in range(m):
                if cand[u] == j:
                    dup = True
                    break
            if not dup:
                cand[m] = j
                cd[m] = rd[s]
                m += 1
        sort_pairs(cd, cand, m)
        kept = 0
        for s in range(m):
            c = cand[s]
            dc = cd[s]
            ok = True
            for u in range(kept):
                if alpha_sq * sq_l2(X, out[i, u], X, c) <= dc:
                    ok = False
                    break
            if ok:
                out[i, kept] = c
                kept += 1
                if kept == max_degree:
                    break
        deg[i] = kept


@njit(cache=True)
def add_reverse_edges(out, deg):
    """For each edge i -> j, add j -> i if j has room and lacks it (keeps pruned graphs connected)."""
    n, R = out.shape
    base = deg.copy()
    for i in range(n):
        for s in range(base[i]):
            j = out[i, s]
            if deg[j] >= R:
                continue
            present = False
            for u in range(deg[j]):
                if out[j, u] == i:
                    present = True
                    break
            if not present:
                out[j, deg[j]] = i
                deg[j] += 1


def prepare_search_graph(X, ids, sq_dists, max_degree=32, alpha=1.0, max_reverse=None):
    """Search graph (neighbours (n, max_degree) int32 padded with -1, degrees int32) from a K-NN graph."""
    n, K = ids.shape
    max_reverse = K if max_reverse is None else max_reverse
    indptr, rev, rev_d = reverse_lists(ids, sq_dists)
    out = np.full((n, max_degree), -1, dtype=np.int32)
    deg = np.zeros(n, dtype=np.int32)
    diversify(X, ids, sq_dists, indptr, rev, rev_d, max_reverse, max_degree,
              np.float32(alpha * alpha), out, deg)
    add_reverse_edges(out, deg)
    return out, deg


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
def pool_position(pool_d, size, d):
    """Index where distance d goes in the sorted pool (after equal entries)."""
    lo = 0
    hi = size
    while lo < hi:
        mid = (lo + hi) // 2
        if pool_d[mid] <= d:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def pool_insert(pool_id, pool_d, pool_done, size, cap, j, d):
    """Insert (j, d) into the sorted pool of at most cap entries; returns the new size."""
    pos = pool_position(pool_d, size, d)
    if pos >= cap:
        return size
    end = min(size, cap - 1)
    for u in range(end, pos, -1):
        pool_id[u] = pool_id[u - 1]
        pool_d[u] = pool_d[u - 1]
        pool_done[u] = pool_done[u - 1]
    pool_id[pos] = j
    pool_d[pos] = d
    pool_done[pos] = False
    return min(size + 1, cap)


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
    """Queries one after another (single thread); rows padded with -1 / inf. Returns n_dist total."""
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
