"""Compiled sample-by-sample recursions for MSBG's filterbank on CPU (inference only).

:mod:`hltk.dsp.iir` runs every recursive filter as block matrix products, which torch can
differentiate and run on a GPU, but which costs ~30-60 multiply-adds per sample per filter on
a CPU. Without autograd, the plain recursion (``lfilter``'s transposed direct form II, ~5 per
section) needs far less arithmetic if it is vectorised across signals; memory traffic and
short lane loops keep the measured gain to 1.1-1.4x end to end
(``bench/torch_msbg_recursion.py``). The kernels here (numba, compiled
once per machine and cached) run it time step by time step with the signals of a batch as
SIMD lanes, in a *time-major* layout ``[channels, time, signals]``, and parallel over
channels. :class:`hltk.simulate.torch_msbg.TorchMsbg` uses them on CPU when no gradient is
needed; the torch path stays the reference for autograd and CUDA, and the two are tested
against each other and against pyclarity.

They follow pyclarity's arithmetic order more closely than the block path: the gammatone
channel is advanced by its delay with the end zero-filled, then high-passed from rest
(``cochlea.gammatone_filterbank``); the envelope is ``filtfilt`` with odd padding and
``lfilter_zi`` initial states (``cochlea.compute_envelope``). The recursions run in
float64 whatever the arrays' dtype (in float32, transposed-direct-form states of the narrow
low-frequency sections lose 3e-4 (gammatone) to 2e-3 (envelope) of the peak); only the stored
signals take the arrays' dtype.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import torch
from scipy import signal as sps

#: time steps per cache block of the gammatone pass
_BLOCK = 64


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


@nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})
def _gammatone_kernel(signal, coefficients, order, delays, highpass,
                      out):  # type: ignore[no-untyped-def]
    """``signal [T, N]`` -> ``out [C, T, N]``, channels in parallel, the signals as lanes;
    time in blocks of :data:`_BLOCK` steps run through every section while in cache."""
    steps, lanes = signal.shape
    channels = coefficients.shape[0]
    for c in nb.prange(channels):
        b0, b1, b2 = coefficients[c, 0], coefficients[c, 1], coefficients[c, 2]
        a1, a2 = coefficients[c, 3], coefficients[c, 4]
        h0, h1, h2 = highpass[c, 0], highpass[c, 1], highpass[c, 2]
        g1, g2 = highpass[c, 3], highpass[c, 4]
        with_highpass = h0 != 0.0 or h1 != 0.0 or h2 != 0.0
        z1 = np.zeros((order, lanes))
        z2 = np.zeros((order, lanes))
        y1 = np.zeros(lanes)
        y2 = np.zeros(lanes)
        buffer = np.empty((_BLOCK, lanes))
        delay = delays[c]
        target = out[c]
        # the first `delay` outputs are dropped (the advance), but run through the filter
        head = np.empty((delay, lanes))
        for t in range(delay):
            for lane in range(lanes):
                head[t, lane] = signal[t, lane]
        for k in range(order):
            _section(head, z1[k], z2[k], b0, b1, b2, a1, a2)
        for start in range(delay, steps, _BLOCK):
            count = min(steps, start + _BLOCK) - start
            block = buffer[:count]
            for t in range(count):
                for lane in range(lanes):
                    block[t, lane] = signal[start + t, lane]
            for k in range(order):
                _section(block, z1[k], z2[k], b0, b1, b2, a1, a2)
            if with_highpass:  # from rest at the advanced channel's start
                _section(block, y1, y2, h0, h1, h2, g1, g2)
            for t in range(count):
                for lane in range(lanes):
                    target[start - delay + t, lane] = block[t, lane]
        # the advanced channel's last `delay` samples are zeros (through the high-pass)
        tail = np.zeros((delay, lanes))
        if with_highpass:
            _section(tail, y1, y2, h0, h1, h2, g1, g2)
        for t in range(delay):
            for lane in range(lanes):
                target[steps - delay + t, lane] = tail[t, lane]


@nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
         fastmath={"contract"})
def _envelope_kernel(bands, coefficients, initial, padlen, out):  # type: ignore[no-untyped-def]
    """``filtfilt`` of ``|bands[c]|`` along time (``bands, out [C, T, N]``), channels in
    parallel, one biquad per channel, ``initial [C, 2]`` = ``lfilter_zi``."""
    channels, steps, lanes = bands.shape
    for c in nb.prange(channels):
        b0, b1, b2 = coefficients[c, 0], coefficients[c, 1], coefficients[c, 2]
        a1, a2 = coefficients[c, 3], coefficients[c, 4]
        z1 = np.empty(lanes)
        z2 = np.empty(lanes)
        edge = np.empty((padlen, lanes))
        source, target = bands[c], out[c]
        # forward: odd extension before the start, states lfilter_zi * its first sample
        for j in range(padlen):
            for lane in range(lanes):
                edge[j, lane] = 2 * abs(source[0, lane]) - abs(source[padlen - j, lane])
        for lane in range(lanes):
            z1[lane] = initial[c, 0] * edge[0, lane]
            z2[lane] = initial[c, 1] * edge[0, lane]
        _section(edge, z1, z2, b0, b1, b2, a1, a2)
        for t in range(np.uintp(steps)):  # the rectified channel itself
            row, result = source[t], target[t]
            for lane in range(np.uintp(lanes)):
                x = np.float64(abs(row[lane]))
                y = b0 * x + z1[lane]
                z1[lane] = b1 * x - a1 * y + z2[lane]
                z2[lane] = b2 * x - a2 * y
                result[lane] = y
        for j in range(padlen):  # odd extension after the end
            for lane in range(lanes):
                edge[j, lane] = (2 * abs(source[steps - 1, lane])
                                 - abs(source[steps - 2 - j, lane]))
        _section(edge, z1, z2, b0, b1, b2, a1, a2)
        # backward from the end of the extension, states lfilter_zi * its last output
        for lane in range(lanes):
            z1[lane] = initial[c, 0] * edge[padlen - 1, lane]
            z2[lane] = initial[c, 1] * edge[padlen - 1, lane]
        for j in range(padlen - 1, -1, -1):
            for lane in range(lanes):
                x = edge[j, lane]
                y = b0 * x + z1[lane]
                z1[lane] = b1 * x - a1 * y + z2[lane]
                z2[lane] = b2 * x - a2 * y
        for step in range(np.uintp(steps)):
            result = target[steps - 1 - step]
            for lane in range(np.uintp(lanes)):
                x = np.float64(result[lane])
                y = b0 * x + z1[lane]
                z1[lane] = b1 * x - a1 * y + z2[lane]
                z2[lane] = b2 * x - a2 * y
                result[lane] = y


def normalised_biquads(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``[C, 5]`` rows ``b0 b1 b2 a1 a2`` divided by ``a0`` from ``b, a [C, 3]``."""
    b, a = np.atleast_2d(np.asarray(b, np.float64)), np.atleast_2d(np.asarray(a, np.float64))
    return np.concatenate([b, a[:, 1:]], axis=1) / a[:, :1]


