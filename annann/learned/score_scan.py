"""Numba kernels of the learned-score scan (``learned.scores``): route, score every member of C
clusters by its cluster's low-rank model, re-rank the best-scored candidates exactly.

A cluster c with code centre m_c holds, per member j, its int8 score column b_j (``scores``,
(rows, rank / 4) uint32, four components to a word, row-major so that a cluster is one contiguous
block: ``core.packed_int8``), and in ``bias`` (3, rows) |x_j - m_c|^2, e_j (the norm of what the
model leaves out of the row) and sum(b_j); the cluster's model is A_c (reduced dim x rank, int8
with a scale per component). For a query q, with its globally reduced residual
q~ = P^T q - P^T m_c (P: the global reduction, int8, or none),

    |q - x_j|^2 ~ |q - m_c|^2 + |x_j - m_c|^2 - 2 (q~ A_c) . b_j

where (q~ A_c) . b_j is the learned estimate of (q - m_c) . (x_j - m_c). The rank-length vector
t = q~ A_c costs dim x rank multiply-adds per cluster; it is quantised to 7 bits and each member
then costs rank int8 multiply-adds (``core.packed_int8.dot_rows``: 32 per instruction with AVX2).
The query is routed in the reduced space (a graph over the reduced centres, or every centre ranked
when that is cheap), so a global reduction also makes the routing cheaper. The ``candidates``
members of smallest estimate are kept (``core.heaps.select_smallest``) and re-ranked exactly from
their rows in increasing lower bound (estimate - margin * 2 |q - m_c| e_j / sqrt(d)) until the next
lower bound is beyond the k-th exact distance (``ivf.scan.rerank_kept``, shared with the RaBitQ
scan).
"""

import numpy as np
from numba import njit

from ..core.distances import convert_distances
from ..core.packed_int8 import dot_rows, quantize_u7
from ..core.prefetch import prefetch_span
from ..core.heaps import select_smallest
from ..ivf.centroid_graph import EXACT, MIN_EF, route
from ..ivf.scan import rank_clusters, rerank_kept

# search_query_scored's stages, in order; stop_after=len(STAGES) runs the whole query (a profile
# stops after an earlier one: benchmarks/bench_termination.py)
STAGES = ("reduce the query (global reduction)", "route: HNSW walk or every centre ranked",
          "rank the routed clusters", "score the members (models, int8 scores, selection)",
          "re-rank (exact distances from the rows)")


@njit(cache=True, fastmath=True)
def reduce_query(q, proj, proj_scale, out):
    """out = P^T q for the global reduction, int8 proj (d, d') times proj_scale (d',) per
    column (a quarter of float32's bytes: the matrix is read whole by every query); a copy of q
    when proj is empty."""
    if proj.shape[0] == 0:
        out[:] = q
        return
    out[:] = 0.0
    for i in range(proj.shape[0]):
        v = q[i]
        for j in range(proj.shape[1]):
            out[j] += v * np.float32(proj[i, j])
    for j in range(proj.shape[1]):
        out[j] *= proj_scale[j]


@njit(cache=True, fastmath=True)
def project_query(q_red, centre_flat, A_flat, a_scale, c, t):
    """t = (q_red - centre_red[c]) A[c]: the query's rank-length vector in cluster c's model (A
    int8, flattened, one scale per rank component). Flat arrays and unsigned offsets: the loops
    vectorise."""
    rank = t.shape[0]
    dr = q_red.shape[0]
    t[:] = 0.0
    u_red = np.uint64(c) * np.uint64(dr)
    u_a = u_red * np.uint64(rank)
    for i in range(dr):
        v = q_red[i] - centre_flat[u_red + np.uint64(i)]
        row = u_a + np.uint64(i) * np.uint64(rank)
        for j in range(rank):
            t[j] += v * np.float32(A_flat[row + np.uint64(j)])
    for j in range(rank):
        t[j] *= a_scale[c, j]


