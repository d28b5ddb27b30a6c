"""Training psi-msbg (:mod:`hltk.simulate.psi_msbg`): a population of simulated listeners with
hidden supra-threshold differences, their responses, and the training task.

**Population** (:func:`draw_population`, seeded). Audiograms are the left ears of a
listeners.json (the project's 44 jittered Bisgaard listeners), split into near-normal (pure-tone
average 0.5-4 kHz at most :data:`NEAR_NORMAL_PTA` dB HL) and impaired (above, and no level over
:data:`MAX_LEVEL` dB HL: beyond MSBG's catch-up the recruitment is undefined). Every audiogram
is given to **two** individuals, each with its own hidden parameters
(:class:`hltk.simulate.torch_msbg.Suprathreshold`):

- smear scale, log-uniform :data:`SMEAR_RANGE` (times MSBG's broadening of the severity class);
- recruitment scale, uniform :data:`RECRUITMENT_RANGE` (times ``ratio - 1``);
- dead region above a frequency, log-uniform :data:`DEAD_RANGE` Hz (above 8 kHz it cannot be
  seen in the 16 kHz response: about a third of the population has none).

so that same-audiogram pairs exist in the training split and in the unseen split. Half the
audiograms of each split are near-normal.

**Responses** (:func:`simulate_responses`): 16 kHz speech segments at a drawn level
(:data:`LEVEL_RANGE` dB SPL), resampled to 44.1 kHz, through torch-msbg (left ear) with the
individual's audiogram and hidden parameters, resampled back, as log-mel dB SPL
(:class:`hltk.simulate.psi_msbg.LogMel`). Every individual hears the same segments, so the
population-mean response of a segment is defined (:func:`fraction_explained`).

**Segments** are split in three: ``train`` (the network learns from them), ``fit`` (a new
listener's profile is fitted on them) and ``test`` (every held-out figure).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.audio import read_audio, resample
from hltk.io.listeners import AUDIOGRAM_GRID, Audiogram, Listener, ListenerBatch, load_listeners
from hltk.simulate.psi_msbg import LogMel, PsiMsbgConfig, PsiMsbgNet, audiogram_condition
from hltk.simulate.torch_msbg import SAMPLE_RATE as MSBG_RATE
from hltk.simulate.torch_msbg import Suprathreshold, TorchMsbg

SAMPLE_RATE = 16000
SEGMENT_SECONDS = 1.5
NEAR_NORMAL_PTA = 25.0
MAX_LEVEL = 95.0
SMEAR_RANGE = (0.7, 2.5)
RECRUITMENT_RANGE = (0.5, 2.0)
DEAD_RANGE = (1500.0, 12000.0)
LEVEL_RANGE = (60.0, 80.0)
KL_WEIGHT = 1e-3
SPLITS = ("train", "fit", "test")
#: training crops, frames of 10 ms
TRAIN_FRAMES = 80


@dataclass(frozen=True)
class Individual:
    """One simulated listener: an audiogram (both ears the same) and hidden parameters."""

    id: str
    audiogram: Audiogram
    hidden: Suprathreshold
    split: str  # "train" or "unseen"
    group: str  # "near-normal" or "impaired"
    audiogram_id: str

    def listener(self) -> Listener:
        return Listener(self.id, self.audiogram, self.audiogram)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "audiogram_cfs": list(self.audiogram.frequencies),
                "audiogram_levels": list(self.audiogram.levels), "hidden": asdict(self.hidden),
                "split": self.split, "group": self.group, "audiogram_id": self.audiogram_id}

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> Individual:
        return cls(content["id"], Audiogram(tuple(content["audiogram_cfs"]),
                                            tuple(content["audiogram_levels"])),
                   Suprathreshold(**content["hidden"]), content["split"], content["group"],
                   content["audiogram_id"])


def pure_tone_average(audiogram: Audiogram) -> float:
    return float(np.mean(audiogram.on_grid((500, 1000, 2000, 4000))))


def draw_hidden(rng: np.random.Generator) -> Suprathreshold:
    """One individual's hidden parameters (ranges in the module docstring)."""
    smear = math.exp(rng.uniform(math.log(SMEAR_RANGE[0]), math.log(SMEAR_RANGE[1])))
    recruitment = rng.uniform(*RECRUITMENT_RANGE)
    dead = math.exp(rng.uniform(math.log(DEAD_RANGE[0]), math.log(DEAD_RANGE[1])))
    return Suprathreshold(round(smear, 4), round(recruitment, 4), round(dead, 1))


