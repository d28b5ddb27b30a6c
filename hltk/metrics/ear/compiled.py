"""The ear model's per-channel loop as compiled row kernels (CPU, no autograd).

:func:`hltk.metrics.ear.model.ear_model` runs each auditory channel as some 40 full-length
torch/numpy passes over a ``[B, 2, T]`` float64 batch (demodulation, two ``lfilter`` calls per
gammatone, magnitude, masks, dB conversions, OHC and IHC filters, shifts, stacking), which is
memory traffic more than arithmetic. Here one channel of one signal (a *row*) goes through
numba kernels that keep each sample in registers from the demodulation to the BM output; only
the transcendental functions (``log10``, ``10**x``) stay numpy passes, because numpy's are
vectorised and numba's scalar calls are not.

The arithmetic follows the torch path step for step and pyclarity where it matters for
rounding: the gammatone is ``scipy.signal.lfilter``'s transposed direct form II on the
demodulated signal, term for term, so the envelopes equal the scipy ones bit for bit; the
IHC threshold noise is numpy's legacy stream replayed by :mod:`hltk.metrics.ear.legacy_rng`
and added in place. Everything runs in float64. The kernels release the GIL, so the scoring
engine's chunk workers (threads) run them in parallel.

SIMD lanes (the last section of this module). numba compiles the row kernels as scalar code
(it turns LLVM's SLP vectoriser off, and a lane loop over state arrays keeps the states in
memory, which puts a store and a load on the recursion's critical path). One gammatone row is
two recursions (the real and imaginary parts of the demodulated signal), so four rows are
eight independent recursions with the same structure: one 8-wide vector of float64 per state;
the IHC filter of four rows is a 4-wide one. :data:`gammatone_lanes` and :data:`ihc_lanes` are
numba intrinsics that write those loops in LLVM IR with vector types, so the states stay in
registers from one sample to the next; LLVM lowers the vectors to whatever the CPU has (one
AVX-512 register, two AVX ones, four SSE2 ones). Their arithmetic is the scalar kernels'
operation for operation (the gammatone: scipy ``lfilter``'s transposed direct form II with the
fused multiply-adds LLVM forms from the scalar code under ``fastmath={"contract"}``, written
out as ``llvm.fma``; the IHC step without contraction, as its kernel is compiled), so the
outputs equal the scalar kernels' bit for bit (tested). Speed: ``bench/torch_metrics_speed.py``.

numba's on-disk cache keys a kernel on its own source file only, and a kernel that calls a
compiled function or intrinsic from another module inlines it without noticing when that
module changes. The intrinsics therefore live here, beside the kernels that call them, so that
editing them invalidates those kernels' cache (``tests/test_ear_model.py`` checks that no
cached kernel of the package calls compiled code of another module).
"""
from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "gammatone_rows",
    "first_order_rows",
    "shift_rows",
    "ihc_rows",
    "offset_rows",
    "ohc_exponent_rows",
    "group_delay_rows",
    "decimating_fir_rows",
    "segment_covariance_rows",
    "alignment_blocks",
    "alignment_least_size",
    "correlation_at",
]

_SMALL = 1e-30
_LN10_20 = math.log(10.0) / 20.0


