"""Active speech level (MSBG's ``measure_rms``) and MSBG's input calibration, batched in torch.

``measure_rms(x, fs, -12)`` in pyclarity (after Moore's MATLAB code): the RMS over 10 ms
frames whose level is within 12 dB of the whole-signal RMS (frame level
``10 log10(floor + mean square)``, floor 30 dB below the threshold; threshold at least
-80 dB). Frames are the ``floor(T / 441)`` whole windows. With no ``percent_to_track`` the
histogram in ``generate_key_percent`` plays no part.
"""

from __future__ import annotations

import torch


def _energy(signal: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``signal ** 2`` with the samples past ``lengths[n]`` zeroed, ``[N, T]``."""
    energy = signal.square()
    if bool((lengths < signal.shape[-1]).any()):
        time = torch.arange(signal.shape[-1], device=signal.device)
        energy = energy * (time[None, :] < lengths[:, None]).to(signal.dtype)
    return energy


def active_rms(
    signal: torch.Tensor,
    lengths: torch.Tensor,
    sample_rate: float = 44100.0,
    db_rel_rms: float = -12.0,
    window_seconds: float = 0.01,
) -> torch.Tensor:
    """Active RMS of each signal, as pyclarity's ``measure_rms(x, fs, db_rel_rms)[0]``.

    Args:
        signal: ``[N, T]``; samples past ``lengths[n]`` are ignored.
        lengths: ``[N]`` valid lengths.

    Returns:
        ``[N]`` linear RMS (differentiable; the frame selection is held fixed).
    """
    lengths = lengths.to(signal.device)
    energy = _energy(signal, lengths)
    overall = torch.sqrt(energy.sum(-1) / lengths.to(energy.dtype))
    return _active_rms(energy, overall, lengths, sample_rate, db_rel_rms, window_seconds)


def _active_rms(energy: torch.Tensor, overall: torch.Tensor, lengths: torch.Tensor,
                sample_rate: float, db_rel_rms: float, window_seconds: float) -> torch.Tensor:
    """:func:`active_rms` from the masked ``energy`` (:func:`_energy`) and the RMS."""
    window = round(window_seconds * int(sample_rate))
    batch, length = energy.shape
    frames_count = length // window
    frame_energy = energy[:, : frames_count * window].reshape(batch, frames_count, window).sum(-1)
    with torch.no_grad():
        threshold_db = torch.clamp(20 * torch.log10(overall) + db_rel_rms, min=-80.0)
        floor = 10 ** ((threshold_db - 30) / 10)
        level_db = 10 * torch.log10(floor[:, None] + frame_energy / window)
        whole = torch.arange(frames_count, device=energy.device)[None, :] < (
            lengths[:, None] // window
        )
        active = (level_db >= threshold_db[:, None]) & whole
    active_energy = (frame_energy * active.to(energy.dtype)).sum(-1)
    count = active.sum(-1).to(energy.dtype) * window
    return torch.sqrt(active_energy / count)


def msbg_calibration_gain(signal: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Linear gain MSBG's ``Ear.process`` applies before the outer ear, per signal ``[N]``.

    ``change_dB = 10 log10(mean(x^2)) - 20 log10(active_rms(x))``: the signal is rescaled so
    that its active level equals its full-signal RMS level (``equiv_0db_spl`` cancels).
    Computed in float64; a silent signal gets gain 1. (One masked square of the signal serves
    both levels: a full-size pass is the cost here.)
    """
    samples = signal.to(torch.float64)
    lengths = lengths.to(samples.device)
    energy = _energy(samples, lengths)
    overall = torch.sqrt(energy.sum(-1) / lengths.to(samples.dtype))
    silent = overall == 0
    if bool(silent.any()):  # a level of ones instead: no 0 / 0 in the gradient
        safe = torch.where(silent[:, None], torch.ones_like(samples), samples)
        energy = _energy(safe, lengths)
        overall = torch.where(silent, torch.ones_like(overall), overall)
    gain = overall / _active_rms(energy, overall, lengths, 44100.0, -12.0, 0.01)
    return torch.where(silent | ~torch.isfinite(gain), torch.ones_like(gain), gain)


__all__ = ["active_rms", "msbg_calibration_gain"]
