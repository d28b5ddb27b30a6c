"""NAL-R linear prescription (Byrne & Dillon 1986), as pyclarity's ``NALR`` computes it.

Insertion gain at 250, 500, 1k, 2k, 4k, 6k Hz from the hearing levels ``HL`` (dB HL, the
audiogram interpolated on log frequency)::

    H3 = HL(500) + HL(1k) + HL(2k)
    X  = 0.05 H3                      if H3 <= 180
         9.0 + 0.116 (H3 - 180)       otherwise (the NAL-RP profound-loss branch)
    G  = max(0, X + 0.31 HL + [-17, -8, 1, -1, -2, -2])

and no gain at all when no threshold is above 0 dB HL. pyclarity
(``clarity.enhancer.nalr.NALR``, CEC1/CEC2 baseline) turns ``G`` into a linear-phase FIR of
``nfir + 1`` taps (``firwin2`` on the response interpolated linearly in frequency between 0 Hz,
the six frequencies and Nyquist), delay ``nfir / 2``.

- :func:`nalr_gains_db` / :func:`nalr_response_db`: the prescription in batched torch
  (``[..., 6]`` hearing levels -> gains, and the interpolated response at any frequencies).
- :class:`NalrProcessor` (``amplify --backend nalr``): the pyclarity FIR per ear, applied by FFT
  convolution, delay removed, same length as the input.

Hearing levels above :data:`PRESCRIPTION_HL_MAX` are outside the range the formula was made
for (its gains keep growing with no output limit); they are clamped to it and a warning is
recorded (:func:`prescription_audiogram`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hltk.dsp.fftconv import fft_convolve
from hltk.io.listeners import Audiogram, ListenerBatch
from hltk.registry import option, register

LOGGER = logging.getLogger("hltk.amplify")

#: pyclarity's NAL-R frequencies (Hz) and the per-frequency constant of the formula (dB).
NALR_FREQUENCIES: tuple[float, ...] = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 6000.0)
NALR_BIAS: tuple[float, ...] = (-17.0, -8.0, 1.0, -1.0, -2.0, -2.0)
#: Hearing levels (dB HL) over which the prescriptions are applied; higher levels are clamped.
PRESCRIPTION_HL_MAX = 110.0
#: The CEC2 recipe's filter order at 44.1 kHz.
NALR_NFIR_44K = 220


def prescription_audiogram(audiogram: Audiogram) -> tuple[Audiogram, str | None]:
    """``audiogram`` with levels above :data:`PRESCRIPTION_HL_MAX` clamped, and a warning
    message naming the clamped frequencies (``None`` when nothing was clamped)."""
    over = [
        (frequency, level)
        for frequency, level in zip(audiogram.frequencies, audiogram.levels, strict=True)
        if level > PRESCRIPTION_HL_MAX
    ]
    if not over:
        return audiogram, None
    clamped = Audiogram(
        audiogram.frequencies, tuple(min(level, PRESCRIPTION_HL_MAX) for level in audiogram.levels)
    )
    listing = ", ".join(f"{level:g} dB HL at {frequency:g} Hz" for frequency, level in over)
    message = (
        f"hearing levels above the prescription range ({listing}) clamped to "
        f"{PRESCRIPTION_HL_MAX:g} dB HL"
    )
    return clamped, message


class PrescriptionWarning(UserWarning):
    """An audiogram was outside the prescription range and was clamped."""


class PrescriptionWarnings:
    """Clamping warnings of a processor. Each occurrence is issued with ``warnings.warn`` (the
    runner records them, with item counts, in ``run.json``); :attr:`messages` keeps the distinct
    messages in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str | None, who: str = "") -> None:
        if message is None:
            return
        text = f"{who}: {message}" if who else message
        if text not in self.messages:
            self.messages.append(text)
            LOGGER.debug(text)
        warnings.warn(text, PrescriptionWarning, stacklevel=3)