@njit(cache=True, fastmath=True)
def score_members(scores, bias, s0, n, base, t, qwords, acc_i, acc):
    """acc[j] = base + |x_j - m_c|^2 - 2 t . b_j, the estimated squared distances of the n members
    stored from row s0 (scores (rows, rank / 4) uint32 row-major: a cluster is one contiguous
    block; bias (3, rows) float32 word-major: three contiguous runs, so the last loop vectorises):
    t quantised to 7 bits (``core.packed_int8``), the int8 products summed eight rows at a time,
    t . b = low * sum(b) + delta * (u . b) with sum(b) stored per row (bias[2])."""
    delta, low = quantize_u7(t, qwords)
    dot_rows(scores, s0, n, qwords, acc_i)
    m_delta = np.float32(-2.0) * delta
    m_low = np.float32(-2.0) * low
    u0 = np.uint64(s0)
    for j in range(n):
        u = u0 + np.uint64(j)
        acc[j] = base + bias[0, u] + m_low * bias[2, u] + m_delta * np.float32(acc_i[j])


@njit(cache=True)
def below_bound(acc, n, bound, idx):
    """The positions of acc[:n] below bound into idx, in order, without a branch per member (a
    cluster far from the query has few); returns how many."""
    cnt = 0
    for j in range(n):
        idx[cnt] = j
        cnt += acc[j] < bound
    return cnt


@njit(cache=True, fastmath=True)
def scan_scored(starts, counts, scores, bias, A, a_scale, centre_red, dim, chosen, chosen_d,
                n_chosen, q_red, margin, t, qwords, acc_i, acc, idx, buf_e, buf_lb, buf_row, keep):
    """Estimate every member of the chosen clusters (chosen_d: the query's squared distances to
    their code centres; dim: the rows' dimension) and keep the ``keep`` rows of smallest estimate
    in buf_row[:keep], their lower bounds in buf_lb: estimate - margin * 2 |q - m_c| e_j / sqrt(d),
    e_j the norm of what the model leaves out of row j (bias[1]), the typical size of the query's
    inner product with it. Estimates beating the bound are appended, the buffer (twice keep)
    partitioned when full (``core.heaps.select_smallest``). Returns (rows kept, members scored)."""
    scanned = 0
    m = 0
    bound = np.float32(np.inf)
    cap = buf_e.shape[0]
    A2 = A.reshape(A.shape[0], A.shape[1] * A.shape[2])
    words = scores.shape[1]
    scores_flat = scores.reshape(1, scores.size)
    A_flat = A.reshape(A.size)
    inv_sqrt_dim = np.float32(1.0 / np.sqrt(dim))
    centre_flat = centre_red.reshape(centre_red.size)
    for s in range(n_chosen):
        c = chosen[s]
        s0 = starts[c]
        n = counts[c]
        scanned += n
        if s + 1 < n_chosen:  # the next cluster's model and block load while this one runs
            nxt = chosen[s + 1]
            prefetch_span(A2, nxt, 0, A2.shape[1])
            prefetch_span(scores_flat, 0, starts[nxt] * words, counts[nxt] * words)
            for r in range(bias.shape[0]):
                prefetch_span(bias, r, starts[nxt], counts[nxt])
        base = chosen_d[s]
        slack = margin * np.float32(2.0) * np.sqrt(base) * inv_sqrt_dim
        project_query(q_red, centre_flat, A_flat, a_scale, c, t)
        score_members(scores, bias, s0, n, base, t, qwords, acc_i, acc)
        u0 = np.uint64(s0)
        for i in range(below_bound(acc, n, bound, idx)):
            j = idx[i]
            e = acc[j]
            if e < bound:
                buf_e[m] = e
                buf_lb[m] = e - slack * bias[1, u0 + np.uint64(j)]
                buf_row[m] = s0 + j
                m += 1
                if m == cap:
                    bound = select_smallest(buf_e, buf_lb, buf_row, m, keep)
                    m = keep
    if m > keep:
        select_smallest(buf_e, buf_lb, buf_row, m, keep)
        m = keep
    return m, scanned