def _flat_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D float64 array whose rows are contiguous but not adjacent (``a[1::2]``,
    ``a[:, n]`` of a 3-D array) as ``(buffer, offsets)``: a 1-D view spanning them and each
    row's start in it. Kernels that slice ``buffer[offset : offset + T]`` see contiguous
    rows; given the 2-D view itself, numba compiles strided (gather) loads, 3-8x slower."""
    if rows.size == 0:
        return np.empty(0), np.zeros(rows.shape[0] if rows.ndim else 0, np.int64)
    if rows.ndim != 2 or rows.dtype != np.float64 or rows.strides[1] != 8 or (
            rows.shape[0] > 1 and (rows.strides[0] <= 0 or rows.strides[0] % 8)):
        raise ValueError("rows must be a 2-D float64 array with contiguous rows")
    count, steps = rows.shape
    stride = rows.strides[0] // 8 if count > 1 else steps
    span = (count - 1) * stride + steps if count else 0
    buffer = np.lib.stride_tricks.as_strided(rows, shape=(span,), strides=(8,))
    return buffer, np.arange(count, dtype=np.int64) * stride


@nb.njit(cache=True, nogil=True, inline="always")
def _gammatone_step(x, c, s, state, coefficients):  # type: ignore[no-untyped-def]
    """One sample of one row: ``lfilter([1, 4a, 4a^2], [1, -4a, 6a^2, -4a^3, a^4])`` on
    ``x cos`` and ``x (-sin)`` (scipy's transposed direct form II, term for term):
    ``(yr, yi, state')``."""
    b1, b2, a1, a2, a3, a4 = coefficients
    re0, re1, re2, re3, im0, im1, im2, im3 = state
    xr = x * c
    yr = re0 + 1.0 * xr
    re0 = re1 + xr * b1 - yr * a1
    re1 = re2 + xr * b2 - yr * a2
    re2 = re3 - yr * a3
    re3 = 0.0 - yr * a4
    xi = x * -s
    yi = im0 + 1.0 * xi
    im0 = im1 + xi * b1 - yi * a1
    im1 = im2 + xi * b2 - yi * a2
    im2 = im3 - yi * a3
    im3 = 0.0 - yi * a4
    return yr, yi, (re0, re1, re2, re3, im0, im1, im2, im3)


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"}, inline="always")
def _gammatone_single(signal, row, start, stop, state, coefficients, gain, cosine, sine,
                      power_out, bm, want_bm):  # type: ignore[no-untyped-def]
    """Samples ``start .. stop - 1`` of one row from ``state`` (a pair's longer row, or an
    odd last row)."""
    x_row = signal[row]
    p_row = power_out[row]
    for t in range(start, stop):
        c = cosine[t]
        s = sine[t]
        yr, yi, state = _gammatone_step(x_row[t], c, s, state, coefficients)
        p_row[t] = yr * yr + yi * yi
        if want_bm:
            bm[row, t] = gain * (yr * c - yi * s)


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})  # fused multiply-adds shorten the recursion's critical path
def _gammatone_kernel(signal, lengths, coefficients, gains, cosine, sine, power_out,
                      bm):  # type: ignore[no-untyped-def]
    """``power_out[r] = |v_r|^2`` (no gain) and ``bm[r] = gain Re(v e^{jwn})`` for
    ``t < lengths[r]``. Rows go four at a time in SIMD lanes (the SIMD lanes below,
    2x faster) up to the shortest of the four lengths, each row then on its own from the
    lanes' state; the rest two at a time: one recursion is bound by its latency (an add and a
    multiply-add per sample), and two independent ones fill each other's gaps. The square
    root of the envelope is left to a vectorised pass."""
    rows = signal.shape[0]
    want_bm = bm.shape[0] == rows
    zero = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    width = 2 * LANE_ROWS
    lane_rows = np.empty(LANE_ROWS, np.int64)
    lane_coefficients = np.empty(6 * width)
    lane_gains = np.empty(LANE_ROWS)
    lane_state = np.empty(4 * width)
    r = 0
    while r + LANE_ROWS <= rows:
        shortest = lengths[r]
        for j in range(LANE_ROWS):
            lane_rows[j] = r + j
            lane_gains[j] = gains[r + j]
            shortest = min(shortest, lengths[r + j])
            for k in range(6):
                lane_coefficients[k * width + j] = coefficients[r + j, k]
                lane_coefficients[k * width + LANE_ROWS + j] = coefficients[r + j, k]
        lane_state[:] = 0.0
        if want_bm:
            gammatone_lanes(signal, power_out, bm, lane_rows, cosine, sine, lane_coefficients,
                            lane_gains, 0, shortest, lane_state, True)
        else:
            gammatone_lanes(signal, power_out, bm, lane_rows, cosine, sine, lane_coefficients,
                            lane_gains, 0, shortest, lane_state, False)
        for j in range(LANE_ROWS):
            q = r + j
            state = (lane_state[j], lane_state[width + j], lane_state[2 * width + j],
                     lane_state[3 * width + j], lane_state[LANE_ROWS + j],
                     lane_state[width + LANE_ROWS + j], lane_state[2 * width + LANE_ROWS + j],
                     lane_state[3 * width + LANE_ROWS + j])
            cq = (coefficients[q, 0], coefficients[q, 1], coefficients[q, 2], coefficients[q, 3],
                  coefficients[q, 4], coefficients[q, 5])
            _gammatone_single(signal, q, shortest, lengths[q], state, cq, gains[q], cosine,
                              sine, power_out, bm, want_bm)
        r += LANE_ROWS
    while r < rows:
        paired = r + 1 < rows
        q = r + 1 if paired else r
        cr = (coefficients[r, 0], coefficients[r, 1], coefficients[r, 2], coefficients[r, 3],
              coefficients[r, 4], coefficients[r, 5])
        cq = (coefficients[q, 0], coefficients[q, 1], coefficients[q, 2], coefficients[q, 3],
              coefficients[q, 4], coefficients[q, 5])
        gr, gq = gains[r], gains[q]
        xr_row, xq_row = signal[r], signal[q]
        pr_row, pq_row = power_out[r], power_out[q]
        state_r = zero
        state_q = zero
        both = min(lengths[r], lengths[q]) if paired else 0
        for t in range(both):
            c = cosine[t]
            s = sine[t]
            yr, yi, state_r = _gammatone_step(xr_row[t], c, s, state_r, cr)
            zr, zi, state_q = _gammatone_step(xq_row[t], c, s, state_q, cq)
            pr_row[t] = yr * yr + yi * yi
            pq_row[t] = zr * zr + zi * zi
            if want_bm:
                bm[r, t] = gr * (yr * c - yi * s)
                bm[q, t] = gq * (zr * c - zi * s)
        _gammatone_single(signal, r, both, lengths[r], state_r, cr, gr, cosine, sine,
                          power_out, bm, want_bm)
        if paired:
            _gammatone_single(signal, q, both, lengths[q], state_q, cq, gq, cosine, sine,
                              power_out, bm, want_bm)
        r += 2


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"reassoc"})  # the sum vectorises (rounding ~1e-16 relative)
def _envelope_kernel(power_in, lengths, gains, floor, power, bm,
                     squares):  # type: ignore[no-untyped-def]
    """``|v|^2 -> max(g |v|, floor)`` (or ``max(g^2 |v|^2, floor)``) in place, the sums of
    squares, and the tails past each row's length (floor, and BM zero)."""
    rows, steps = power_in.shape
    want_bm = bm.shape[0] == rows
    for r in range(rows):
        row = power_in[r]
        valid = lengths[r]
        gain = gains[r]
        total = 0.0
        if power:
            gain2 = gain * gain
            for t in range(valid):
                value = gain2 * row[t]
                total += value
                row[t] = max(value, floor)
        else:
            for t in range(valid):
                value = gain * math.sqrt(row[t])
                total += value * value
                row[t] = max(value, floor)
        for t in range(valid, steps):
            row[t] = floor
        if want_bm:
            bm_row = bm[r]
            for t in range(valid, steps):
                bm_row[t] = 0.0
        squares[r] = total


