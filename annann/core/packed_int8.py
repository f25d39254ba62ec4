"""Int8 scores packed four to a word, and the multiply-add that scans them eight rows at a time.

The learned-score scan (``learned.score_scan``) multiplies a query's rank-length vector with
every member's int8 column. Packed four components to a uint32 word (``pack_quads``: word g of
row j holds components 4g..4g+3, low byte first) and stored row-major (rows, rank / 4), a
cluster's scores are one contiguous block that the hardware streams in (stored one component per
array row they were rank separate runs per cluster, measured slower: docs/design-notes.md), and 32
components of a row are one 32-byte load.

``dot_rows8`` multiplies eight rows' loads with the query's components quantised to 7-bit
unsigned integers (``quantize_u7``: t ~ low + delta * u, u in [0, 127], four to a word): with AVX2
one ``vpmaddubsw`` per row (u8 x s8, adjacent pairs summed to int16; 127 * 127 * 2 fits, so it
never saturates) and one ``vpmaddwd`` against ones (pairs summed to int32), then three levels of
``vphaddd`` gather the eight rows' sums into one vector; without AVX2 the same sums in generic
LLVM code (slower, any target: the choice follows the target numba compiles for). The caller
turns the int32 sums back into floats: t . b = low * sum(b) + delta * (u . b), sum(b) stored per
row.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 8  # rows per block: eight uint32 words, one 256-bit load
U7 = 127


def pack_quads(B):
    """(rank, n) int8 -> (rank // 4, n) uint32, components 4g..4g+3 of row j in word (g, j), low
    byte first. rank must be a multiple of 4."""
    B = np.ascontiguousarray(B, dtype=np.int8)
    rank, n = B.shape
    if rank % 4:
        raise ValueError(f"rank: expected a multiple of 4, got {rank}")
    return np.ascontiguousarray(B.reshape(rank // 4, 4, n).transpose(0, 2, 1)).view(
        np.uint32).reshape(rank // 4, n)


def unpack_quads(words):
    """The inverse of pack_quads: (rank // 4, n) uint32 -> (rank, n) int8."""
    words = np.ascontiguousarray(words, dtype=np.uint32)
    g, n = words.shape
    return np.ascontiguousarray(words.view(np.int8).reshape(g, n, 4).transpose(0, 2, 1)).reshape(
        4 * g, n)


@njit(cache=True, fastmath=True)
def quantize_u7(t, words):
    """Quantise t (rank,) to u in [0, 127] (t ~ low + delta * u), packed four to a word into
    words (rank // 4,) uint32; returns (delta, low)."""
    lo = t[0]
    hi = t[0]
    for r in range(t.shape[0]):
        lo = min(lo, t[r])
        hi = max(hi, t[r])
    delta = (hi - lo) / U7 if hi > lo else np.float32(1.0)
    inv = np.float32(1.0) / delta
    for g in range(words.shape[0]):
        w = np.uint32(0)
        for b in range(4):
            u = np.uint32(min(max(np.int64(np.floor((t[4 * g + b] - lo) * inv + 0.5)), 0), U7))
            w |= u << np.uint32(8 * b)
        words[g] = w
    return np.float32(delta), np.float32(lo)


def _has_avx2(context):
    features = getattr(context.codegen(), "_tm_features", "") or ""
    return "+avx2" in features.split(",")


CHUNK = 8  # uint32 words (32 int8 components) per row that one dot_rows8 call covers


@intrinsic
def dot_rows8(typingctx, words, j, col, qwords, acc, o):
    """acc[o:o + 8] += for each of the rows j..j+7 of words (rows, W) uint32, row-major: the dot
    product of its int8 components in words[row, col:col + 8] with the query's 7-bit components
    in qwords[col:col + 8] (32 of each). With AVX2: per row one vpmaddubsw and one vpmaddwd, then
    three levels of vphaddd turn eight rows' partial sums into one vector of eight; without, the
    same sums in generic vector code. The caller guarantees j + 8 <= rows, col + 8 <= W and
    o + 8 <= acc.shape[0]."""
    if not (isinstance(words, types.Array) and words.ndim == 2 and words.layout == "C"
            and words.dtype == types.uint32 and isinstance(qwords, types.Array)
            and qwords.ndim == 1 and qwords.dtype == types.uint32
            and isinstance(acc, types.Array) and acc.ndim == 1 and acc.dtype == types.int32
            and isinstance(j, types.Integer) and isinstance(col, types.Integer)
            and isinstance(o, types.Integer)):
        return None
    sig = types.void(words, j, col, qwords, acc, o)

    def codegen(context, builder, signature, args):
        w_t, _, _, q_t, a_t, _ = signature.args
        i8, i16, i32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
        v8i32, v32i8, v16i16 = ir.VectorType(i32, 8), ir.VectorType(i8, 32), ir.VectorType(i16, 16)
        ji = context.cast(builder, args[1], signature.args[1], types.intp)
        ci = context.cast(builder, args[2], signature.args[2], types.intp)
        oi = context.cast(builder, args[5], signature.args[5], types.intp)

        def pointer(ary_t, value, inds):
            ary = context.make_array(ary_t)(context, builder, value)
            return cgutils.get_item_pointer2(
                context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
                strides=cgutils.unpack_tuple(builder, ary.strides), layout=ary_t.layout,
                inds=inds, wraparound=False)

        def load8(ptr):
            return builder.load(builder.bitcast(ptr, v8i32.as_pointer()), align=4)

        qb = builder.bitcast(load8(pointer(q_t, args[3], [ci])), v32i8)
        avx2 = _has_avx2(context)
        if avx2:
            madd_ub = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(v16i16, [v32i8, v32i8]),
                "llvm.x86.avx2.pmadd.ub.sw")
            madd_wd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(v8i32, [v16i16, v16i16]),
                "llvm.x86.avx2.pmadd.wd")
            hadd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(v8i32, [v8i32, v8i32]), "llvm.x86.avx2.phadd.d")
        sums = []
        for r in range(LANES):
            row = builder.add(ji, ir.Constant(ji.type, r))
            sb = builder.bitcast(load8(pointer(w_t, args[0], [row, ci])), v32i8)
            if avx2:
                sums.append(builder.call(madd_wd, [builder.call(madd_ub, [qb, sb]),
                                                   ir.Constant(v16i16, [1] * 16)]))
            else:
                v32i16 = ir.VectorType(i16, 32)
                prod = builder.sext(builder.mul(builder.zext(qb, v32i16),
                                                builder.sext(sb, v32i16)),
                                    ir.VectorType(i32, 32))
                total = builder.extract_element(prod, ir.Constant(i32, 0))
                for e in range(1, 32):
                    total = builder.add(total, builder.extract_element(prod, ir.Constant(i32, e)))
                sums.append(total)
        if avx2:
            h = [builder.call(hadd, [sums[2 * k], sums[2 * k + 1]]) for k in range(4)]
            g = [builder.call(hadd, [h[0], h[1]]), builder.call(hadd, [h[2], h[3]])]
            lo = builder.shuffle_vector(g[0], g[1], ir.Constant(ir.VectorType(i32, 8),
                                                                [0, 1, 2, 3, 8, 9, 10, 11]))
            hi = builder.shuffle_vector(g[0], g[1], ir.Constant(ir.VectorType(i32, 8),
                                                                [4, 5, 6, 7, 12, 13, 14, 15]))
            out = builder.add(lo, hi)
        else:
            out = ir.Constant(v8i32, ir.Undefined)
            for r in range(LANES):
                out = builder.insert_element(out, sums[r], ir.Constant(i32, r))
        ptr = builder.bitcast(pointer(a_t, args[4], [oi]), v8i32.as_pointer())
        builder.store(builder.add(builder.load(ptr, align=4), out), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, fastmath=True)
def dot_rows(words, s0, n, qwords, acc):
    """acc[j] = u . b (int32) of the n rows stored from row s0 of words (rows, W) uint32
    row-major (W a multiple of CHUNK): blocks of eight rows through dot_rows8, the tail one word
    at a time. qwords (W,): the query's packed 7-bit components."""
    full = n - n % LANES
    for j in range(full):
        acc[j] = 0
    for j in range(0, full, LANES):
        for col in range(0, words.shape[1], CHUNK):
            dot_rows8(words, s0 + j, col, qwords, acc, j)
    for j in range(full, n):
        total = np.int32(0)
        for g in range(words.shape[1]):
            w = words[s0 + j, g]
            q = qwords[g]
            for b in range(4):
                sb = np.int32((w >> np.uint32(8 * b)) & np.uint32(255))
                sb = sb - 256 if sb > 127 else sb
                total += np.int32((q >> np.uint32(8 * b)) & np.uint32(255)) * sb
        acc[j] = total
