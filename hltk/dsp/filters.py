"""Stateless filtering primitives used by the amplification backends.

- :func:`fft_convolve`: full linear convolution of ``[..., T]`` signals with ``[..., K]`` FIR
  filters through the real FFT (same result as ``numpy.convolve(x, h)`` per row).
- :func:`sliding_min`: minimum over a sliding window in O(T) (van Herk / Gil-Werman block
  prefix and suffix minima, vectorised with ``torch.cummin``).
- :func:`moving_average`: mean over a sliding window ("valid" mode) through a float64
  cumulative sum.
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


def sliding_min(values: torch.Tensor, window: int) -> torch.Tensor:
    """``out[..., n] = min(values[..., n : n + window])`` (the window runs forward).

    Positions past the end are treated as ``+inf`` (ignored). ``[..., T] -> [..., T]``.
    Van Herk (1992) / Gil & Werman (1993): split into blocks of ``window``; the minimum over
    any window is the minimum of one block's suffix minimum and the next block's prefix minimum.
    """
    if window <= 1:
        return values.clone()
    length = values.shape[-1]
    blocks = -(-length // window) + 1
    padded = torch.nn.functional.pad(
        values, (0, blocks * window - length), value=float("inf")
    ).reshape(*values.shape[:-1], blocks, window)
    prefix = torch.cummin(padded, dim=-1).values.reshape(*values.shape[:-1], -1)
    suffix = torch.cummin(padded.flip(-1), dim=-1).values.flip(-1).reshape(*values.shape[:-1], -1)
    return torch.minimum(suffix[..., :length], prefix[..., window - 1 : window - 1 + length])


def moving_average(values: torch.Tensor, window: int) -> torch.Tensor:
    """``out[..., n] = mean(values[..., n : n + window])`` for every full window ("valid"
    mode): ``[..., T] -> [..., T - window + 1]``. Summed in float64 (cumulative sum)."""
    if window <= 1:
        return values.clone()
    total = torch.nn.functional.pad(torch.cumsum(values.to(torch.float64), dim=-1), (1, 0))
    return ((total[..., window:] - total[..., :-window]) / window).to(values.dtype)