def gammatone_rows(
    signal: np.ndarray,
    lengths: np.ndarray,
    poles: np.ndarray,
    gains: np.ndarray,
    carrier: tuple[np.ndarray, np.ndarray],
    envelope: np.ndarray,
    bm: np.ndarray | None = None,
    floor: float = 0.0,
    power: bool = False,
) -> np.ndarray:
    """One gammatone channel (``eb.gammatone_basilar_membrane``) on each row, in place.

    ``envelope[r] = gains[r] * |v_r|`` and ``bm[r] = gains[r] * Re(v_r e^{jwn})`` for
    ``t < lengths[r]``, zero after, where ``v_r`` is pyclarity's direct-form filter
    ``(1 + 4a z^-1 + 4a^2 z^-2) / (1 - a z^-1)^4`` (``a = poles[r]``) on the demodulated row,
    in scipy ``lfilter``'s transposed direct form II with fused multiply-adds (22 % faster
    than the separate roundings; the quadruple pole near 1 makes the recursion lose ~3e-8
    of relative precision either way).

    Args:
        signal: ``[R, T]`` float64.
        lengths: ``[R]`` valid samples per row.
        poles, gains: ``[R]``.
        carrier: ``(cos(w n), sin(w n))``, each ``[T]``.
        envelope: ``[R, T]`` output.
        bm: ``[R, T]`` output, or None.
        floor: the envelope is stored as ``max(envelope, floor)`` (the OHC path's clamp
            before its ``log10``); the sums are of the unclamped values.
        power: store the squared envelope ``|g v|^2`` instead (the control path, which only
            needs its level in dB and its RMS; ``floor`` then applies to the square).

    Returns:
        ``[R]`` sums of squares of the envelope rows.
    """
    # the coefficients exactly as gammatone_lfilter builds them for scipy (Python floats)
    coefficients = np.array([[4.0 * a, 4.0 * a * a, -4.0 * a, 6.0 * a * a, -4.0 * a**3, a**4]
                             for a in np.asarray(poles, np.float64).tolist()]).reshape(-1, 6)
    squares = np.empty(signal.shape[0])
    lengths = np.minimum(np.asarray(lengths, np.int64), signal.shape[1])
    gains = np.asarray(gains, np.float64)
    bm_array = bm if bm is not None else np.empty((0, 0))
    _gammatone_kernel(signal, lengths, coefficients, gains, carrier[0], carrier[1], envelope,
                      bm_array)
    _envelope_kernel(envelope, lengths, gains, float(floor), bool(power), bm_array, squares)
    return squares


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _ohc_exponent_kernel(values, level, knee, slope, attenuation):  # type: ignore[no-untyped-def]
    rows, steps = values.shape
    for r in range(rows):
        row = values[r]
        lvl, kn, sl, att = level[r], knee[r], slope[r], attenuation[r]
        for t in range(steps):
            v = lvl + 10.0 * row[t]
            v = min(v, 100.0)
            v = max(v, kn)
            row[t] = (-att - (v - kn) * sl) * _LN10_20


