"""The differentiable DRNL auditory model of Gonzalez, Dau & May (Clarity 2025), in torch.

Stages (per ear signal, batched):

1. level: the waveform is scaled to sound pressure, ``Pa = x * 20e-6 * 10 ** (L / 20)`` with
   ``L = level_db_spl`` the dB SPL of a digital RMS of 1 (the project's convention, default 100,
   as msbg, torch-msbg and the metrics use it);
2. outer/middle ear: 512-tap minimum-phase FIR, Pa -> peak stapes velocity (m/s);
3. DRNL filterbank (Lopez-Poveda & Meddis 2001), 31 channels at 1-ERB spacing 80-7643 Hz:
   linear path ``gain -> gammatone (order 2) -> 4 Butterworth low-passes``; nonlinear path
   ``gammatone (order 3) -> broken stick sign(x) min(a g_ohc |x|, b |x|^0.25) -> gammatone
   (order 3) -> 3 low-passes``; the two paths summed. ``g_ohc = 10 ** (-OHC dB / 20)``;
4. inner hair cell: half-wave rectification, times ``g_ihc = 10 ** (-IHC dB / 20)``;
5. static log compression ``log(1 + x / 1e-5)``.

Every filter is a 512-tap FIR (:mod:`hltk.auditory.design`); the filters of a path are applied
together as one product of spectra by FFT convolution (``hltk.dsp.fftconv.fast_fft_size``;
``n >= T + 3 K``, so the linear convolution is exact), causally, truncated to the input
length (the response is not delay-compensated: both sides of a comparison carry the same delay).
Everything is differentiable in the input (and in the losses); the broken stick's ``|x|^0.25``
is evaluated on ``|x|`` clamped to the dtype's smallest normal so its gradient stays finite.
Buffers follow ``.to(device, dtype)``; float32 and float64 agree (tests).

Hearing loss (:func:`hearing_loss_from_audiogram`): the audiogram is interpolated to the channel
frequencies linearly in log frequency (held constant beyond the grid's ends), clipped to
[0, 105] dB; 2/3 of it goes to the OHCs, capped per channel at what the channel can represent
(:meth:`~hltk.auditory.design.DrnlDesign.max_ohc_db`), the rest to the IHCs. Zero levels give
exactly zero loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.auditory.design import CENTRE_FREQUENCIES, NLIN_C, design_drnl
from hltk.dsp.fftconv import fast_fft_size
from hltk.io.listeners import AUDIOGRAM_GRID

__all__ = ["LOG_THRESHOLD", "AuditoryModel", "HearingLoss", "hearing_loss_from_audiogram",
           "max_ohc_loss_db", "nrmse"]

#: The ``x0`` of the static log compression ``log(1 + x / x0)``.
LOG_THRESHOLD = 1e-5
#: Total hearing loss is clipped to this range (dB) before the OHC / IHC split.
LOSS_RANGE_DB = (0.0, 105.0)
#: Share of the total loss given to the outer hair cells (the rest, up to the cap, to the IHCs).
OHC_SHARE = 2.0 / 3.0


@dataclass(frozen=True)
class HearingLoss:
    """Per-channel hearing loss, dB: ``ohc_db`` and ``ihc_db``, each ``[B, 31]``."""

    ohc_db: torch.Tensor
    ihc_db: torch.Tensor

    def to(self, *args: Any, **kwargs: Any) -> HearingLoss:
        """Both tensors through ``Tensor.to`` with the same arguments."""
        return HearingLoss(self.ohc_db.to(*args, **kwargs), self.ihc_db.to(*args, **kwargs))


def max_ohc_loss_db(sample_rate: float = 16000.0, taps: int = 512) -> np.ndarray:
    """``[31]`` the largest OHC loss (dB) each channel can represent at ``sample_rate``."""
    return design_drnl(float(sample_rate), taps).max_ohc_db()


def _interpolation_matrix(grid: tuple[float, ...]) -> np.ndarray:
    """``[len(grid), 31]``: audiogram on ``grid`` -> channel frequencies, linear in log f."""
    log_grid = np.log(np.asarray(grid, dtype=float))
    log_cf = np.log(np.asarray(CENTRE_FREQUENCIES))
    eye = np.eye(len(grid))
    return np.stack([np.interp(log_cf, log_grid, row) for row in eye])


def hearing_loss_from_audiogram(levels: torch.Tensor, *, grid: tuple[float, ...] = AUDIOGRAM_GRID,
                                sample_rate: float = 16000.0, taps: int = 512) -> HearingLoss:
    """Per-channel OHC and IHC loss from audiograms.

    Args:
        levels: ``[B, len(grid)]`` dB HL on ``grid`` (default :data:`AUDIOGRAM_GRID`).
        grid: the audiogram frequencies (Hz), increasing.
        sample_rate, taps: the model's, for the per-channel OHC cap.

    Returns:
        :class:`HearingLoss` in ``levels``' dtype and device: ``ohc = min(2/3 total, cap)``,
        ``ihc = total - ohc``, ``total`` interpolated and clipped to [0, 105] dB.
    """
    if levels.ndim != 2 or levels.shape[-1] != len(grid):
        raise ValueError(f"levels must be [B, {len(grid)}] on the grid {grid}, got {tuple(levels.shape)}")
    dtype = levels.dtype if levels.is_floating_point() else torch.float32
    levels = levels.to(dtype)
    weights = torch.as_tensor(_interpolation_matrix(tuple(grid)), dtype=dtype, device=levels.device)
    total = (levels @ weights).clamp(*LOSS_RANGE_DB)
    cap = torch.as_tensor(max_ohc_loss_db(sample_rate, taps), dtype=dtype, device=levels.device)
    ohc = torch.minimum(OHC_SHARE * total, cap)
    return HearingLoss(ohc_db=ohc, ihc_db=total - ohc)


def nrmse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised RMS error of response ``a`` against reference ``b``, per item.

    ``sqrt(sum (a - b)^2 / sum b^2)`` over every axis but the first (channels and time): 0 for
    equal responses, 1 for ``a = 0``. Both ``[B, ...]`` of the same shape; returns ``[B]``.
    """
    if a.shape != b.shape:
        raise ValueError(f"responses differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    dims = tuple(range(1, a.ndim))
    return torch.sqrt(((a - b) ** 2).sum(dim=dims) / (b**2).sum(dim=dims).clamp_min(1e-30))


class AuditoryModel(nn.Module):
    """DRNL auditory model: ``audio [B, T] -> [B, 31, T]`` log-compressed IHC output.

    Args:
        sample_rate: Hz, 16 kHz or more (the highest nonlinear low-pass is at 7.85 kHz).
        level_db_spl: dB SPL of a digital RMS of 1 (per call overridable), default 100.
        taps: length of every FIR (512 as published).
    """

    centre_frequencies: torch.Tensor
    middle_ear: torch.Tensor
    lin_gain: torch.Tensor
    lin_gammatone: torch.Tensor
    lin_lowpass: torch.Tensor
    nlin_gammatone: torch.Tensor
    nlin_lowpass: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor

    def __init__(self, sample_rate: int = 16000, level_db_spl: float = 100.0, taps: int = 512) -> None:
        super().__init__()
        design = design_drnl(float(sample_rate), taps)
        self.sample_rate = sample_rate
        self.level_db_spl = float(level_db_spl)
        self.taps = taps
        self._max_ohc_db = design.max_ohc_db()

        def buffer(name: str, value: np.ndarray) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value), dtype=torch.float64),
                                 persistent=False)

        buffer("centre_frequencies", design.cf)
        buffer("middle_ear", design.middle_ear)
        buffer("lin_gain", design.lin_gain)
        buffer("lin_gammatone", design.lin_gammatone)
        buffer("lin_lowpass", design.lin_lowpass)
        buffer("nlin_gammatone", design.nlin_gammatone)
        buffer("nlin_lowpass", design.nlin_lowpass)
        buffer("a", design.a)
        buffer("b", design.b)
        self.float()

    @property
    def channels(self) -> int:
        return int(self.centre_frequencies.shape[0])

    def max_ohc_db(self) -> torch.Tensor:
        """``[31]`` the per-channel OHC cap (dB) :func:`hearing_loss_from_audiogram` applies."""
        return torch.as_tensor(self._max_ohc_db, dtype=self.a.dtype, device=self.a.device)

    def hearing_loss(self, levels: torch.Tensor) -> HearingLoss:
        """:func:`hearing_loss_from_audiogram` at this model's sample rate and taps."""
        return hearing_loss_from_audiogram(levels, sample_rate=self.sample_rate, taps=self.taps)

    def _pascal(self, audio: torch.Tensor, level_db_spl: torch.Tensor | float | None) -> torch.Tensor:
        if audio.ndim != 2:
            raise ValueError(f"audio must be [B, T], got {tuple(audio.shape)}")
        level = self.level_db_spl if level_db_spl is None else level_db_spl
        scale = 20e-6 * 10 ** (torch.as_tensor(level, dtype=audio.dtype, device=audio.device) / 20)
        return audio * scale.reshape(-1, 1)

    def basilar_membrane(self, audio: torch.Tensor, loss: HearingLoss | None = None, *,
                         level_db_spl: torch.Tensor | float | None = None) -> torch.Tensor:
        """DRNL output (summed paths, m/s): ``[B, T] -> [B, 31, T]``; OHC loss applied."""
        pressure = self._pascal(audio, level_db_spl)
        length = pressure.shape[-1]
        size = fast_fft_size(length + 3 * self.taps)

        def spectrum(x: torch.Tensor) -> torch.Tensor:
            return torch.fft.rfft(x.to(pressure.dtype), n=size)

        stapes = torch.fft.rfft(pressure, n=size) * spectrum(self.middle_ear)  # [B, F]
        lin_response = (spectrum(self.lin_gammatone) * spectrum(self.lin_lowpass)
                        * self.lin_gain.to(pressure.dtype)[:, None])
        linear = torch.fft.irfft(stapes[:, None, :] * lin_response, n=size)[..., :length]
        before = torch.fft.irfft(stapes[:, None, :] * spectrum(self.nlin_gammatone), n=size)[..., :length]
        gain = self.a.to(pressure.dtype)[None, :, None]
        if loss is not None:
            ohc = loss.ohc_db.to(pressure.dtype)
            if ohc.shape != (pressure.shape[0], self.channels):
                raise ValueError(f"loss.ohc_db must be [{pressure.shape[0]}, {self.channels}], "
                                 f"got {tuple(ohc.shape)}")
            gain = gain * (10 ** (-ohc / 20))[..., None]
        magnitude = before.abs()
        tiny = torch.finfo(pressure.dtype).tiny
        compressed = self.b.to(pressure.dtype)[None, :, None] * magnitude.clamp_min(tiny) ** NLIN_C
        stick = torch.sign(before) * torch.minimum(gain * magnitude, compressed)
        after = spectrum(self.nlin_gammatone) * spectrum(self.nlin_lowpass)
        nonlinear = torch.fft.irfft(torch.fft.rfft(stick, n=size) * after, n=size)[..., :length]
        return linear + nonlinear

    def forward(self, audio: torch.Tensor, loss: HearingLoss | None = None, *,
                level_db_spl: torch.Tensor | float | None = None) -> torch.Tensor:
        """``audio [B, T]`` -> ``[B, 31, T]`` ``log(1 + g_ihc relu(DRNL) / 1e-5)``.

        ``loss`` None is normal hearing; ``level_db_spl`` (scalar or ``[B]``) overrides the
        model's calibration for this call.
        """
        membrane = self.basilar_membrane(audio, loss, level_db_spl=level_db_spl)
        rectified = torch.relu(membrane)
        if loss is not None:
            rectified = rectified * (10 ** (-loss.ihc_db.to(membrane.dtype) / 20))[..., None]
        return torch.log1p(rectified / LOG_THRESHOLD)
