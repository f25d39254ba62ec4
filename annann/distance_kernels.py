"""Numba squared-L2 kernels for graph building and search, with the seed's three pruning ideas.

* ``sq_l2``: the plain kernel (vectorises well).
* ``sq_l2_bounded``: partial-distance early abandoning - stop once the running sum exceeds a bound
  (the current k-th neighbour distance), checked once, halfway through the dimensions.
* ``sq_l2_ip``: the inner-product form ||x||^2 + ||y||^2 - 2 x.y with cached squared norms.
* ``triangle_excludes``: the triangle-inequality lower bound |d(i,a) - d(i,b)| <= d(a,b), used to
  skip a pair whose lower bound already exceeds the bound.

The kernels take the matrix and row numbers (``X, a, b``) rather than row views: slicing ``X[a]``
inside hot loops makes numba reference-count the views, which measured 3-4x slower per pair and
serialised the threads on the shared counter. Small helpers are inlined at numba level
(``inline="always"``): as plain calls they cost about as much as the distance itself. All kernels
work on squared distances and have a single exit: helpers with branchy returns, called inside a
loop, made numba reference-count their array arguments on every call (atomic increments that cost
the local join ~7x; ``nndescent.join_node`` therefore dispatches on the switches itself).
"""

import numpy as np
from numba import njit


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


@njit(cache=True, fastmath=True)
def sq_l2_bounded(X, a, b, bound):
    """Squared distance, abandoned after the first half of the dimensions if that exceeds bound.

    One checkpoint only: finer-grained checks (every 32 dims) measured 3-4x slower per call than
    the plain kernel because they break vectorisation.
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
    """True if the triangle lower bound (sqrt d_ia - sqrt d_ib)^2 on d(a,b) (squared) exceeds bound."""
    lb = np.sqrt(d_ia) - np.sqrt(d_ib)
    return lb * lb > bound


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
