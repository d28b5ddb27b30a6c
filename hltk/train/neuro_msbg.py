"""Training Neuro-MSBG (``hltk train neuro-msbg``).

Targets are the reference simulator's output (``torch-msbg`` by default: it equals ``msbg``
to >85 dB SNR and is several times faster; ``msbg`` itself on request) on speech from
``hltk synth`` manifests, each item cropped to at most 4 s, with its level jittered by
+-6 dB, paired with a drawn listener (jittered Bisgaard and Clarity-like audiograms,
:mod:`hltk.train.audiograms`), both ears. Rows with ``split=train`` train, ``split=valid``
validate; the cache of pairs is reused between runs.

Loss (weights as MP-SENet, which Neuro-MSBG builds on; spectra compressed ``|X| ** 0.3``):
``0.9 * magnitude MSE + 0.3 * (IP + GD + IAF anti-wrapping phase losses) + 0.1 * complex MSE
+ 0.2 * waveform L1``. ``phase_loss="weighted"`` weights each bin's phase losses by the
target's compressed magnitude (MSBG silences most bins of a severe loss, whose target phase is
noise; ``recipes/neuro_msbg/phase_diagnosis.py``); ``phase_weight`` replaces the 0.3.

``target_floor`` / ``log_floor`` (``recipes/neuro_msbg/magnitude_diagnosis.py``): the target's
magnitude is ``sqrt(re^2 + im^2 + target_floor)`` and the log-magnitude L1 compares
``log(m + log_floor)``. At the first models' values (1e-9, 0.01) the target of a bin that MSBG
silences (severe losses remove whole bands, down to float32 rounding) is a constant magnitude
of 3.2e-5, 50-90 dB above what MSBG leaves there; the network learns to put exactly that level
back, with the input's phase and so the input's envelope, and STOI, which normalises each
band's level, scores that band as intelligible (+0.06 STOI on losses above 70 dB HL). Even
msbg's exact magnitude, floored so, gives STOI MSE 0.0029 against msbg (1e-20: 0.0002).

``stoi_weight`` adds ``W * `` :func:`hltk.train.losses.stoi_band_loss`: the squared difference
between the output's and the target's STOI band correlations (third-octave band envelope vs
the input's, per ~384 ms segment), computed on the synthesised waveform, i.e. on what STOI
sees. STOI normalises each band-segment's level, so where MSBG silences a band (>= 90 dB HL:
120 dB down, holding only other bands' leakage) a network that leaves the input's envelope
there at any level scores as intelligible; no loss on magnitudes weighs that
(``docs/performance.md``, issue 28 fifth session). The reference is the network's input (the
noisy speech of a noisy pair), the same for both sides. ``complex_weight`` replaces the 0.1 of
the compressed complex MSE, which weighs a bin's phase error by its compressed magnitude as
PESQ's loudness-weighted disturbance does. Both default to the earlier recipes' values (0 and
0.1), so those train as before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from hltk import registry
from hltk.nn.checkpoint import parameter_count
from hltk.simulate.neuro_msbg import NeuroMsbgConfig, NeuroMsbgNet
from hltk.train.data import PairSet, PairSettings, PairTask, Progress, joined_pairs
from hltk.train.loop import TrainSettings
from hltk.train.losses import StoiBands, complex_mse, phase_losses, stoi_band_loss, weighted_phase_losses

PHASE_LOSSES: tuple[str, ...] = ("plain", "weighted")

LOSS_WEIGHTS: dict[str, float] = {"magnitude": 0.9, "phase": 0.3, "complex": 0.1, "waveform": 0.2}
#: ``--log-magnitude W`` adds ``W * mean |log(m + e) - log(m' + e)|`` on compressed magnitudes
#: (``e`` = :data:`LOG_FLOOR`, about -134 dB re full scale): MSBG attenuates high bands by
#: 40-80 dB for severe losses, which an MSE on compressed magnitudes barely weighs.
LOG_FLOOR = 0.01
#: the target magnitude's floor of the first models (:meth:`hltk.dsp.stft.Stft.analyse`'s eps)
TARGET_FLOOR = 1e-9

#: ``--quick``: a tiny model, a few short items, ~a minute on a CPU (used by the tests).
QUICK_MODEL = NeuroMsbgConfig(block="cnn", channels=4, hidden=8, blocks=1, dense_depth=1,
                              stride=8, hop=256)
QUICK_SETTINGS = TrainSettings(steps=40, batch_size=4, learning_rate=3e-3, warmup_steps=5,
                               valid_every=10, checkpoint_every=20)
#: The shipped CPU model (``hltk/checkpoints/neuro_msbg_cnn.pt``).
SHIPPED_MODEL = NeuroMsbgConfig()


@dataclass
class NeuroMsbgTask(PairTask):
    """The :class:`hltk.train.loop.TrainTask` of Neuro-MSBG."""

    config: NeuroMsbgConfig = field(kw_only=True)
    log_magnitude_weight: float = 0.0
    #: ``plain`` (the paper's phase losses, every bin alike) or ``weighted`` (each bin by the
    #: target's compressed magnitude, :func:`hltk.train.losses.weighted_phase_losses`)
    phase_loss: str = "plain"
    #: weight of the summed phase losses (the paper's 0.3)
    phase_weight: float = LOSS_WEIGHTS["phase"]
    #: eps of the target's magnitude ``sqrt(re^2 + im^2 + eps)`` (see the module docstring)
    target_floor: float = TARGET_FLOOR
    #: ``e`` of the log-magnitude L1 ``|log(m + e) - log(m' + e)|``, compressed magnitudes
    log_floor: float = LOG_FLOOR
    #: weight of :func:`hltk.train.losses.stoi_band_loss` (0: off, as every earlier recipe)
    stoi_weight: float = 0.0
    #: weight of the compressed complex MSE (the paper's 0.1)
    complex_weight: float = LOSS_WEIGHTS["complex"]
    model_kind: str = "neuro-msbg"
    _stoi_bands: StoiBands | None = field(default=None, init=False, repr=False)

    def build_model(self) -> nn.Module:
        return NeuroMsbgNet(self.config)

    def model_config(self) -> dict[str, Any]:
        return asdict(self.config)

    def complete_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint's config with the fields it predates at their defaults (``--init``
        from a checkpoint made before ``identity_phase`` / ``audiogram_encoder`` existed)."""
        return asdict(NeuroMsbgConfig(**config))

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, targets, audiograms = batch
        assert isinstance(model, NeuroMsbgNet)
        magnitude, phase = model.spectra(inputs, audiograms)
        target_magnitude, target_phase, _ = model.stft.analyse(targets, eps=self.target_floor)
        waveform = model.stft.synthesise(magnitude, phase, inputs.shape[-1])
        parts = {
            "magnitude": F.mse_loss(magnitude, target_magnitude),
            "complex": complex_mse(magnitude, phase, target_magnitude, target_phase),
            "waveform": F.l1_loss(waveform, targets),
        }
        phases = (weighted_phase_losses(phase, target_phase, target_magnitude.detach())
                  if self.phase_loss == "weighted" else phase_losses(phase, target_phase))
        parts["phase"] = phases["ip"] + phases["gd"] + phases["iaf"]
        weights = {**LOSS_WEIGHTS, "phase": self.phase_weight, "complex": self.complex_weight}
        total = sum(weights[name] * value for name, value in parts.items())
        if self.log_magnitude_weight:
            parts["log_magnitude"] = torch.mean(torch.abs(torch.log(magnitude + self.log_floor)
                                                          - torch.log(target_magnitude + self.log_floor)))
            total = total + self.log_magnitude_weight * parts["log_magnitude"]
        if self.stoi_weight:
            if self._stoi_bands is None:
                self._stoi_bands = StoiBands(self.config.sample_rate)
            parts["stoi_bands"] = stoi_band_loss(self._stoi_bands, inputs, waveform, targets).float()
            total = total + self.stoi_weight * parts["stoi_bands"]
        assert isinstance(total, torch.Tensor)
        return total, {name: float(value.detach()) for name, value in parts.items()}

    def describe(self) -> dict[str, Any]:
        weights = {**LOSS_WEIGHTS, "phase": self.phase_weight, "complex": self.complex_weight,
                   **({"log_magnitude": self.log_magnitude_weight} if self.log_magnitude_weight else {}),
                   **({"stoi_bands": self.stoi_weight} if self.stoi_weight else {})}
        return {**(self.data_description or {}), "parameters": parameter_count(self.build_model()),
                "segment_seconds": self.segment_seconds, "loss_weights": weights,
                **({"phase_loss": self.phase_loss} if self.phase_loss != "plain" else {}),
                **({"target_floor": self.target_floor} if self.target_floor != TARGET_FLOOR else {}),
                **({"log_floor": self.log_floor} if self.log_floor != LOG_FLOOR else {})}