def ohc_exponent_rows(log_power: np.ndarray, level: np.ndarray, knee: np.ndarray,
                      slope: np.ndarray, attenuation: np.ndarray) -> None:
    """In place, ``log10(control^2) -> gain_dB * ln(10) / 20`` of the OHC compression
    (``eb.env_compress_basilar_membrane``): the level ``level + 10 log10(control^2)`` clipped to
    ``[knee, 100]`` dB SPL, gain ``-attenuation - (level - knee) * slope`` dB; all ``[R]``.
    ``exp`` of the result is the linear gain (numpy's ``exp`` is vectorised here, its
    ``power`` is not; the two differ by ~1e-15 relative)."""
    _ohc_exponent_kernel(log_power, *(np.ascontiguousarray(v, np.float64)
                                        for v in (level, knee, slope, attenuation)))


@nb.njit(cache=True, nogil=True, inline="always")
def _first_order_step(x, z, b0, b1, a1):  # type: ignore[no-untyped-def]
    """One step of lfilter's transposed direct form II, first order: ``(y, z')``."""
    y = z + b0 * x
    return y, x * b1 - y * a1


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _first_order_kernel(gain, b0, b1, a1, envelope, bm):  # type: ignore[no-untyped-def]
    rows, steps = gain.shape
    want_bm = bm.shape[0] == rows
    r = 0
    # four rows interleaved: four independent recursions hide each other's latency (2.7x)
    while r + 4 <= rows:
        z0 = z1 = z2 = z3 = 0.0
        g0, g1, g2, g3 = gain[r], gain[r + 1], gain[r + 2], gain[r + 3]
        e0, e1, e2, e3 = envelope[r], envelope[r + 1], envelope[r + 2], envelope[r + 3]
        for t in range(steps):
            y0, z0 = _first_order_step(g0[t], z0, b0, b1, a1)
            y1, z1 = _first_order_step(g1[t], z1, b0, b1, a1)
            y2, z2 = _first_order_step(g2[t], z2, b0, b1, a1)
            y3, z3 = _first_order_step(g3[t], z3, b0, b1, a1)
            e0[t] *= y0
            e1[t] *= y1
            e2[t] *= y2
            e3[t] *= y3
            if want_bm:
                bm[r, t] *= y0
                bm[r + 1, t] *= y1
                bm[r + 2, t] *= y2
                bm[r + 3, t] *= y3
        r += 4
    for q in range(r, rows):
        z = 0.0
        for t in range(steps):
            y, z = _first_order_step(gain[q, t], z, b0, b1, a1)
            envelope[q, t] *= y
            if want_bm:
                bm[q, t] *= y


def first_order_rows(gain: np.ndarray, b: np.ndarray, a: np.ndarray, envelope: np.ndarray,
                     bm: np.ndarray | None = None) -> None:
    """``g = lfilter(b, a, gain)`` (first order) along each row, then ``envelope *= g`` and
    ``bm *= g`` in place: the smoothed OHC gain applied to both outputs."""
    if a[0] != 1.0:
        raise ValueError("a[0] must be 1")
    _first_order_kernel(gain, float(b[0]), float(b[1]), float(a[1]), envelope,
                        bm if bm is not None else np.empty((0, 0)))


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _shift_kernel(buffer, offsets, steps, delays, lengths):  # type: ignore[no-untyped-def]
    for r in range(offsets.shape[0]):
        row = buffer[offsets[r] : offsets[r] + steps]
        d = delays[r]
        length = min(lengths[r], steps)
        if d >= 0:
            for t in range(0, max(length - d, 0)):
                row[t] = row[t + d]
            for t in range(max(length - d, 0), steps):
                row[t] = 0.0
        else:
            for t in range(length - 1, -d - 1, -1):
                row[t] = row[t + d]
            for t in range(0, min(-d, steps)):
                row[t] = 0.0
            for t in range(max(length, 0), steps):
                row[t] = 0.0


