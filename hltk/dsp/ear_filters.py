"""Stateless torch filters used by the Kates ear model port (`hltk.metrics.ear_model`).

Recursive (IIR) filters are applied as FFT products with their *analytic* frequency
response evaluated on the DFT grid. A circular convolution with the analytic response equals
a linear convolution with the infinite impulse response aliased modulo the FFT length; the
FFT length is chosen as ``T + L`` where ``L`` is the length after which the impulse-response
envelope holds less than ``tol`` (default 1e-17) of its total absolute sum. The result
therefore equals the recursive filter (``scipy.signal.lfilter``, zero initial state) up to a
relative error bounded by ``tol`` plus float64 FFT rounding (about 1e-15 relative), and it is
differentiable with respect to both the signal and the filter coefficients.

All functions work on any device and keep the dtype of their input (callers use float64:
the gammatone poles sit within 0.9% of the unit circle, where float32 loses the response).

References:
    Kates, J. M. (2013). "An auditory model for intelligibility and quality predictions",
    Proc. Meet. Acoust. 19, 050184; pyclarity ``clarity/evaluator/haspi/eb.py``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import gammaln

__all__ = [
    "fast_fft_size",
    "iir_tail_length",
    "polyval_z",
    "iir_filter_fft",
    "gammatone_complex",
    "shift_signal",
    "fft_convolve_full",
]


def fast_fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (sizes pocketfft / cuFFT handle fastest)."""
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def iir_tail_length(pole_radius: float, multiplicity: int = 1, tol: float = 1e-17) -> int:
    """Length L after which an IIR impulse response holds < ``tol`` of its absolute sum.

    Uses the envelope of a pole of radius ``r`` repeated ``m`` times,
    ``C(n+m-1, m-1) r^n``, whose sum is ``(1-r)^-m``; a filter whose largest pole has radius
    ``r`` and multiplicity ``m`` is bounded by a constant times this envelope.
    """
    r = float(pole_radius)
    if r <= 0.0:
        return multiplicity + 4
    if r >= 1.0:
        raise ValueError("unstable or marginally stable filter")
    m = int(multiplicity)
    log_tol = math.log(tol)
    # Geometric search over n for the tail sum (log domain).
    cap = int(min(50 * (-log_tol / -math.log(r)) + 100 * m, 5e7))
    n = np.arange(0, cap, dtype=np.float64)
    log_env = gammaln(n + m) - gammaln(m) - gammaln(n + 1) + n * math.log(r) + m * math.log1p(-r)
    env = np.exp(log_env)
    tail = np.cumsum(env[::-1])[::-1]
    above = np.nonzero(tail > tol)[0]
    length = int(above[-1]) + 2 if above.size else 1
    return length


def polyval_z(coefficients: torch.Tensor, z_inv: torch.Tensor) -> torch.Tensor:
    """Evaluate ``sum_k c[..., k] z^-k`` (Horner).

    Args:
        coefficients: ``[..., K]`` (real or complex), broadcast against ``z_inv``'s leading dims.
        z_inv: ``[..., F]`` complex values of ``z^-1``.

    Returns:
        ``[..., F]`` complex.
    """
    k = coefficients.shape[-1]
    result = torch.zeros_like(z_inv) + coefficients[..., k - 1 : k].to(z_inv.dtype)
    for i in range(k - 2, -1, -1):
        result = result * z_inv + coefficients[..., i : i + 1].to(z_inv.dtype)
    return result


