"""MSBG's compiled path: sample-by-sample recursions for the filterbank on CPU (inference only).

:mod:`hltk.simulate.msbg_dsp.iir` runs every recursive filter as block matrix products, which
torch can differentiate and run on a GPU, but which costs ~30-60 multiply-adds per sample per filter on
a CPU. Without autograd, the plain recursion (``lfilter``'s transposed direct form II, ~5 per
section) needs far less arithmetic if it is vectorised across signals. The kernels here
(numba, compiled once per machine and cached) run it time step by time step in a
*time-major* layout ``[channels, time, signals]``, parallel over groups of channels.
:class:`hltk.simulate.torch_msbg.TorchMsbg` uses them on CPU when no gradient is needed; the
torch path stays the reference for autograd and CUDA, and the two are tested against each
other and against pyclarity.

A recursion step is cheap and its states depend on the previous step, so what limits these
loops is how much independent work each time step holds. With only a chunk's signals as the
lanes (2-19 in a mixed batch) the loops are bound by latency and loop overhead, the more so
the fewer the signals (``bench/torch_msbg_kernels.py``). Hence:

- the gammatone kernel takes a group's *channels x signals* as its lanes, with per-lane
  coefficients (four cascaded biquads fused in one lane loop, the high-pass in a second);
- the envelope kernels interleave :data:`_INTERLEAVED` channels in one time loop (faster
  than one channel at a time inside :func:`recruited_sum_compiled`; :func:`envelope_compiled`
  alone loses the 1-D states and row views of a one-channel kernel:
  ``bench/torch_msbg_kernels.py``);
- :func:`recruited_sum_compiled` fuses the envelope, the recruitment gain and the channel sum,
  computing the gain in blocks of time steps with its own vectorised ``log``/``exp``, so
  that the cochleagram is read once instead of in six torch passes.

They follow pyclarity's arithmetic order more closely than the block path: the gammatone
channel is advanced by its delay with the end zero-filled, then high-passed from rest
(``cochlea.gammatone_filterbank``); the envelope is ``filtfilt`` with odd padding and
``lfilter_zi`` initial states (``cochlea.compute_envelope``). The envelope recursions run
in float64 whatever the arrays' dtype (in float32, transposed-direct-form states of its
narrow low-frequency sections lose 2e-3 of the peak). The gammatone's run in float64 for the
first ``wide_channels`` channels and in the arrays' dtype for the rest: float32 states cost
the narrow channels below 1 kHz 3e-4 of their peak (68-80 dB SNR) but the channels from
1 kHz up less than 5e-5 (98 dB or more), and float32 lanes, half the bytes, make the bank
faster from about a dozen signals a chunk up (slower for a handful, where each precision's
groups have few lanes: ``bench/torch_msbg_kernels.py``);
:class:`~hltk.simulate.torch_msbg.TorchMsbg` keeps float64 below 1 kHz, which left its
float32 output within 103 dB (min over 16 items) of its all-float64 recursions.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import torch
from scipy import signal as sps

#: most lanes (channels x signals) per gammatone group: its states and coefficients
#: (20 rows of float64) then stay in a 32 KiB L1 cache
_GROUP_LANES = 192


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _section(buffer, z1, z2, b0, b1, b2, a1, a2):  # type: ignore[no-untyped-def]
    """One biquad (transposed direct form II, ``a0 = 1``) over ``buffer [T, N]`` in place;
    ``z1, z2 [N]`` are the lanes' states, updated. (Row views and unsigned indices: numba
    then drops the negative-index wraparound, 2-3x faster.)"""
    steps, lanes = buffer.shape
    for t in range(np.uintp(steps)):
        row = buffer[t]
        for lane in range(np.uintp(lanes)):
            x = row[lane]
            y = b0 * x + z1[lane]
            z1[lane] = b1 * x - a1 * y + z2[lane]
            z2[lane] = b2 * x - a2 * y
            row[lane] = y


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _lane_cascade4(x, z, c, first):  # type: ignore[no-untyped-def]
    """One time step of four cascaded biquads per lane: ``x [L]`` in place, states
    ``z[first : first + 8]`` (two rows per section), coefficients ``c[0:5] [5, L]``.
    (Four sections fused in one lane loop: faster than four passes. numba
    compiles this loop to scalar code, not SIMD (the rows' runtime stride stops LLVM's
    vectoriser; checked in ``inspect_asm``): the lanes' independent chains fill each
    other's latency gaps.)"""
    for k in range(np.uintp(x.shape[0])):
        v = x[k]
        b0, b1, b2, a1, a2 = c[0, k], c[1, k], c[2, k], c[3, k], c[4, k]
        for s in range(4):
            y = b0 * v + z[first + 2 * s, k]
            z[first + 2 * s, k] = b1 * v - a1 * y + z[first + 2 * s + 1, k]
            z[first + 2 * s + 1, k] = b2 * v - a2 * y
            v = y
        x[k] = v


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _lane_section(x, z, c, first, gate):  # type: ignore[no-untyped-def]
    """One time step of one biquad per lane on ``x * gate`` (``gate [L]``: 0 keeps a lane's
    filter at rest), states ``z[first : first + 2]``, coefficients ``c [5, L]``."""
    for k in range(np.uintp(x.shape[0])):
        v = x[k] * gate[k]
        y = c[0, k] * v + z[first, k]
        z[first, k] = c[1, k] * v - c[3, k] * y + z[first + 1, k]
        z[first + 1, k] = c[2, k] * v - c[4, k] * y
        x[k] = y


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _gammatone_group(signal, coefficients, order, delays, highpass, first, count, state,
                     out):  # type: ignore[no-untyped-def]
    """Channels ``first .. first + count - 1`` of :func:`_gammatone_kernel`, their
    recursions in ``state.dtype``."""
    steps, signals = signal.shape
    longest = 0
    for c in range(first, first + count):
        longest = max(longest, delays[c])
    lanes = count * signals
    # each lane's gammatone biquad and high-pass (identity where there is none)
    coef = np.zeros((5, lanes), state.dtype)
    hp = np.zeros((5, lanes), state.dtype)
    for j in range(count):
        c = first + j
        none = (highpass[c, 0] == 0.0) & (highpass[c, 1] == 0.0) & (highpass[c, 2] == 0.0)
        for n in range(j * signals, (j + 1) * signals):
            for i in range(5):
                coef[i, n] = coefficients[c, i]
                hp[i, n] = highpass[c, i]
            if none:
                hp[0, n] = 1.0
    states = np.zeros((2 * order + 2, lanes), state.dtype)
    gate = np.zeros(lanes, state.dtype)  # the high-pass starts from rest at advanced t = 0
    ones = np.ones(lanes, state.dtype)
    x = np.empty(lanes, state.dtype)
    for t in range(steps):
        row = signal[t]
        for j in range(count):
            seg = x[j * signals:(j + 1) * signals]
            for n in range(signals):
                seg[n] = row[n]
            if t == delays[first + j]:
                gate[j * signals:(j + 1) * signals] = 1.0
        for k in range(order // 4):
            _lane_cascade4(x, states, coef, 8 * k)
        for k in range(order - order % 4, order):
            _lane_section(x, states, coef, 2 * k, ones)
        _lane_section(x, states, hp, 2 * order, gate)
        for j in range(count):
            d = delays[first + j]
            if t >= d:  # the channel advanced by its delay
                target = out[first + j, t - d]
                seg = x[j * signals:(j + 1) * signals]
                for n in range(signals):
                    target[n] = seg[n]
    # the advanced channels' last `delay` samples are zeros (through the high-pass)
    for t in range(longest):
        x[:] = 0.0
        _lane_section(x, states, hp, 2 * order, gate)
        for j in range(count):
            d = delays[first + j]
            if t < d:
                target = out[first + j, steps - d + t]
                seg = x[j * signals:(j + 1) * signals]
                for n in range(signals):
                    target[n] = seg[n]


@nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})
def _gammatone_kernel(signal, coefficients, order, delays, highpass, bounds, wide,
                      out):  # type: ignore[no-untyped-def]
    """``signal [T, N]`` -> ``out [C, T, N]``: the channels in parallel groups (group ``g``:
    channels ``bounds[g] .. bounds[g + 1] - 1``), each group's channels x signals as the SIMD
    lanes of one time loop (lane ``j * N + n``: channel ``j`` of the group, signal ``n``), so
    that the lane count does not hang on how many signals a chunk holds. Groups starting
    below channel ``wide`` run their recursions in float64, the others in ``out.dtype``."""
    wide_state = np.empty(0, np.float64)
    narrow_state = np.empty(0, out.dtype)
    for g in nb.prange(bounds.shape[0] - 1):
        first = bounds[g]
        count = bounds[g + 1] - first
        if count <= 0:
            continue
        if first < wide:
            _gammatone_group(signal, coefficients, order, delays, highpass, first, count,
                             wide_state, out)
        else:
            _gammatone_group(signal, coefficients, order, delays, highpass, first, count,
                             narrow_state, out)


