"""Adjustable joint noise reduction and hearing-loss compensation (Gonzalez, Dau and May): a
band-split RNN that predicts two complex masks, ``M_NR`` and ``M_HLC``, from the noisy
spectrum and the listener's audiogram.

Network (``[N, T]`` mono 16 kHz -> two masks ``[N, frames, bins]``):

- Hann STFT 512 / 256 (32 ms / 16 ms, centred frames), real and imaginary parts in;
- band split: ``bands`` bands whose edges are uniform on the mel scale (each at least one
  bin); per band a global layer norm (over time and features) and a linear layer to
  ``channels`` features: ``Z [N, bands, frames, channels]``;
- ``layers`` times: FiLM of ``Z`` by the audiogram (``Z * (1 + gamma) + beta``, one linear
  map of the audiogram per layer, zero at initialisation), then a BLSTM (``hidden`` units
  each way) over time within each band and one over the bands within each frame, each with a
  global layer norm before it and a linear projection back to ``channels`` plus a residual;
- two mask heads (NR, HLC), each FiLM'd by the audiogram: per band a global layer norm, a
  linear layer to ``4 * channels``, tanh, a linear layer to ``2 * 2 * width`` and a GLU.
  Each bin gets two numbers ``(u, v)``: the mask's gain ``20 u`` dB (softly limited to
  +-:data:`MASK_DB_LIMIT`) and its phase ``pi tanh(v)``. The heads' last layer is zero at
  initialisation, so the untrained network passes the input through (0 dB, 0 rad).

Audiogram in: the listener's own hearing levels (any grid; the models get
:data:`hltk.io.listeners.AUDIOGRAM_GRID`) interpolated on log frequency to the ten
:data:`hltk.io.listeners.BISGAARD_FREQUENCIES` (the paper's), divided by 100. Each ear is one
mono signal with its own audiogram.

Masks are kept as (gain in dB, phase in rad), so raising a mask to ``alpha`` is exact:
``M ** alpha`` = gain ``alpha * dB`` and phase ``alpha * phase`` (:func:`combine_masks`), and
``alpha_NR = alpha_HLC = 0`` gives a mask of exactly 1 + 0j, i.e. ``istft(stft(x))``, which
equals ``x`` to float precision (the Hann window at 50 % overlap sums to a constant and
``torch.istft`` divides by the window-square sum).

The paper's configuration is :data:`PAPER_CONFIG`; :data:`CPU_CONFIG` is the smaller one
trained here. The paper does not give its band count in the text this port follows;
``bands=32`` is this port's choice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.listeners import AUDIOGRAM_GRID, BISGAARD_FREQUENCIES

SAMPLE_RATE = 16000
#: Masks' gain is softly limited to +-this many dB (``limit * tanh(g / limit)``).
MASK_DB_LIMIT = 60.0
HL_SCALE = 100.0


@dataclass(frozen=True)
class BsrnnConfig:
    """The network's shape (saved in checkpoints)."""

    n_fft: int = 512
    hop: int = 256
    channels: int = 64
    layers: int = 6
    hidden: int = 128
    bands: int = 32
    mlp_ratio: int = 4
    sample_rate: int = SAMPLE_RATE

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BsrnnConfig:
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The published configuration (64 channels, 6 layers, BLSTM 128).
PAPER_CONFIG = BsrnnConfig()
#: The configuration trained on 2 CPU cores here (``hltk/checkpoints/cnrhlc.pt``).
CPU_CONFIG = BsrnnConfig(channels=32, layers=3, hidden=48, bands=20, mlp_ratio=2)
#: ``--quick``: a tiny network for tests.
QUICK_CONFIG = BsrnnConfig(channels=8, layers=1, hidden=8, bands=8, mlp_ratio=1)


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=float) / 700.0)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=float) / 2595.0) - 1.0)