@njit(cache=True)
def search_query_scored(vectors, slot_ids, starts, counts, largest, scores, bias, A, a_scale,
                        centre_red, code_centres, proj, proj_scale, z_centres, q, C, k,
                        candidates, margin, r, bottom, bottom_degrees, upper, upper_degrees,
                        upper_start, entry, top_level, exact_route, bits, touched, out_i, out_d,
                        stop_after=len(STAGES)):
    """One query (see the module docstring): reduce q, route the reduced query to C * r centres
    (the routing HNSW is built over the reduced centres, ``z_centres``), keep the C whose code
    centres are nearest to q, score their members, re-rank the ``candidates`` best estimates
    exactly in increasing lower bound, stopping at the first beyond the k-th exact distance.
    Returns (found, members scored, exact distances, centroid distance computations);
    stop_after < len(STAGES) returns zeros after that stage (a profile's replay)."""
    q_red = np.empty(centre_red.shape[1], dtype=np.float32)
    reduce_query(q, proj, proj_scale, q_red)
    if stop_after <= 1:
        return 0, 0, 0, 0
    want = min(C * r, z_centres.shape[0])
    cand, _, comps = route(q_red, z_centres, bottom, bottom_degrees, upper, upper_degrees,
                           upper_start, entry, top_level, want,
                           EXACT if exact_route else max(want, MIN_EF), bits, touched)
    if stop_after <= 2:
        return 0, 0, 0, 0
    chosen = np.empty(C, dtype=np.int64)
    chosen_d = np.empty(C, dtype=np.float32)
    n_chosen, c2 = rank_clusters(code_centres, counts, cand, q, C, chosen, chosen_d)
    if stop_after <= 3:
        return 0, 0, 0, 0
    t = np.empty(A.shape[2], dtype=np.float32)
    qwords = np.empty(scores.shape[1], dtype=np.uint32)
    acc_i = np.empty(max(largest, 1), dtype=np.int32)
    acc = np.empty(max(largest, 1), dtype=np.float32)
    idx = np.empty(max(largest, 1), dtype=np.int64)
    buf_e = np.empty(2 * candidates, dtype=np.float32)
    buf_lb = np.empty(2 * candidates, dtype=np.float32)
    buf_row = np.empty(2 * candidates, dtype=np.int64)
    m, scanned = scan_scored(starts, counts, scores, bias, A, a_scale, centre_red, q.shape[0],
                             chosen, chosen_d, n_chosen, q_red, margin, t, qwords, acc_i, acc,
                             idx, buf_e, buf_lb, buf_row, candidates)
    if stop_after <= 4:
        return 0, 0, 0, 0
    found, exact = rerank_kept(vectors, slot_ids, q, buf_lb, buf_row, m, np.float32(np.inf), k,
                               out_i, out_d)
    return found, scanned, exact, comps + c2


@njit(cache=True)
def search_one_scored(vectors, slot_ids, starts, counts, largest, scores, bias, A, a_scale,
                      centre_red, code_centres, proj, proj_scale, z_centres, q, C, k, candidates,
                      margin, r, bottom, bottom_degrees, upper, upper_degrees, upper_start, entry,
                      top_level, exact_route, bits, touched, angular, out_i, out_d):
    """search_query_scored for one query of the public search (the query is its own routing
    row): found is -1 for a query holding NaN or inf (the caller raises, naming it); distances
    in the metric (``core.distances.convert_distances``)."""
    for i in range(q.shape[0]):  # no fastmath here: it would drop the check
        if not np.isfinite(q[i]):
            return -1, 0, 0, 0
    found, scanned, exact, comps = search_query_scored(
        vectors, slot_ids, starts, counts, largest, scores, bias, A, a_scale, centre_red,
        code_centres, proj, proj_scale, z_centres, q, C, k, candidates, margin, r, bottom,
        bottom_degrees,
        upper, upper_degrees, upper_start, entry, top_level, exact_route, bits, touched, out_i,
        out_d)
    convert_distances(out_d[:found], angular)
    return found, scanned, exact, comps


@njit(cache=True)
def search_queries_scored(vectors, slot_ids, starts, counts, largest, scores, bias, A, a_scale,
                          centre_red, code_centres, proj, proj_scale, z_centres, Q, C, k,
                          candidates, margin, r, bottom, bottom_degrees, upper, upper_degrees,
                          upper_start, entry, top_level, exact_route, bits, touched, out_i, out_d,
                          stop_after=len(STAGES)):
    """search_query_scored for every row of Q (squared L2 out; stop_after: see there); returns
    totals (scanned, exact, comps)."""
    scanned = 0
    exact = 0
    comps = 0
    for t in range(Q.shape[0]):
        _, s, e, c = search_query_scored(
            vectors, slot_ids, starts, counts, largest, scores, bias, A, a_scale,
            centre_red, code_centres, proj, proj_scale, z_centres, Q[t], C, k, candidates,
            margin, r, bottom,
            bottom_degrees, upper, upper_degrees, upper_start, entry, top_level, exact_route,
            bits, touched, out_i[t], out_d[t], stop_after)
        scanned += s
        exact += e
        comps += c
    return scanned, exact, comps
