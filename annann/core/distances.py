"""Distances: the metric registry, exact numpy distances, and the one family of numba squared-L2
kernels that every engine (cluster scan, NN-descent, graph search, LSH) calls.

Every index searches by squared L2: angular data is stored unit-normalised, where squared L2 is
2 - 2 cos and ranks exactly as the cosine does. Reported distances follow ann-benchmarks (plain
L2, or 1 - cosine): ``to_metric`` converts.

Numba kernels, one per access pattern:
* ``sq_l2(X, a, Y, b)``: row a of X to row b of Y (the plain kernel; vectorises well);
* ``sq_l2_vec(q, Y, b)``: a vector to row b of Y (queries);
* ``sq_l2_vec_four(q, Y, b0, b1, b2, b3)``: a vector to four rows in one pass (graph walks);
* ``sq_l2_vec_at(q, Y, b, start)``: a vector to the run of row b of Y that starts at column
  start (a row stored inside a larger block, as the coded graph stores its nodes);
* ``sq_l2_block(Y, start, count, q, out)``: a vector to a contiguous block of rows (cluster scan);
* ``sq_l2_four(B, a, b0, b1, b2, b3)``: one row to four rows in one pass (the local join);
* ``sq_l2_bounded`` / ``sq_l2_ip`` / ``triangle_excludes``: the seed's three pruning ideas
  (partial-distance early abandoning, the inner-product form with cached norms, the
  triangle-inequality lower bound), switches of the NN-descent build.

The kernels take the matrix and row numbers (``X, a, b``) rather than row views: slicing ``X[a]``
inside hot loops makes numba reference-count the views, which measured several times slower per
pair and serialised the threads on the shared counter (docs/design-notes.md). All kernels have a
single exit: helpers with branchy returns, called inside a loop, made numba reference-count their
array arguments on every call.
The numpy side (``sq_l2_scores``, ``sq_l2_all_pairs``, ``distances``) serves blocked BLAS work:
k-means assignment, ground truth, brute force, DEC.
"""

import numpy as np
from numba import njit

METRICS = ("euclidean", "angular")


def check_metric(metric):
    """Return metric if supported, else raise ValueError listing the supported ones."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(METRICS)}")
    return metric


def normalize_rows(X):
    """Unit-normalise rows (float32); zero rows stay zero. Angular search runs on these."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (X / norms).astype(np.float32, copy=False)


def to_metric(sq, metric):
    """Squared L2 (float32) on the stored rows -> the metric's distance (L2, or 1 - cosine)."""
    sq = np.maximum(sq, np.float32(0.0))
    return sq * np.float32(0.5) if metric == "angular" else np.sqrt(sq, out=sq)


@njit(cache=True)
def prepare_query(q, angular, out):
    """The vector a query is searched with, inside a kernel: False if q holds NaN or inf (no
    fastmath here: it would drop the check); for angular, q unit-normalised into out (a zero
    vector stays zero), else q itself, in place of a ``normalize_rows`` call per query (a
    numpy call that cost a visible share of a query: docs/design-notes.md)."""
    s = 0.0
    for i in range(q.shape[0]):
        v = q[i]
        if not np.isfinite(v):
            return False, q
        s += np.float64(v) * v
    if not angular:
        return True, q
    norm = np.sqrt(s) if s > 0.0 else 1.0
    for i in range(q.shape[0]):
        out[i] = np.float32(q[i] / norm)
    return True, out


@njit(cache=True)
def convert_distances(sq, angular):
    """``to_metric`` in place, inside a kernel: squared L2 -> L2, or 1 - cosine on unit rows."""
    for i in range(sq.shape[0]):
        v = max(sq[i], np.float32(0.0))
        sq[i] = v * np.float32(0.5) if angular else np.sqrt(v)


def squared_norms(X):
    """Row-wise squared L2 norms (in X's dtype)."""
    return np.einsum("ij,ij->i", X, X)


def sq_l2_scores(Q, X, x_sq):
    """|x|^2 - 2 q.x for every (query, row) pair (m, n): squared L2 minus the constant |q|^2, so it
    ranks rows exactly as squared L2 does; one BLAS matrix product."""
    return x_sq[None, :] - 2.0 * (Q @ X.T)


