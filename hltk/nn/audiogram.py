"""Audiogram encoders: how a listener's hearing levels enter a network.

Hearing levels come on :data:`hltk.io.listeners.AUDIOGRAM_GRID` (8 Clarity frequencies,
250-8000 Hz, dB HL) and are scaled by 1/100 before any layer.
"""

from __future__ import annotations

import torch
from torch import nn

from hltk.io.listeners import AUDIOGRAM_GRID

HL_SCALE = 100.0


class AudiogramToBins(nn.Module):
    """Neuro-MSBG's audiogram encoder: 8 levels -> Conv1d -> ReLU -> AvgPool -> Flatten ->
    Linear -> one value per STFT bin (stacked as a third input channel beside magnitude and
    phase). ``[N, 8]`` dB HL -> ``[N, bins]``."""

    def __init__(self, bins: int, channels: int = 16, points: int = len(AUDIOGRAM_GRID),
                 kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, channels, kernel, padding=kernel // 2)
        self.pool = nn.AvgPool1d(2)
        self.linear = nn.Linear(channels * (points // 2), bins)

    def forward(self, hearing_levels: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv(hearing_levels[:, None, :] / HL_SCALE))
        return self.linear(self.pool(features).flatten(1))


class AudiogramInterpolated(nn.Module):
    """No learnt encoder (Neuro-MSBG's ablation): the hearing levels / 100 interpolated
    linearly over log frequency onto the STFT bins (held flat below 250 Hz and above
    8 kHz). ``[N, 8]`` dB HL -> ``[N, bins]``."""

    weights: torch.Tensor

    def __init__(self, bins: int, sample_rate: int, points: tuple[float, ...] = AUDIOGRAM_GRID
                 ) -> None:
        super().__init__()
        grid = torch.log(torch.as_tensor(points, dtype=torch.float64))
        frequencies = torch.linspace(0.0, sample_rate / 2, bins, dtype=torch.float64)
        position = torch.log(frequencies.clamp(min=float(points[0]), max=float(points[-1])))
        upper = torch.searchsorted(grid, position).clamp(1, len(points) - 1)
        fraction = (position - grid[upper - 1]) / (grid[upper] - grid[upper - 1])
        weights = torch.zeros(len(points), bins, dtype=torch.float64)
        columns = torch.arange(bins)
        weights[upper - 1, columns] = 1.0 - fraction
        weights[upper, columns] += fraction
        self.register_buffer("weights", weights.float(), persistent=False)

    def forward(self, hearing_levels: torch.Tensor) -> torch.Tensor:
        return (hearing_levels / HL_SCALE) @ self.weights


class AudiogramDense(nn.Module):
    """NeuroAMP's audiogram path: a dense layer (with ReLU). ``[N, 8]`` dB HL -> ``[N, units]``."""

    def __init__(self, units: int, points: int = len(AUDIOGRAM_GRID)) -> None:
        super().__init__()
        self.linear = nn.Linear(points, units)

    def forward(self, hearing_levels: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(hearing_levels / HL_SCALE))
