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


class StoiBands(torch.nn.Module):
    """What STOI measures, differentiable: per third-octave band and ~384 ms segment, the
    correlation ``d`` of a signal's band envelope with a reference's (Taal et al. 2011, as
    pystoi computes it: 15 bands from 150 Hz, 30-frame segments, each segment's envelope
    scaled to the reference's energy and clipped at ``1 + 10 ** (15 / 20)`` times it; STOI is
    the mean of ``d`` over bands and segments).

    Ported at the signal's own rate (no resampling to 10 kHz): a Hann window of 25 ms (pystoi:
    256 points at 10 kHz, 25.6 ms), hop half of it, zero-padded to ``n_fft`` (pystoi pads 2x;
    1 024 points at 16 kHz give 15.6 Hz bins against pystoi's 19.5 Hz), the band edges chosen as
    pystoi's ``thirdoct`` does (nearest bins). pystoi drops frames more than 40 dB below the
    reference's loudest before segmenting; here every segment is kept and weighted by the
    share of its frames within 40 dB of the loudest frame of the same row (a crop), so that
    silent stretches, whose envelopes are noise, barely count.

    Computed in float64: STOI normalises each band-segment's level, so a band 120 dB down
    (MSBG's silenced bands) counts as much as a loud one, and its envelope must not drown in
    float32 rounding. ``forward(reference, signal)`` returns ``d [N, bands, segments]`` and the
    segment weights ``[N, segments]``.
    """

    def __init__(self, sample_rate: int = 16000, bands: int = 15, min_frequency: float = 150.0,
                 segment_frames: int = 30, n_fft: int = 1024, dynamic_range_db: float = 40.0,
                 beta_db: float = -15.0) -> None:
        super().__init__()
        self.window_length = int(round(0.025 * sample_rate))
        self.hop = self.window_length // 2
        self.n_fft = max(n_fft, self.window_length)
        self.segment_frames = segment_frames
        self.dynamic_range_db = dynamic_range_db
        self.clip = 1.0 + 10.0 ** (-beta_db / 20.0)
        frequencies = torch.linspace(0, sample_rate, self.n_fft + 1,
                                     dtype=torch.float64)[: self.n_fft // 2 + 1]
        k = torch.arange(bands, dtype=torch.float64)
        low = min_frequency * 2.0 ** ((2 * k - 1) / 6)
        high = min_frequency * 2.0 ** ((2 * k + 1) / 6)
        matrix = torch.zeros(bands, len(frequencies), dtype=torch.float64)
        for band in range(bands):
            first = int(torch.argmin((frequencies - low[band]) ** 2))
            last = int(torch.argmin((frequencies - high[band]) ** 2))
            matrix[band, first:last] = 1.0
        self.register_buffer("bands", matrix, persistent=False)
        self.register_buffer("window", torch.hann_window(self.window_length + 2, periodic=False,
                                                         dtype=torch.float64)[1:-1], persistent=False)

    def envelopes(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Band envelopes ``[N, bands, frames]`` and frame energies (dB) ``[N, frames]``."""
        window = self.window
        assert isinstance(window, torch.Tensor)
        frames = waveform.double().unfold(-1, self.window_length, self.hop) * window
        power = torch.fft.rfft(frames, n=self.n_fft).abs() ** 2  # [N, frames, bins]
        bands = self.bands
        assert isinstance(bands, torch.Tensor)
        envelope = torch.sqrt(torch.einsum("jk,nfk->njf", bands, power) + 1e-300)
        energy = 10.0 * torch.log10((frames ** 2).sum(-1) + 1e-300)
        return envelope, energy

    def forward(self, reference: torch.Tensor, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, energy = self.envelopes(reference)
        y, _ = self.envelopes(signal)
        active = (energy > energy.amax(-1, keepdim=True) - self.dynamic_range_db).double()
        xs = x.unfold(-1, self.segment_frames, 1)  # [N, bands, segments, frames]
        ys = y.unfold(-1, self.segment_frames, 1)
        weight = active.unfold(-1, self.segment_frames, 1).mean(-1)  # [N, segments]
        eps = 1e-200
        ys = ys * xs.norm(dim=-1, keepdim=True) / (ys.norm(dim=-1, keepdim=True) + eps)
        ys = torch.minimum(ys, xs * self.clip)
        ys = ys - ys.mean(-1, keepdim=True)
        xs = xs - xs.mean(-1, keepdim=True)
        d = (xs * ys).sum(-1) / (xs.norm(dim=-1) * ys.norm(dim=-1) + eps)
        return d, weight


def stoi_band_loss(bands: StoiBands, reference: torch.Tensor, signal: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
    """Weighted MSE between the STOI band correlations of ``signal`` and of ``target`` (both
    against ``reference``, :class:`StoiBands`): zero when the output's band envelopes keep
    exactly as much of the reference's envelope, band by band and segment by segment, as the
    target's do, whatever their levels. ``target``'s side carries no gradient."""
    d_signal, weight = bands(reference, signal)
    with torch.no_grad():
        d_target, _ = bands(reference, target)
    weight = weight[:, None, :].expand_as(d_signal)
    return ((d_signal - d_target) ** 2 * weight).sum() / weight.sum().clamp_min(1e-12)


def third_octave_matrix(bins: int, sample_rate: int, low: float = 125.0) -> torch.Tensor:
    """``[bands, bins]`` 0/1 matrix grouping the bins of a one-sided spectrum (``bins`` from 0
    Hz to ``sample_rate / 2``) into third-octave bands centred on ``low * 2 ** (k / 3)`` up to
    the Nyquist frequency: each bin above ``low / 2 ** (1/6)`` joins the band whose centre is
    nearest on a log axis (so every bin counts once and no band is empty when the bins are
    fine enough; empty bands are dropped), the bins below the first band are left out.
    :class:`StoiBands` keeps pystoi's own 15 bands from 150 Hz instead (STOI's definition)."""
    frequencies = torch.arange(bins, dtype=torch.float64) * (sample_rate / 2) / (bins - 1)
    count = int(math.floor(3 * math.log2((sample_rate / 2) / low))) + 1
    centres = low * 2.0 ** (torch.arange(count, dtype=torch.float64) / 3)
    keep = frequencies >= low * 2.0 ** (-1 / 6)
    nearest = torch.argmin(torch.abs(torch.log2(frequencies[keep, None] / centres[None, :])), dim=1)
    matrix = torch.zeros(count, bins, dtype=torch.float32)
    matrix[nearest, torch.nonzero(keep)[:, 0]] = 1.0
    return matrix[matrix.sum(dim=1) > 0]


def band_level_loss(power: torch.Tensor, target_power: torch.Tensor, bands: torch.Tensor,
                    floor_db: float = 60.0) -> torch.Tensor:
    """Mean squared difference, in units of 10 dB, between the band levels of ``power`` and
    ``target_power`` (``[N, frames, bins]`` power spectra; each band's energy summed over the
    whole crop, ``bands`` from :func:`third_octave_matrix`). What a hearing-aid fitting checks:
    the output's long-term level in each band against the prescription's. Both energies are
    floored at ``floor_db`` below the target's loudest band of the same row, so bands the
    target leaves near silence barely count. Level-sensitive where a spectral MSE of compressed
    magnitudes is not: that MSE, under uncertainty (speech or babble in a bin?), is minimised
    by an average that sits below the speech's peaks, i.e. by an output quieter than its
    target."""
    energy = power.sum(dim=1) @ bands.T
    target = target_power.sum(dim=1) @ bands.T
    floor = target.detach().amax(dim=1, keepdim=True) * 10.0 ** (-floor_db / 10.0) + 1e-20
    difference = (torch.log10(energy + floor) - torch.log10(target + floor))  # units of 10 dB
    return (difference**2).mean()
