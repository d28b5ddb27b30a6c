"""Stateless filters of the Kates ear model port (:mod:`hltk.metrics.ear.model`).

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

import functools
import math

import numpy as np
import scipy.signal
import torch
from scipy.special import gammaln

from hltk.dsp.fftconv import fast_fft_size

__all__ = [
    "iir_tail_length",
    "polyval_z",
    "iir_response",
    "iir_filter_fft",
    "iir_filter",
    "gammatone_phase",
    "gammatone_lfilter",
    "gammatone_complex",
    "shift_signal",
]


@functools.lru_cache(maxsize=256)
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


def iir_response(
    b: torch.Tensor | np.ndarray, a: torch.Tensor | np.ndarray, n_fft: int,
    dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Analytic frequency response of ``b/a`` on the ``rfft`` grid of length ``n_fft``."""
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    b_t = torch.as_tensor(b, dtype=dtype, device=device)
    a_t = torch.as_tensor(a, dtype=dtype, device=device)
    freqs = torch.arange(n_fft // 2 + 1, device=device, dtype=dtype)
    z_inv = torch.exp(-2j * math.pi * freqs.to(cdtype) / n_fft)
    return (polyval_z(b_t.unsqueeze(-2), z_inv) / polyval_z(a_t.unsqueeze(-2), z_inv)).squeeze(-2)


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
    response = iir_response(b, a, n_fft, signal.dtype, signal.device)
    spectrum = torch.fft.rfft(signal, n=n_fft)
    return torch.fft.irfft(spectrum * response, n=n_fft)[..., :length]


def iir_filter(
    signal: torch.Tensor, b: np.ndarray, a: np.ndarray, tail: int
) -> torch.Tensor:
    """Fixed-coefficient IIR filter along the last axis, choosing the implementation.

    On CPU without autograd it runs ``scipy.signal.lfilter`` (the recursion itself, identical to
    pyclarity's numerics and cheaper than a long FFT); on other devices or when ``signal``
    requires grad it runs :func:`iir_filter_fft` (bounded truncation error, differentiable).

    Args:
        signal: ``[..., T]``; b, a: 1-D numpy coefficients; tail: see :func:`iir_tail_length`.

    Returns:
        ``[..., T]``.
    """
    if signal.device.type == "cpu" and not (signal.requires_grad and torch.is_grad_enabled()):
        filtered = scipy.signal.lfilter(b, a, signal.detach().numpy(), axis=-1)
        return torch.from_numpy(np.ascontiguousarray(filtered)).to(signal.dtype)
    return iir_filter_fft(signal, b, a, tail)


def gammatone_phase(n_fft: int, center_radians: float, device: torch.device | str = "cpu"
                    ) -> torch.Tensor:
    """``z^-1`` on the DFT grid shifted by the centre frequency, ``exp(-j(theta_k - w))``.

    Returns:
        ``[n_fft]`` complex128.
    """
    k = torch.arange(n_fft, device=device, dtype=torch.float64)
    theta = 2.0 * math.pi * k / n_fft - center_radians
    return torch.polar(torch.ones_like(theta), -theta)


def gammatone_complex(
    spectrum: torch.Tensor,
    n_fft: int,
    length: int,
    pole: torch.Tensor,
    center_radians: float,
    phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Kates' 4th-order gammatone filter as a complex band-pass, in the frequency domain.

    pyclarity demodulates ``x`` by ``exp(-j w n)``, filters with
    ``(1 + 4a z^-1 + 4a^2 z^-2) / (1 - a z^-1)^4 = ((1 + 2a z^-1) / (1 - a z^-1)^2)^2`` and
    remodulates. That equals filtering ``x`` with the complex band-pass ``G(theta) = H(theta - w)``;
    the result ``v`` gives the BM signal ``gain * Re(v)`` and the envelope ``gain * |v|``
    (Kates 2013, eq. 3-5).

    Args:
        spectrum: ``[..., n_fft]`` full complex FFT of the real input signal.
        n_fft: FFT length (>= length + tail).
        length: number of output samples kept.
        pole: ``[...]`` real pole radius ``a = exp(-2 pi 1.019 bw ERB / fs)`` (0-d for one
            filter shared by all rows).
        center_radians: ``w = 2 pi cf / fs``.
        phase: optional precomputed :func:`gammatone_phase`.

    Returns:
        ``[..., length]`` complex analytic band signal ``v`` (before ``gain``).
    """
    q = gammatone_phase(n_fft, center_radians, spectrum.device) if phase is None else phase
    a = pole.to(torch.float64).unsqueeze(-1)
    aq = a * q
    ratio = (1.0 + 2.0 * aq) / ((1.0 - aq) * (1.0 - aq))
    return torch.fft.ifft(spectrum * (ratio * ratio), n=n_fft)[..., :length]


def gammatone_lfilter(
    signal: np.ndarray,
    pole: np.ndarray | float,
    carrier: tuple[np.ndarray, np.ndarray],
    want_bm: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """The band signal of :func:`gammatone_complex` by the recursion (CPU, no autograd).

    Runs pyclarity's direct-form filter ``(1 + 4a z^-1 + 4a^2 z^-2) / (1 - a z^-1)^4`` with
    ``scipy.signal.lfilter`` on the demodulated signal ``x exp(-j w n)`` (real and imaginary
    parts as two real rows), so it shares pyclarity's rounding. A scalar ``pole`` filters all
    rows in one call.

    Args:
        signal: ``[R, T]`` float64 numpy.
        pole: scalar or ``[R]`` pole radii.
        carrier: ``(cos(w n), sin(w n))``, each ``[T]``.
        want_bm: also return the BM signal.

    Returns:
        ``(Re(v), |v|)``, each ``[R, T]`` (before ``gain``); ``Re(v)`` is None unless ``want_bm``.
    """
    cosine, sine = carrier
    demodulated = np.empty(signal.shape[:-1] + (2, signal.shape[-1]))  # [R, 2, T]
    np.multiply(signal, cosine, out=demodulated[..., 0, :])
    np.multiply(signal, -sine, out=demodulated[..., 1, :])
    out = np.empty(demodulated.shape)
    if np.ndim(pole) == 0:
        groups: list[tuple[slice | int, float]] = [(slice(None), float(pole))]
    else:
        poles = np.broadcast_to(np.asarray(pole, dtype=np.float64), signal.shape[:-1])
        groups = [(r, float(poles[r])) for r in range(signal.shape[0])]
    for rows, a in groups:
        b_coef = [1.0, 4.0 * a, 4.0 * a * a]
        a_coef = [1.0, -4.0 * a, 6.0 * a * a, -4.0 * a**3, a**4]
        out[rows] = scipy.signal.lfilter(b_coef, a_coef, demodulated[rows], axis=-1)
    # sqrt(re^2 + im^2) rather than np.hypot (2.3x faster; differs by ~1 ulp, no overflow risk
    # at these magnitudes)
    envelope = np.square(out[..., 0, :])
    envelope += np.square(out[..., 1, :])
    np.sqrt(envelope, out=envelope)
    bm = out[..., 0, :] * cosine - out[..., 1, :] * sine if want_bm else None
    return bm, envelope


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
    lead = signal.shape[:-1]
    rows = signal.reshape(-1, total)
    delays = torch.as_tensor(delay).expand(lead).reshape(-1).tolist()
    limits = torch.as_tensor(lengths).expand(lead).reshape(-1).tolist()
    out = torch.zeros_like(rows)
    for r, (d, length) in enumerate(zip(delays, limits, strict=True)):
        d, length = int(d), min(int(length), total)
        if d >= 0 and d < length:
            out[r, : length - d] = rows[r, d:length]
        elif d < 0 and length + d > 0:
            out[r, -d:length] = rows[r, : length + d]
    return out.reshape(signal.shape)
