"""The auditory channels of the Kates ear model: one source of the per-channel parameters for
both channel loops of :func:`hltk.metrics.ear.model.ear_model` (the torch loop and the compiled
one), so a formula is written, and fixed, once.

- :func:`center_frequency`: the ERB-spaced centre frequencies (``eb.center_frequency``);
- :class:`Channels`: per channel, the gammatone pole and gain (``eb.gammatone_basilar_membrane``,
  pole ``a = exp(-2 pi 1.019 b ERB / fs)``, gain ``2 (1 - a)^4 / (1 + 4a + 4a^2)``), the
  bandwidth set by the control path's level (``eb.bandwidth_adjust``: the impaired-ear
  bandwidth below 50 dB SPL, the broad control bandwidth above 100, linear between), the OHC
  gain's 800 Hz first-order low-pass (``eb.env_compress_basilar_membrane``), the IHC adaptation
  filter (:func:`inner_hair_cell_filter`) and the 100 ms lag of the envelope and BM alignment
  (``eb.envelope_align``);
- :func:`group_delays`: the integer group-delay compensation per channel
  (``eb.group_delay_compensate``).

The formulas take python floats, numpy arrays or torch tensors (``exp`` from ``math``, numpy or
torch by type) in one operation order: the torch loop passes tensors (differentiable), the
compiled loop numpy rows.

Reference: Kates, J. M. (2013), "An auditory model for intelligibility and quality predictions",
Proc. Meet. Acoust. 19, 050184; pyclarity ``clarity/evaluator/haspi/eb.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.signal
import torch

__all__ = [
    "FS",
    "EAR_Q",
    "MIN_BW",
    "TPT",
    "Channels",
    "center_frequency",
    "gammatone_gain",
    "group_delays",
    "inner_hair_cell_filter",
]

#: the model's sample rate (Hz)
FS = 24000.0
#: Glasberg & Moore's ERB parameters
EAR_Q = 9.26449
MIN_BW = 24.7
#: radians per Hz per sample
TPT = 2 * np.pi / FS

Value = TypeVar("Value", float, np.ndarray, torch.Tensor)
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def center_frequency(
    nchan: int = 32,
    shift: float | None = None,
    low_freq: float = 80.0,
    high_freq: float = 8000.0,
) -> np.ndarray:
    """Auditory filter centre frequencies on an ERB scale, low to high (``eb.center_frequency``).

    Returns:
        ``[nchan]`` float64 numpy array in Hz.
    """
    if shift is not None:
        k, big_a, a = 1.0, 165.4, 2.1
        x_low = (1 / a) * np.log10(k + (low_freq / big_a)) * (1 + shift)
        x_high = (1 / a) * np.log10(k + (high_freq / big_a)) * (1 + shift)
        low_freq = big_a * (10 ** (a * x_low) - k)
        high_freq = big_a * (10 ** (a * x_high) - k)
    cf = -(EAR_Q * MIN_BW) + np.exp(
        np.arange(1, nchan)
        * (-np.log(high_freq + EAR_Q * MIN_BW) + np.log(low_freq + EAR_Q * MIN_BW))
        / (nchan - 1)
    ) * (high_freq + EAR_Q * MIN_BW)
    return np.flip(np.insert(cf, 0, high_freq)).copy()


def inner_hair_cell_filter(delta: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Transfer function ``(b, a)`` of the IHC adaptation (``eb.inner_hair_cell_adaptation``).

    The two-state recursion (2 ms rapid and 60 ms short-term adaptation, overshoot ``delta``) is
    linear and time invariant in the dB envelope, so it equals a 2nd-order IIR filter:
    ``out = (1 - e1^T (I - M z^-1)^-1 c) / r1`` with ``v[n] = M v[n-1] + c x[n]``.
    """
    delta = max(delta, 1.0001)
    tau1, tau2 = 0.002, 0.060
    inv_fs = 1 / FS
    r_1 = 1 / delta
    r_2 = 0.5 * (1 - r_1)
    r_3 = r_2
    c_1 = tau1 * (r_1 + r_2) / (r_1 * r_2)
    c_2 = tau2 / ((r_1 + r_2) * r_3)
    a11 = r_1 + r_2 + r_1 * r_2 * (c_1 / inv_fs)
    a12 = -r_1
    a21 = -r_3
    a22 = r_2 + r_3 + r_2 * r_3 * (c_2 / inv_fs)
    denom = 1 / ((a11 * a22) - (a21 * a12))
    p1 = r_1 * r_2 * (c_1 / inv_fs)
    p2 = r_2 * r_3 * (c_2 / inv_fs)
    m = denom * np.array([[a22 * p1, -a12 * p2], [-a21 * p1, a11 * p2]])
    c = denom * r_2 * np.array([a22, -a21])
    trace = m[0, 0] + m[1, 1]
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    b = np.array([1 - c[0], -trace + c[0] * m[1, 1] - m[0, 1] * c[1], det]) / r_1
    a = np.array([1.0, -trace, det])
    return b, a


