"""Training the joint NR + HLC network (``hltk train cnrhlc``) through a differentiable
auditory model (Gonzalez, Dau and May).

No target signal is made: the loss compares auditory-model responses.

- NR loss: ``d(A_NH(istft(X M_NR)), A_NH(s))``, the normal-hearing model's response to the
  denoised output (the NR mask alone) against its response to the clean speech ``s``;
- HLC loss: ``d(A_HI(istft(X M_NR M_HLC)), A_NH(s))``, the hearing-impaired model (the item's
  audiogram) of the compensated output (both masks) against the normal-hearing response to
  the clean speech (the "input" of the HLC loss is the clean speech: the joint system should
  make the impaired listener's response to noisy speech that of a normal-hearing listener
  to the clean speech);
- ``d`` = mean squared difference of the responses; the two are summed with learned
  uncertainty weights (Kendall, Gal and Cipolla 2018):
  ``0.5 exp(-s_NR) L_NR + 0.5 s_NR + 0.5 exp(-s_HLC) L_HLC + 0.5 s_HLC``, the ``s`` being the
  network's ``training_log_variances``. Masks are used at ``alpha = 1`` and without the
  inference floor and cap.

Two auditory models (``auditory_model``):

- ``drnl``: :class:`hltk.auditory.AuditoryModel` (outer/middle ear, DRNL filterbank, IHC,
  log compression), hearing loss from the audiogram by
  :func:`hltk.auditory.hearing_loss_from_audiogram`; response ``[N, 31, T]``;
- ``msbg``: the batched differentiable MSBG (:class:`hltk.simulate.torch_msbg.TorchMsbg`,
  torch recursion; normal hearing = a 0 dB HL audiogram). MSBG outputs audio, so its
  response is a representation of that audio chosen here (:class:`MsbgResponse`): the
  16 kHz signal is band-limited-resampled (FFT) to MSBG's 44.1 kHz, simulated, resampled back,
  and analysed by the network's STFT (512 / 256); the power of each frame is summed in 31
  triangular bands centred on the DRNL model's channels (1 ERB apart, 80-7643 Hz), and each
  band's RMS amplitude ``a`` is compressed as ``log(1 + a / 1e-5)`` (1e-5 = 0 dB SPL at the
  training calibration, a digital RMS of 1 = 100 dB SPL), the same static compression as the
  DRNL model's IHC output.

Data: noisy speech manifests (``hltk synth noisy``: ``audio`` = noisy, ``reference`` =
clean), ``split`` train / valid rows, each item cropped to at most ``max_seconds`` and made
mono; a batch is random ``segment_seconds`` crops, each presented at a speech level drawn
in ``level_range_db`` dB SPL (noisy and clean scaled alike), with an audiogram drawn per
crop (:func:`hltk.train.audiograms.bisgaard_audiogram`: NH, N1-N7, S1-S3, +-10 dB jitter,
clipped to [0, 100] dB HL).

HLC error weighting (``hlc_weighting``; a deviation from the paper, default ``none`` = the
paper's plain mean squared difference): ``level`` weights each crop's and channel's squared
HLC error by ``w = clip(rms_t A_NH / rms_t A_HI, 1, max_weight)``, the ratio of the normal-
hearing target's RMS response to the impaired response's (detached: no gradient flows through
``w``). Why: where a severe loss puts the impaired channel below the static compression's knee
(``log(1 + x / 1e-5)`` linear in ``x``), the response's derivative w.r.t. the gain in dB is
proportional to the response itself, so the plain loss pulls an under-amplified channel in
proportion to how little it already hears: the high channels of N6, N7, S2 (docs/cnrhlc.md,
"Second session"). Dividing by the impaired response's level undoes that factor for
under-amplified channels (``A_NH > A_HI``); channels at or above their target keep weight 1, so
the loss near the optimum, and every channel's own stationary point, are the plain loss's.
The reported ``hlc`` loss stays the unweighted one, so runs compare on one scale.

Severe-profile oversampling (``severe_weight``, default 1 = the uniform draw): the training
crops' audiograms come from :data:`SEVERE_PROFILES` (N6, N7, S2, S3: the profiles the third
model left below NAL-R) ``severe_weight`` times as often as from each other profile, so their
weak high-frequency pull gets a larger share of the shared parameters' gradient. Validation
crops keep the uniform draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.audio import read_audio, resample
from hltk.io.listeners import AUDIOGRAM_GRID, Audiogram, Listener, ListenerBatch
from hltk.io.manifest import load_manifest
from hltk.nn.bsrnn import QUICK_CONFIG, BandSplitRnn, BsrnnConfig
from hltk.nn.checkpoint import parameter_count
from hltk.train.audiograms import bisgaard_audiogram
from hltk.train.loop import TrainSettings

SAMPLE_RATE = 16000
MSBG_RATE = 44100
AUDITORY_MODELS: tuple[str, ...] = ("drnl", "msbg")
#: Profiles ``--severe-weight`` draws more often.
SEVERE_PROFILES: tuple[str, ...] = ("N6", "N7", "S2", "S3")
#: ``--hlc-weighting``: none (the paper's plain MSE) or level (see the module docstring).
HLC_WEIGHTINGS: tuple[str, ...] = ("none", "level")
#: dB SPL of a digital RMS of 1 (the calibration of training and of the backend's default).
LEVEL_DB_SPL = 100.0
#: The DRNL model's channels: 31 centre frequencies 1 ERB apart from 80 to 7643 Hz.
ERB_LOW_HZ, ERB_HIGH_HZ, ERB_CHANNELS = 80.0, 7643.0, 31
RESPONSE_FLOOR = 1e-5

QUICK_SETTINGS = TrainSettings(steps=6, batch_size=2, learning_rate=1e-3, warmup_steps=2,
                               valid_every=3, checkpoint_every=3)
QUICK_MODEL = QUICK_CONFIG


def erb_number(hz: np.ndarray) -> np.ndarray:
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(hz, dtype=float))


def erb_centres(low: float = ERB_LOW_HZ, high: float = ERB_HIGH_HZ,
                count: int = ERB_CHANNELS) -> np.ndarray:
    numbers = np.linspace(erb_number(np.array(low)), erb_number(np.array(high)), count)
    return (10.0 ** (numbers / 21.4) - 1.0) / 0.00437


def periodic_resample(signal: torch.Tensor, rate_in: int, rate_out: int) -> torch.Tensor:
    """Band-limited resampling of ``[N, T]`` by zero-padding / truncating the spectrum
    (differentiable; ``T * rate_out / rate_in`` must be whole). Periodic: the signal is taken
    as one period, with no margin and no taper; training crops need nothing more. The runner's
    :func:`hltk.io.audio.fft_resample` pads and tapers, for any length."""
    length = signal.shape[-1]
    if (length * rate_out) % rate_in:
        raise ValueError(f"{length} samples at {rate_in} Hz is no whole number at {rate_out} Hz")
    out_length = length * rate_out // rate_in
    spectrum = torch.fft.rfft(signal, dim=-1)
    bins = out_length // 2 + 1
    if bins > spectrum.shape[-1]:
        spectrum = nn.functional.pad(spectrum, (0, bins - spectrum.shape[-1]))
    else:
        spectrum = spectrum[..., :bins]
    return torch.fft.irfft(spectrum, n=out_length, dim=-1) * (out_length / length)


def triangular_bands(n_fft: int, sample_rate: int, centres: np.ndarray) -> torch.Tensor:
    """``[bands, bins]`` triangular weights: band ``k`` rises from centre ``k-1`` to ``k`` and
    falls to ``k+1`` (the ends mirrored), on a linear frequency axis."""
    frequencies = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = np.concatenate([[2 * centres[0] - centres[1]], centres,
                            [2 * centres[-1] - centres[-2]]])
    weights = np.zeros((len(centres), len(frequencies)))
    for band in range(len(centres)):
        low, centre, high = edges[band], edges[band + 1], edges[band + 2]
        rising = (frequencies - low) / (centre - low)
        falling = (high - frequencies) / (high - centre)
        weights[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return torch.as_tensor(weights, dtype=torch.float32)


def audiogram_listeners(hearing_levels: torch.Tensor) -> ListenerBatch:
    """``[N, 8]`` dB HL -> a one-ear :class:`ListenerBatch` (ear ``left``) of ``N`` listeners."""
    listeners = []
    for index, levels in enumerate(hearing_levels.detach().cpu().tolist()):
        audiogram = Audiogram(AUDIOGRAM_GRID, tuple(float(v) for v in levels))
        listeners.append(Listener(f"ear{index}", audiogram, audiogram))
    return ListenerBatch(tuple(listeners), ("left",))


class MsbgResponse:
    """The ``msbg`` auditory model: ``[N, T]`` at 16 kHz (``T`` a multiple of 160) and
    ``[N, 8]`` dB HL (None: normal hearing) -> ``[N, 31, frames]`` (see the module docstring)."""

    name = "msbg"

    def __init__(self, n_fft: int = 512, hop: int = 256, level_db_spl: float = LEVEL_DB_SPL
                 ) -> None:
        from hltk.simulate.torch_msbg import TorchMsbg

        self.simulator = TorchMsbg(compiled=None)
        self.n_fft, self.hop = n_fft, hop
        self.level_db_spl = level_db_spl
        self.window = torch.hann_window(n_fft)
        self.bands = triangular_bands(n_fft, SAMPLE_RATE, erb_centres())
        self.scale = 1.0 / float(self.window.square().sum())

    def simulate(self, audio: torch.Tensor, hearing_levels: torch.Tensor | None) -> torch.Tensor:
        """MSBG of ``audio [N, T]`` at 16 kHz, back at 16 kHz, ``[N, T]``."""
        if hearing_levels is None:
            hearing_levels = torch.zeros(audio.shape[0], len(AUDIOGRAM_GRID))
        upsampled = periodic_resample(audio, SAMPLE_RATE, MSBG_RATE)
        simulated = self.simulator(upsampled[:, None, :], audiogram_listeners(hearing_levels),
                                   level_db_spl=torch.full((audio.shape[0],), self.level_db_spl))
        return periodic_resample(simulated[:, 0, :], MSBG_RATE, SAMPLE_RATE)

    def __call__(self, audio: torch.Tensor, hearing_levels: torch.Tensor | None) -> torch.Tensor:
        simulated = self.simulate(audio, hearing_levels)
        spectrum = torch.stft(simulated, self.n_fft, self.hop, window=self.window.to(audio.device),
                              center=True, pad_mode="reflect", return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()  # [N, bins, frames]
        band_power = torch.einsum("kf,nft->nkt", self.bands.to(audio.device), power) * self.scale
        amplitude = torch.sqrt(band_power + RESPONSE_FLOOR**2 * 1e-4)
        return torch.log1p(amplitude / RESPONSE_FLOOR)


class DrnlResponse:
    """The ``drnl`` auditory model (:mod:`hltk.auditory`): ``[N, T]`` at 16 kHz and ``[N, 8]``
    dB HL (None: normal hearing) -> ``[N, 31, T]``."""

    name = "drnl"

    def __init__(self) -> None:
        from hltk.auditory import AuditoryModel

        self.model = AuditoryModel(sample_rate=SAMPLE_RATE)

    def __call__(self, audio: torch.Tensor, hearing_levels: torch.Tensor | None) -> torch.Tensor:
        from hltk.auditory import hearing_loss_from_audiogram

        self.model.to(audio.device)
        loss = None if hearing_levels is None else hearing_loss_from_audiogram(hearing_levels)
        return self.model(audio, loss)


def auditory_model(name: str) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    if name == "msbg":
        return MsbgResponse()
    if name == "drnl":
        return DrnlResponse()
    raise ValueError(f"unknown auditory model {name!r}; choose from {', '.join(AUDITORY_MODELS)}")


def hlc_error(response: torch.Tensor, target: torch.Tensor, weighting: str = "none",
              max_weight: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weighted, plain)`` HLC losses of an impaired response against the normal-hearing
    target, both ``[N, channels, T]``: ``plain`` is the mean squared difference; ``weighted``
    is it for ``none`` and, for ``level``, the mean over crops and channels of
    ``w * mean_t (A_HI - A_NH)^2`` with ``w = clip(rms_t A_NH / rms_t A_HI, 1, max_weight)``
    (detached)."""
    if weighting not in HLC_WEIGHTINGS:
        raise ValueError(f"unknown HLC weighting {weighting!r}; choose from "
                         f"{', '.join(HLC_WEIGHTINGS)}")
    squared = (response - target).square()
    plain = squared.mean()
    if weighting == "none":
        return plain, plain
    with torch.no_grad():
        target_rms = target.square().mean(-1).sqrt()
        response_rms = response.detach().square().mean(-1).sqrt()
        weight = (target_rms / response_rms.clamp_min(1e-6)).clamp(1.0, max_weight)
    return (squared.mean(-1) * weight).mean(), plain


