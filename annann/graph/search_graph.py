"""The search graph: from a K-NN graph to the graph that beam search walks.

``prepare_search_graph``, in the spirit of pynndescent's / NSG's pruning:
1. candidates of node i = its K-NN list plus its reverse neighbours (nodes listing i), nearest
   first;
2. diversify: keep candidate c only if no already-kept neighbour k is closer to c than i is
   (``alpha`` * d(k, c) <= d(i, c) discards c; alpha > 1 keeps more edges), up to ``max_degree``;
3. add the reverse edges of the diversified graph where a node still has room, so that pruning
   does not cut nodes off;
4. with ``fill``, top every list up to ``max_degree`` with the nearest candidates that pruning
   dropped: the coded walk scores a whole block of neighbour codes at once, so an empty slot
   saves nothing and a filled one is one more way forward.
"""

import numba
import numpy as np
from numba import njit, prange

from ..core.distances import sq_l2
from ..core.heaps import sort_pairs
from .nndescent import reverse_edges


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


@njit(cache=True, parallel=True)
def fill_lists(ids, out, deg):
    """Top each list up to its width with the node's K-NN neighbours it lacks, nearest first."""
    n, R = out.shape
    for i in prange(n):
        for s in range(ids.shape[1]):
            if deg[i] >= R:
                break
            j = ids[i, s]
            if j < 0 or j == i:
                continue
            present = False
            for u in range(deg[i]):
                if out[i, u] == j:
                    present = True
                    break
            if not present:
                out[i, deg[i]] = j
                deg[i] += 1


def prepare_search_graph(X, ids, sq_dists, max_degree=32, alpha=1.0, max_reverse=None,
                         fill=False):
    """Search graph (neighbours (n, max_degree) int32 padded with -1, degrees int32) from a
    K-NN graph (ids nearest first)."""
    n, K = ids.shape
    max_reverse = K if max_reverse is None else max_reverse
    indptr, rev, rev_d = reverse_edges(ids, sq_dists, numba.get_num_threads())
    out = np.full((n, max_degree), -1, dtype=np.int32)
    deg = np.zeros(n, dtype=np.int32)
    diversify(X, ids, sq_dists, indptr, rev, rev_d, max_reverse, max_degree,
              np.float32(alpha * alpha), out, deg)
    add_reverse_edges(out, deg)
    if fill:
        fill_lists(ids, out, deg)
    return out, deg
