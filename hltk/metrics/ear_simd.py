"""The ear model's recursions (gammatone, IHC adaptation) on four rows at once, in explicit
SIMD lanes.

numba compiles the row kernels of :mod:`hltk.metrics.ear_compiled` as scalar code (it turns
LLVM's SLP vectoriser off, and a lane loop over state arrays keeps the states in memory, which
puts a store and a load on the recursion's critical path). One gammatone row is two
recursions (the real and imaginary parts of the demodulated signal), so four rows are eight
independent recursions with the same structure: one 8-wide vector of float64 per state; the
IHC filter of four rows is a 4-wide one. :func:`gammatone_lanes` and :func:`ihc_lanes` are
numba intrinsics that write those loops in LLVM IR with vector types, so the states stay in
registers from one sample to the next; LLVM lowers the vectors to whatever the CPU has (one
AVX-512 register, two AVX ones, four SSE2 ones).

The arithmetic is the scalar kernels' operation for operation (the gammatone: scipy
``lfilter``'s transposed direct form II with the fused multiply-adds LLVM forms from the
scalar code under ``fastmath={"contract"}``, written out here as ``llvm.fma``; the IHC step
without contraction, as its kernel is compiled), so the outputs equal the scalar kernels'
bit for bit (tested). Measured on the 2-core VM, four rows of 96 000 samples, per
row-sample: gammatone 1.3-1.5 against 2.7 ns; IHC 0.9 against 2.0 ns (1.7-2.1 against
2.7-3.0 with the BM rescaling).

numba caches a kernel that calls these intrinsics keyed on the caller's source file only:
after editing this module, clear ``hltk/metrics/__pycache__/ear_compiled.*.nb*``.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["gammatone_lanes", "ihc_lanes", "LANE_ROWS"]

#: rows per call of :func:`gammatone_lanes` (two lanes each: real and imaginary parts)
LANE_ROWS = 4

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_WIDE = ir.VectorType(_F64, 2 * LANE_ROWS)
_HALF = ir.VectorType(_F64, LANE_ROWS)
_LENGTHS = ir.VectorType(_I64, LANE_ROWS)
_FLAGS = ir.VectorType(ir.IntType(1), LANE_ROWS)
#: the IHC path's ``small`` (``ear_compiled._SMALL``)
_SMALL = 1e-30


def _mask(values: list[int]) -> ir.Constant:
    return ir.Constant(ir.VectorType(_I32, len(values)), [ir.Constant(_I32, v) for v in values])


def _i64(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


class _Arrays:
    """Pointer arithmetic on numba arrays inside an intrinsic's code generation."""

    def __init__(self, context: Any, builder: ir.IRBuilder) -> None:
        self.context = context
        self.builder = builder

    def data(self, array_type: types.Array, value: ir.Value) -> ir.Value:
        return self.context.make_array(array_type)(self.context, self.builder, value).data

    def row(self, array_type: types.Array, value: ir.Value, row: ir.Value) -> ir.Value:
        """Pointer to ``array[row, 0]`` of a 2-D array (its row stride, in bytes)."""
        array = self.context.make_array(array_type)(self.context, self.builder, value)
        stride = cgutils.unpack_tuple(self.builder, array.strides, 2)[0]
        base = self.builder.bitcast(array.data, ir.IntType(8).as_pointer())
        start = self.builder.gep(base, [self.builder.mul(row, stride)])
        return self.builder.bitcast(start, array.data.type)

    def load_wide(self, pointer: ir.Value, index: int, vector: ir.VectorType) -> ir.Value:
        at = self.builder.gep(pointer, [_i64(index)])
        return self.builder.load(self.builder.bitcast(at, vector.as_pointer()), align=8)

    def store_wide(self, value: ir.Value, pointer: ir.Value, index: int) -> None:
        at = self.builder.gep(pointer, [_i64(index)])
        self.builder.store(value, self.builder.bitcast(at, value.type.as_pointer()), align=8)

    def indices(self, array_type: types.Array, value: ir.Value) -> list[ir.Value]:
        """The :data:`LANE_ROWS` leading int64 values of a 1-D array, as scalars."""
        data = self.data(array_type, value)
        return [self.builder.load(self.builder.gep(data, [_i64(j)])) for j in range(LANE_ROWS)]

    def rows(self, array_type: types.Array, value: ir.Value,
             rows: list[ir.Value]) -> list[ir.Value]:
        """Pointers to the given rows of a 2-D array."""
        return [self.row(array_type, value, r) for r in rows]

    def starts(self, array_type: types.Array, value: ir.Value,
               offsets: list[ir.Value]) -> list[ir.Value]:
        """Pointers into a 1-D buffer at the given element offsets."""
        data = self.data(array_type, value)
        return [self.builder.gep(data, [at]) for at in offsets]

    def gather(self, pointers: list[ir.Value], t: ir.Value) -> ir.Value:
        """``[p[t] for p in pointers]`` as one vector (scalar loads)."""
        vector = ir.Constant(ir.VectorType(_F64, len(pointers)), ir.Undefined)
        for j, pointer in enumerate(pointers):
            vector = self.builder.insert_element(
                vector, self.builder.load(self.builder.gep(pointer, [t])), ir.Constant(_I32, j))
        return vector

    def scatter(self, vector: ir.Value, pointers: list[ir.Value], t: ir.Value) -> None:
        """``p[t] = vector[j]`` for each lane's pointer (scalar stores)."""
        for j, pointer in enumerate(pointers):
            self.builder.store(self.builder.extract_element(vector, ir.Constant(_I32, j)),
                               self.builder.gep(pointer, [t]))

    def fma(self, a: ir.Value, b: ir.Value, c: ir.Value) -> ir.Value:
        """``a * b + c`` rounded once (``llvm.fma`` on the operands' float64 vector type)."""
        kind = a.type
        function = cgutils.get_or_insert_function(
            self.builder.module, ir.FunctionType(kind, [kind, kind, kind]),
            f"llvm.fma.v{kind.count}f64")
        return self.builder.call(function, [a, b, c])

    def splat(self, value: ir.Value, count: int) -> ir.Value:
        """A scalar in every lane."""
        vector = ir.Constant(ir.VectorType(value.type, count), ir.Undefined)
        vector = self.builder.insert_element(vector, value, ir.Constant(_I32, 0))
        return self.builder.shuffle_vector(vector, vector, _mask([0] * count))