def shift_rows(rows: np.ndarray, delays: np.ndarray, lengths: np.ndarray) -> None:
    """In place, as :func:`hltk.metrics.ear.filters.shift_signal`: ``delays > 0`` advance,
    ``< 0`` delay, zero fill, and zero at or past each row's length. ``rows [R, T]`` (rows
    contiguous, e.g. every other row of an array)."""
    buffer, offsets = _flat_rows(rows)
    _shift_kernel(buffer, offsets, rows.shape[1], np.asarray(delays, np.int64),
                  np.asarray(lengths, np.int64))


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _offset_kernel(source, offset, out):  # type: ignore[no-untyped-def]
    rows, steps = source.shape
    for r in range(rows):
        for t in range(steps):
            out[r, t] = source[r, t] + offset


def offset_rows(source: np.ndarray, offset: float, out: np.ndarray) -> None:
    """``out = source + offset`` (one compiled pass; numpy's would allocate or need a copy)."""
    _offset_kernel(source, float(offset), out)


@nb.njit(cache=True, nogil=True, inline="always")
def _ihc_step(log_value, offset, z0, z1, started, late, b0, b1, b2, a1,
              a2):  # type: ignore[no-untyped-def]
    """dB above threshold from ``log10(compressed + small)``, one step of the IHC filter
    (transposed direct form II), and the clamped output (zero before the first non-zero
    input and when ``late``, i.e. past the row's length): ``(x, out, z0', z1', started')``."""
    x = max(offset + 20.0 * log_value, 0.0)
    y = z0 + b0 * x
    z0 = z1 + x * b1 - y * a1
    z1 = x * b2 - y * a2
    started = started | (x != 0.0)  # bitwise: no short-circuit branches (unpredictable)
    out = y if (y > 0.0) & started & (not late) else 0.0
    return x, out, z0, z1, started


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _ihc_kernel(env_db, offsets, compressed, lengths, b, a, env_buffer, env_at, bm,
                bm_buffer, bm_at):  # type: ignore[no-untyped-def]
    """Rows four at a time in SIMD lanes (:data:`ihc_lanes`, the BM
    rescaled in the same loop), the rest one by one, with a BM pass after."""
    rows, steps = env_db.shape
    want_bm = bm.shape[0] == rows
    b0, b1, b2 = b[0], b[1], b[2]
    a1, a2 = a[1], a[2]
    coefficients = np.array([b0, b1, b2, a1, a2])
    lane_rows = np.empty(LANE_ROWS, np.int64)
    lane_env_at = np.empty(LANE_ROWS, np.int64)
    lane_bm_at = np.zeros(LANE_ROWS, np.int64)
    lane_offsets = np.empty(LANE_ROWS)
    lane_lengths = np.empty(LANE_ROWS, np.int64)
    r = 0
    while r + LANE_ROWS <= rows:
        for j in range(LANE_ROWS):
            lane_rows[j] = r + j
            lane_env_at[j] = env_at[r + j]
            lane_offsets[j] = offsets[r + j]
            lane_lengths[j] = lengths[r + j]
            if want_bm:
                lane_bm_at[j] = bm_at[r + j]
        if want_bm:
            ihc_lanes(env_db, env_buffer, lane_env_at, compressed, bm, bm_buffer, lane_bm_at,
                      lane_rows, lane_offsets, lane_lengths, coefficients, steps, True)
        else:
            ihc_lanes(env_db, env_buffer, lane_env_at, compressed, bm, bm_buffer, lane_bm_at,
                      lane_rows, lane_offsets, lane_lengths, coefficients, steps, False)
        r += LANE_ROWS
    lanes_end = r
    for k in range(lanes_end, rows):
        p = q = 0.0
        started = False
        valid = lengths[k]
        offset = offsets[k]
        w = env_buffer[env_at[k] : env_at[k] + steps]
        for t in range(steps):
            env_db[k, t], w[t], p, q, started = _ihc_step(
                env_db[k, t], offset, p, q, started, t >= valid, b0, b1, b2, a1, a2)
    if want_bm:  # the rows left out of the lanes: a separate pass, which vectorises
        for k in range(lanes_end, rows):
            comp_row = compressed[k]
            adapted_row = env_buffer[env_at[k] : env_at[k] + steps]
            bm_row = bm[k]
            target = bm_buffer[bm_at[k] : bm_at[k] + steps]
            for t in range(steps):
                # pyclarity's two rescalings, bm (x + s) / (c + s) then (a + s) / (x + s),
                # with the common factor cancelled (one division, a few ulp apart)
                target[t] = bm_row[t] * (adapted_row[t] + _SMALL) / (comp_row[t] + _SMALL)


