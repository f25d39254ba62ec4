"""Software prefetch for numba kernels: ask for a matrix row before it is needed.

A graph walk reads the rows of a node's neighbours in an order the hardware cannot predict, so
each row costs a full memory latency (measured with a random gather: docs/design-notes.md).
Announcing every row of a neighbour list before computing the first distance lets those misses
overlap. ``prefetch_row`` emits LLVM's ``llvm.prefetch`` (read, keep in all cache levels) for
each cache line of the row, up to ``MAX_LINES`` lines; it changes no value.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

LINE = 64
MAX_LINES = 16  # 1 KiB: whole rows up to 256 float32 dimensions, the head of longer ones


@intrinsic
def prefetch_row(typingctx, matrix, row):
    """Prefetch row ``row`` of a C-contiguous 2-D array (no effect on values)."""
    if not (isinstance(matrix, types.Array) and matrix.ndim == 2 and matrix.layout == "C"
            and isinstance(row, types.Integer)):
        return None
    sig = types.void(matrix, row)

    def codegen(context, builder, signature, args):
        ary_t = signature.args[0]
        ary = context.make_array(ary_t)(context, builder, args[0])
        r = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=ary_t.layout,
            inds=[r, zero], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        base = builder.bitcast(ptr, i8p)
        row_bytes = builder.mul(cgutils.unpack_tuple(builder, ary.shape)[1],
                                context.get_constant(types.intp, ary_t.dtype.bitwidth // 8))
        for k in range(MAX_LINES):
            offset = context.get_constant(types.intp, k * LINE)
            inside = builder.icmp_signed("<", offset, row_bytes)
            with builder.if_then(inside):
                builder.call(fn, [builder.gep(base, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch_span(typingctx, matrix, row, start, count):
    """Prefetch elements start .. start + count of row ``row`` of a C-contiguous 2-D array: a
    cluster's run of codes or factors, read while the cluster before it is scanned."""
    if not (isinstance(matrix, types.Array) and matrix.ndim == 2 and matrix.layout == "C"
            and isinstance(row, types.Integer) and isinstance(start, types.Integer)
            and isinstance(count, types.Integer)):
        return None
    sig = types.void(matrix, row, start, count)

    def codegen(context, builder, signature, args):
        ary_t = signature.args[0]
        ary = context.make_array(ary_t)(context, builder, args[0])
        r, s0, n = (context.cast(builder, a, t, types.intp)
                    for a, t in zip(args[1:], signature.args[1:]))
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=ary_t.layout,
            inds=[r, s0], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        base = builder.bitcast(ptr, i8p)
        nbytes = builder.mul(n, context.get_constant(types.intp, ary_t.dtype.bitwidth // 8))
        line = context.get_constant(types.intp, LINE)
        with cgutils.for_range_slice(builder, context.get_constant(types.intp, 0), nbytes,
                                     line) as (offset, _):
            builder.call(fn, [builder.gep(base, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
