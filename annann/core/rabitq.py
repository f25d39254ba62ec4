"""RaBitQ codes: one bit per (rotated) coordinate, an unbiased distance estimate and its bound.

The quantiser both engines scan with (Gao & Long, SIGMOD 2024; the ideas, not their code). A
vector o is coded relative to a centre c it is stored with (its cluster's centroid in the IVF,
its parent node in the graph): r = P(o - c) for the seeded rotation P of ``core.rotation``; the
code keeps the sign of each coordinate of r (bit i of word i // 64), and four float32 factors
make the estimate a few multiply-adds:

* ``add``     |r|^2;
* ``rescale`` -2 |r|^2 / sum_i |r_i|  (the inverse of <x, r/|r|> for the unit sign vector x);
* ``error``   2 |r| sqrt(1 - ip^2) / ip / sqrt(D - 1) with ip = <x, r/|r|>: the standard error
  of the estimate per unit of |q_r|; times |q_r| and the multiplier ``eps`` (RaBitQ's
  epsilon_0, 1.9 by default: a two-sided ~94 % interval, the error being close to Gaussian) it
  bounds the estimate's error.

The number of set bits (``ones``) is counted at query time beside the inner product (one more
popcount per word, no memory): the scan is memory bound, so a fourth stored factor would cost
more than it saves.

A query q is rotated once (q' = Pq); for a centre c its residual q_r = q' - Pc is quantised to
4-bit unsigned integers u (``quantize_query``: low + delta * u), kept as four bit planes, so
<bits, u> = sum_j 2^j popcount(bits & plane_j): four AND + popcount per 64 coordinates. (Both
engines quantise q' itself once per query instead, with the centre's part folded into the
stored factors: ``encode_against``.) Then

    |o - q|^2 ~ add + |q_r|^2 + rescale * (2 (delta <bits, u> + low ones) - sum_i q_r_i)

and |o - q|^2 >= estimate - eps * error * |q_r| except with small probability: a candidate whose
lower bound is above the current k-th exact distance needs no exact distance at all.

Kernels index with unsigned offsets (``np.uint64``) wherever an offset known only at run time is
added to the loop variable: with a signed index numba must allow for negative ones wrapping
around, which keeps LLVM from vectorising the loop (measured several times slower:
docs/design-notes.md).

Two code layouts, one kernel each: ``ip_columns`` reads codes stored word-major, (W, rows), as
the IVF keeps each cluster's codes (the popcounts of consecutive rows vectorise); the graph keeps
each node's neighbour codes (W, R) word-major inside the node's own block, a row of a 2-D array
(``ip_neighbours``), so one contiguous read scores all R neighbours.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

QUERY_BITS = 4
LEVELS = (1 << QUERY_BITS) - 1
FACTORS = 3
ADD, RESCALE, ERROR = range(FACTORS)
OFFSET = ADD  # the same slot once a fixed centre is folded in (``encode_against``)
EPSILON = 1.9  # RaBitQ's epsilon_0: the bound holds with probability ~ 1 - 2 exp(-eps^2 / 2)

QUANTIZERS = ("auto", "rabitq", "none")
# "auto" codes rows of at least this many dimensions. Below it a row is cheap to read (< 256
# bytes) and a 1-bit code, padded to 64 bits, estimates poorly (its error grows as 1/sqrt(D)):
# on the 25-d GloVe set the full rows ran faster in both engines, on 128-d SIFT and 784-d
# Fashion-MNIST the codes (docs/design-notes.md).
CODED_MIN_DIM = 64


def check_quantizer(quantizer):
    """The quantizer argument of both engines, checked: one of ``QUANTIZERS``."""
    if quantizer not in QUANTIZERS:
        raise ValueError(f"quantizer: expected one of {QUANTIZERS}, got {quantizer!r}")
    return quantizer


def resolve_quantizer(quantizer, dim):
    """The concrete quantizer ("rabitq" or "none") for rows of ``dim`` dimensions."""
    if check_quantizer(quantizer) != "auto":
        return quantizer
    return "rabitq" if dim >= CODED_MIN_DIM else "none"


@intrinsic
def popcount64(typingctx, x):
    """Set bits of a uint64 (LLVM's ctpop: vpopcntq or a table-look-up sequence when
    vectorised, popcnt otherwise)."""
    if not isinstance(x, types.Integer) or x.bitwidth != 64 or x.signed:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def code_words(padded):
    """64-bit words per code of a padded dimension."""
    return int(padded) // 64


@njit(cache=True, fastmath=True, inline="always")
def encode_residual(r, code, factors, col):
    """Code of one rotated residual r (padded,) into code[w, col] for each word w and
    factors[f, col] (column layouts: the caller passes (W, m) and (FACTORS, m) arrays)."""
    D = r.shape[0]
    norm2 = 0.0
    abs_sum = 0.0
    for w in range(D // 64):
        word = np.uint64(0)
        for b in range(64):
            v = r[w * 64 + b]
            norm2 += np.float64(v) * v
            abs_sum += abs(np.float64(v))
            if v > 0:
                word |= np.uint64(1) << np.uint64(b)
        code[w, col] = word
    factors[ADD, col] = norm2
    if abs_sum > 0.0:
        norm = np.sqrt(norm2)
        ip = abs_sum / (np.sqrt(D) * norm)
        factors[RESCALE, col] = -2.0 * norm2 / abs_sum
        factors[ERROR, col] = 2.0 * norm * np.sqrt(max(1.0 - ip * ip, 0.0)) / ip / np.sqrt(D - 1)
    else:  # r = 0: the vector is its centre; the estimate is exact
        factors[RESCALE, col] = 0.0
        factors[ERROR, col] = 0.0


@njit(cache=True, parallel=True)
def encode_columns(R, codes, factors, start):
    """Codes of the rows of R into columns start.. of codes (W, cols) / factors (FACTORS, cols)."""
    for i in prange(R.shape[0]):
        encode_residual(R[i], codes, factors, start + i)


@njit(cache=True, fastmath=True)
def quantize_query(qr, planes):
    """Quantise a rotated query residual qr to 4-bit unsigned u (qr_i ~ low + delta u_i) and
    write u's four bit planes into planes (QUERY_BITS, W); returns (delta, low, sum of qr,
    |qr|^2, |qr|). Rounds to nearest: deterministic, error < delta / 2 per coordinate."""
    D = qr.shape[0]
    lo = qr[0]
    hi = qr[0]
    s = np.float32(0.0)
    n2 = np.float32(0.0)
    for i in range(D):
        v = qr[i]
        lo = min(lo, v)
        hi = max(hi, v)
        s += v
        n2 += v * v
    delta = (hi - lo) / LEVELS
    inv = np.float32(1.0) / delta if delta > 0 else np.float32(0.0)
    for w in range(D // 64):
        p0 = np.uint64(0)
        p1 = np.uint64(0)
        p2 = np.uint64(0)
        p3 = np.uint64(0)
        for b in range(64):
            u = np.uint64(np.int64((qr[w * 64 + b] - lo) * inv + np.float32(0.5)))
            bit = np.uint64(b)
            p0 |= (u & np.uint64(1)) << bit
            p1 |= ((u >> np.uint64(1)) & np.uint64(1)) << bit
            p2 |= ((u >> np.uint64(2)) & np.uint64(1)) << bit
            p3 |= ((u >> np.uint64(3)) & np.uint64(1)) << bit
        planes[0, w] = p0
        planes[1, w] = p1
        planes[2, w] = p2
        planes[3, w] = p3
    return delta, lo, s, n2, np.sqrt(n2)


@njit(cache=True, fastmath=True, inline="always")
def ip_columns(codes, start, count, planes, acc, ones):
    """acc[i] = <bits of column start + i, u> and ones[i] = its set bits, for i < count; codes
    word-major (W, cols)."""
    for i in range(count):
        acc[i] = 0
        ones[i] = 0
    s0 = np.uint64(start)
    for w in range(codes.shape[0]):
        p0 = planes[0, w]
        p1 = planes[1, w]
        p2 = planes[2, w]
        p3 = planes[3, w]
        for i in range(count):
            c = codes[w, s0 + np.uint64(i)]
            acc[i] += np.int64(popcount64(c & p0) + (popcount64(c & p1) << np.uint64(1))
                               + (popcount64(c & p2) << np.uint64(2))
                               + (popcount64(c & p3) << np.uint64(3)))
            ones[i] += np.int64(popcount64(c))


@njit(cache=True, fastmath=True, inline="always")
def ip_neighbours(codes, node, start, degree, planes, acc, ones):
    """ip_columns for a graph node: row ``node`` of codes holds, from column ``start``, the
    node's (W, degree) word-major block of neighbour codes, flattened."""
    for j in range(degree):
        acc[j] = 0
        ones[j] = 0
    for w in range(planes.shape[1]):
        p0 = planes[0, w]
        p1 = planes[1, w]
        p2 = planes[2, w]
        p3 = planes[3, w]
        base = np.uint64(start + w * degree)
        for j in range(degree):
            c = codes[node, base + np.uint64(j)]
            acc[j] += np.int64(popcount64(c & p0) + (popcount64(c & p1) << np.uint64(1))
                               + (popcount64(c & p2) << np.uint64(2))
                               + (popcount64(c & p3) << np.uint64(3)))
            ones[j] += np.int64(popcount64(c))