def ihc_rows(log_envelope: np.ndarray, offsets: np.ndarray, compressed: np.ndarray,
             lengths: np.ndarray, b: np.ndarray, a: np.ndarray, out_env: np.ndarray,
             bm: np.ndarray | None = None, out_bm: np.ndarray | None = None) -> None:
    """dB above threshold, then IHC adaptation (``eb.inner_hair_cell_adaptation``), by row.

    ``env_db = max(offsets + 20 log_envelope, 0)`` (``log_envelope = log10(compressed +
    small)``; it is overwritten with ``env_db``), ``out_env = max(lfilter(b, a, env_db), 0)``
    (zero before the first non-zero input and at or past the row's length), and the BM signal
    rescaled by the two dB-to-linear steps as pyclarity, ``bm * (env_db + small) /
    (compressed + small) * (out_env + small) / (env_db + small)``, computed with ``env_db +
    small`` cancelled. ``b, a``: the second-order
    filter of :func:`hltk.metrics.ear.model.inner_hair_cell_filter`. ``out_env`` and
    ``out_bm`` need contiguous rows only (``a[:, n]`` of a ``[R, C, T]`` array).
    """
    if a[0] != 1.0:
        raise ValueError("a[0] must be 1")
    env_buffer, env_at = _flat_rows(out_env)
    bm_buffer, bm_at = _flat_rows(out_bm if out_bm is not None else np.empty((0, 0)))
    _ihc_kernel(log_envelope, np.ascontiguousarray(offsets, np.float64), compressed,
                np.asarray(lengths, np.int64),
                np.asarray(b, np.float64), np.asarray(a, np.float64), env_buffer, env_at,
                bm if bm is not None else np.empty((0, 0)), bm_buffer, bm_at)


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _group_delay_kernel(signals, delays, lengths):  # type: ignore[no-untyped-def]
    items, signals_per_item, channels, steps = signals.shape
    for i in range(items):
        length = min(lengths[i], steps)
        for s in range(signals_per_item):
            for c in range(channels):
                d = delays[i, c]
                row = signals[i, s, c]
                if d <= 0:
                    continue
                for t in range(length - 1, d - 1, -1):
                    row[t] = row[t - d]
                for t in range(0, min(d, steps)):
                    row[t] = 0.0


def group_delay_rows(signals: np.ndarray, delays: np.ndarray, lengths: np.ndarray) -> None:
    """Delay ``signals [B, S, C, T]`` in place by ``delays [B, C] >= 0`` samples inside each
    item's valid length (``eb.group_delay_compensate``: zero fill at the start)."""
    _group_delay_kernel(signals, np.asarray(delays, np.int64), np.asarray(lengths, np.int64))


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"reassoc", "contract"})  # the tap sum vectorises (rounding ~1e-16 rel.)
def _decimating_fir_kernel(signal, taps, left, step, out):  # type: ignore[no-untyped-def]
    rows, steps = signal.shape
    count = taps.shape[0]
    outputs = out.shape[1]
    for r in range(rows):
        row = signal[r]
        for k in range(outputs):
            start = k * step - left
            total = 0.0
            if start >= 0 and start + count <= steps:  # interior: fixed trip count, SIMD
                window = row[start : start + count]
                for j in range(count):
                    total += taps[j] * window[j]
            else:
                for j in range(max(0, -start), min(count, steps - start)):
                    total += taps[j] * row[start + j]
            out[r, k] = total