class _Loop:
    """``for t in range(start, stop)`` in IR with vector states carried in phi nodes:
    ``loop = _Loop(builder, start, stop, initial)``, then ``loop.t`` and ``loop.states`` in
    the body, ``loop.close(new_states)`` at its end; ``loop.states`` are the final values
    after that."""

    def __init__(self, builder: ir.IRBuilder, start: ir.Value, stop: ir.Value,
                 initial: list[ir.Value]) -> None:
        self.builder = builder
        entry = builder.basic_block
        self.head = builder.append_basic_block("lanes.loop")
        body = builder.append_basic_block("lanes.body")
        self.done = builder.append_basic_block("lanes.done")
        builder.branch(self.head)
        builder.position_at_end(self.head)
        self.t = builder.phi(_I64)
        self.t.add_incoming(start, entry)
        self.states = [builder.phi(value.type) for value in initial]
        for phi, value in zip(self.states, initial, strict=True):
            phi.add_incoming(value, entry)
        builder.cbranch(builder.icmp_signed("<", self.t, stop), body, self.done)
        builder.position_at_end(body)

    def close(self, new_states: list[ir.Value]) -> None:
        end = self.builder.basic_block
        self.t.add_incoming(self.builder.add(self.t, _i64(1)), end)
        for phi, value in zip(self.states, new_states, strict=True):
            phi.add_incoming(value, end)
        self.builder.branch(self.head)
        self.builder.position_at_end(self.done)


