"""Stateless filtering primitives used by the amplification backends.

- :func:`fft_convolve`: full linear convolution of ``[..., T]`` signals with ``[..., K]`` FIR
  filters through the real FFT (same result as ``numpy.convolve(x, h)`` per row).
"""

from __future__ import annotations

import torch


def _next_fast_length(n: int) -> int:
    """Smallest 2^a * 3^b * 5^c >= ``n`` (sizes pocketfft / cuFFT handle fastest)."""
    best = 1 << max(0, (n - 1).bit_length())
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            f235 = f35
            while f235 < n:
                f235 *= 2
            best = min(best, f235)
            f35 *= 3
        f5 *= 5
    return best


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Full linear convolution ``[..., T] * [..., K] -> [..., T + K - 1]``.

    Leading dimensions broadcast. Computed in the dtype of ``signal`` (use float64 to
    reproduce ``numpy.convolve`` to ~1e-12).
    """
    length = signal.shape[-1] + kernel.shape[-1] - 1
    n_fft = _next_fast_length(length)
    spectrum = torch.fft.rfft(signal, n=n_fft) * torch.fft.rfft(kernel.to(signal.dtype), n=n_fft)
    return torch.fft.irfft(spectrum, n=n_fft)[..., :length]
