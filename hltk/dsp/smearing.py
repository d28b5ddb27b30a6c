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
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

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
    batch, length = signal.shape
    if length < FRAME_SIZE:
        raise ValueError(f"spectral smearing needs at least {FRAME_SIZE} samples, got {length}")
    frames_count = -(-length // HOP)
    lagged = torch.cat([signal[:, :FRAME_SIZE], signal[:, HOP:]], dim=1)
    needed = HOP * (frames_count - 1) + FRAME_SIZE
    lagged = F.pad(lagged, (0, needed - lagged.shape[1]))
    window = smearing_window(signal.dtype, signal.device)
    frames = lagged.new_zeros(batch, frames_count, FFT_SIZE)  # zero-padded to the FFT size
    frames[..., :FRAME_SIZE] = lagged.unfold(-1, FRAME_SIZE, HOP) * window  # [N, K, 512]
    complex_spectrum = torch.fft.rfft(frames)[..., : FFT_SIZE // 2]
    spectrum = torch.view_as_real(complex_spectrum)
    # |X|^2 without a square root  [N, K, 256]
    power = complex_spectrum.real.square().addcmul_(complex_spectrum.imag, complex_spectrum.imag)
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
