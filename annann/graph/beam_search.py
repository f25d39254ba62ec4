"""Search of the K-NN graph: entry points from the query's LSH buckets, then the best-first beam
search of ``core.graph_search``. Everything per query runs inside one numba call; a batch runs its
queries in parallel, each thread with its own visited set. The graph is stored in a locality order
(``graph.reorder``); ``labels`` turns its node ids back into the caller's ids.
"""

import numpy as np
from numba import njit, prange

from ..core.distances import convert_distances, prepare_query
from ..core.graph_search import beam_search
from ..core.trees import predict_trees
from .coded_search import coded_beam_search, prepare_coded_query, walk_features
from .lsh import query_candidates


@njit(cache=True)
def lsh_beam_search(q, X, neighbors, degrees, labels, directions, left, thresholds, starts, ends,
                    roots, orders, k, beam, scale, angular, bits, touched, entry_buf, q_buf):
    """One query: entry points = q's LSH buckets, then beam search (``core.graph_search``);
    returns (labels of the k best, their distances in the metric, distances computed), or
    count -1 for a query holding NaN or inf. Angular queries are unit-normalised into q_buf."""
    ok, v = prepare_query(q, angular, q_buf)
    if not ok:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), -1
    c = query_candidates(v, directions, left, thresholds, starts, ends, roots, orders, 1, bits,
                         entry_buf)
    ids, d, nd = beam_search(v, X, neighbors, degrees, entry_buf, c, k, beam, scale, bits, touched)
    for s in range(ids.shape[0]):
        ids[s] = labels[ids[s]]
    convert_distances(d, angular)
    return ids, d, nd


@njit(cache=True, parallel=True)
def lsh_beam_search_many(Q, X, neighbors, degrees, labels, directions, left, thresholds, starts,
                         ends, roots, orders, k, beam, scale, angular, bits, touched, entry_buf,
                         q_buf):
    """Every query of Q, in parallel: thread slot p uses row p of bits / touched / entry_buf /
    q_buf. Rows padded with -1 / inf. Returns (ids, distances, distances computed per query)."""
    m = Q.shape[0]
    slots = bits.shape[0]
    out_i = np.full((m, k), -1, dtype=np.int64)
    out_d = np.full((m, k), np.inf, dtype=np.float32)
    n_dist = np.zeros(m, dtype=np.int64)
    for p in prange(slots):
        for r in range(p, m, slots):
            ids, d, nd = lsh_beam_search(Q[r], X, neighbors, degrees, labels, directions, left,
                                         thresholds, starts, ends, roots, orders, k, beam, scale,
                                         angular, bits[p], touched[p], entry_buf[p], q_buf[p])
            out_i[r, :ids.shape[0]] = ids
            out_d[r, :ids.shape[0]] = d
            n_dist[r] = nd
    return out_i, out_d, n_dist


@njit(cache=True)
def lsh_coded_search(q, f32, i32, u64, layout, R, labels, signs, block, directions, left,
                     thresholds, starts, ends, roots, orders, k, beam, margin, angular, first_beam,
                     trees, base, shift, exclude, features, bits, touched, entry_buf, q_buf, q_rot,
                     planes):
    """One query on the coded graph (``coded_search``): entry points from q's LSH buckets (in
    the original space), then the walk on codes with q rotated and quantised once; returns
    (labels of the k best, their distances in the metric, nodes expanded), count -1 for a query
    holding NaN or inf.

    With a termination model (``trees`` non-empty; ``core.trees``): a first walk with beam
    ``first_beam``, then features of what it found (``coded_search.walk_features``, written to
    ``features``) predict the beam this query needs (between first_beam and ``beam``, the cap);
    when that is wider, a second walk with it starts from the first walk's answers. Node
    ``exclude`` (storage order; -1: none) is never answered (training on the indexed rows)."""
    ok, v = prepare_query(q, angular, q_buf)
    if not ok:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), -1
    c = query_candidates(v, directions, left, thresholds, starts, ends, roots, orders, 1, bits,
                         entry_buf)
    delta, low, qsum = prepare_coded_query(v, signs, block, q_rot, planes)
    adaptive = trees[0].shape[0] > 0
    found, d, expanded, near = coded_beam_search(
        q_rot, f32, i32, u64, layout, R, entry_buf, c, k, first_beam if adaptive else beam,
        margin, planes, delta, low, qsum, bits, touched, exclude)
    if adaptive:
        walk_features(d, expanded, first_beam, near, c, features)
        wide = min(max(int(np.ceil(2.0 ** (predict_trees(features, trees[0], trees[1],
                                                             trees[2], trees[3], trees[4], base)
                                            + shift))), first_beam), beam)
        if wide > first_beam and found.shape[0] > 0:
            again = found.copy()
            found, d, e2, _ = coded_beam_search(q_rot, f32, i32, u64, layout, R, again,
                                                again.shape[0], k, wide, margin, planes, delta,
                                                low, qsum, bits, touched, exclude)
            expanded += e2
    for s in range(found.shape[0]):
        found[s] = labels[found[s]]
    convert_distances(d, angular)
    return found, d, expanded


@njit(cache=True, parallel=True)
def lsh_coded_search_many(Q, f32, i32, u64, layout, R, labels, signs, block, directions, left,
                          thresholds, starts, ends, roots, orders, k, beam, margin, angular,
                          first_beam, trees, base, shift, exclude, features, bits, touched,
                          entry_buf, q_buf, q_rot, planes):
    """lsh_coded_search for every query of Q in parallel (thread slot p uses row p of the
    scratch arrays; planes is (slots, bits, words)); exclude[r] and features[r] per query. Rows
    padded with -1 / inf."""
    m = Q.shape[0]
    slots = bits.shape[0]
    out_i = np.full((m, k), -1, dtype=np.int64)
    out_d = np.full((m, k), np.inf, dtype=np.float32)
    n_exp = np.zeros(m, dtype=np.int64)
    for p in prange(slots):
        for r in range(p, m, slots):
            found, d, ne = lsh_coded_search(Q[r], f32, i32, u64, layout, R, labels, signs, block,
                                            directions, left, thresholds, starts, ends, roots,
                                            orders, k, beam, margin, angular, first_beam, trees,
                                            base, shift, exclude[r], features[r], bits[p],
                                            touched[p], entry_buf[p], q_buf[p], q_rot[p],
                                            planes[p])
            out_i[r, :found.shape[0]] = found
            out_d[r, :found.shape[0]] = d
            n_exp[r] = ne
    return out_i, out_d, n_exp