@dataclass
class NoisySet:
    """Mono noisy / clean pairs at 16 kHz, zero-padded: ``noisy``, ``clean`` ``[K, T]``,
    ``lengths [K]``, ``ids``."""

    noisy: torch.Tensor
    clean: torch.Tensor
    lengths: torch.Tensor
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.noisy.shape[0])


def load_noisy(manifests: Sequence[str], splits: Sequence[str], max_seconds: float,
               max_items: int | None = None, reference_column: str = "reference") -> NoisySet:
    """Rows of ``splits`` of each manifest (at most ``max_items`` each, in order), the first
    ``max_seconds`` of each, mono, resampled to 16 kHz."""
    limit = int(max_seconds * SAMPLE_RATE)
    noisy, clean, lengths, ids = [], [], [], []
    for path in manifests:
        manifest = load_manifest(path, require_listener=False, check_audio="none",
                                 audio_columns=["audio", reference_column])
        taken = 0
        for item in manifest.items:
            if splits and item.row.get("split", "") not in splits:
                continue
            if max_items is not None and taken >= max_items:
                break
            pair = []
            for column in ("audio", reference_column):
                audio, rate = read_audio(item.paths[column])
                pair.append(resample(audio.mean(0), rate, SAMPLE_RATE)[:limit])
            length = min(p.shape[-1] for p in pair)
            noisy.append(pair[0][:length])
            clean.append(pair[1][:length])
            lengths.append(length)
            ids.append(f"{path}:{item.id}")
            taken += 1
    if not noisy:
        return NoisySet(torch.zeros(0, limit), torch.zeros(0, limit), torch.zeros(0, dtype=torch.long))
    longest = max(lengths)
    pad = lambda t: nn.functional.pad(t, (0, longest - t.shape[-1]))  # noqa: E731
    return NoisySet(torch.stack([pad(t) for t in noisy]), torch.stack([pad(t) for t in clean]),
                    torch.as_tensor(lengths), ids)