#: channels whose envelope recursions run interleaved in one time loop (each one alone is
#: bound by its recursion's latency when a chunk holds few signals)
_INTERLEAVED = 4


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _envelope_forward(source, target, coefficients, initial, padlen, z1,
                      z2):  # type: ignore[no-untyped-def]
    """The first half of ``filtfilt`` of ``|source[j]|`` for ``K`` channels at once
    (``source, target [K, T, N]``, one biquad ``coefficients[j]`` each, ``initial [K, 2]`` =
    ``lfilter_zi``): the forward pass into ``target``, then the odd extension after the end;
    leaves in ``z1, z2 [K, N]`` the states the backward pass starts with."""
    channels, steps, lanes = source.shape
    edge = np.empty((padlen, lanes))
    for j in range(channels):
        b0, b1, b2 = coefficients[j, 0], coefficients[j, 1], coefficients[j, 2]
        a1, a2 = coefficients[j, 3], coefficients[j, 4]
        # odd extension before the start, states lfilter_zi * its first sample
        for e in range(padlen):
            for lane in range(lanes):
                edge[e, lane] = 2 * abs(source[j, 0, lane]) - abs(source[j, padlen - e, lane])
        for lane in range(lanes):
            z1[j, lane] = initial[j, 0] * edge[0, lane]
            z2[j, lane] = initial[j, 1] * edge[0, lane]
        _section(edge, z1[j], z2[j], b0, b1, b2, a1, a2)
    for t in range(np.uintp(steps)):  # the rectified channels themselves
        for j in range(channels):
            b0, b1, b2 = coefficients[j, 0], coefficients[j, 1], coefficients[j, 2]
            a1, a2 = coefficients[j, 3], coefficients[j, 4]
            row, result, s1, s2 = source[j, t], target[j, t], z1[j], z2[j]
            for lane in range(np.uintp(lanes)):
                x = np.float64(abs(row[lane]))
                y = b0 * x + s1[lane]
                s1[lane] = b1 * x - a1 * y + s2[lane]
                s2[lane] = b2 * x - a2 * y
                result[lane] = y
    for j in range(channels):
        b0, b1, b2 = coefficients[j, 0], coefficients[j, 1], coefficients[j, 2]
        a1, a2 = coefficients[j, 3], coefficients[j, 4]
        for e in range(padlen):  # odd extension after the end
            for lane in range(lanes):
                edge[e, lane] = (2 * abs(source[j, steps - 1, lane])
                                 - abs(source[j, steps - 2 - e, lane]))
        _section(edge, z1[j], z2[j], b0, b1, b2, a1, a2)
        # backward from the end of the extension, states lfilter_zi * its last output
        for lane in range(lanes):
            z1[j, lane] = initial[j, 0] * edge[padlen - 1, lane]
            z2[j, lane] = initial[j, 1] * edge[padlen - 1, lane]
        for e in range(padlen - 1, -1, -1):
            for lane in range(lanes):
                x = edge[e, lane]
                y = b0 * x + z1[j, lane]
                z1[j, lane] = b1 * x - a1 * y + z2[j, lane]
                z2[j, lane] = b2 * x - a2 * y


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _envelope_backward(target, first, last, coefficients, z1, z2,
                       out):  # type: ignore[no-untyped-def]
    """The backward pass of ``filtfilt`` over ``target[:, first:last]`` (``[K, T, N]``, the
    forward pass), from ``last - 1`` down, into ``out`` (``[K, last - first, N]``, the same
    rows); states ``z1, z2 [K, N]``."""
    channels, lanes = target.shape[0], target.shape[2]
    for step in range(np.uintp(last - first)):
        for j in range(channels):
            b0, b1, b2 = coefficients[j, 0], coefficients[j, 1], coefficients[j, 2]
            a1, a2 = coefficients[j, 3], coefficients[j, 4]
            source, result = target[j, last - 1 - step], out[j, last - first - 1 - step]
            s1, s2 = z1[j], z2[j]
            for lane in range(np.uintp(lanes)):
                x = np.float64(source[lane])
                y = b0 * x + s1[lane]
                s1[lane] = b1 * x - a1 * y + s2[lane]
                s2[lane] = b2 * x - a2 * y
                result[lane] = y


@nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})
def _envelope_kernel(bands, coefficients, initial, padlen, out):  # type: ignore[no-untyped-def]
    """``filtfilt`` of ``|bands[c]|`` along time (``bands, out [C, T, N]``), channel sets in
    parallel, one biquad per channel, ``initial [C, 2]`` = ``lfilter_zi``."""
    channels, steps, lanes = bands.shape
    for g in nb.prange((channels + _INTERLEAVED - 1) // _INTERLEAVED):
        first = g * _INTERLEAVED
        last = min(channels, first + _INTERLEAVED)
        z1 = np.empty((last - first, lanes))
        z2 = np.empty((last - first, lanes))
        _envelope_forward(bands[first:last], out[first:last], coefficients[first:last],
                          initial[first:last], padlen, z1, z2)
        _envelope_backward(out[first:last], 0, steps, coefficients[first:last], z1, z2,
                           out[first:last])


#: time steps per block of the fused recruitment (its gain is computed on whole blocks)
_GAIN_BLOCK = 256


class _GainFormat:
    """The constants of :func:`_recruitment_gain` in one float format: IEEE layout, ``ln 2``
    split for the range reduction, and Horner coefficients (highest first) of
    ``atanh(f) / f`` in ``f**2`` (``|f| <= 0.172``) and of ``exp(r)`` (``|r| <= ln 2 / 2``).
    float64: truncation 1e-16 and 2e-16 (to double precision); float32: 2e-9 and 5e-9 (below
    its 6e-8 rounding), with 16 lanes per AVX-512 vector instead of 8.

    Integers and floats are converted through the bits of ``2**p + bias`` (``p`` mantissa
    bits): a small integer ``j`` or'ed into the mantissa of ``2**p`` reads as ``2**p + j``.
    (numba's casts would do, but a kernel that takes a cast function as an argument is not
    found in numba's cache by a new process and compiles again.)"""

    def __init__(self, dtype: type[np.floating]) -> None:
        double = dtype is np.float64
        integer = np.int64 if double else np.int32
        bits, bias = (52, 1023) if double else (23, 127)
        ln2_hi = 6.93147180369123816490e-01 if double else 0.693145751953125
        self.dtype = dtype
        self.integer = integer
        # floor, 1/2, 1, 2, sqrt 2, ln 2 (whole, high, low), 1 / ln 2, lowest exponent,
        # 2**p + bias
        self.floats = tuple(dtype(v) for v in (
            1e-9, 0.5, 1.0, 2.0, math.sqrt(2.0), math.log(2.0), ln2_hi,
            math.log(2.0) - ln2_hi, 1.0 / math.log(2.0), -700.0 if double else -87.0,
            2.0**bits + bias))
        # mantissa mask, the bits of 1.0, mantissa bits p, the bits of 2**p
        self.layout = tuple(integer(v) for v in (
            (1 << bits) - 1, bias << bits, bits, (bias + bits) << bits))
        self.atanh = tuple(dtype(1.0 / k) for k in range(21 if double else 9, 0, -2))
        self.exp = tuple(dtype(1.0 / math.factorial(k)) for k in range(12 if double else 7,
                                                                       -1, -1))


_FORMATS = {np.float64: _GainFormat(np.float64), np.float32: _GainFormat(np.float32)}


@nb.njit(cache=True, boundscheck=False, error_model="numpy", fastmath={"contract"})
def _recruitment_gain(envelope, power, log_max, upper, gain, gain_bits, mantissa,
                      mantissa_bits, scale, scale_bits, count, floats, layout, atanh_series,
                      exp_series):  # type: ignore[no-untyped-def]
    """``gain[:count] = (min(max(envelope, floor), upper) / upper) ** power`` elementwise
    (flat arrays; ``envelope`` float64, the rest in one float format with ``*_bits`` its
    integer views, ``log_max = log(upper)``; constants from :class:`_GainFormat`). ``log``
    and ``exp`` are written out (exponent and mantissa split through the integer views,
    then series) so that the loops vectorise; numba's calls to the C library's would not.
    ``mantissa, scale``: scratch."""
    floor, half, one, two, sqrt2, ln2, ln2_hi, ln2_lo, inv_ln2, lowest, offset = floats
    mantissa_mask, one_bits, shift, magic_bits = layout
    for i in range(np.uintp(count)):
        gain[i] = min(max(envelope[i], floor), upper[i])
    for i in range(np.uintp(count)):  # x = 2**e * m, m in [1, 2); scale = 2**p + bias + e
        b = gain_bits[i]
        mantissa_bits[i] = (b & mantissa_mask) | one_bits
        scale_bits[i] = (b >> shift) | magic_bits
    for i in range(np.uintp(count)):
        m = mantissa[i]
        e = scale[i] - offset
        big = m > sqrt2  # m in [sqrt(1/2), sqrt(2)): |f| <= 0.172
        m = m * half if big else m
        e = e + one if big else e
        f = (m - one) / (m + one)
        f2 = f * f
        series = f2 - f2  # zero in the format
        for term in atanh_series:  # log m = 2 atanh f
            series = series * f2 + term
        logarithm = e * ln2 + two * f * series
        a = max(power[i] * (logarithm - log_max[i]), lowest)  # exp(lowest) is normal
        k = np.floor(a * inv_ln2 + half)
        r = (a - k * ln2_hi) - k * ln2_lo  # |r| <= ln2 / 2
        series = r - r
        for term in exp_series:
            series = series * r + term
        gain[i] = series
        scale[i] = k + offset  # 2**p + bias + k
    for i in range(np.uintp(count)):  # -> the bits of 2**k
        scale_bits[i] = (scale_bits[i] & mantissa_mask) << shift
    for i in range(np.uintp(count)):
        gain[i] = gain[i] * scale[i]


@nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})
def _recruited_sum_kernel(bands, coefficients, initial, padlen, power, log_max, upper,
                          scratch, scratch_bits, floats, layout, atanh_series, exp_series,
                          interleaved, partial):  # type: ignore[no-untyped-def]
    """``sum_c bands[c] * gain_c`` with the recruitment gain of the ``filtfilt`` envelope
    (``bands [C, T, N]``; ``power [C, B N]``, ``log_max, upper [B N]``: tiled over a block of
    ``B =`` :data:`_GAIN_BLOCK` steps, in the gain's float format, like ``scratch
    [G, 3, B N]`` (gain, mantissa, scale) and its integer view ``scratch_bits``): channels in ``G`` parallel
    groups, each summing into ``partial[g] [T, N]`` (float64). Each group runs
    ``K = interleaved`` channels at a time; their backward passes run in blocks of ``B``
    steps whose gains are then computed in flat vectorised loops."""
    channels, steps, lanes = bands.shape
    groups = partial.shape[0]
    per_group = (channels + groups - 1) // groups
    size = _GAIN_BLOCK * lanes
    for g in nb.prange(groups):
        z1 = np.empty((interleaved, lanes))
        z2 = np.empty((interleaved, lanes))
        forward = np.empty_like(bands[:interleaved])  # the forward passes of a channel set
        envelope = np.empty((interleaved, size))
        work, bits = scratch[g], scratch_bits[g]
        total = partial[g]
        total[:] = 0.0
        end = min(channels, (g + 1) * per_group)
        for start in range(g * per_group, end, interleaved):
            stop = min(end, start + interleaved)
            k = stop - start
            source, target = bands[start:stop], forward[:k]
            _envelope_forward(source, target, coefficients[start:stop], initial[start:stop],
                              padlen, z1[:k], z2[:k])
            block_env = envelope[:k].reshape(k, _GAIN_BLOCK, lanes)
            for last in range(steps, 0, -_GAIN_BLOCK):
                first = max(0, last - _GAIN_BLOCK)
                _envelope_backward(target, first, last, coefficients[start:stop], z1[:k],
                                   z2[:k], block_env)
                count = (last - first) * lanes
                out = total[first:last].reshape(count)
                for j in range(k):
                    gain = work[2]
                    _recruitment_gain(envelope[j], power[start + j], log_max, upper, gain,
                                      bits[2], work[0], bits[0], work[1], bits[1], count,
                                      floats, layout, atanh_series, exp_series)
                    band = source[j, first:last].reshape(count)
                    for i in range(np.uintp(count)):
                        out[i] += band[i] * gain[i]