class _ThreadsAsTorch:
    """numba's threads follow torch's intra-op count for one kernel call, and torch's count
    is put back afterwards (numba's OpenMP layer resets the process-wide OpenMP thread
    count, which torch reads, when it starts)."""

    def __enter__(self) -> None:
        self.torch_threads = torch.get_num_threads()
        pool = int(getattr(nb.config, "NUMBA_NUM_THREADS", 1))
        nb.set_num_threads(max(1, min(self.torch_threads, pool)))

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.torch_threads)


def gammatone_filterbank_cpu(
    signal: torch.Tensor,
    coefficients: np.ndarray,
    order: int,
    delays: np.ndarray,
    highpass: np.ndarray,
) -> torch.Tensor:
    """MSBG's gammatone bank as ``cochlea.gammatone_filterbank`` on ``signal [T, N]``
    (time-major): ``order`` cascaded biquads per channel (``coefficients [C, 5]``), advanced
    by ``delays[c]`` samples (end zero-filled), then the high-pass biquad ``highpass[c]``
    from rest (a row of zeros: none). Returns ``[C, T, N]`` in ``signal.dtype``."""
    if signal.device.type != "cpu" or signal.dim() != 2:
        raise ValueError("gammatone_filterbank_cpu needs a [T, N] CPU tensor")
    signal = signal.contiguous()
    steps = signal.shape[0]
    if int(np.max(delays)) >= steps:
        raise ValueError(f"signal of {steps} samples is shorter than a channel delay")
    out = torch.empty((len(delays), *signal.shape), dtype=signal.dtype)
    with _ThreadsAsTorch():
        _gammatone_kernel(
            signal.numpy(), np.ascontiguousarray(coefficients, np.float64), int(order),
            np.asarray(delays, np.int64), np.ascontiguousarray(highpass, np.float64),
            out.numpy(),
        )
    return out


def envelope_cpu(bands: torch.Tensor, coefficients: np.ndarray, padlen: int) -> torch.Tensor:
    """``filtfilt(b_c, a_c, |bands[c]|, padlen=padlen)`` along time for ``bands [C, T, N]``
    (time-major), one biquad per channel (``coefficients [C, 5]``). Returns ``[C, T, N]``."""
    if bands.device.type != "cpu" or bands.dim() != 3:
        raise ValueError("envelope_cpu needs a [C, T, N] CPU tensor")
    if bands.shape[1] <= padlen:
        raise ValueError(f"filtfilt needs more than padlen={padlen} samples")
    bands = bands.contiguous()
    initial = np.stack([
        sps.lfilter_zi(np.asarray(row[:3]), np.concatenate([[1.0], row[3:]]))
        for row in np.asarray(coefficients, np.float64)
    ])
    out = torch.empty_like(bands)
    with _ThreadsAsTorch():
        _envelope_kernel(bands.numpy(), np.ascontiguousarray(coefficients, np.float64),
                         np.ascontiguousarray(initial, np.float64), int(padlen), out.numpy())
    return out