def profile_weights(severe_weight: float) -> np.ndarray | None:
    """Draw weights over :data:`hltk.synth.listeners.PROFILES` (None when uniform)."""
    if severe_weight == 1.0:
        return None
    from hltk.synth.listeners import PROFILES

    return np.array([severe_weight if p in SEVERE_PROFILES else 1.0 for p in PROFILES])


def draw_batch(pairs: NoisySet, rng: np.random.Generator, count: int, segment: int,
               level_range_db: tuple[float, float], severe_weight: float = 1.0
               ) -> tuple[torch.Tensor, ...]:
    """``count`` random crops ``(noisy, clean, hearing_levels)``, each presented at a drawn
    speech level (the clean crop's RMS; noisy scaled by the same gain); audiograms drawn
    with :func:`profile_weights` ``(severe_weight)``."""
    chosen = rng.integers(len(pairs), size=count)
    noisy = torch.zeros(count, segment)
    clean = torch.zeros(count, segment)
    for row, example in enumerate(chosen):
        length = int(pairs.lengths[example])
        start = int(rng.integers(0, max(1, length - segment + 1)))
        stop = min(length, start + segment)
        noisy[row, : stop - start] = pairs.noisy[example, start:stop]
        clean[row, : stop - start] = pairs.clean[example, start:stop]
        level = rng.uniform(*level_range_db)
        rms = float(clean[row].square().mean().sqrt())
        gain = 10 ** ((level - LEVEL_DB_SPL) / 20) / max(rms, 1e-6)
        noisy[row] *= gain
        clean[row] *= gain
    weights = profile_weights(severe_weight)
    levels = torch.as_tensor(np.stack([bisgaard_audiogram(rng, weights=weights)
                                       for _ in range(count)]),
                             dtype=torch.float32)
    return noisy, clean, levels


