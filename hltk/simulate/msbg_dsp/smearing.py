"""MSBG spectral smearing (Baer & Moore 1993; Moore's ``smear3.m``), batched in torch.

The reference is pyclarity's ``clarity.evaluator.msbg.smearing`` (a direct translation of the
MATLAB frame loop: 256-sample Hann-like frames, hop 64, FFT 512, power spectrum times the
smearing matrix, original phase, overlap-add). Two quirks of that loop are reproduced exactly:

- after the first frame, the input pointer lags the frame by 192 samples, so frame ``k`` reads
  ``x'[64k : 64k + 256]`` with ``x' = concat(x[:256], x[64:])``;
- the three flush blocks after the loop read a stale frame slot (frame ``K - 4``) and miss
  frame ``K - 3``'s last quarter.

A negative smeared power gives an imaginary magnitude (numpy's complex square root): bin values
become ``1j * sqrt(-P) * phasor``; only the real part of the inverse FFT is kept.

:func:`spectral_smear` is torch throughout (autograd, CUDA). Without autograd on a CPU,
:func:`spectral_smear_compiled` runs the same arithmetic with the elementwise work around the
FFTs and the matrix product (framing and window, power, rescaling, window and overlap-add)
as four compiled passes instead of ~20 torch passes over frame-sized tensors.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numba as nb
import numpy as np
import torch
import torch.nn.functional as F

FFT_SIZE = 512
FRAME_SIZE = 256
HOP = 64


def auditory_filter_matrix(
    broaden_lower: float, broaden_upper: float, sample_rate: float, size: int = 256
) -> np.ndarray:
    """Rounded-exponential (roex) auditory filters on a linear bin grid, ``[size, size]``.

    Row ``i`` is the filter centred on bin ``i`` (``f = i * fs / (2 size)``), with its
    lower/upper slopes broadened by ``broaden_lower``/``broaden_upper`` and normalised by the
    broadened ERB (Glasberg & Moore 1990: ``ERB = 24.7 (4.37 f / 1000 + 1)``).
    """
    matrix = np.zeros((size, size))
    matrix[0, 0] = 1.0 / ((broaden_lower + broaden_upper) / 2)
    bins = np.arange(size)
    for centre in range(1, size):
        frequency = centre * sample_rate / (2 * size)
        erb = 24.7 * (frequency * 0.00437 + 1.0)
        distance = np.abs((centre - bins) / centre) * (4.0 * frequency / erb)
        slope = np.where(bins < centre, broaden_lower, broaden_upper)
        g = distance / slope
        matrix[centre] = (1 + g) * np.exp(-g) / (erb * (broaden_lower + broaden_upper) / (2 * 24.7))
    return matrix


def smearing_matrix(broaden_lower: float, broaden_upper: float, sample_rate: float) -> np.ndarray:
    """The MSBG smearing matrix ``[256, 256]``: normal filters^-1 times broadened filters.

    As ``make_smear_mat3``: the normal filters are extended by 128 columns above Nyquist
    (filter ``i`` continued as ``F[i, 2i - c]`` for columns ``256 <= c < min(2i - 1, 384)``,
    rows 128..255), the least-squares solution of ``F_ext S = F_wide`` (minimum norm, as the
    MATLAB left divide in Moore's code) is pruned to its first 256 rows.
    """
    nyquist = FFT_SIZE // 2
    quarter = FFT_SIZE // 4
    normal = auditory_filter_matrix(1.0, 1.0, sample_rate, nyquist)
    wide = auditory_filter_matrix(broaden_lower, broaden_upper, sample_rate, nyquist)
    extended = np.concatenate([normal, np.zeros((nyquist, quarter))], axis=1)
    for row in range(quarter, nyquist):
        columns = np.arange(nyquist, min(2 * row - 1, 3 * quarter))
        extended[row, columns] = normal[row, 2 * row - columns]
    with _single_threaded_blas():
        solution = np.linalg.lstsq(extended, wide, rcond=-1)[0]
    return np.real(solution[:nyquist])


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread for a small dense solve: OpenBLAS threads on a busy machine turn
    this 60 ms SVD into seconds (``threadpoolctl`` when installed, else a no-op)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def smearing_window(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
                    ) -> torch.Tensor:
    """The analysis/synthesis window: periodic-offset Hann divided by sqrt(1.5), ``[256]``."""
    n = torch.arange(1, FRAME_SIZE + 1, dtype=torch.float64)
    window = (0.5 - 0.5 * torch.cos(2 * math.pi * (n - 0.5) / FRAME_SIZE)) / math.sqrt(1.5)
    return window.to(dtype=dtype, device=device)


def smeared_length(length: int) -> int:
    """Output length of :func:`spectral_smear` for an input of ``length`` samples."""
    return (-(-length // HOP) + 3) * HOP


def _lagged(signal: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``x' = concat(x[:256], x[64:])`` zero-padded to whole frames, and the frame count."""
    length = signal.shape[1]
    if length < FRAME_SIZE:
        raise ValueError(f"spectral smearing needs at least {FRAME_SIZE} samples, got {length}")
    frames_count = -(-length // HOP)
    lagged = torch.cat([signal[:, :FRAME_SIZE], signal[:, HOP:]], dim=1)
    needed = HOP * (frames_count - 1) + FRAME_SIZE
    return F.pad(lagged, (0, needed - lagged.shape[1])), frames_count


def _finite_gradient(gradient: torch.Tensor | None) -> torch.Tensor | None:
    """Zero the non-finite entries of the gradient reaching a frame's power.

    ``sqrt(smeared / power)`` has a derivative of ``-smeared / power ** 2`` that overflows
    (then meets a zero: NaN) in frames of tiny but non-zero power (the FIRs' pre-ringing in
    the padding, in float32). Those frames carry no signal, so their gradient is set to 0.
    """
    if gradient is None:  # no gradient reaches the power (e.g. inside torch.autograd.gradcheck)
        return None
    return torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)


def spectral_smear(signal: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Smear the spectrum of ``signal`` as pyclarity's ``smear3``.

    Args:
        signal: ``[N, T]`` with ``T >= 256``.
        matrix: ``[256, 256]`` from :func:`smearing_matrix`, or ``[N, 256, 256]`` per signal.

    Returns:
        ``[N, smeared_length(T)]`` (``ceil(T / 64) + 3`` hops).

    Written for few full-size passes (the frame tensors are ~4x the signal): the bins are
    scaled in their real/imaginary view, the quarter-turn for negative smeared powers is only
    applied when there is one, and the 4x overlap-add is four shifted adds of 64-sample hops.
    """
    batch = signal.shape[0]
    lagged, frames_count = _lagged(signal)
    window = smearing_window(signal.dtype, signal.device)
    frames = lagged.new_zeros(batch, frames_count, FFT_SIZE)  # zero-padded to the FFT size
    frames[..., :FRAME_SIZE] = lagged.unfold(-1, FRAME_SIZE, HOP) * window  # [N, K, 512]
    complex_spectrum = torch.fft.rfft(frames)[..., : FFT_SIZE // 2]
    spectrum = torch.view_as_real(complex_spectrum)
    # |X|^2 without a square root  [N, K, 256]
    power = complex_spectrum.real.square().addcmul_(complex_spectrum.imag, complex_spectrum.imag)
    if power.requires_grad:  # the forward is unchanged; see _finite_gradient
        power.register_hook(_finite_gradient)
    matrix = matrix.to(power.dtype)
    if matrix.dim() == 2:
        smeared = power @ matrix.T
    else:
        smeared = torch.einsum("nkj,nij->nki", power, matrix)
    # new bin = sqrt(smeared) * spectrum / |spectrum| (0 where |spectrum| = 0), and
    # 1j * sqrt(-smeared) * phasor where the smeared power is negative (numpy's complex sqrt).
    tiny = torch.finfo(power.dtype).tiny  # keeps sqrt's gradient finite at 0
    scale = torch.sqrt(
        smeared.abs().clamp_min(tiny) / torch.where(power > 0, power, torch.ones_like(power))
    )
    scaled = spectrum * scale.unsqueeze(-1)
    negative = smeared < 0
    if bool(negative.any()):
        turned = torch.stack([-scaled[..., 1], scaled[..., 0]], dim=-1)  # times 1j
        scaled = torch.where(negative.unsqueeze(-1), turned, scaled)
    # irfft zero-fills the missing Nyquist bin and ignores bin 0's imaginary part, exactly
    # as numpy's real(ifft(...)) of the Hermitian-completed spectrum does.
    out_frames = torch.fft.irfft(torch.view_as_complex(scaled), n=FFT_SIZE)[..., :FRAME_SIZE]
    out_frames = (out_frames * window).reshape(batch, frames_count, 4, HOP)
    # Overlap-add: hop j sums quarter q of frame j - q (q = 0..3).
    overlap_added = out_frames.new_zeros(batch, frames_count + 3, HOP)
    for quarter in range(4):
        overlap_added[:, quarter : quarter + frames_count] += out_frames[:, :, quarter]
    overlap_added = overlap_added.reshape(batch, HOP * (frames_count + 3))
    out_frames = out_frames.reshape(batch, frames_count, FRAME_SIZE)

    def frame(index: int) -> torch.Tensor:
        if index < 0:
            return out_frames.new_zeros(batch, FRAME_SIZE)
        return out_frames[:, index]

    last, second, stale = frame(frames_count - 1), frame(frames_count - 2), frame(frames_count - 4)
    flush = torch.cat(
        [
            stale[:, 0:64] + last[:, 64:128] + second[:, 128:192],
            stale[:, 64:128] + last[:, 128:192],
            stale[:, 128:192],
        ],
        dim=1,
    )
    return torch.cat([overlap_added[:, : HOP * frames_count], flush], dim=1)


_kernel = nb.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy",
                  fastmath={"contract"})


@_kernel
def _frames_kernel(lagged, window, frames):  # type: ignore[no-untyped-def]
    """``frames[n, k] = [window * lagged[n, 64k : 64k + 256], 256 zeros]``."""
    signals, count = frames.shape[0], frames.shape[1]
    for index in nb.prange(signals * count):
        n, k = index // count, index % count
        source, target = lagged[n, HOP * k : HOP * k + FRAME_SIZE], frames[n, k]
        for i in range(FRAME_SIZE):
            target[i] = window[i] * source[i]
        target[FRAME_SIZE:] = 0


@_kernel
def _power_kernel(spectrum, power):  # type: ignore[no-untyped-def]
    """``power [N, K, 256] = |spectrum|^2`` of the bins below Nyquist (``spectrum [N, K,
    257, 2]``, real and imaginary parts)."""
    signals, count = power.shape[0], power.shape[1]
    for index in nb.prange(signals * count):
        n, k = index // count, index % count
        bins, target = spectrum[n, k], power[n, k]
        for i in range(FFT_SIZE // 2):
            target[i] = bins[i, 0] * bins[i, 0] + bins[i, 1] * bins[i, 1]


@_kernel
def _rescale_kernel(spectrum, power, smeared, tiny):  # type: ignore[no-untyped-def]
    """In place: bin ``i`` times ``sqrt(|smeared| / power)`` (power 0: divided by 1, as
    :func:`spectral_smear`), turned by ``1j`` where the smeared power is negative; the Nyquist
    bin zeroed (the torch path's ``irfft`` of 256 bins zero-fills it)."""
    signals, count = power.shape[0], power.shape[1]
    one = power.dtype.type(1)
    half = FFT_SIZE // 2
    for block in nb.prange((signals * count + 63) // 64):
        scale = np.empty(half, power.dtype)
        for index in range(64 * block, min(64 * (block + 1), signals * count)):
            n, k = index // count, index % count
            bins, energy, target = spectrum[n, k], power[n, k], smeared[n, k]
            # (in two loops, each of which vectorises: the scales, then the bins)
            for i in range(half):
                p = energy[i]
                scale[i] = np.sqrt(max(abs(target[i]), tiny) / (p if p > 0 else one))
            for i in range(half):
                re, im = bins[i, 0] * scale[i], bins[i, 1] * scale[i]
                turned = target[i] < 0
                bins[i, 0] = -im if turned else re
                bins[i, 1] = re if turned else im
            bins[half, 0] = 0
            bins[half, 1] = 0


@_kernel
def _overlap_kernel(frames, window, out):  # type: ignore[no-untyped-def]
    """Window and overlap-add ``frames [N, K, 512]`` (first 256 samples of each) into ``out
    [N, 64 (K + 3)]``: hop ``h < K`` sums quarter ``q`` of frame ``h - q``; the three flush
    hops are smear3's (frames ``K - 1``, ``K - 2`` and the stale ``K - 4``)."""
    signals, count = frames.shape[0], frames.shape[1]
    for n in nb.prange(signals):
        target = out[n]
        for h in range(count):
            hop = target[HOP * h : HOP * (h + 1)]
            hop[:] = 0
            for q in range(min(4, h + 1)):
                source = frames[n, h - q, HOP * q : HOP * (q + 1)]
                weights = window[HOP * q : HOP * (q + 1)]
                for i in range(HOP):
                    hop[i] += source[i] * weights[i]
        # flush hop f (0..2): quarter f of frame K - 4, f + 1 of K - 1, f + 2 of K - 2
        for f in range(3):
            hop = target[HOP * (count + f) : HOP * (count + f + 1)]
            hop[:] = 0
            for frame, q in ((count - 4, f), (count - 1, f + 1), (count - 2, f + 2)):
                if frame >= 0 and q < 3:
                    source = frames[n, frame, HOP * q : HOP * (q + 1)]
                    weights = window[HOP * q : HOP * (q + 1)]
                    for i in range(HOP):
                        hop[i] += source[i] * weights[i]


def spectral_smear_compiled(signal: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """:func:`spectral_smear` for CPU tensors without autograd (same arguments and result;
    compiled elementwise passes, the FFTs and the matrix product by torch)."""
    if signal.device.type != "cpu" or (torch.is_grad_enabled() and signal.requires_grad):
        raise ValueError("spectral_smear_compiled needs a CPU tensor and no autograd")
    from hltk.simulate.msbg_dsp.compiled import ThreadsAsTorch

    batch = signal.shape[0]
    lagged, frames_count = _lagged(signal.detach())
    dtype = signal.dtype
    window = smearing_window(dtype).numpy()
    frames = torch.empty(batch, frames_count, FFT_SIZE, dtype=dtype)
    out = torch.empty(batch, HOP * (frames_count + 3), dtype=dtype)
    with ThreadsAsTorch():
        _frames_kernel(lagged.contiguous().numpy(), window, frames.numpy())
        spectrum = torch.view_as_real(torch.fft.rfft(frames))
        power = torch.empty(batch, frames_count, FFT_SIZE // 2, dtype=dtype)
        _power_kernel(spectrum.numpy(), power.numpy())
        matrix = matrix.to(dtype)
        smeared = (power @ matrix.T if matrix.dim() == 2
                   else torch.einsum("nkj,nij->nki", power, matrix))
        tiny = power.numpy().dtype.type(torch.finfo(dtype).tiny)
        _rescale_kernel(spectrum.numpy(), power.numpy(), smeared.contiguous().numpy(), tiny)
        out_frames = torch.fft.irfft(torch.view_as_complex(spectrum), n=FFT_SIZE)
        _overlap_kernel(out_frames.numpy(), window, out.numpy())
    return out