def sq_l2_all_pairs(Z, M):
    """|z_i - m_j|^2 for every pair of rows, float64, clipped at 0 (DEC's soft assignment)."""
    Z = np.asarray(Z, dtype=np.float64)
    M = np.asarray(M, dtype=np.float64)
    d2 = (Z * Z).sum(1)[:, None] - 2.0 * Z @ M.T + (M * M).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def distances(q, X, metric):
    """Exact distances from one query q (d,) to every row of X (n, d), as the harness defines them:
    euclidean, plain L2; angular, 1 - cosine (float64)."""
    X = np.asarray(X, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "euclidean":
        return np.sqrt(np.maximum(((X - q) ** 2).sum(axis=1), 0.0))
    if metric == "angular":
        nq = np.linalg.norm(q)
        nx = np.linalg.norm(X, axis=1)
        denom = np.where(nq * nx == 0, 1.0, nq * nx)
        return 1.0 - (X @ q) / denom
    raise ValueError(f"unknown metric {metric!r}; supported: {', '.join(METRICS)}")


@njit(cache=True, fastmath=True)
def sq_l2(X, a, Y, b):
    """Squared Euclidean distance between row a of X and row b of Y (float32)."""
    s = np.float32(0.0)
    for i in range(X.shape[1]):
        t = X[a, i] - Y[b, i]
        s += t * t
    return s


@njit(cache=True, fastmath=True)
def sq_l2_vec(q, Y, b):
    """Squared Euclidean distance between the vector q and row b of Y."""
    s = np.float32(0.0)
    for i in range(q.shape[0]):
        t = q[i] - Y[b, i]
        s += t * t
    return s


@njit(cache=True, fastmath=True, inline="always")
def sq_l2_vec_at(q, Y, b, start):
    """Squared distance from q to Y[b, start:start + len(q)]. The offset is unsigned: with a
    signed one numba must allow for a negative index wrapping around, which keeps LLVM from
    vectorising the loop (measured several times slower: docs/design-notes.md)."""
    s = np.float32(0.0)
    base = np.uint64(start)
    for i in range(q.shape[0]):
        t = q[i] - Y[b, base + np.uint64(i)]
        s += t * t
    return s


@njit(cache=True, fastmath=True)
def sq_l2_block(Y, start, count, q, out):
    """Squared L2 from q to rows start..start+count-1 of Y into out[:count] (a tight SIMD loop)."""
    for r in range(count):
        out[r] = sq_l2_vec(q, Y, start + r)


@njit(cache=True, fastmath=True, inline="always")
def sq_l2_four(B, a, b0, b1, b2, b3):
    """Squared distances from row a of B to rows b0..b3: one pass over a serves four pairs."""
    s0 = s1 = s2 = s3 = np.float32(0.0)
    for i in range(B.shape[1]):
        x = B[a, i]
        t0 = x - B[b0, i]
        t1 = x - B[b1, i]
        t2 = x - B[b2, i]
        t3 = x - B[b3, i]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
    return s0, s1, s2, s3


@njit(cache=True, fastmath=True, inline="always")
def sq_l2_vec_four(q, Y, b0, b1, b2, b3):
    """Squared distances from the vector q to rows b0..b3 of Y in one pass: four rows streamed
    side by side keep four memory reads in flight where one row at a time keeps one. The query
    twin of ``sq_l2_four``, which takes its left row by number: the local join calling this one
    with a view per candidate row measured slower over a whole build (docs/design-notes.md)."""
    s0 = s1 = s2 = s3 = np.float32(0.0)
    for i in range(q.shape[0]):
        x = q[i]
        t0 = x - Y[b0, i]
        t1 = x - Y[b1, i]
        t2 = x - Y[b2, i]
        t3 = x - Y[b3, i]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
    return s0, s1, s2, s3


@njit(cache=True, fastmath=True)
def sq_l2_bounded(X, a, b, bound):
    """Squared distance, abandoned after the first half of the dimensions if that exceeds bound.

    One checkpoint only: finer-grained checks (every 32 dims) break vectorisation and measured
    several times slower per call than the plain kernel (docs/design-notes.md).
    """
    d = X.shape[1]
    h = d // 2
    s = np.float32(0.0)
    for i in range(h):
        t = X[a, i] - X[b, i]
        s += t * t
    if s <= bound:
        for i in range(h, d):
            t = X[a, i] - X[b, i]
            s += t * t
    return s


@njit(cache=True, fastmath=True)
def sq_l2_ip(X, a, b, sq_norms):
    """Squared distance from the inner product and cached squared norms (clipped at 0)."""
    s = np.float32(0.0)
    for i in range(X.shape[1]):
        s += X[a, i] * X[b, i]
    return max(sq_norms[a] + sq_norms[b] - np.float32(2.0) * s, np.float32(0.0))


@njit(cache=True, fastmath=True, inline="always")
def triangle_excludes(d_ia, d_ib, bound):
    """True if the triangle lower bound (sqrt d_ia - sqrt d_ib)^2 on squared d(a,b) exceeds bound."""
    lb = np.sqrt(d_ia) - np.sqrt(d_ib)
    return lb * lb > bound
