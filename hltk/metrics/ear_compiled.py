"""The ear model's per-channel loop as compiled row kernels (CPU, no autograd).

:func:`hltk.metrics.ear_model.ear_model` runs each auditory channel as some 40 full-length
torch/numpy passes over a ``[B, 2, T]`` float64 batch (demodulation, two ``lfilter`` calls per
gammatone, magnitude, masks, dB conversions, OHC and IHC filters, shifts, stacking), which is
memory traffic more than arithmetic. Here one channel of one signal (a *row*) goes through
numba kernels that keep each sample in registers from the demodulation to the BM output; only
the transcendental functions (``log10``, ``10**x``) stay numpy passes, because numpy's are
vectorised (1-2 ns per value here) and numba's scalar calls are not (10-20 ns).

The arithmetic follows the torch path step for step and pyclarity where it matters for
rounding: the gammatone is ``scipy.signal.lfilter``'s transposed direct form II on the
demodulated signal, term for term, so the envelopes equal the scipy ones bit for bit; the
IHC threshold noise is numpy's legacy stream replayed by :mod:`hltk.metrics.legacy_rng` and
added in place. Everything runs in float64. The kernels release the GIL, so the engine's
chunk workers (threads) run them in parallel.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = [
    "gammatone_rows",
    "first_order_rows",
    "shift_rows",
    "ihc_rows",
    "group_delay_rows",
]

_SMALL = 1e-30


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _gammatone_kernel(signal, lengths, coefficients, gains, cosine, sine, envelope, bm,
                      squares):  # type: ignore[no-untyped-def]
    rows, steps = signal.shape
    want_bm = bm.shape[0] == rows
    for r in range(rows):
        b1, b2 = coefficients[r, 0], coefficients[r, 1]
        a1, a2, a3, a4 = (coefficients[r, 2], coefficients[r, 3], coefficients[r, 4],
                          coefficients[r, 5])
        gain = gains[r]
        valid = lengths[r]
        re0 = re1 = re2 = re3 = 0.0
        im0 = im1 = im2 = im3 = 0.0
        total = 0.0
        x_row = signal[r]
        env_row = envelope[r]
        for t in range(valid):
            x = x_row[t]
            c = cosine[t]
            s = sine[t]
            # lfilter([1, 4a, 4a^2], [1, -4a, 6a^2, -4a^3, a^4]) on x cos and x (-sin)
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
            value = gain * math.sqrt(yr * yr + yi * yi)
            env_row[t] = value
            total += value * value
            if want_bm:
                bm[r, t] = gain * (yr * c - yi * s)
        for t in range(valid, steps):
            env_row[t] = 0.0
            if want_bm:
                bm[r, t] = 0.0
        squares[r] = total


def gammatone_rows(
    signal: np.ndarray,
    lengths: np.ndarray,
    poles: np.ndarray,
    gains: np.ndarray,
    carrier: tuple[np.ndarray, np.ndarray],
    envelope: np.ndarray,
    bm: np.ndarray | None = None,
) -> np.ndarray:
    """One gammatone channel (``eb.gammatone_basilar_membrane``) on each row, in place.

    ``envelope[r] = gains[r] * |v_r|`` and ``bm[r] = gains[r] * Re(v_r e^{jwn})`` for
    ``t < lengths[r]``, zero after, where ``v_r`` is pyclarity's direct-form filter
    ``(1 + 4a z^-1 + 4a^2 z^-2) / (1 - a z^-1)^4`` (``a = poles[r]``) on the demodulated row.

    Args:
        signal: ``[R, T]`` float64.
        lengths: ``[R]`` valid samples per row.
        poles, gains: ``[R]``.
        carrier: ``(cos(w n), sin(w n))``, each ``[T]``.
        envelope: ``[R, T]`` output.
        bm: ``[R, T]`` output, or None.

    Returns:
        ``[R]`` sums of squares of the envelope rows.
    """
    # the coefficients exactly as gammatone_lfilter builds them for scipy (Python floats)
    coefficients = np.array([[4.0 * a, 4.0 * a * a, -4.0 * a, 6.0 * a * a, -4.0 * a**3, a**4]
                             for a in np.asarray(poles, np.float64).tolist()]).reshape(-1, 6)
    squares = np.empty(signal.shape[0])
    _gammatone_kernel(signal, np.asarray(lengths, np.int64), coefficients,
                      np.asarray(gains, np.float64), carrier[0], carrier[1], envelope,
                      bm if bm is not None else np.empty((0, 0)), squares)
    return squares


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _first_order_kernel(gain, b0, b1, a1, envelope, bm):  # type: ignore[no-untyped-def]
    rows, steps = gain.shape
    want_bm = bm.shape[0] == rows
    for r in range(rows):
        z = 0.0
        for t in range(steps):
            x = gain[r, t]
            y = z + b0 * x
            z = x * b1 - y * a1
            envelope[r, t] = y * envelope[r, t]
            if want_bm:
                bm[r, t] = y * bm[r, t]


def first_order_rows(gain: np.ndarray, b: np.ndarray, a: np.ndarray, envelope: np.ndarray,
                     bm: np.ndarray | None = None) -> None:
    """``g = lfilter(b, a, gain)`` (first order) along each row, then ``envelope *= g`` and
    ``bm *= g`` in place: the smoothed OHC gain applied to both outputs."""
    if a[0] != 1.0:
        raise ValueError("a[0] must be 1")
    _first_order_kernel(gain, float(b[0]), float(b[1]), float(a[1]), envelope,
                        bm if bm is not None else np.empty((0, 0)))


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _shift_kernel(rows_array, delays, lengths):  # type: ignore[no-untyped-def]
    count, steps = rows_array.shape
    for r in range(count):
        row = rows_array[r]
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
    """In place, as :func:`hltk.dsp.ear_filters.shift_signal`: ``delays > 0`` advance,
    ``< 0`` delay, zero fill, and zero at or past each row's length. ``rows [R, T]``."""
    _shift_kernel(rows, np.asarray(delays, np.int64), np.asarray(lengths, np.int64))


