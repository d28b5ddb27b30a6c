"""FFT convolution: the one linear convolution of the tree, and long FIR filters through it.

- :func:`fast_fft_size`: the smallest 2^a 3^b 5^c at or above a length (sizes pocketfft and
  cuFFT handle fastest); every FFT size chosen in ``hltk`` comes from here.
- :func:`fft_convolve`: full linear convolution along the last axis, ``numpy.convolve(x, h)``
  per row. Real signals go through ``torch.fft.rfft`` with the kernel in the signal's dtype
  (float64 reproduces ``numpy.convolve`` to ~1e-12); complex ones through ``torch.fft.fft``.
  ``scipy_fft=True`` takes CPU tensors without autograd through ``scipy.fft`` instead
  (pocketfft, faster than torch's transforms on CPU; same values to rounding, not bit for bit:
  callers keep the arithmetic they were validated with).
- :func:`fir_filter`: causal FIR filtering truncated to the input length, as
  ``scipy.signal.lfilter(b, 1, x)``: one transform of a fast size for short signals,
  overlap-save in blocks of ``8 K`` or more for signals much longer than the ``K`` taps
  (cache-sized transforms; ``bench/torch_msbg_speed.py``). The two agree to 1e-15 of the peak.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F

__all__ = ["fast_fft_size", "fft_convolve", "fir_filter", "smooth_fft_size"]


def smooth_fft_size(length: int, factors: tuple[int, ...] = (3, 5)) -> int:
    """Smallest ``2^a`` times a product of powers of ``factors`` that is ``>= length`` (1 for
    ``length <= 1``): the sizes pocketfft transforms fastest."""
    length = max(int(length), 1)
    best = 1 << (length - 1).bit_length()

    def search(base: int, remaining: tuple[int, ...]) -> None:
        nonlocal best
        if not remaining:
            size = base
            while size < length:
                size *= 2
            best = min(best, size)
            return
        value = base
        while value < best:
            search(value, remaining[1:])
            value *= remaining[0]

    search(1, tuple(factors))
    return best


def fast_fft_size(length: int) -> int:
    """Smallest 2^a 3^b 5^c >= ``length`` (1 for ``length <= 1``)."""
    return smooth_fft_size(length, (3, 5))


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor, *,
                 scipy_fft: bool = False) -> torch.Tensor:
    """Full linear convolution along the last axis.

    Args:
        signal: ``[..., T]`` real or complex.
        kernel: ``[..., K]`` (broadcast against ``signal``'s leading axes) or ``[K]``.
        scipy_fft: on CPU tensors without autograd, transform with ``scipy.fft`` (the ear
            model's and the metrics' arithmetic) rather than ``torch.fft``.

    Returns:
        ``[..., T + K - 1]``.
    """
    length = signal.shape[-1] + kernel.shape[-1] - 1
    size = fast_fft_size(length)
    if scipy_fft and signal.device.type == "cpu" and kernel.device.type == "cpu" and not (
            torch.is_grad_enabled() and (signal.requires_grad or kernel.requires_grad)):
        x, h = signal.detach().numpy(), kernel.detach().numpy()
        if np.iscomplexobj(x) or np.iscomplexobj(h):
            full = scipy.fft.ifft(scipy.fft.fft(x, n=size) * scipy.fft.fft(h, n=size), n=size)
        else:
            full = scipy.fft.irfft(scipy.fft.rfft(x, n=size) * scipy.fft.rfft(h, n=size),
                                   n=size)
        return torch.from_numpy(np.ascontiguousarray(full[..., :length]))
    if signal.is_complex() or kernel.is_complex():
        spectrum = torch.fft.fft(signal, n=size) * torch.fft.fft(kernel, n=size)
        return torch.fft.ifft(spectrum, n=size)[..., :length]
    spectrum = torch.fft.rfft(signal, n=size) * torch.fft.rfft(kernel.to(signal.dtype), n=size)
    return torch.fft.irfft(spectrum, n=size)[..., :length]


def fir_filter(signal: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Causal FIR filtering with zero initial state, same length as the input.

    Equals ``scipy.signal.lfilter(taps, 1, signal)``: ``[..., T] -> [..., T]``; ``taps``
    ``[K]`` or ``[..., K]`` broadcasting against the signal's leading axes (a filter per channel).
    """
    length, count = signal.shape[-1], taps.shape[-1]
    size = fast_fft_size(max(8 * count, 4096))
    if length < 4 * size:
        return fft_convolve(signal, taps)[..., :length]
    # overlap-save: block b holds the K - 1 samples before its hop, then the hop
    hop = size - count + 1
    blocks = -(-length // hop)
    padded = F.pad(signal, (count - 1, blocks * hop - length))
    frames = padded.unfold(-1, size, hop)  # [..., blocks, size]
    # taps [..., K] broadcast against the signal's leading axes, not the block axis
    spectrum = torch.fft.rfft(frames, n=size) * torch.fft.rfft(
        taps.to(signal.dtype), n=size).unsqueeze(-2)
    kept = torch.fft.irfft(spectrum, n=size)[..., count - 1 :]  # [..., blocks, hop]
    return kept.reshape(*signal.shape[:-1], blocks * hop)[..., :length]