def make_task(manifests: list[Path], config: NeuroMsbgConfig, cache_dir: Path, *,
              target_backend: str = "torch-msbg", max_seconds: float = 4.0, seed: int = 0,
              segment_seconds: float = 2.0, limit: int | None = None,
              log_magnitude_weight: float = 0.0, phase_loss: str = "plain",
              phase_weight: float = LOSS_WEIGHTS["phase"], target_floor: float = TARGET_FLOOR,
              log_floor: float = LOG_FLOOR, stoi_weight: float = 0.0,
              complex_weight: float = LOSS_WEIGHTS["complex"],
              progress: Progress | None = None) -> NeuroMsbgTask:
    """Pairs (cached) and the task for ``manifests``; ``limit``: at most this many training
    items (validation: a quarter of it)."""
    def factory() -> Any:
        return registry.create("simulate", target_backend)

    def pairs_of(split: str, max_items: int | None) -> tuple[PairSet, list[Path]]:
        return joined_pairs([
            PairSettings(manifests=(str(Path(manifest).resolve()),),
                         target_backend=target_backend, model_rate=config.sample_rate,
                         max_seconds=max_seconds, seed=seed, splits=(split,), max_items=max_items)
            for manifest in manifests], cache_dir, factory, progress)

    train_pairs, train_paths = pairs_of("train", limit)
    try:
        valid_pairs: PairSet | None = pairs_of("valid", None if limit is None else max(2, limit // 4))[0]
    except ValueError:  # no validation rows
        valid_pairs = None
    description = {
        "manifests": [str(m) for m in manifests], "target_backend": target_backend,
        "train_examples": len(train_pairs), "valid_examples": len(valid_pairs or []),
        "train_seconds": round(float(train_pairs.lengths.sum()) / config.sample_rate, 1),
        "max_seconds": max_seconds, "pairs_cache": [str(p) for p in train_paths], "seed": seed,
        "audiograms": "jittered Bisgaard (+-10 dB) 60%, Clarity-like sloping 40%, per ear",
    }
    if phase_loss not in PHASE_LOSSES:
        raise ValueError(f"unknown phase loss {phase_loss!r}; choose from {PHASE_LOSSES}")
    return NeuroMsbgTask(train_pairs, valid_pairs, segment_seconds, config=config,
                         data_description=description, log_magnitude_weight=log_magnitude_weight,
                         phase_loss=phase_loss, phase_weight=phase_weight, target_floor=target_floor,
                         log_floor=log_floor, stoi_weight=stoi_weight, complex_weight=complex_weight)
