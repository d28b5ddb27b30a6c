"""Training losses on spectra and waveforms (Neuro-MSBG / MP-SENet, NeuroAMP).

Spectra are ``[N, frames, bins]``; magnitudes are power-law compressed (``|X| ** 0.3``).
"""

from __future__ import annotations

import math

import torch


def anti_wrap(difference: torch.Tensor) -> torch.Tensor:
    """``|x - 2 pi round(x / 2 pi)|``: the distance between two phases on the circle."""
    return torch.abs(difference - 2.0 * math.pi * torch.round(difference / (2.0 * math.pi)))


def phase_losses(predicted: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Anti-wrapping phase losses: instantaneous phase, group delay (difference along
    frequency) and instantaneous angular frequency (difference along time)."""
    return {
        "ip": anti_wrap(predicted - target).mean(),
        "gd": anti_wrap(torch.diff(predicted, dim=2) - torch.diff(target, dim=2)).mean(),
        "iaf": anti_wrap(torch.diff(predicted, dim=1) - torch.diff(target, dim=1)).mean(),
    }


def weighted_phase_losses(predicted: torch.Tensor, target: torch.Tensor,
                          weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`phase_losses` with each bin weighted by ``weight`` ``[N, frames, bins]`` (the
    target's compressed magnitude): a bin's phase counts as much as it is heard. The
    difference terms weigh each pair of neighbours by the smaller of their weights. Weighted
    means, so the scale matches the unweighted losses (an error of ``x`` rad everywhere gives
    ``x``). MSBG leaves most bins of a severe loss 40-80 dB down (7% of the bins within 40 dB
    of the peak on average), where the target phase is noise that the unweighted losses make
    the network chase."""
    gd_weight = torch.minimum(weight[:, :, 1:], weight[:, :, :-1])
    iaf_weight = torch.minimum(weight[:, 1:], weight[:, :-1])

    def mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return (values * weights).sum() / weights.sum().clamp_min(1e-8)

    return {
        "ip": mean(anti_wrap(predicted - target), weight),
        "gd": mean(anti_wrap(torch.diff(predicted, dim=2) - torch.diff(target, dim=2)), gd_weight),
        "iaf": mean(anti_wrap(torch.diff(predicted, dim=1) - torch.diff(target, dim=1)), iaf_weight),
    }


def complex_mse(magnitude: torch.Tensor, phase: torch.Tensor, target_magnitude: torch.Tensor,
                target_phase: torch.Tensor) -> torch.Tensor:
    """MSE of the compressed complex spectra (real and imaginary parts)."""
    return (torch.mean((magnitude * torch.cos(phase) - target_magnitude * torch.cos(target_phase)) ** 2)
            + torch.mean((magnitude * torch.sin(phase) - target_magnitude * torch.sin(target_phase)) ** 2))