def iir_filter_fft(
    signal: torch.Tensor,
    b: torch.Tensor | np.ndarray,
    a: torch.Tensor | np.ndarray,
    tail: int,
) -> torch.Tensor:
    """Causal IIR filter ``b/a`` (zero initial state), like ``scipy.signal.lfilter(b, a, x)``.

    Args:
        signal: ``[..., T]`` real.
        b, a: ``[..., Kb]`` / ``[..., Ka]`` coefficients (broadcast against ``signal[..., :1]``).
        tail: impulse-response length bound from :func:`iir_tail_length`.

    Returns:
        ``[..., T]`` filtered signal, same dtype.
    """
    length = signal.shape[-1]
    n_fft = fast_fft_size(length + tail)
    cdtype = torch.complex128 if signal.dtype == torch.float64 else torch.complex64
    b_t = torch.as_tensor(b, dtype=signal.dtype, device=signal.device)
    a_t = torch.as_tensor(a, dtype=signal.dtype, device=signal.device)
    freqs = torch.arange(n_fft // 2 + 1, device=signal.device, dtype=signal.dtype)
    z_inv = torch.exp(-2j * math.pi * freqs.to(cdtype) / n_fft)
    response = polyval_z(b_t.unsqueeze(-2), z_inv) / polyval_z(a_t.unsqueeze(-2), z_inv)
    response = response.squeeze(-2)
    spectrum = torch.fft.rfft(signal, n=n_fft)
    return torch.fft.irfft(spectrum * response, n=n_fft)[..., :length]


def gammatone_complex(
    spectrum: torch.Tensor,
    n_fft: int,
    length: int,
    pole: torch.Tensor,
    center_radians: float,
) -> torch.Tensor:
    """Kates' 4th-order gammatone filter as a complex band-pass, in the frequency domain.

    pyclarity demodulates ``x`` by ``exp(-j w n)``, filters with
    ``(1 + 4a z^-1 + 4a^2 z^-2) / (1 - a z^-1)^4`` and remodulates. That equals filtering
    ``x`` with the complex band-pass ``G(theta) = H(theta - w)``; the result ``v`` gives the
    BM signal ``gain * Re(v)`` and the envelope ``gain * |v|`` (Kates 2013, eq. 3-5).

    Args:
        spectrum: ``[..., n_fft]`` full complex FFT of the real input signal.
        n_fft: FFT length (>= length + tail).
        length: number of output samples kept.
        pole: ``[...]`` real pole radius ``a = exp(-2 pi 1.019 bw ERB / fs)``.
        center_radians: ``w = 2 pi cf / fs``.

    Returns:
        ``[..., length]`` complex analytic band signal ``v`` (before ``gain``).
    """
    device = spectrum.device
    k = torch.arange(n_fft, device=device, dtype=torch.float64)
    theta = 2.0 * math.pi * k / n_fft - center_radians
    q = torch.polar(torch.ones_like(theta), -theta)  # z^-1 at theta - w
    a = pole.to(torch.float64).unsqueeze(-1)
    numerator = 1.0 + 4.0 * a * q + 4.0 * a * a * q * q
    denominator = (1.0 - a * q) ** 4
    response = numerator / denominator
    return torch.fft.ifft(spectrum * response, n=n_fft)[..., :length]


def shift_signal(signal: torch.Tensor, delay: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Shift each row by an integer delay inside its valid length, filling with zeros.

    ``delay > 0`` advances (``out[n] = x[n + delay]``), ``delay < 0`` delays, as pyclarity's
    ``np.concatenate((x[delay:], zeros(delay)))`` / ``np.concatenate((zeros(-d), x[:n+d]))``.

    Args:
        signal: ``[..., T]``.
        delay: integer tensor broadcastable to ``signal.shape[:-1]``.
        lengths: valid lengths broadcastable to ``signal.shape[:-1]``; samples at or past a
            row's length are zero in the output.

    Returns:
        ``[..., T]``.
    """
    total = signal.shape[-1]
    n = torch.arange(total, device=signal.device)
    delay = torch.as_tensor(delay, device=signal.device).expand(signal.shape[:-1])
    lengths = torch.as_tensor(lengths, device=signal.device).expand(signal.shape[:-1])
    source = n + delay.unsqueeze(-1)
    valid = (source >= 0) & (source < lengths.unsqueeze(-1)) & (n < lengths.unsqueeze(-1))
    gathered = torch.gather(signal, -1, source.clamp(0, total - 1))
    return torch.where(valid, gathered, torch.zeros((), dtype=signal.dtype, device=signal.device))


def fft_convolve_full(signal: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Full linear convolution along the last axis (``numpy.convolve(x, h, 'full')``).

    Args:
        signal: ``[..., T]``; kernel: ``[..., K]`` (broadcast).

    Returns:
        ``[..., T + K - 1]``.
    """
    out_len = signal.shape[-1] + kernel.shape[-1] - 1
    n_fft = fast_fft_size(out_len)
    if signal.is_complex() or kernel.is_complex():
        spec = torch.fft.fft(signal, n=n_fft) * torch.fft.fft(kernel, n=n_fft)
        return torch.fft.ifft(spec, n=n_fft)[..., :out_len]
    spec = torch.fft.rfft(signal, n=n_fft) * torch.fft.rfft(kernel, n=n_fft)
    return torch.fft.irfft(spec, n=n_fft)[..., :out_len]