def draw_population(listeners_path: str | Path, train_audiograms: int = 20,
                    unseen_audiograms: int = 4, seed: int = 0) -> list[Individual]:
    """``2 * (train_audiograms + unseen_audiograms)`` individuals (two per audiogram), half
    the audiograms of each split near-normal. The first ``2 k`` training individuals form the
    smaller training sets (``k`` audiograms, near-normal and impaired alternating)."""
    rng = np.random.default_rng(seed)
    audiograms = {key: listener.left for key, listener in load_listeners(listeners_path).items()}
    near = sorted(k for k, a in audiograms.items() if pure_tone_average(a) <= NEAR_NORMAL_PTA)
    impaired = sorted(k for k, a in audiograms.items()
                      if pure_tone_average(a) > NEAR_NORMAL_PTA and max(a.levels) <= MAX_LEVEL)
    per_group = (train_audiograms + unseen_audiograms + 1) // 2
    if len(near) < per_group or len(impaired) < per_group:
        raise ValueError(f"{listeners_path}: {len(near)} near-normal and {len(impaired)} "
                         f"impaired audiograms, {per_group} of each needed")
    near = [near[i] for i in rng.permutation(len(near))[:per_group]]
    impaired = [impaired[i] for i in rng.permutation(len(impaired))[:per_group]]
    chosen = [(key, "near-normal" if g == 0 else "impaired")
              for pair in zip(near, impaired, strict=True) for g, key in enumerate(pair)]
    individuals = []
    for index, (key, group) in enumerate(chosen[: train_audiograms + unseen_audiograms]):
        split = "train" if index < train_audiograms else "unseen"
        for member in "ab":
            individuals.append(Individual(f"{key}{member}", audiograms[key], draw_hidden(rng),
                                          split, group, key))
    return individuals


