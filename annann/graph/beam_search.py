"""Search of the K-NN graph: entry points from the query's LSH buckets, then the best-first beam
search of ``core.graph_search``. Everything per query runs inside one numba call.
"""

import numpy as np
from numba import njit

from ..core.graph_search import beam_search
from .lsh import query_candidates


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
    """Queries one after another (one thread); rows padded with -1 / inf. Returns n_dist total."""
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