def _gammatone_lanes(typingctx, signal, power, bm, rows, cosine, sine, coefficients, gains,
                    start, stop, state, want_bm):  # type: ignore[no-untyped-def]
    """Samples ``start .. stop - 1`` of the gammatone recursion of :data:`LANE_ROWS` rows.

    Arguments (numba values): ``signal, power, bm``: 2-D float64 arrays with contiguous rows
    (``bm`` unused unless ``want_bm``); ``rows``: int64[4], the rows to run; ``cosine, sine``:
    the carrier; ``coefficients``: float64[48], ``b1, b2, a1, a2, a3, a4`` each for the eight
    lanes (row ``j``'s in lanes ``j`` and ``4 + j``); ``gains``: float64[4]; ``state``:
    float64[32], the four state vectors (lanes as the coefficients; real parts of the rows
    first), read at the start and written back at the end; ``want_bm``: a literal bool.

    Per sample and row, as ``ear_compiled._gammatone_step``: ``power = yr^2 + yi^2`` and
    ``bm = gain (yr cos - yi sin)``.
    """
    if not isinstance(want_bm, types.BooleanLiteral):
        return None
    keep_bm = bool(want_bm.literal_value)
    sig = types.void(signal, power, bm, rows, cosine, sine, coefficients, gains, start, stop,
                     state, want_bm)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        arrays = _Arrays(context, builder)
        kinds = signature.args
        (signal_v, power_v, bm_v, rows_v, cos_v, sin_v, coef_v, gains_v, start_v, stop_v,
         state_v, _) = args
        start_v = context.cast(builder, start_v, kinds[8], types.int64)
        stop_v = context.cast(builder, stop_v, kinds[9], types.int64)
        fma = arrays.fma
        row_index = arrays.indices(kinds[3], rows_v)
        x_rows = arrays.rows(kinds[0], signal_v, row_index)
        p_rows = arrays.rows(kinds[1], power_v, row_index)
        b_rows = arrays.rows(kinds[2], bm_v, row_index) if keep_bm else []
        cos_p = arrays.data(kinds[4], cos_v)
        sin_p = arrays.data(kinds[5], sin_v)
        coef_p = arrays.data(kinds[6], coef_v)
        b1, b2, a1, a2, a3, a4 = (arrays.load_wide(coef_p, 2 * LANE_ROWS * k, _WIDE)
                                  for k in range(6))
        gain = arrays.load_wide(arrays.data(kinds[7], gains_v), 0, _HALF)
        state_p = arrays.data(kinds[10], state_v)
        initial = [arrays.load_wide(state_p, 2 * LANE_ROWS * k, _WIDE) for k in range(4)]
        undef_wide = ir.Constant(_WIDE, ir.Undefined)
        low = _mask(list(range(LANE_ROWS)))
        high = _mask(list(range(LANE_ROWS, 2 * LANE_ROWS)))

        loop = _Loop(builder, start_v, stop_v, initial)
        t = loop.t
        # [c, c, c, c, -s, -s, -s, -s]: the carrier of the real and the imaginary lanes
        c = builder.load(builder.gep(cos_p, [t]))
        minus_s = builder.fneg(builder.load(builder.gep(sin_p, [t])))
        carrier = builder.insert_element(undef_wide, c, ir.Constant(_I32, 0))
        carrier = builder.insert_element(carrier, minus_s, ir.Constant(_I32, LANE_ROWS))
        carrier = builder.shuffle_vector(
            carrier, undef_wide, _mask([0] * LANE_ROWS + [LANE_ROWS] * LANE_ROWS))
        x = arrays.gather(x_rows, t)
        x = builder.shuffle_vector(x, x, _mask(list(range(LANE_ROWS)) * 2))
        s0, s1, s2, s3 = loop.states
        xr = builder.fmul(x, carrier)  # xr and xi = x * -s
        y = builder.fadd(s0, xr)
        minus_y = builder.fneg(y)
        new_states = [fma(minus_y, a1, fma(xr, b1, s1)), fma(minus_y, a2, fma(xr, b2, s2)),
                      fma(minus_y, a3, s3), builder.fmul(minus_y, a4)]
        # the outputs with the scalar kernel's contractions: yr yr + (yi yi) and
        # yr c + (-(yi s)), each one fused multiply-add
        y_re = builder.shuffle_vector(y, undef_wide, low)
        y_im = builder.shuffle_vector(y, undef_wide, high)
        arrays.scatter(fma(y_re, y_re, builder.fmul(y_im, y_im)), p_rows, t)
        if keep_bm:
            minus_yi_s = builder.fmul(y_im, builder.shuffle_vector(carrier, undef_wide, high))
            out_bm = builder.fmul(gain, fma(
                y_re, builder.shuffle_vector(carrier, undef_wide, low), minus_yi_s))
            arrays.scatter(out_bm, b_rows, t)
        loop.close(new_states)
        for k, final in enumerate(loop.states):
            arrays.store_wide(final, state_p, 2 * LANE_ROWS * k)
        return context.get_dummy_value()

    return sig, codegen


#: the intrinsic, callable from numba-compiled code only (typed ``Any``: its Python signature
#: starts with numba's typing context)
gammatone_lanes: Any = intrinsic(prefer_literal=True)(_gammatone_lanes)