@nb.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _ihc_kernel(env_db, compressed, lengths, b, a, out_env, bm, out_bm):  # type: ignore[no-untyped-def]
    rows, steps = env_db.shape
    want_bm = bm.shape[0] == rows
    b0, b1, b2 = b[0], b[1], b[2]
    a1, a2 = a[1], a[2]
    for r in range(rows):
        z0 = 0.0
        z1 = 0.0
        started = False
        valid = lengths[r]
        for t in range(steps):
            x = env_db[r, t]
            y = z0 + b0 * x
            z0 = z1 + x * b1 - y * a1
            z1 = x * b2 - y * a2
            if x != 0.0:
                started = True
            adapted = y if y > 0.0 else 0.0
            if not started or t >= valid:
                adapted = 0.0
            out_env[r, t] = adapted
        if want_bm:  # a separate loop: no recursion, so the divisions vectorise
            env_row = env_db[r]
            comp_row = compressed[r]
            adapted_row = out_env[r]
            bm_row = bm[r]
            target = out_bm[r]
            for t in range(steps):
                x = env_row[t]
                value = bm_row[t] * (x + _SMALL) / (comp_row[t] + _SMALL)
                target[t] = value * (adapted_row[t] + _SMALL) / (x + _SMALL)


def ihc_rows(env_db: np.ndarray, compressed: np.ndarray, lengths: np.ndarray, b: np.ndarray,
             a: np.ndarray, out_env: np.ndarray, bm: np.ndarray | None = None,
             out_bm: np.ndarray | None = None) -> None:
    """IHC adaptation (``eb.inner_hair_cell_adaptation``) of the dB envelopes, row by row.

    ``out_env = max(lfilter(b, a, env_db), 0)`` (zero before the first non-zero input and at
    or past the row's length), and the BM signal rescaled by the two dB-to-linear steps as
    pyclarity: ``bm * (env_db + small) / (compressed + small) * (out_env + small) /
    (env_db + small)``. ``b, a``: the second-order filter of
    :func:`hltk.metrics.ear_model.inner_hair_cell_filter`.
    """
    if a[0] != 1.0:
        raise ValueError("a[0] must be 1")
    empty = np.empty((0, 0))
    _ihc_kernel(env_db, compressed, np.asarray(lengths, np.int64),
                np.asarray(b, np.float64), np.asarray(a, np.float64), out_env,
                bm if bm is not None else empty, out_bm if out_bm is not None else empty)


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