def decimating_fir_rows(signal: np.ndarray, taps: np.ndarray, left: int, step: int,
                        outputs: int) -> np.ndarray:
    """``out[r, k] = sum_j taps[j] * signal[r, k * step + j - left]`` (zero outside the row):
    a correlation computed only at the kept samples, as ``conv1d(pad(x, left), taps,
    stride=step)``, without autograd. ``signal [R, N] -> [R, outputs]``."""
    out = np.empty((signal.shape[0], outputs))
    _decimating_fir_kernel(np.ascontiguousarray(signal, np.float64),
                           np.ascontiguousarray(taps, np.float64), int(left), int(step), out)
    return out


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"reassoc", "contract"})  # the sums vectorise (rounding ~1e-16 rel.)
def _segment_covariance_kernel(x, y, window, hop, first, maxlag, inv_corr, inv_sum2, needed,
                               cov, ms_x, ms_y):  # type: ignore[no-untyped-def]
    channels, count = cov.shape
    length = window.shape[0]
    lags = 2 * maxlag + 1
    padded = np.zeros(length + 2 * maxlag)  # xs with maxlag zeros on each side
    xs = padded[maxlag : maxlag + length]
    ys = np.empty(length)
    for c in range(channels):
        x_row = x[c]
        y_row = y[c]
        for k in range(count):
            start = (first + k) * hop
            x_seg = x_row[start : start + length]
            y_seg = y_row[start : start + length]
            # the mean squares by reductions that only read (they vectorise), the segments
            # stored only for a tile that is needed
            mean_x = 0.0
            mean_y = 0.0
            for t in range(length):
                mean_x += x_seg[t] * window[t]
                mean_y += y_seg[t] * window[t]
            mean_x /= length
            mean_y /= length
            sum_x = 0.0
            sum_y = 0.0
            for t in range(length):
                dx = x_seg[t] * window[t] - mean_x
                dy = y_seg[t] * window[t] - mean_y
                sum_x += dx * dx
                sum_y += dy * dy
            sum_x *= inv_sum2
            sum_y *= inv_sum2
            ms_x[c, k] = sum_x
            ms_y[c, k] = sum_y
            if not needed[c, k]:
                cov[c, k] = 0.0
                continue
            for t in range(length):
                xs[t] = x_seg[t] * window[t] - mean_x
                ys[t] = y_seg[t] * window[t] - mean_y
            # sum_t xs[t + j - maxlag] ys[t] for each lag j: a dot product of fixed length
            # over the zero-padded segment, which vectorises
            peak = 0.0
            for j in range(lags):
                shifted = padded[j : j + length]
                total = 0.0
                for t in range(length):
                    total += shifted[t] * ys[t]
                peak = max(peak, abs(total * inv_corr[j]))
            if sum_x > _SMALL and sum_y > _SMALL:
                cov[c, k] = peak / math.sqrt(sum_x * sum_y)
            else:
                cov[c, k] = 0.0


