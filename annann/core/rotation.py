"""A seeded random rotation built from fast Walsh-Hadamard transforms, for the RaBitQ codes.

RaBitQ (``core.rabitq``) quantises a vector after a random orthogonal transform: the rotation
spreads every direction over all coordinates, so one sign bit per coordinate carries an unbiased
estimate with a known error bound. A dense random matrix costs D^2 multiply-adds per query (a
million for 960-d); this one costs a few D log D: each round flips the signs of the coordinates
with a seeded random pattern, then applies the orthonormal Walsh-Hadamard transform to the
leading block of 2^m coordinates and, when the padded dimension is not a power of two, to the
trailing block of 2^m as well (the two blocks overlap, so every coordinate mixes with every other
over the rounds). Each step is orthogonal, so the rotation preserves distances exactly (up to
float32 rounding).

Vectors are zero-padded to ``padded``, a multiple of 64 (one 64-bit code word per 64
coordinates); padding changes no distance.
"""

import numpy as np
from numba import njit, prange

ROUNDS = 2  # the estimator's error and bound measured as with 3 rounds (docs/design-notes.md)


def padded_dim(dim):
    """The dimension codes work in: dim rounded up to a multiple of 64."""
    return max(64, -(-int(dim) // 64) * 64)


@njit(cache=True, fastmath=True, inline="always")
def butterflies(x, start, m, h):
    """One Walsh-Hadamard stage of span h < 16 over x[start:start + m] (a constant h per call
    site lets the short inner loop unroll)."""
    for i in range(start, start + m, 2 * h):
        for j in range(i, i + h):
            a = x[j]
            b = x[j + h]
            x[j] = a + b
            x[j + h] = a - b


@njit(cache=True, fastmath=True, inline="always")
def transform_block(x, start, m):
    """Orthonormal Walsh-Hadamard transform of x[start:start + m] in place (m a power of two,
    >= 64). The stages of span >= 16 work on two slices, which LLVM vectorises (indexing one
    array at j and j + h it did not, and measured several times slower: docs/design-notes.md)."""
    butterflies(x, start, m, 1)
    butterflies(x, start, m, 2)
    butterflies(x, start, m, 4)
    butterflies(x, start, m, 8)
    h = 16
    while h < m:
        for i in range(start, start + m, 2 * h):
            lo = x[i:i + h]
            hi = x[i + h:i + 2 * h]
            for j in range(h):
                a = lo[j]
                b = hi[j]
                lo[j] = a + b
                hi[j] = a - b
        h *= 2
    scale = np.float32(1.0 / np.sqrt(m))
    for j in range(start, start + m):
        x[j] *= scale


@njit(cache=True, fastmath=True)
def rotate_into(v, signs, block, out):
    """Rotate v (dim <= padded) into out (padded,): zero-pad, then per round flip signs and
    transform the leading (and, if padded > block, the trailing) block of 2^m coordinates."""
    p = out.shape[0]
    for i in range(v.shape[0]):
        out[i] = v[i]
    for i in range(v.shape[0], p):
        out[i] = 0.0
    for r in range(signs.shape[0]):
        for i in range(p):
            out[i] *= signs[r, i]
        transform_block(out, 0, block)
        if block < p:
            transform_block(out, p - block, block)


@njit(cache=True, parallel=True)
def rotate_rows_into(X, signs, block, out):
    """rotate_into for every row of X, rows in parallel."""
    for i in prange(X.shape[0]):
        rotate_into(X[i], signs, block, out[i])


class Rotation:
    """The seeded orthogonal transform of ``dim``-d vectors into ``padded``-d ones."""

    def __init__(self, dim, seed=0, rounds=ROUNDS):
        self.dim = int(dim)
        if self.dim < 1:
            raise ValueError(f"Rotation: dimension must be >= 1, got {dim}")
        self.seed = int(seed)
        self.padded = padded_dim(self.dim)
        self.block = 1 << (self.padded.bit_length() - 1)
        rng = np.random.default_rng(self.seed)
        self.signs = np.where(rng.random((int(rounds), self.padded)) < 0.5, -1.0,
                              1.0).astype(np.float32)

    def rows(self, X, block=65536):
        """Rotated copies (n, padded) float32 of the rows of X (n, dim)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"Rotation: expected rows of dimension {self.dim}, got shape "
                             f"{X.shape}")
        out = np.empty((X.shape[0], self.padded), dtype=np.float32)
        for s in range(0, X.shape[0], block):
            rotate_rows_into(np.ascontiguousarray(X[s:s + block]), self.signs, self.block,
                             out[s:s + block])
        return out

    def vector(self, v):
        """The rotated copy (padded,) of one vector."""
        return self.rows(np.asarray(v, dtype=np.float32)[None, :])[0]

    def state(self):
        """{name: array} to save (the signs; the rest follows from dimension and seed)."""
        return {"signs": self.signs}

    @classmethod
    def from_state(cls, dim, seed, arrays):
        """The rotation saved by ``state`` (its signs checked against the dimension)."""
        self = cls(dim, seed, rounds=arrays["signs"].shape[0])
        if arrays["signs"].shape != self.signs.shape:
            raise ValueError(f"rotation signs of shape {arrays['signs'].shape} do not fit "
                             f"dimension {dim}")
        self.signs = np.ascontiguousarray(arrays["signs"], dtype=np.float32)
        return self