def group_delays(bandwidths: np.ndarray, center_freq: np.ndarray) -> np.ndarray:
    """Integer alignment shifts of ``eb.group_delay_compensate`` (``[C]`` bandwidths -> ``[C]``).

    The pole is computed in pyclarity's operation order there, which differs from
    :meth:`Channels.pole`'s (``eb.gammatone_basilar_membrane``'s)."""
    erb = MIN_BW + center_freq / EAR_Q
    a = np.exp(-(2 * np.pi / FS) * 1.019 * bandwidths * erb)
    gd = np.zeros(len(bandwidths))
    for n in range(len(bandwidths)):
        b_n = np.array([1.0, 4 * a[n], 4 * a[n] ** 2])
        a_n = np.array([1.0, -4 * a[n], 6 * a[n] ** 2, -4 * a[n] ** 3, a[n] ** 4])
        _, delay = scipy.signal.group_delay((b_n, a_n), w=1)
        gd[n] = delay[0]
    gd_int = np.rint(gd).astype(int)
    gd_int = gd_int - np.min(gd_int)
    return np.max(gd_int) - gd_int


def _exp(value: Value) -> Value:
    if isinstance(value, torch.Tensor):
        return torch.exp(value)
    if isinstance(value, np.ndarray):
        return np.exp(value)
    return math.exp(value)


def gammatone_gain(pole: Value) -> Value:
    """Peak-normalising gain of the gammatone with pole radius ``pole``."""
    return 2.0 * (1 - pole) ** 4 / (1 + 4 * pole + 4 * pole**2)


@dataclass(frozen=True)
class Channels:
    """Per-channel constants of the ear model's loop (see the module docstring).

    Attributes:
        center: ``[C]`` centre frequencies (Hz), low to high.
        erb: ``[C]`` equivalent rectangular bandwidths (Hz).
        control_bandwidth: ``[C]`` the control path's broad bandwidth (the bandwidth factor of
            a 100 dB HL loss, ``eb.loss_parameters``), which is also the upper end of the
            level-dependent bandwidth.
        ohc_filter: ``(b, a)`` of the 800 Hz low-pass that smooths the OHC gain.
        ihc_filter: ``(b, a)`` of the IHC adaptation (overshoot 2).
        max_lag: the envelope/BM alignment's largest lag (100 ms), samples.
    """

    center: np.ndarray
    erb: np.ndarray
    control_bandwidth: np.ndarray
    ohc_filter: tuple[np.ndarray, np.ndarray]
    ihc_filter: tuple[np.ndarray, np.ndarray]
    max_lag: int

    @classmethod
    def build(cls, center: np.ndarray, control_bandwidth: np.ndarray) -> Channels:
        b_ohc, a_ohc = scipy.signal.butter(1, 800 / (0.5 * FS))
        return cls(
            center=center,
            erb=MIN_BW + center / EAR_Q,
            control_bandwidth=control_bandwidth,
            ohc_filter=(b_ohc, a_ohc),
            ihc_filter=inner_hair_cell_filter(2.0),
            max_lag=int(np.rint(0.001 * 100 * FS)),
        )

    def omega(self, n: int) -> float:
        """Channel ``n``'s centre frequency in radians per sample."""
        return TPT * float(self.center[n])

    def pole(self, n: int, bandwidth: Value) -> Value:
        """Gammatone pole radius of channel ``n`` at ``bandwidth`` (a factor of its ERB)."""
        return _exp(-TPT * float(self.erb[n]) * 1.019 * bandwidth)

    def control_pole(self, n: int) -> float:
        """The control path's pole (the broad :attr:`control_bandwidth`)."""
        return self.pole(n, float(self.control_bandwidth[n]))

    def bandwidth(self, n: int, control_db: Array, narrow: Array) -> Array:
        """Channel ``n``'s bandwidth from the control envelope's level ``control_db`` (dB SPL):
        ``narrow`` (the ear's) below 50 dB, the control bandwidth above 100, linear between."""
        broad = float(self.control_bandwidth[n])
        blend = narrow + ((control_db - 50) / 50) * (broad - narrow)
        if isinstance(control_db, torch.Tensor):
            return torch.where(control_db < 50, narrow,
                               torch.where(control_db > 100, torch.full_like(narrow, broad),
                                           blend))
        return np.where(control_db < 50, narrow, np.where(control_db > 100, broad, blend))