def segment_covariance_rows(
    x: np.ndarray, y: np.ndarray, window: np.ndarray, hop: int, first: int, count: int,
    maxlag: int, needed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windowed, mean-removed segments ``first .. first + count - 1`` (start ``k * hop``,
    ``len(window)`` samples) of each row of ``x, y [C, N]``: the peak of the normalised
    cross-covariance within ``+/-maxlag`` (``eb.bm_covary``'s inner loop, by direct sums
    instead of FFTs), and the two mean squares (not yet doubled).

    ``needed [C, count]`` (bool, default all): the covariance of a tile that is not needed
    is left 0 (its mean squares are still computed); all False gives the mean squares alone.

    Returns:
        ``(covariance, ms_x, ms_y)``, each ``[C, count]``.
    """
    w = np.ascontiguousarray(window, np.float64)
    length = len(w)
    inv_corr = 1.0 / np.correlate(w, w, "full")[length - 1 - maxlag : maxlag + length]
    shape = (x.shape[0], count)
    cov, ms_x, ms_y = np.empty(shape), np.empty(shape), np.empty(shape)
    if (first + count - 1) * hop + length > min(x.shape[1], y.shape[1]):
        raise ValueError("segments run past the rows")
    if needed is None:
        needed = np.ones(shape, np.bool_)
    elif needed.shape != shape:
        raise ValueError(f"needed must be {shape}, got {needed.shape}")
    _segment_covariance_kernel(x, y, w, int(hop), int(first), int(maxlag), inv_corr,
                               1.0 / float(np.sum(w**2)), np.ascontiguousarray(needed, np.bool_),
                               cov, ms_x, ms_y)
    return cov, ms_x, ms_y


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"reassoc", "contract"})  # the sums vectorise (rounding ~1e-16 rel.)
def _block_rows_kernel(rows, block, max_lag, padded, energy):  # type: ignore[no-untyped-def]
    pairs = rows.shape[0] // 2
    steps = rows.shape[1]
    size = padded.shape[1]
    blocks = padded.shape[0] // rows.shape[0]
    for p in range(pairs):
        x = rows[2 * p]
        y = rows[2 * p + 1]
        total_x = 0.0
        total_y = 0.0
        for b in range(blocks):
            first = b * block
            own = max(min(block, steps - first), 0)
            reach = max(min(block + max_lag, steps - first), own)
            back = min(max_lag - 1, first)
            segment = padded[p * blocks + b]
            target = padded[(pairs + p) * blocks + b]
            # the block's own samples (each row sample once: the sums of squares); loops
            # over slices from 0, one source and one target each, or they do not vectorise
            # (an index ``first + j`` keeps numba's negative-index wraparound: 3x slower)
            source = x[first : first + reach]
            for j in range(own):
                value = source[j]
                segment[j] = value
                total_x += value * value
            # x[first + j] up to j < block + max_lag (the lags d >= 0), zero after
            for j in range(own, reach):
                segment[j] = source[j]
            segment[reach : size - back] = 0
            # x[first - i] at size - i for 0 < i < max_lag (the lags d < 0, wrapped)
            before = x[first - back : first]
            wrapped = segment[size - back :]
            for j in range(back):
                wrapped[j] = before[j]
            source = y[first : first + own]
            for j in range(own):
                value = source[j]
                target[j] = value
                total_y += value * value
            target[own:] = 0
        energy[2 * p] = total_x
        energy[2 * p + 1] = total_y


def alignment_least_size(steps: int, blocks: int, max_lag: int) -> int:
    """The shortest transform for :func:`alignment_blocks`: ``steps + max_lag + 1`` for
    whole rows, ``ceil(steps / blocks) + 2 max_lag - 1`` for blocks."""
    if blocks == 1:
        return steps + max_lag + 1
    return -(-steps // blocks) + 2 * max_lag - 1


def alignment_blocks(rows: np.ndarray, blocks: int, size: int,
                     max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The float32 transform input of a block-wise cross-correlation over lags
    ``(-max_lag, max_lag]``, and each row's float64 ``sum x^2``, in one pass.

    Interleaved rows ``[2P, T]`` (reference ``x``, processed ``y``, ...) are cut into
    ``blocks`` blocks of ``ceil(T / blocks)`` samples; row ``p * blocks + b`` of the output
    holds the reference around block ``b`` (``x[bL + j]`` at ``j < L + max_lag``,
    ``x[bL - i]`` at ``size - i`` for ``0 < i < max_lag``), row ``(P + p) * blocks + b`` the
    processed block ``y[bL : bL + L]``, zero elsewhere. The circular correlations of the two
    rows at ``size >= L + 2 max_lag - 1``, summed over the blocks, are ``sum_t x[t + d] y[t]``
    at index ``d mod size``, ``-max_lag < d <= max_lag``. With one block (and ``size >= T +
    max_lag + 1``) this is the whole rows zero-padded, references first.
    """
    if rows.shape[0] % 2 or blocks < 1:
        raise ValueError("alignment_blocks needs an even row count and at least one block")
    steps = rows.shape[1]
    block = -(-steps // blocks)
    least = alignment_least_size(steps, blocks, max_lag)
    if size < least:
        raise ValueError(f"size {size} < {least}, the least for {blocks} block(s)")
    padded = np.empty((rows.shape[0] * blocks, size), np.float32)
    energy = np.empty(rows.shape[0])
    _block_rows_kernel(np.ascontiguousarray(rows), block, int(max_lag), padded, energy)
    return padded, energy


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
         fastmath={"reassoc", "contract"})  # the sums vectorise (rounding ~1e-16 rel.)
def _correlation_kernel(x, y, shifts, out):  # type: ignore[no-untyped-def]
    steps = x.shape[0]
    for k in range(shifts.shape[0]):
        d = shifts[k]
        total = 0.0
        if d >= 0:
            for t in range(steps - d):
                total += x[t + d] * y[t]
        else:
            for t in range(steps + d):
                total += x[t] * y[t - d]
        out[k] = total


def correlation_at(x: np.ndarray, y: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``sum_t x[t + d] y[t]`` for each shift ``d`` (zero outside the rows), by direct sums:
    a compiled loop rather than ``np.dot``, whose BLAS threads spin against the engine's
    chunk workers (measured: 1.7x slower end to end with two workers)."""
    shifts = np.asarray(shifts, np.int64)
    out = np.empty(len(shifts))
    _correlation_kernel(x, y, shifts, out)
    return out


# ---- SIMD lanes: the gammatone and IHC recursions of four rows at once ----------------------

#: rows per call of :func:`gammatone_lanes` (two lanes each: real and imaginary parts)
LANE_ROWS = 4

_F64 = ir.DoubleType()
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)
_WIDE = ir.VectorType(_F64, 2 * LANE_ROWS)
_HALF = ir.VectorType(_F64, LANE_ROWS)
_LENGTHS = ir.VectorType(_I64, LANE_ROWS)
_FLAGS = ir.VectorType(ir.IntType(1), LANE_ROWS)


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

    Per sample and row, as ``gammatone_step``: ``power = yr^2 + yi^2`` and
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
    ``ihc_step`` (and the BM rescaling of ``ihc_kernel``'s BM
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
