"""Filter design of the DRNL auditory model: parameters, channel frequencies, 512-tap FIRs.

Everything here is numpy at construction time, in float64; :mod:`hltk.auditory.model` turns the
results into buffers.

- :data:`CENTRE_FREQUENCIES`: 31 channels at 1-ERB spacing (Glasberg & Moore ERB-number scale,
  ``9.2645 ln(1 + 0.00437 f)``) from 80 to 7643 Hz, as Gonzalez, Dau & May (Clarity 2025) use;
  the two ends are 30.0 ERB apart, so the spacing is 1 ERB to 5e-5.
- :data:`DRNL_PARAMETERS`: the regression lines of Lopez-Poveda & Meddis (2001, JASA 110,
  3107-3118, Table III, average normal hearing): each parameter is ``10 ** (p0 + m log10(CF))``.
  Orders: linear path one gammatone of order 2 and four 2nd-order Butterworth low-passes;
  nonlinear path gammatones of order 3 before and after the broken stick and three low-passes;
  the broken-stick exponent ``c = 0.25``.
- :func:`middle_ear_fir`: outer/middle ear as a 512-tap minimum-phase FIR from Pa to peak stapes
  velocity (m/s), magnitude from Lopez-Poveda & Meddis (2001) Fig. 2b (Goode et al. 1994 stapes
  data with their extrapolations below 400 Hz and above 6.5 kHz). The minimum phase is built by
  folding the real cepstrum of the interpolated (log-log) magnitude; the tail of the 512 taps is
  tapered by a half Hann window of 64 taps (``taps // 8`` for shorter FIRs).
- :func:`gammatone_fir`: sampled gammatone ``t^(n-1) exp(-2 pi BW t) cos(2 pi f t)`` (``BW`` the
  regression's bandwidth used as the gammatone's ``b``, as AMT's ``lopezpoveda2001`` does), unit
  gain at its own centre frequency.
- :func:`lowpass_fir`: a cascade of 2nd-order Butterworth low-passes, impulse response truncated.
- :func:`design_drnl`: every FIR of every channel plus the broken stick's ``a``, ``b`` and the
  largest OHC loss each channel can represent (:func:`DrnlDesign.max_ohc_db`).

Each filter is its own FIR of ``taps`` taps (512 by default: 32 ms at 16 kHz); the cascade of a
path is applied as one product of their spectra, so the cascade itself is not truncated. At the
lowest channels (80-150 Hz) the order-3 gammatones still have energy beyond 32 ms: the fraction
of energy cut is given by :func:`truncation_loss_db` and written in ``docs/auditory-model.md``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.signal

__all__ = [
    "CENTRE_FREQUENCIES", "DRNL_PARAMETERS", "DrnlDesign", "design_drnl", "erb_number",
    "erb_number_to_hz", "gammatone_fir", "lowpass_fir", "middle_ear_fir", "truncation_loss_db",
]


def erb_number(hz: np.ndarray | float) -> np.ndarray:
    """Glasberg & Moore (1990) ERB-number of a frequency (as AMT's ``freqtoerb``)."""
    return 9.2645 * np.log1p(0.00437 * np.asarray(hz, dtype=float))


def erb_number_to_hz(erb: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`erb_number`."""
    return np.expm1(np.asarray(erb, dtype=float) / 9.2645) / 0.00437


#: The 31 channel centre frequencies (Hz), 1 ERB apart from 80 to 7643 Hz.
CENTRE_FREQUENCIES: tuple[float, ...] = tuple(
    float(f) for f in erb_number_to_hz(np.linspace(erb_number(80.0), erb_number(7643.0), 31)))

#: Lopez-Poveda & Meddis (2001) Table III: ``(p0, m)`` with ``parameter = 10 ** (p0 + m log10 CF)``.
DRNL_PARAMETERS: dict[str, tuple[float, float]] = {
    "lin_cf": (-0.06762, 1.01679),
    "lin_bw": (0.03728, 0.78563),
    "lin_gain": (4.20405, -0.47909),
    "lin_lp_cutoff": (-0.06762, 1.01679),
    "nlin_cf": (-0.05252, 1.01650),
    "nlin_bw": (-0.03193, 0.77426),
    "nlin_lp_cutoff": (-0.05252, 1.01650),
    "nlin_a": (1.40298, 0.81916),
    "nlin_b": (1.61912, -0.81867),
}
#: Broken-stick exponent (``10 ** -0.60206``), and the filter orders / cascade counts.
NLIN_C = 0.25
LIN_GAMMATONE_ORDER, LIN_LOWPASS_COUNT = 2, 4
NLIN_GAMMATONE_ORDER, NLIN_LOWPASS_COUNT = 3, 3


def regression(name: str, cf: np.ndarray) -> np.ndarray:
    """One Lopez-Poveda & Meddis parameter at channel frequencies ``cf`` (Hz)."""
    p0, m = DRNL_PARAMETERS[name]
    return np.asarray(10.0 ** (p0 + m * np.log10(cf)), dtype=float)


# Goode et al. (1994) stapes displacement (micrometres) for a 104 dB SPL tone, as plotted (as peak
# velocity for 0 dB SPL) in Lopez-Poveda & Meddis (2001) Fig. 2b, and their extrapolated points.
_GOODE_HZ = np.array([400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800,
                      3000, 3500, 4000, 4500, 5000, 5500, 6000, 6500], dtype=float)
_GOODE_UM = np.array([0.19953, 0.22909, 0.21878, 0.15136, 0.10000, 0.07943, 0.05754, 0.04365,
                      0.03311, 0.02754, 0.02188, 0.01820, 0.01445, 0.01259, 0.00900, 0.00700,
                      0.00457, 0.00500, 0.00400, 0.00300, 0.00275])
_EXTRAPOLATED = {100.0: 1.181e-9, 200.0: 2.363e-9, 7000.0: 8.705e-10, 7500.0: 8.000e-10,
                 8000.0: 7.577e-10, 8500.0: 7.168e-10, 9000.0: 6.781e-10, 9500.0: 6.240e-10,
                 10000.0: 6.000e-10}


def stapes_velocity_0db_spl() -> tuple[np.ndarray, np.ndarray]:
    """``(hz, peak stapes velocity m/s)`` for a 0 dB SPL tone (LP&M 2001 Fig. 2b)."""
    goode = _GOODE_UM * 1e-6 * 2 * np.pi * _GOODE_HZ * 10 ** (-104 / 20) * math.sqrt(2)
    low = [(f, v) for f, v in _EXTRAPOLATED.items() if f < _GOODE_HZ[0]]
    high = [(f, v) for f, v in _EXTRAPOLATED.items() if f > _GOODE_HZ[-1]]
    hz = np.array([f for f, _ in low] + list(_GOODE_HZ) + [f for f, _ in high])
    velocity = np.array([v for _, v in low] + list(goode) + [v for _, v in high])
    return hz, velocity


def middle_ear_fir(sample_rate: float, taps: int = 512) -> np.ndarray:
    """Minimum-phase FIR from sound pressure (Pa) to peak stapes velocity (m/s).

    Gain at a frequency = peak velocity for a 0 dB SPL tone / its peak pressure
    (``sqrt(2) * 20e-6`` Pa). The magnitude is interpolated linearly in log-log between the data
    points, continued at the 6 dB/octave of the two lowest points below 100 Hz and held constant
    above 10 kHz.
    """
    hz, velocity = stapes_velocity_0db_spl()
    gain = velocity / (math.sqrt(2) * 20e-6)
    size = 16384
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    logf = np.log(np.maximum(freqs, freqs[1]))
    slope = (np.log(gain[1]) - np.log(gain[0])) / (np.log(hz[1]) - np.log(hz[0]))
    log_gain = np.interp(logf, np.log(hz), np.log(gain))
    below = freqs < hz[0]
    log_gain[below] = np.log(gain[0]) + slope * (logf[below] - np.log(hz[0]))
    cepstrum = np.fft.irfft(log_gain, n=size)
    fold = np.zeros(size)
    fold[0] = cepstrum[0]
    fold[1 : size // 2] = 2 * cepstrum[1 : size // 2]
    fold[size // 2] = cepstrum[size // 2]
    impulse = np.fft.irfft(np.exp(np.fft.rfft(fold)), n=size)[:taps]
    taper = min(64, taps // 8)
    impulse[-taper:] *= np.hanning(2 * taper)[taper:]
    return impulse


def gammatone_fir(cf: np.ndarray, bandwidth: np.ndarray, order: int, sample_rate: float,
                  taps: int = 512) -> np.ndarray:
    """``[channels, taps]`` sampled gammatones of ``order``, unit gain at their own ``cf``."""
    t = np.arange(taps) / sample_rate
    cf, bandwidth = np.asarray(cf, dtype=float)[:, None], np.asarray(bandwidth, dtype=float)[:, None]
    fir = t ** (order - 1) * np.exp(-2 * np.pi * bandwidth * t) * np.cos(2 * np.pi * cf * t)
    at_cf = np.abs((fir * np.exp(-2j * np.pi * cf * t)).sum(axis=1, keepdims=True))
    return np.asarray(fir / at_cf)


def lowpass_fir(cutoff: np.ndarray, count: int, sample_rate: float, taps: int = 512) -> np.ndarray:
    """``[channels, taps]`` impulse responses of ``count`` cascaded 2nd-order Butterworth low-passes."""
    impulse = np.zeros(taps)
    impulse[0] = 1.0
    rows = []
    for fc in np.asarray(cutoff, dtype=float):
        if not 0 < fc < sample_rate / 2:
            raise ValueError(f"low-pass cutoff {fc:.0f} Hz is not below Nyquist ({sample_rate / 2:.0f} Hz): "
                             "the DRNL filterbank needs a sample rate of 16 kHz or more")
        b, a = scipy.signal.butter(2, fc / (sample_rate / 2))
        response = impulse
        for _ in range(count):
            response = scipy.signal.lfilter(b, a, response)
        rows.append(response)
    return np.stack(rows)


def _gain_at(fir: np.ndarray, hz: np.ndarray, sample_rate: float) -> np.ndarray:
    """``|H(hz)|`` of each row of ``fir`` at its own frequency."""
    n = np.arange(fir.shape[-1])
    return np.abs((fir * np.exp(-2j * np.pi * hz[:, None] * n / sample_rate)).sum(axis=-1))


@dataclass(frozen=True)
class DrnlDesign:
    """Every FIR and constant of the DRNL filterbank at one sample rate (float64 numpy).

    ``lin_gain`` multiplies the linear path; ``a``, ``b`` (and :data:`NLIN_C`) define the broken
    stick ``sign(x) min(a g_ohc |x|, b |x|^c)`` on stapes velocity (m/s).
    """

    sample_rate: float
    cf: np.ndarray  # [C]
    middle_ear: np.ndarray  # [K]
    lin_gain: np.ndarray  # [C]
    lin_gammatone: np.ndarray  # [C, K]
    lin_lowpass: np.ndarray  # [C, K]
    nlin_gammatone: np.ndarray  # [C, K] (before and after the broken stick: the same filter)
    nlin_lowpass: np.ndarray  # [C, K]
    a: np.ndarray  # [C]
    b: np.ndarray  # [C]

    def max_ohc_db(self) -> np.ndarray:
        """``[C]`` the largest OHC loss (dB) each channel can represent.

        OHC loss ``L`` scales the broken stick's linear gain ``a`` by ``10 ** (-L / 20)``; that
        lowers the nonlinear path's low-level gain and moves the stick's knee up. When ``a``'s
        path gain at the channel's CF has fallen to the linear path's gain, the knee meets the
        level where the linear path takes over: no compressive region is left and further loss
        has no effect on threshold. The cap is that ratio, 20 log10 of (nonlinear path gain
        below the knee / linear path gain) at CF, computed from these FIRs; it is the compression
        range of the stick expressed in output dB.
        """
        sr = self.sample_rate
        nonlinear = (self.a * _gain_at(self.nlin_gammatone, self.cf, sr) ** 2
                     * _gain_at(self.nlin_lowpass, self.cf, sr))
        linear = (self.lin_gain * _gain_at(self.lin_gammatone, self.cf, sr)
                  * _gain_at(self.lin_lowpass, self.cf, sr))
        return np.asarray(np.maximum(20 * np.log10(nonlinear / linear), 0.0))


@functools.lru_cache(maxsize=8)
def design_drnl(sample_rate: float = 16000.0, taps: int = 512,
                cf: tuple[float, ...] = CENTRE_FREQUENCIES) -> DrnlDesign:
    """The DRNL filterbank's FIRs at ``sample_rate`` (cached; treat the arrays as read-only)."""
    centre = np.asarray(cf, dtype=float)
    lin_cf, nlin_cf = regression("lin_cf", centre), regression("nlin_cf", centre)
    return DrnlDesign(
        sample_rate=float(sample_rate),
        cf=centre,
        middle_ear=middle_ear_fir(sample_rate, taps),
        lin_gain=regression("lin_gain", centre),
        lin_gammatone=gammatone_fir(lin_cf, regression("lin_bw", centre), LIN_GAMMATONE_ORDER,
                                    sample_rate, taps),
        lin_lowpass=lowpass_fir(regression("lin_lp_cutoff", centre), LIN_LOWPASS_COUNT,
                                sample_rate, taps),
        nlin_gammatone=gammatone_fir(nlin_cf, regression("nlin_bw", centre), NLIN_GAMMATONE_ORDER,
                                     sample_rate, taps),
        nlin_lowpass=lowpass_fir(regression("nlin_lp_cutoff", centre), NLIN_LOWPASS_COUNT,
                                 sample_rate, taps),
        a=regression("nlin_a", centre),
        b=regression("nlin_b", centre),
    )


def truncation_loss_db(sample_rate: float = 16000.0, taps: int = 512) -> np.ndarray:
    """``[C]`` energy (dB re the whole) of each nonlinear-path gammatone beyond ``taps`` taps."""
    centre = np.asarray(CENTRE_FREQUENCIES)
    long = gammatone_fir(regression("nlin_cf", centre), regression("nlin_bw", centre),
                         NLIN_GAMMATONE_ORDER, sample_rate, 16 * taps)
    energy = (long**2).sum(axis=1)
    return np.asarray(10 * np.log10((long[:, taps:] ** 2).sum(axis=1) / energy))