def speech_segments(files: Sequence[str | Path], count: int, seed: int = 0,
                    seconds: float = SEGMENT_SECONDS, levels: Sequence[float] | None = None
                    ) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``count`` segments ``[count, T]`` (16 kHz), one from each of the first ``count`` files
    long enough, cut where the 1.5 s window has the most energy, each scaled to a drawn level
    (dB SPL at 100 dB per digital unit: :data:`LEVEL_RANGE`); their sources and levels.
    ``levels``: the segments' levels instead of drawn ones (to cut a population's segments
    again from its ``sources`` and ``levels``)."""
    rng = np.random.default_rng(seed)
    given = list(levels) if levels is not None else None
    length = int(seconds * SAMPLE_RATE)
    pieces: list[torch.Tensor] = []
    sources: list[str] = []
    used_levels: list[float] = []
    for path in files:
        if len(pieces) == count:
            break
        audio, rate = read_audio(path)
        mono = resample(audio.mean(0), rate, SAMPLE_RATE)
        if mono.shape[-1] < length:
            continue
        energy = torch.nn.functional.avg_pool1d(mono[None, None] ** 2, length, 160)[0, 0]
        start = int(torch.argmax(energy)) * 160
        piece = mono[start : start + length]
        level = float(given[len(pieces)] if given is not None else rng.uniform(*LEVEL_RANGE))
        rms = float(piece.pow(2).mean().sqrt())
        pieces.append(piece * (10 ** ((level - 100.0) / 20) / max(rms, 1e-9)))
        sources.append(str(path))
        used_levels.append(level)
    if len(pieces) < count:
        raise ValueError(f"only {len(pieces)} files of at least {seconds} s, {count} wanted")
    return torch.stack(pieces), sources, torch.tensor(used_levels)


def simulate_responses(segments: torch.Tensor, audiogram: Audiogram,
                       hidden: Suprathreshold | None, msbg: TorchMsbg | None = None,
                       batch: int = 16) -> torch.Tensor:
    """Log-mel responses ``[S, M, frames]`` of one listener to ``segments [S, T]`` (16 kHz)."""
    msbg = msbg or TorchMsbg()
    logmel = LogMel()
    listener = Listener("x", audiogram, audiogram)
    out = []
    for first in range(0, segments.shape[0], batch):
        part = segments[first : first + batch]
        upsampled = resample(part, SAMPLE_RATE, MSBG_RATE)[:, None]
        listeners = ListenerBatch(tuple([listener] * part.shape[0]), ("left",))
        with torch.no_grad():
            simulated = msbg(upsampled, listeners, suprathreshold=[hidden] * part.shape[0])
        back = resample(simulated[:, 0].float(), MSBG_RATE, SAMPLE_RATE)[:, : part.shape[-1]]
        out.append(logmel(back))
    return torch.cat(out)


@dataclass
class PopulationData:
    """Everything training and fitting need, cached in one file (:meth:`save`)."""

    individuals: list[Individual]
    inputs: torch.Tensor  # [S, M, F] log-mel of the segments
    responses: torch.Tensor  # [L, S, M, F] float16
    segment_split: list[str]  # per segment: train / fit / test
    sources: list[str]
    levels: torch.Tensor

    def index(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.segment_split) if s == split]

    def individual_index(self, ids: Sequence[str]) -> list[int]:
        lookup = {ind.id: i for i, ind in enumerate(self.individuals)}
        return [lookup[i] for i in ids]

    def hearing_levels(self) -> torch.Tensor:
        """``[L, 8]`` dB HL on the Clarity grid."""
        return torch.tensor(np.stack([ind.audiogram.on_grid(AUDIOGRAM_GRID)
                                      for ind in self.individuals]), dtype=torch.float32)

    def save(self, path: str | Path) -> None:
        from hltk.nn.checkpoint import save_atomic

        save_atomic({"individuals": [i.to_dict() for i in self.individuals],
                     "inputs": self.inputs, "responses": self.responses,
                     "segment_split": self.segment_split, "sources": self.sources,
                     "levels": self.levels}, path)

    @classmethod
    def load(cls, path: str | Path) -> PopulationData:
        content = torch.load(path, map_location="cpu", weights_only=False)
        return cls([Individual.from_dict(i) for i in content["individuals"]], content["inputs"],
                   content["responses"], content["segment_split"], content["sources"],
                   content["levels"])


def population_key(**settings: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_population(listeners_path: str | Path,
                     audio_files: Sequence[str | Path] | Mapping[str, Sequence[str | Path]],
                     cache_dir: str | Path, *, train_audiograms: int = 20,
                     unseen_audiograms: int = 4, segments: tuple[int, int, int] = (96, 16, 32),
                     seed: int = 0, progress: Callable[[int, int], None] | None = None
                     ) -> tuple[PopulationData, Path]:
    """Draw the population, cut the segments and simulate every response; cached under
    ``cache_dir`` by the settings' hash.

    ``audio_files``: either one list (files in order: train segments first, then fit, then
    test, so the three come from different recordings), or a mapping from each of
    :data:`SPLITS` to its own files (a corpus's split column: no talker or prompt crosses
    segment splits). The segments' levels are drawn in that order, one generator."""
    if isinstance(audio_files, Mapping):
        missing = [name for name in SPLITS if not audio_files.get(name)]
        if missing:
            raise ValueError(f"no audio for the segment split(s) {', '.join(missing)}")
        by_split: dict[str, list[str]] | None = {
            name: [str(f) for f in audio_files[name]] for name in SPLITS}
        files_key: Any = by_split
    else:
        by_split = None
        files_key = [str(f) for f in audio_files]
    key = population_key(listeners=str(listeners_path), files=files_key,
                         train=train_audiograms, unseen=unseen_audiograms, segments=segments,
                         seed=seed, version=1)
    path = Path(cache_dir) / f"population-{key}.pt"
    if path.is_file():
        return PopulationData.load(path), path
    individuals = draw_population(listeners_path, train_audiograms, unseen_audiograms, seed)
    if by_split is None:
        waveforms, sources, levels = speech_segments(list(audio_files), sum(segments), seed)
    else:
        rng = np.random.default_rng(seed)
        parts = []
        for name, count in zip(SPLITS, segments, strict=True):
            drawn = rng.uniform(*LEVEL_RANGE, size=count)
            try:
                parts.append(speech_segments(by_split[name], count, levels=drawn.tolist()))
            except ValueError as error:
                raise ValueError(f"segment split {name!r}: {error}") from None
        waveforms = torch.cat([p[0] for p in parts])
        sources = [s for p in parts for s in p[1]]
        levels = torch.cat([p[2] for p in parts])
    split = [name for name, count in zip(SPLITS, segments, strict=True) for _ in range(count)]
    logmel = LogMel()
    inputs = logmel(waveforms)
    msbg = TorchMsbg()
    responses = []
    for done, individual in enumerate(individuals):
        responses.append(simulate_responses(waveforms, individual.audiogram, individual.hidden,
                                            msbg).half())
        if progress:
            progress(done + 1, len(individuals))
    data = PopulationData(individuals, inputs, torch.stack(responses), split, sources, levels)
    data.save(path)
    return data, path