def band_edges(n_fft: int, sample_rate: int, bands: int) -> list[int]:
    """Bin edges ``[bands + 1]`` (first 0, last ``n_fft // 2 + 1``), uniform on the mel scale
    from 0 Hz to Nyquist, each band at least one bin wide."""
    bins = n_fft // 2 + 1
    if not 1 <= bands <= bins:
        raise ValueError(f"bands must be in 1..{bins}")
    mels = np.linspace(0.0, float(hz_to_mel(np.array(sample_rate / 2))), bands + 1)
    edges = np.round(mel_to_hz(mels) / (sample_rate / n_fft)).astype(int)
    edges[0], edges[-1] = 0, bins
    for index in range(1, bands + 1):  # at least one bin each, from the bottom
        edges[index] = max(edges[index], edges[index - 1] + 1)
    for index in range(bands - 1, 0, -1):  # and room for the ones above
        edges[index] = min(edges[index], edges[index + 1] - 1)
    return [int(e) for e in edges]


def audiogram_interpolation(grid: tuple[int, ...] = AUDIOGRAM_GRID,
                            targets: tuple[int, ...] = BISGAARD_FREQUENCIES) -> torch.Tensor:
    """``[len(targets), len(grid)]`` weights of linear interpolation on log frequency (constant
    beyond the ends): ``levels_on_targets = weights @ levels_on_grid``."""
    logs = np.log(np.asarray(grid, dtype=float))
    weights = np.zeros((len(targets), len(grid)))
    for row, frequency in enumerate(np.log(np.asarray(targets, dtype=float))):
        if frequency <= logs[0]:
            weights[row, 0] = 1.0
        elif frequency >= logs[-1]:
            weights[row, -1] = 1.0
        else:
            upper = int(np.searchsorted(logs, frequency))
            share = (frequency - logs[upper - 1]) / (logs[upper] - logs[upper - 1])
            weights[row, upper - 1] = 1.0 - share
            weights[row, upper] = share
    return torch.as_tensor(weights, dtype=torch.float32)