@njit(cache=True, fastmath=True, inline="always")
def estimate_distance(ip, ones, add, rescale, delta, low, qsum, qn2):
    """The estimated squared distance of a coded vector (its factors) to the query."""
    return add + qn2 + rescale * (np.float32(2.0) * (delta * np.float32(ip)
                                                     + low * np.float32(ones)) - qsum)


def encode_against(R, centres):
    """(codes, factors) of residuals R = o' - c' from fixed centres c' (one row each), the
    additive factor folded so that the query is quantised once, not once per centre:

        offset = |r|^2 + rescale * (sum(c') - 2 <bits, c'>)

    since <bits, q' - c'> = <bits, q'> - <bits, c'>; a query q' then estimates
    |o - q|^2 ~ offset + |q' - c'|^2 + rescale * (2 <bits, q'> - sum(q')). The graph keeps the
    same fold per neighbour with the node as centre (``graph.coded_search``)."""
    R = np.ascontiguousarray(R, dtype=np.float32)
    codes, factors = encode(R)
    centres = np.asarray(centres, dtype=np.float32)
    ip_c = np.where(R > 0, centres, np.float32(0.0)).sum(1, dtype=np.float64)
    factors[OFFSET] += factors[RESCALE] * (centres.sum(1, dtype=np.float64) - 2.0 * ip_c)
    return codes, factors