def response_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in dB (the response loss; see :mod:`hltk.simulate.psi_msbg`)."""
    return (prediction - target).square().mean()


def fraction_explained(prediction: torch.Tensor, target: torch.Tensor,
                       reference: torch.Tensor) -> float:
    """Fraction of the individual variance explained: ``1 - SSE / sum((target -
    reference)^2)`` with ``reference`` the population-mean response to the same segments
    (what any model knows without knowing the listener). 1: the listener's own deviation from
    the population is predicted exactly; 0: no better than the population mean."""
    error = float((prediction - target).square().sum())
    spread = float((target - reference).square().sum())
    return 1.0 - error / max(spread, 1e-12)


def audiogram_distance_penalty(psi: torch.Tensor, hearing_levels: torch.Tensor) -> torch.Tensor:
    """The early penalty (the paper's L_ABR, with the audiogram in place of the ABR
    thresholds): squared difference between the psi distances and the audiogram distances of
    every pair in the batch, both scaled to the unit cube (psi by ``sqrt(n_psi)``, hearing
    levels by 100 dB times ``sqrt(8)``)."""
    psi_distance = torch.cdist(psi, psi) / math.sqrt(psi.shape[-1])
    hl_distance = torch.cdist(hearing_levels, hearing_levels) / (100.0 * math.sqrt(hearing_levels.shape[-1]))
    return (psi_distance - hl_distance).square().mean()


class PsiTask:
    """The :class:`hltk.train.loop.TrainTask` of psi-msbg, the audiogram twin and the
    individual-specific models (``condition``): batches of (individual, segment) pairs from
    the training individuals' ``train`` segments, validation on their ``test`` segments."""

    model_kind = "psi-msbg"

    def __init__(self, data: PopulationData, individuals: Sequence[str], *, condition: str = "psi",
                 n_psi: int = 6, channels: int = 32, audiogram_penalty: float = 0.0,
                 audiogram_penalty_steps: int = 0, data_path: str | None = None) -> None:
        self.data = data
        self.ids = list(individuals)
        self.rows = data.individual_index(self.ids)
        self.config = PsiMsbgConfig(condition=condition, n_psi=n_psi,
                                    individuals=tuple(self.ids) if condition == "psi" else (),
                                    channels=channels)
        self.train_segments = data.index("train")
        self.test_segments = data.index("test")
        self.hearing_levels = data.hearing_levels()
        self.audiogram_penalty = audiogram_penalty
        self.audiogram_penalty_steps = audiogram_penalty_steps
        self.data_path = data_path
        self.steps_done = 0

    def build_model(self) -> nn.Module:
        return PsiMsbgNet(self.config)

    def model_config(self) -> dict[str, Any]:
        return self.config.to_dict()

    def describe(self) -> dict[str, Any]:
        return {"population": self.data_path, "individuals": self.ids,
                "train_segments": len(self.train_segments), "test_segments": len(self.test_segments),
                "condition": self.config.condition,
                "audiogram_penalty": [self.audiogram_penalty, self.audiogram_penalty_steps]}

    def _batch(self, which: np.ndarray, segments: np.ndarray, device: torch.device
               ) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor([self.rows[i] for i in which])
        segs = torch.as_tensor(segments)
        return {"inputs": self.data.inputs[segs].to(device),
                "targets": self.data.responses[rows, segs].float().to(device),
                "index": torch.as_tensor(which, device=device),
                "hearing_levels": self.hearing_levels[rows].to(device)}

    def train_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device
                    ) -> dict[str, torch.Tensor]:
        """Random (individual, segment) pairs, one random crop of :data:`TRAIN_FRAMES` frames
        for the batch (the network is convolutional, its receptive field 23 frames)."""
        which = rng.integers(0, len(self.rows), batch_size)
        segments = np.asarray(self.train_segments)[rng.integers(0, len(self.train_segments),
                                                                batch_size)]
        batch = self._batch(which, segments, device)
        frames = batch["inputs"].shape[-1]
        if frames > TRAIN_FRAMES:
            start = int(rng.integers(0, frames - TRAIN_FRAMES + 1))
            for key in ("inputs", "targets"):
                batch[key] = batch[key][..., start : start + TRAIN_FRAMES]
        return batch

    def valid_batches(self, device: torch.device) -> list[dict[str, torch.Tensor]]:
        rng = np.random.default_rng(1234)
        batches = []
        for _ in range(4):
            which = rng.integers(0, len(self.rows), 32)
            segments = np.asarray(self.test_segments)[rng.integers(0, len(self.test_segments), 32)]
            batches.append(self._batch(which, segments, device))
        return batches

    def condition(self, model: PsiMsbgNet, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.config.condition == "psi":
            assert model.conditioning is not None
            return model.conditioning.psi(batch["index"], sample=model.training)
        if self.config.condition == "audiogram":
            return audiogram_condition(batch["hearing_levels"])
        return None

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, float]]:
        assert isinstance(model, PsiMsbgNet)
        condition = self.condition(model, batch)
        prediction = model(batch["inputs"], condition)
        response = response_loss(prediction, batch["targets"])
        parts = {"response": float(response.detach())}
        loss = response
        if self.config.condition == "psi":
            assert model.conditioning is not None and condition is not None
            kl = model.conditioning.kl(batch["index"])
            loss = loss + KL_WEIGHT * kl
            parts["kl"] = float(kl.detach())
            if model.training:
                self.steps_done += 1
                if self.audiogram_penalty and self.steps_done <= self.audiogram_penalty_steps:
                    penalty = audiogram_distance_penalty(condition, batch["hearing_levels"])
                    loss = loss + self.audiogram_penalty * penalty
                    parts["audiogram_penalty"] = float(penalty.detach())
        return loss, parts


def predict(model: PsiMsbgNet, inputs: torch.Tensor, condition: torch.Tensor | None,
            batch: int = 32) -> torch.Tensor:
    """The model's responses to ``inputs [S, M, F]`` with one condition ``[dims]`` (or None)."""
    out = []
    with torch.no_grad():
        for first in range(0, inputs.shape[0], batch):
            part = inputs[first : first + batch]
            cond = None if condition is None else condition[None].expand(part.shape[0], -1)
            out.append(model(part, cond))
    return torch.cat(out)