class GlobalLayerNorm(nn.Module):
    """Normalise ``[..., L, F]`` over its last two dimensions (global layer norm), with a
    learned scale and shift per feature ``F``."""

    def __init__(self, features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        mean = values.mean(dim=(-2, -1), keepdim=True)
        variance = (values - mean).square().mean(dim=(-2, -1), keepdim=True)
        return (values - mean) * torch.rsqrt(variance + self.eps) * self.weight + self.bias


class Film(nn.Module):
    """Feature-wise linear modulation by the audiogram: ``Z * (1 + gamma) + beta``, both
    linear in the (scaled) audiogram, zero at initialisation."""

    def __init__(self, conditions: int, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(conditions, 2 * channels)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``features [N, K, T, C]``, ``condition [N, P]``."""
        gamma, beta = self.linear(condition)[:, None, None, :].chunk(2, dim=-1)
        return features * (1.0 + gamma) + beta


class RnnBlock(nn.Module):
    """Global layer norm -> BLSTM -> linear back to ``channels``, plus the input."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.norm = GlobalLayerNorm(channels)
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.projection = nn.Linear(2 * hidden, channels)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """``[N, S, L, C]``: each of the ``N * S`` rows is one sequence of length ``L``."""
        batch, count, length, channels = sequences.shape
        normed = self.norm(sequences).reshape(batch * count, length, channels)
        output, _ = self.lstm(normed)
        return sequences + self.projection(output).reshape(batch, count, length, channels)


class MaskHead(nn.Module):
    """Per band: global layer norm -> linear -> tanh -> linear -> GLU, to ``(u, v)`` per bin."""

    def __init__(self, widths: list[int], channels: int, ratio: int, conditions: int) -> None:
        super().__init__()
        self.film = Film(conditions, channels)
        self.norms = nn.ModuleList(GlobalLayerNorm(channels) for _ in widths)
        self.hidden = nn.ModuleList(nn.Linear(channels, ratio * channels) for _ in widths)
        outputs = [nn.Linear(ratio * channels, 2 * 2 * width) for width in widths]
        for layer in outputs:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.outputs = nn.ModuleList(outputs)

    def forward(self, features: torch.Tensor, condition: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``features [N, K, T, C]`` -> gain (dB) and phase (rad), ``[N, T, bins]``."""
        features = self.film(features, condition)
        gains, phases = [], []
        for band, (norm, hidden, output) in enumerate(zip(self.norms, self.hidden, self.outputs,
                                                          strict=True)):
            values = torch.tanh(hidden(norm(features[:, band])))
            values = nn.functional.glu(output(values), dim=-1)  # [N, T, 2 * width]
            u, v = values.chunk(2, dim=-1)
            gains.append(MASK_DB_LIMIT * torch.tanh(20.0 * u / MASK_DB_LIMIT))
            phases.append(math.pi * torch.tanh(v))
        return torch.cat(gains, dim=-1), torch.cat(phases, dim=-1)


@dataclass
class Masks:
    """The two masks as gain (dB) and phase (rad), each ``[N, frames, bins]``."""

    nr_db: torch.Tensor
    nr_phase: torch.Tensor
    hlc_db: torch.Tensor
    hlc_phase: torch.Tensor


def mask_complex(gain_db: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    return torch.polar(10.0 ** (gain_db / 20.0), phase)


def minimum_gain_db(alpha_nr: float, min_gain_db: float) -> float:
    """The floor of the combined mask: linear in dB from 0 dB at ``alpha_NR = 0`` to
    ``min_gain_db`` at ``alpha_NR = 1``."""
    return alpha_nr * min_gain_db


def combine_masks(masks: Masks, alpha_nr: float, alpha_hlc: float, *,
                  min_gain_db: float | None = None, max_gain_db: float | None = None
                  ) -> torch.Tensor:
    """``M_NR ** alpha_NR * M_HLC ** alpha_HLC`` (gain in dB and phase each scaled by its alpha),
    its gain floored at :func:`minimum_gain_db` (when ``min_gain_db`` is given) and capped
    at ``max_gain_db`` (>= 0 dB), as a complex mask ``[N, frames, bins]``."""
    if not (0.0 <= alpha_nr <= 1.0 and 0.0 <= alpha_hlc <= 1.0):
        raise ValueError("alpha_NR and alpha_HLC must be in [0, 1]")
    gain_db = alpha_nr * masks.nr_db + alpha_hlc * masks.hlc_db
    phase = alpha_nr * masks.nr_phase + alpha_hlc * masks.hlc_phase
    if min_gain_db is not None:
        gain_db = gain_db.clamp_min(minimum_gain_db(alpha_nr, min_gain_db))
    if max_gain_db is not None:
        if max_gain_db < 0:
            raise ValueError("max_gain_db must be >= 0 dB (alpha = 0 must pass the input)")
        gain_db = gain_db.clamp_max(max_gain_db)
    return mask_complex(gain_db, phase)


class BandSplitRnn(nn.Module):
    """The joint NR + HLC network (see the module docstring).

    ``training_log_variances``: Kendall et al.'s two learned log-variances of the NR and HLC
    losses, trained with the network (inference does not use them).
    """

    def __init__(self, config: BsrnnConfig = CPU_CONFIG) -> None:
        super().__init__()
        self.config = config
        self.edges = band_edges(config.n_fft, config.sample_rate, config.bands)
        widths = [b - a for a, b in zip(self.edges[:-1], self.edges[1:], strict=True)]
        self.widths = widths
        conditions = len(BISGAARD_FREQUENCIES)
        self.interpolation: torch.Tensor
        self.register_buffer("interpolation", audiogram_interpolation(), persistent=False)
        self.window: torch.Tensor
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.split_norms = nn.ModuleList(GlobalLayerNorm(2 * w) for w in widths)
        self.split_linears = nn.ModuleList(nn.Linear(2 * w, config.channels) for w in widths)
        self.films = nn.ModuleList(Film(conditions, config.channels) for _ in range(config.layers))
        self.time_rnns = nn.ModuleList(RnnBlock(config.channels, config.hidden)
                                       for _ in range(config.layers))
        self.band_rnns = nn.ModuleList(RnnBlock(config.channels, config.hidden)
                                       for _ in range(config.layers))
        self.nr_head = MaskHead(widths, config.channels, config.mlp_ratio, conditions)
        self.hlc_head = MaskHead(widths, config.channels, config.mlp_ratio, conditions)
        self.training_log_variances = nn.Parameter(torch.zeros(2))

    # -- signal <-> spectrum ---------------------------------------------------------------
    def stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` -> complex ``[N, frames, bins]`` (Hann, centred, reflect padding)."""
        return torch.stft(waveform, self.config.n_fft, self.config.hop,
                          window=self.window.to(waveform.dtype), center=True,
                          pad_mode="reflect", return_complex=True).transpose(1, 2)

    def istft(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        """complex ``[N, frames, bins]`` -> ``[N, length]``."""
        return torch.istft(spectrum.transpose(1, 2), self.config.n_fft, self.config.hop,
                           window=self.window.to(spectrum.real.dtype), center=True,
                           length=length)

    def condition(self, hearing_levels: torch.Tensor) -> torch.Tensor:
        """``[N, 8]`` dB HL on ``AUDIOGRAM_GRID`` -> ``[N, 10]`` on the Bisgaard frequencies / 100."""
        return hearing_levels.to(self.interpolation.dtype) @ self.interpolation.T / HL_SCALE

    # -- the network -----------------------------------------------------------------------
    def forward(self, spectrum: torch.Tensor, hearing_levels: torch.Tensor) -> Masks:
        """``spectrum`` complex ``[N, frames, bins]``, ``hearing_levels [N, 8]`` -> :class:`Masks`."""
        condition = self.condition(hearing_levels)
        bands = []
        for (low, high), norm, linear in zip(zip(self.edges[:-1], self.edges[1:], strict=True),
                                             self.split_norms, self.split_linears, strict=True):
            part = spectrum[..., low:high]
            features = torch.cat([part.real, part.imag], dim=-1)  # [N, T, 2w]
            bands.append(linear(norm(features)))
        hidden = torch.stack(bands, dim=1)  # [N, K, T, C]
        for film, time_rnn, band_rnn in zip(self.films, self.time_rnns, self.band_rnns,
                                            strict=True):
            hidden = film(hidden, condition)
            hidden = time_rnn(hidden)  # along time, per band
            hidden = band_rnn(hidden.transpose(1, 2)).transpose(1, 2)  # along bands, per frame
        nr_db, nr_phase = self.nr_head(hidden, condition)
        hlc_db, hlc_phase = self.hlc_head(hidden, condition)
        return Masks(nr_db, nr_phase, hlc_db, hlc_phase)

    def enhance(self, waveform: torch.Tensor, hearing_levels: torch.Tensor, alpha_nr: float = 1.0,
                alpha_hlc: float = 1.0, *, min_gain_db: float | None = None,
                max_gain_db: float | None = None) -> torch.Tensor:
        """``[N, T]`` noisy + ``[N, 8]`` dB HL -> ``[N, T]`` processed (time-aligned)."""
        spectrum = self.stft(waveform)
        if alpha_nr == 0.0 and alpha_hlc == 0.0:
            masks = Masks(*(torch.zeros(spectrum.shape, device=waveform.device,
                                        dtype=waveform.dtype) for _ in range(4)))
        else:
            masks = self(spectrum, hearing_levels)
        mask = combine_masks(masks, alpha_nr, alpha_hlc, min_gain_db=min_gain_db,
                             max_gain_db=max_gain_db)
        return self.istft(spectrum * mask, waveform.shape[-1])


def inference_parameter_count(model: BandSplitRnn) -> int:
    """Parameters used at inference (all but the two training log-variances)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if name != "training_log_variances")
