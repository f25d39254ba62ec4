"""Numba squared-L2 kernels for graph building and search, with the seed's three pruning ideas.

* ``sq_l2``: the plain kernel (vectorises well).
* ``sq_l2_bounded``: partial-distance early abandoning - stop once the running sum exceeds a bound
  (the current k-th neighbour distance), checked every ``ABANDON_BLOCK`` dimensions.
* ``sq_l2_ip``: the inner-product form ||x||^2 + ||y||^2 - 2 x.y with cached squared norms.
* ``triangle_excludes``: the triangle-inequality lower bound |d(i,a) - d(i,b)| <= d(a,b), used to
  skip a pair whose lower bound already exceeds the bound.

Every kernel works on squared distances; ``pair_sq_l2`` dispatches on the switches so callers keep a
single call site.
"""

import numpy as np
from numba import njit

ABANDON_BLOCK = 32


@njit(cache=True, fastmath=True)
def sq_l2(x, y):
    """Squared Euclidean distance of two float32 vectors."""
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        t = x[i] - y[i]
        s += t * t
    return s


@njit(cache=True, fastmath=True)
def sq_l2_bounded(x, y, bound):
    """Squared distance, abandoned early (returning a partial sum > bound) once it exceeds bound."""
    d = x.shape[0]
    s = np.float32(0.0)
    j = 0
    while j + ABANDON_BLOCK <= d:
        part = np.float32(0.0)
        for i in range(j, j + ABANDON_BLOCK):
            t = x[i] - y[i]
            part += t * t
        s += part
        if s > bound:
            return s
        j += ABANDON_BLOCK
    for i in range(j, d):
        t = x[i] - y[i]
        s += t * t
    return s


@njit(cache=True, fastmath=True)
def sq_l2_ip(x, y, x_sq, y_sq):
    """Squared distance from the inner product and cached squared norms (clipped at 0)."""
    s = np.float32(0.0)
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    r = x_sq + y_sq - np.float32(2.0) * s
    return r if r > 0 else np.float32(0.0)


@njit(cache=True, fastmath=True)
def triangle_excludes(d_ia, d_ib, bound):
    """True if the triangle lower bound (sqrt d_ia - sqrt d_ib)^2 on d(a,b) (squared) exceeds bound."""
    lb = np.sqrt(d_ia) - np.sqrt(d_ib)
    return lb * lb > bound


@njit(cache=True, fastmath=True)
def pair_sq_l2(X, sq_norms, a, b, bound, abandon, inner_product):
    """Squared distance between rows a and b of X under the chosen kernel."""
    if inner_product:
        return sq_l2_ip(X[a], X[b], sq_norms[a], sq_norms[b])
    if abandon:
        return sq_l2_bounded(X[a], X[b], bound)
    return sq_l2(X[a], X[b])