def normalised_biquads(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``[C, 5]`` rows ``b0 b1 b2 a1 a2`` divided by ``a0`` from ``b, a [C, 3]``."""
    b, a = np.atleast_2d(np.asarray(b, np.float64)), np.atleast_2d(np.asarray(a, np.float64))
    return np.concatenate([b, a[:, 1:]], axis=1) / a[:, :1]


class ThreadsAsTorch:
    """numba's threads follow torch's intra-op count for one kernel call, and torch's count
    is put back afterwards (numba's OpenMP layer resets the process-wide OpenMP thread
    count, which torch reads, when it starts)."""

    def __enter__(self) -> None:
        self.torch_threads = torch.get_num_threads()
        pool = int(getattr(nb.config, "NUMBA_NUM_THREADS", 1))
        nb.set_num_threads(max(1, min(self.torch_threads, pool)))

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.torch_threads)


def _channel_groups(wide: int, channels: int, signals: int, threads: int) -> np.ndarray:
    """Group bounds for :func:`_gammatone_kernel`: the float64 channels ``[0, wide)`` and the
    rest in separate groups of at most :data:`_GROUP_LANES` float64 lanes (twice as many in
    float32), as many groups in all as a multiple of ``threads``, shared out in proportion
    to their cost (a float64 lane ~2x a float32 one), since each thread takes a contiguous
    run of groups."""
    narrow = channels - wide
    least = [-(-wide * signals // _GROUP_LANES), -(-narrow * signals // (2 * _GROUP_LANES))]
    total = threads * -(-max(sum(least), 1) // threads)
    cost = 2.0 * wide + narrow
    if wide and narrow:
        first = min(max(least[0], round(total * 2.0 * wide / cost)), total - max(least[1], 1))
        if first < least[0]:
            first, total = least[0], total + threads
        counts = [min(first, wide), min(total - first, narrow)]
    else:
        counts = [min(total, wide), min(total, narrow)]
    bounds = [0]
    for start, size, parts in ((0, wide, counts[0]), (wide, narrow, counts[1])):
        for k in range(1, parts + 1):
            bounds.append(start + (size * k) // parts)
    return np.asarray(bounds, np.int64)


def gammatone_filterbank_compiled(
    signal: torch.Tensor,
    coefficients: np.ndarray,
    order: int,
    delays: np.ndarray,
    highpass: np.ndarray,
    wide_channels: int | None = None,
) -> torch.Tensor:
    """MSBG's gammatone bank as ``cochlea.gammatone_filterbank`` on ``signal [T, N]``
    (time-major): ``order`` cascaded biquads per channel (``coefficients [C, 5]``), advanced
    by ``delays[c]`` samples (end zero-filled), then the high-pass biquad ``highpass[c]``
    from rest (a row of zeros: none). Returns ``[C, T, N]`` in ``signal.dtype``.

    The recursions run in float64 for the first ``wide_channels`` channels (``None``: all)
    and in ``signal.dtype`` for the rest: float32 states cost the low, narrow channels
    68-80 dB of SNR, but the channels from 1 kHz up 98 dB or more (speed: module
    docstring)."""
    if signal.device.type != "cpu" or signal.dim() != 2:
        raise ValueError("gammatone_filterbank_compiled needs a [T, N] CPU tensor")
    signal = signal.contiguous()
    steps = signal.shape[0]
    channels = len(delays)
    if int(np.max(delays)) >= steps:
        raise ValueError(f"signal of {steps} samples is shorter than a channel delay")
    wide = channels if wide_channels is None else min(max(int(wide_channels), 0), channels)
    if signal.dtype == torch.float64:
        wide = channels
    out = torch.empty((channels, *signal.shape), dtype=signal.dtype)
    with ThreadsAsTorch():
        bounds = _channel_groups(wide, channels, signal.shape[1], nb.get_num_threads())
        _gammatone_kernel(
            signal.numpy(), np.ascontiguousarray(coefficients, np.float64), int(order),
            np.asarray(delays, np.int64), np.ascontiguousarray(highpass, np.float64),
            bounds, wide, out.numpy(),
        )
    return out


def envelope_compiled(bands: torch.Tensor, coefficients: np.ndarray, padlen: int) -> torch.Tensor:
    """``filtfilt(b_c, a_c, |bands[c]|, padlen=padlen)`` along time for ``bands [C, T, N]``
    (time-major), one biquad per channel (``coefficients [C, 5]``). Returns ``[C, T, N]``."""
    if bands.device.type != "cpu" or bands.dim() != 3:
        raise ValueError("envelope_compiled needs a [C, T, N] CPU tensor")
    if bands.shape[1] <= padlen:
        raise ValueError(f"filtfilt needs more than padlen={padlen} samples")
    bands = bands.contiguous()
    out = torch.empty_like(bands)
    with ThreadsAsTorch():
        _envelope_kernel(bands.numpy(), np.ascontiguousarray(coefficients, np.float64),
                         _initial_states(coefficients), int(padlen), out.numpy())
    return out


def _initial_states(coefficients: np.ndarray) -> np.ndarray:
    """``lfilter_zi`` of each biquad row ``b0 b1 b2 a1 a2``: ``[C, 2]``."""
    return np.ascontiguousarray(np.stack([
        sps.lfilter_zi(np.asarray(row[:3]), np.concatenate([[1.0], row[3:]]))
        for row in np.asarray(coefficients, np.float64)
    ]), np.float64)


def recruited_sum_compiled(
    bands: torch.Tensor,
    coefficients: np.ndarray,
    padlen: int,
    power: torch.Tensor,
    log_max: torch.Tensor,
) -> torch.Tensor:
    """MSBG's recruitment and recombination in one pass: ``sum_c bands[c] * gain_c`` for
    ``bands [C, T, N]`` (time-major), with ``gain_c = (min(max(env_c, 1e-9), M) / M) **
    power[c]``, ``env_c`` = :func:`envelope_compiled` of the channel (``coefficients [C, 5]``)
    and ``M = exp(log_max)`` per signal. ``power [C, N]`` must be finite. Returns
    ``[T, N]`` float64 (the gains are computed in ``bands.dtype``, the sum in float64)."""
    if bands.device.type != "cpu" or bands.dim() != 3:
        raise ValueError("recruited_sum_compiled needs a [C, T, N] CPU tensor")
    if bands.shape[1] <= padlen:
        raise ValueError(f"filtfilt needs more than padlen={padlen} samples")
    power_np = np.ascontiguousarray(power.detach().cpu().numpy(), np.float64)
    if power_np.shape != (bands.shape[0], bands.shape[2]) or not np.isfinite(power_np).all():
        raise ValueError("power must be finite, [channels, signals]")
    bands = bands.contiguous()
    form = _FORMATS[np.float64 if bands.dtype == torch.float64 else np.float32]
    log_max_np = np.asarray(log_max.detach().cpu().numpy(), np.float64)
    with ThreadsAsTorch():
        groups = min(bands.shape[0], nb.get_num_threads())
        partial = torch.empty((groups, *bands.shape[1:]), dtype=torch.float64)
        scratch = np.empty((groups, 3, _GAIN_BLOCK * bands.shape[2]), form.dtype)
        _recruited_sum_kernel(
            bands.numpy(), np.ascontiguousarray(coefficients, np.float64),
            _initial_states(coefficients), int(padlen),
            np.tile(power_np, _GAIN_BLOCK).astype(form.dtype),
            np.tile(log_max_np, _GAIN_BLOCK).astype(form.dtype),
            np.tile(np.exp(log_max_np), _GAIN_BLOCK).astype(form.dtype),
            scratch, scratch.view(form.integer), form.floats, form.layout, form.atanh,
            form.exp, _INTERLEAVED, partial.numpy(),
        )
    return partial.sum(0)