@dataclass
class CnrhlcTask:
    """The :class:`hltk.train.loop.TrainTask` of ``hltk train cnrhlc``."""

    train_pairs: NoisySet
    valid_pairs: NoisySet | None
    config: BsrnnConfig
    auditory: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    auditory_name: str
    segment_seconds: float = 1.0
    level_range_db: tuple[float, float] = (64.0, 80.0)
    valid_batch: int = 8
    data_description: dict[str, Any] = field(default_factory=dict)
    model_kind: str = "cnrhlc"
    hlc_weighting: str = "none"
    hlc_max_weight: float = 10.0
    severe_weight: float = 1.0

    @property
    def segment(self) -> int:
        samples = int(self.segment_seconds * SAMPLE_RATE)
        return samples - samples % 160  # whole at 44.1 kHz (MSBG)

    def build_model(self) -> nn.Module:
        return BandSplitRnn(self.config)

    def model_config(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "auditory_model": self.auditory_name}

    def train_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device
                    ) -> tuple[torch.Tensor, ...]:
        batch = draw_batch(self.train_pairs, rng, batch_size, self.segment, self.level_range_db,
                           self.severe_weight)
        return tuple(t.to(device) for t in batch)

    def valid_batches(self, device: torch.device) -> list[Any]:
        if self.valid_pairs is None or len(self.valid_pairs) == 0:
            return []
        rng = np.random.default_rng(1234)
        count = min(len(self.valid_pairs), 2 * self.valid_batch)
        batch = draw_batch(self.valid_pairs, rng, count, self.segment, self.level_range_db)
        return [tuple(t[first : first + self.valid_batch].to(device) for t in batch)
                for first in range(0, count, self.valid_batch)]

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        noisy, clean, levels = batch
        assert isinstance(model, BandSplitRnn)
        length = noisy.shape[-1]
        spectrum = model.stft(noisy)
        masks = model(spectrum, levels)
        nr_mask = torch.polar(10.0 ** (masks.nr_db / 20.0), masks.nr_phase)
        hlc_mask = torch.polar(10.0 ** (masks.hlc_db / 20.0), masks.hlc_phase)
        denoised = model.istft(spectrum * nr_mask, length)
        compensated = model.istft(spectrum * nr_mask * hlc_mask, length)
        with torch.no_grad():
            target = self.auditory(clean, None)
        nr_loss = (self.auditory(denoised, None) - target).square().mean()
        hlc_loss, hlc_plain = hlc_error(self.auditory(compensated, levels), target,
                                        self.hlc_weighting, self.hlc_max_weight)
        log_variances = model.training_log_variances
        total = (0.5 * torch.exp(-log_variances[0]) * nr_loss + 0.5 * log_variances[0]
                 + 0.5 * torch.exp(-log_variances[1]) * hlc_loss + 0.5 * log_variances[1])
        parts = {"nr": float(nr_loss.detach()), "hlc": float(hlc_plain.detach()),
                 "weight_nr": math.exp(-float(log_variances[0].detach())),
                 "weight_hlc": math.exp(-float(log_variances[1].detach()))}
        if self.hlc_weighting != "none":
            parts["hlc_weighted"] = float(hlc_loss.detach())
        return total, parts

    def describe(self) -> dict[str, Any]:
        model = BandSplitRnn(self.config)
        weighting = ({} if self.hlc_weighting == "none" else
                     {"hlc_weighting": self.hlc_weighting, "hlc_max_weight": self.hlc_max_weight})
        if self.severe_weight != 1.0:
            weighting["severe_weight"] = self.severe_weight
        return {**self.data_description, **weighting, "auditory_model": self.auditory_name,
                "train_items": len(self.train_pairs),
                "valid_items": 0 if self.valid_pairs is None else len(self.valid_pairs),
                "segment_seconds": self.segment_seconds, "level_range_db": list(self.level_range_db),
                "audiograms": "bisgaard NH,N1-N7,S1-S3 +-10 dB, clipped [0, 100]",
                "parameters": parameter_count(model)}