def encode(R):
    """(codes (W, n) uint64, factors (FACTORS, n) float32) of rotated residual rows R (n, D)."""
    R = np.ascontiguousarray(R, dtype=np.float32)
    n, D = R.shape
    if D % 64:
        raise ValueError(f"RaBitQ: residuals must be padded to a multiple of 64, got {D}")
    codes = np.zeros((D // 64, n), dtype=np.uint64)
    factors = np.zeros((FACTORS, n), dtype=np.float32)
    if n:
        encode_columns(R, codes, factors, 0)
    return codes, factors


@njit(cache=True, fastmath=True)
def estimate_columns(codes, factors, planes, delta, low, qsum, qn2, qn, eps, est, bound):
    """Estimates and error bounds (eps * error * |q_r|) for every column: the test's window on
    the scan's arithmetic."""
    n = codes.shape[1]
    acc = np.empty(n, dtype=np.int64)
    ones = np.empty(n, dtype=np.int64)
    ip_columns(codes, 0, n, planes, acc, ones)
    for i in range(n):
        est[i] = estimate_distance(acc[i], ones[i], factors[ADD, i], factors[RESCALE, i], delta,
                                   low, qsum, qn2)
        bound[i] = eps * factors[ERROR, i] * qn


def estimate(codes, factors, qr, eps=EPSILON):
    """(estimated squared distances, error bounds) of coded vectors to a rotated query residual
    qr (their centre's): numpy-facing, for tests and studies; the engines call the kernels."""
    qr = np.ascontiguousarray(qr, dtype=np.float32)
    planes = np.empty((QUERY_BITS, qr.shape[0] // 64), dtype=np.uint64)
    delta, low, qsum, qn2, qn = quantize_query(qr, planes)
    n = codes.shape[1]
    est = np.empty(n, dtype=np.float32)
    bound = np.empty(n, dtype=np.float32)
    estimate_columns(codes, factors, planes, delta, low, qsum, qn2, qn, np.float32(eps), est,
                     bound)
    return est, bound
