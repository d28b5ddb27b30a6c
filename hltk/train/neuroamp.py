"""Training NeuroAMP and Denoising NeuroAMP (``hltk train neuroamp`` / ``neuroamp-denoise``).

Targets come from the reference amplifier ``nalr-wdrc`` (:mod:`hltk.amplify.wdrc`, batched
torch at 44.1 kHz, so a corpus of targets takes seconds), through :mod:`hltk.train.data`: each
item cropped to at most ``max_seconds`` with its level jittered by +-6 dB, paired with a drawn
listener (jittered Bisgaard and Clarity-like audiograms, per ear, :mod:`hltk.train.audiograms`),
both ears, cached. Rows with ``split=train`` train, ``split=valid`` validate.

- NeuroAMP: each source is ``(manifest, column)``; input and target are made from the same
  column (``audio``): clean speech, noisy speech, speech denoised by the two-stage denoiser and
  music, all amplified by NAL-R + WDRC.
- Denoising NeuroAMP: input the noisy ``audio`` column, target NAL-R + WDRC of the clean
  ``reference`` column.

Loss: MSE between the output and target spectra, power-law compressed (``|X| ** 0.3``), the
paper's "MSE on spectra" with the compression the other hltk models use so that quiet
high-frequency bins count. ``--stoi-weight W`` adds ``W`` x :func:`hltk.train.losses.stoi_band_loss`
on the output waveform, with the target as its own reference: the squared shortfall of each
third-octave band envelope's correlation with the target's, per ~384 ms segment (what STOI and,
through the envelope, HASPI measure). The spectral MSE alone is minimised by an average of the
plausible outputs, which in babble keeps the interferers' modulations; this term asks for the
target's. ``--level-weight W`` adds ``W`` x :func:`hltk.train.losses.band_level_loss`: the
squared error of the output's third-octave band levels over each crop, in units of 10 dB, against
the target's (the spectral MSE alone left the babble denoiser 2-6 dB below its target). With
both weights 0 the loss is computed exactly as before the options existed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from hltk import registry
from hltk.amplify.neuroamp import NeuroAmpConfig, NeuroAmpNet, preset
from hltk.nn.checkpoint import parameter_count
from hltk.train.data import PairSet, PairSettings, PairTask, Progress, joined_pairs
from hltk.train.loop import TrainSettings
from hltk.train.losses import StoiBands, band_level_loss, stoi_band_loss, third_octave_matrix

TARGET_BACKEND = "nalr-wdrc"
MODEL_KINDS: tuple[str, ...] = ("neuroamp", "neuroamp-denoise")

#: ``--quick``: a tiny model, a few short items, well under a minute on a CPU (the tests).
QUICK_SETTINGS = TrainSettings(steps=30, batch_size=4, learning_rate=3e-3, warmup_steps=3,
                               valid_every=10, checkpoint_every=15)


def quick_model(arch: str) -> NeuroAmpConfig:
    """A tiny model of the core's shape (for ``--quick``)."""
    base = preset(arch, "basic")
    return replace(base, conv_channels=tuple(max(4, c // 8) for c in base.conv_channels),
                   hidden=16, layers=1 if arch != "transformer" else 1, heads=4, feedforward=16,
                   audiogram_units=8, size="quick")


@dataclass(frozen=True)
class Source:
    """One corpus of training pairs: the manifest, the input column and the column the target
    is made from (the same for NeuroAMP; ``reference`` for the denoiser)."""

    manifest: str
    input_column: str = "audio"
    target_column: str = "audio"
    max_items: int | None = None


@dataclass
class NeuroAmpTask(PairTask):
    """The :class:`hltk.train.loop.TrainTask` of NeuroAMP (both kinds)."""

    config: NeuroAmpConfig = field(kw_only=True)
    model_kind: str = "neuroamp"
    #: weight of :func:`hltk.train.losses.stoi_band_loss` on the output waveform (0: off, the
    #: loss every checkpoint before it was trained with)
    stoi_weight: float = 0.0
    #: weight of :func:`hltk.train.losses.band_level_loss` (0: off)
    level_weight: float = 0.0
    _stoi_bands: StoiBands | None = field(default=None, init=False, repr=False)
    _level_bands: torch.Tensor | None = field(default=None, init=False, repr=False)

    def build_model(self) -> nn.Module:
        return NeuroAmpNet(self.config)

    def model_config(self) -> dict[str, Any]:
        return asdict(self.config)

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, targets, audiograms = batch
        assert isinstance(model, NeuroAmpNet)
        if not (self.stoi_weight or self.level_weight):
            magnitude, _ = model.spectra(inputs, audiograms)
            target_magnitude, _, _ = model.stft.analyse(targets)
            loss = F.mse_loss(magnitude, target_magnitude)
            return loss, {"spectral_mse": float(loss.detach())}
        # the same spectra as model.spectra, and what the model would output
        compressed, _, spectrum = model.stft.analyse(inputs)
        gains = model.gains_db(spectrum.abs(), audiograms)
        magnitude = compressed * 10.0 ** (model.config.compress * gains / 20.0)
        target_magnitude, _, target_spectrum = model.stft.analyse(targets)
        spectral = F.mse_loss(magnitude, target_magnitude)
        loss = spectral
        parts = {"spectral_mse": float(spectral.detach())}
        if self.stoi_weight:
            if self._stoi_bands is None:
                self._stoi_bands = StoiBands(self.config.sample_rate)
            waveform = model.synthesise(spectrum, gains, inputs.shape[-1])
            # the target is its own reference: its band correlations are 1, so this pulls each
            # band envelope of the output, segment by segment, towards the target's shape
            stoi = stoi_band_loss(self._stoi_bands, targets, waveform, targets).float()
            loss = loss + self.stoi_weight * stoi
            parts["stoi_bands"] = float(stoi.detach())
        if self.level_weight:
            if self._level_bands is None:
                self._level_bands = third_octave_matrix(spectrum.shape[-1], self.config.sample_rate)
            power = (spectrum.abs() * 10.0 ** (gains / 20.0)) ** 2
            level = band_level_loss(power, target_spectrum.abs() ** 2,
                                    self._level_bands.to(power.device))
            loss = loss + self.level_weight * level
            parts["band_level"] = float(level.detach())
        return loss, parts

    def describe(self) -> dict[str, Any]:
        return {**(self.data_description or {}), "parameters": parameter_count(self.build_model()),
                "segment_seconds": self.segment_seconds,
                "loss": "MSE of |X|^0.3 spectra (output vs nalr-wdrc target)"
                + (f" + {self.stoi_weight:g} x STOI band loss (output vs the target's band envelopes)"
                   if self.stoi_weight else "")
                + (f" + {self.level_weight:g} x third-octave band level loss (output vs target)"
                   if self.level_weight else "")}


def make_task(sources: list[Source], config: NeuroAmpConfig, cache_dir: Path, *,
              model_kind: str = "neuroamp", max_seconds: float = 3.0, seed: int = 0,
              segment_seconds: float = 2.0, valid_items: int | None = 40,
              progress: Progress | None = None, stoi_weight: float = 0.0,
              level_weight: float = 0.0) -> NeuroAmpTask:
    """Pairs (cached, one set per source so corpora are reused across cores) and the task."""
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model kind {model_kind!r} is not one of {MODEL_KINDS}")

    def factory() -> Any:
        return registry.create("amplify", TARGET_BACKEND)

    def pairs_of(split: str, limit: Any) -> tuple[PairSet, list[Path]]:
        return joined_pairs([
            PairSettings(manifests=(str(Path(source.manifest).resolve()),),
                         target_backend=TARGET_BACKEND, model_rate=config.sample_rate,
                         max_seconds=max_seconds, seed=seed, splits=(split,),
                         input_column=source.input_column, target_column=source.target_column,
                         max_items=limit(source))
            for source in sources], cache_dir, factory, progress)

    train_pairs, train_paths = pairs_of("train", lambda source: source.max_items)
    try:
        valid_pairs: PairSet | None = pairs_of(
            "valid", lambda source: valid_items if source.max_items is None
            else min(valid_items or source.max_items, max(2, source.max_items // 4)))[0]
    except ValueError:  # no validation rows
        valid_pairs = None
    description = {
        "sources": [asdict(s) for s in sources], "target_backend": TARGET_BACKEND,
        "train_examples": len(train_pairs), "valid_examples": len(valid_pairs or []),
        "train_seconds": round(float(train_pairs.lengths.sum()) / config.sample_rate, 1),
        "max_seconds": max_seconds, "pairs_cache": [str(p) for p in train_paths], "seed": seed,
        "audiograms": "jittered Bisgaard (+-10 dB) 60%, Clarity-like sloping 40%, per ear",
    }
    return NeuroAmpTask(train_pairs, valid_pairs, segment_seconds, config=config,
                        data_description=description, model_kind=model_kind,
                        stoi_weight=stoi_weight, level_weight=level_weight)