def _ihc_lanes(typingctx, env_db, env_out, env_at, compressed, bm, bm_out, bm_at, rows,
               offsets, lengths, coefficients, steps, want_bm):  # type: ignore[no-untyped-def]
    """The dB conversion and IHC adaptation of :data:`LANE_ROWS` rows, one lane each, as
    ``ear_compiled._ihc_step`` (and the BM rescaling of ``ear_compiled._ihc_kernel``'s BM
    pass, in the same loop).

    Arguments (numba values): ``env_db``: 2-D, ``log10(compressed + small)`` in, the dB
    values ``max(offset + 20 log, 0)`` out (in place); ``env_out``: 1-D buffer and
    ``env_at``: int64[4], each row's start in it (the adapted envelope, zero before a row's
    first non-zero input and at or past its length); ``compressed, bm``: 2-D; ``bm_out,
    bm_at``: as ``env_out, env_at``, ``bm (out + small) / (compressed + small)``; ``rows``:
    int64[4], the rows of the 2-D arrays; ``offsets``: float64[4]; ``lengths``: int64[4];
    ``coefficients``: float64[5], ``b0, b1, b2, a1, a2``; ``steps``: samples per row;
    ``want_bm``: a literal bool (``bm, bm_out, bm_at`` unused without it).
    """
    if not isinstance(want_bm, types.BooleanLiteral):
        return None
    keep_bm = bool(want_bm.literal_value)
    sig = types.void(env_db, env_out, env_at, compressed, bm, bm_out, bm_at, rows, offsets,
                     lengths, coefficients, steps, want_bm)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        arrays = _Arrays(context, builder)
        kinds = signature.args
        (env_v, out_v, out_at_v, comp_v, bm_v, bm_out_v, bm_at_v, rows_v, offsets_v,
         lengths_v, coef_v, steps_v, _) = args
        steps_v = context.cast(builder, steps_v, kinds[11], types.int64)
        row_index = arrays.indices(kinds[7], rows_v)
        env_rows = arrays.rows(kinds[0], env_v, row_index)
        out_rows = arrays.starts(kinds[1], out_v, arrays.indices(kinds[2], out_at_v))
        comp_rows = arrays.rows(kinds[3], comp_v, row_index) if keep_bm else []
        bm_rows = arrays.rows(kinds[4], bm_v, row_index) if keep_bm else []
        bm_out_rows = (arrays.starts(kinds[5], bm_out_v, arrays.indices(kinds[6], bm_at_v))
                       if keep_bm else [])
        offset = arrays.load_wide(arrays.data(kinds[8], offsets_v), 0, _HALF)
        length_p = arrays.data(kinds[9], lengths_v)
        length = builder.load(builder.bitcast(length_p, _LENGTHS.as_pointer()), align=8)
        coef_p = arrays.data(kinds[10], coef_v)
        b0, b1, b2, a1, a2 = (arrays.splat(builder.load(builder.gep(coef_p, [_i64(k)])),
                                           LANE_ROWS) for k in range(5))
        zero = ir.Constant(_HALF, [0.0] * LANE_ROWS)
        twenty = ir.Constant(_HALF, [20.0] * LANE_ROWS)
        small = ir.Constant(_HALF, [_SMALL] * LANE_ROWS)
        not_started = ir.Constant(_FLAGS, [0] * LANE_ROWS)

        loop = _Loop(builder, _i64(0), steps_v, [zero, zero, not_started])
        t = loop.t
        z0, z1, started = loop.states
        value = builder.fadd(offset, builder.fmul(twenty, arrays.gather(env_rows, t)))
        # numba's max(value, 0.0): 0.0 if 0.0 > value else value
        x = builder.select(builder.fcmp_ordered(">", zero, value), zero, value)
        y = builder.fadd(z0, builder.fmul(b0, x))
        new0 = builder.fsub(builder.fadd(z1, builder.fmul(x, b1)), builder.fmul(y, a1))
        new1 = builder.fsub(builder.fmul(x, b2), builder.fmul(y, a2))
        started = builder.or_(started, builder.fcmp_unordered("!=", x, zero))
        late = builder.icmp_signed(">=", arrays.splat(t, LANE_ROWS), length)
        keep = builder.and_(builder.and_(builder.fcmp_ordered(">", y, zero), started),
                            builder.not_(late))
        out = builder.select(keep, y, zero)
        arrays.scatter(x, env_rows, t)
        arrays.scatter(out, out_rows, t)
        if keep_bm:
            # pyclarity's two rescalings with the common factor cancelled, as the scalar pass
            scaled = builder.fdiv(
                builder.fmul(arrays.gather(bm_rows, t), builder.fadd(out, small)),
                builder.fadd(arrays.gather(comp_rows, t), small))
            arrays.scatter(scaled, bm_out_rows, t)
        loop.close([new0, new1, started])
        return context.get_dummy_value()

    return sig, codegen


#: :func:`_ihc_lanes` as an intrinsic (see :data:`gammatone_lanes`)
ihc_lanes: Any = intrinsic(prefer_literal=True)(_ihc_lanes)