def clamped_hearing_levels(
    listeners: ListenerBatch,
    grid: Sequence[float],
    warnings: PrescriptionWarnings | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Hearing levels ``[batch, channels, len(grid)]`` on ``grid`` (log-frequency interpolation,
    as pyclarity's ``Audiogram.resample``), clamped to the prescription range."""
    levels = listeners.audiograms(grid, device=device, dtype=torch.float64)
    if warnings is not None and bool((levels > PRESCRIPTION_HL_MAX).any()):
        for item in range(len(listeners)):
            for channel in range(len(listeners.ears)):
                _, message = prescription_audiogram(listeners.audiogram(item, channel))
                listener_id = listeners.listeners[item].id
                warnings.add(message, f"listener {listener_id} {listeners.ears[channel]} ear")
    return levels.clamp(max=PRESCRIPTION_HL_MAX)


def nalr_gains_db(hearing_levels: torch.Tensor) -> torch.Tensor:
    """NAL-R insertion gains ``[..., 6]`` (dB) from hearing levels ``[..., 6]`` (dB HL) at
    :data:`NALR_FREQUENCIES`; the formula of pyclarity's ``NALR.build`` (module docstring)."""
    bias = torch.tensor(NALR_BIAS, dtype=hearing_levels.dtype, device=hearing_levels.device)
    critical = hearing_levels[..., 1] + hearing_levels[..., 2] + hearing_levels[..., 3]
    x_ave = torch.where(critical <= 180, 0.05 * critical, 9.0 + 0.116 * (critical - 180))
    gains = (x_ave.unsqueeze(-1) + 0.31 * hearing_levels + bias).clamp(min=0.0)
    any_loss = (hearing_levels.amax(dim=-1, keepdim=True) > 0).to(gains.dtype)
    return gains * any_loss


def nalr_response_db(
    gains_db: torch.Tensor, frequencies: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """The NAL-R target response at ``frequencies`` ``[K]`` (Hz): ``[..., 6] -> [..., K]``.

    Linear interpolation in frequency through (0 Hz, G[0]), the six NAL-R points and
    (Nyquist, G[-1]), the response pyclarity's ``firwin2`` design approximates.
    """
    nyquist = 0.5 * float(sample_rate)
    knots = torch.tensor(
        (0.0, *NALR_FREQUENCIES, max(nyquist, NALR_FREQUENCIES[-1] + 1.0)),
        dtype=gains_db.dtype,
        device=gains_db.device,
    )
    values = torch.cat([gains_db[..., :1], gains_db, gains_db[..., -1:]], dim=-1)
    points = frequencies.to(gains_db.dtype).clamp(0.0, float(knots[-1]))
    upper = torch.searchsorted(knots, points, right=True).clamp(1, len(knots) - 1)
    lower = upper - 1
    fraction = (points - knots[lower]) / (knots[upper] - knots[lower])
    return values[..., lower] * (1 - fraction) + values[..., upper] * fraction


def nalr_fir(audiogram: Audiogram, nfir: int, sample_rate: float) -> np.ndarray:
    """pyclarity's NAL-R FIR (``nfir + 1`` taps, float64) for one ear."""
    from clarity.enhancer.nalr import NALR

    fir, _ = NALR(nfir=nfir, sample_rate=sample_rate).build(audiogram.to_clarity())
    return np.asarray(fir, dtype=np.float64)


def nfir_for_rate(sample_rate: int) -> int:
    """The recipe's 220 taps at 44.1 kHz scaled to ``sample_rate`` (even, so the delay is whole)."""
    return max(2, 2 * round(NALR_NFIR_44K * sample_rate / 44100 / 2))


class NalrProcessor:
    """``amplify --backend nalr``: NAL-R per ear, linear, delay removed.

    ``[B, C, T] -> [B, C, T]``: each channel is convolved with pyclarity's NAL-R FIR for that
    ear's audiogram (float64 FFT convolution, equal to ``NALR.apply`` to ~1e-12) and the
    ``nfir / 2`` samples of delay are removed.
    """

    name = "nalr"
    batched = True

    def __init__(self, sample_rate: int = 44100, nfir: int | None = None,
                 device: str | torch.device | None = None) -> None:
        del device  # follows the input's device
        if sample_rate < 2 * NALR_FREQUENCIES[-1]:
            raise ValueError(f"NAL-R needs a sample rate above 12 kHz, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.nfir = int(nfir) if nfir is not None else nfir_for_rate(self.sample_rate)
        if self.nfir % 2:
            raise ValueError(f"nfir must be even (whole-sample delay), got {self.nfir}")
        self.warnings = PrescriptionWarnings()

    @property
    def delay(self) -> int:
        return self.nfir // 2

    def describe(self) -> dict[str, object]:
        """Settings for the run record."""
        return {
            "nfir": self.nfir,
            "delay_removed_samples": self.delay,
            "prescription_hl_max": PRESCRIPTION_HL_MAX,
        }

    def firs(self, listeners: ListenerBatch) -> torch.Tensor:
        """NAL-R FIRs ``[B, C, nfir + 1]`` (float64) for every item and ear."""
        rows = []
        for item in range(len(listeners)):
            row = []
            for channel in range(len(listeners.ears)):
                audiogram, message = prescription_audiogram(listeners.audiogram(item, channel))
                self.warnings.add(
                    message,
                    f"listener {listeners.listeners[item].id} {listeners.ears[channel]} ear",
                )
                row.append(nalr_fir(audiogram, self.nfir, self.sample_rate))
            rows.append(np.stack(row))
        return torch.from_numpy(np.stack(rows))

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        firs = self.firs(listeners).to(audio.device)
        amplified = fft_convolve(audio.to(torch.float64), firs)
        length = audio.shape[-1]
        return amplified[..., self.delay : self.delay + length].to(audio.dtype)


@dataclass(frozen=True)
class NalrOptions:
    """Options of ``amplify --backend nalr``."""

    nfir: int | None = option(None, f"NAL-R FIR order (default {NALR_NFIR_44K} at 44.1 kHz).", min=2)


register(
    "amplify",
    "nalr",
    NalrProcessor,
    "NAL-R linear prescription per ear (pyclarity NALR FIR, nfir 220 at 44.1 kHz), delay removed",
    reference=True,
    options=NalrOptions,
)
