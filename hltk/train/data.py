"""Training pairs: (input audio, audiogram, target) made once by a reference backend and cached.

:func:`build_pairs` reads manifests of audio (``hltk synth`` corpora), crops each item to at
most ``max_seconds`` (at an offset drawn from the item's seed), pairs it with a drawn listener
(both ears, :mod:`hltk.train.audiograms`), runs the reference processor (``msbg``,
``torch-msbg``, ``nalr-wdrc``...) on it at the processor's own rate, and resamples input and
target to the model's rate. The processor's output is time-aligned with its input (the
Processor contract), so targets are delay-compensated. Each ear becomes one mono example.

A :class:`PairSet` is saved as one ``torch.save`` file; :func:`cached_pairs` reuses it when a
file made with the same settings exists (the key is a hash of the settings and the manifests'
contents).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk.io.audio import read_audio, resample
from hltk.io.listeners import AUDIOGRAM_GRID, Audiogram, Listener, ListenerBatch
from hltk.io.manifest import load_manifest
from hltk.nn.checkpoint import save_atomic
from hltk.processor import Processor
from hltk.runner.settings import config_hash
from hltk.synth.seeding import item_rng
from hltk.train.audiograms import draw_audiograms

Progress = Callable[[int, int], None]


@dataclass
class PairSet:
    """Mono examples, zero-padded to a common length.

    ``inputs``, ``targets``: ``[K, T]`` float32 at ``sample_rate``; ``lengths`` ``[K]``;
    ``audiograms`` ``[K, 8]`` dB HL on the Clarity grid; ``meta`` one dict per example.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    audiograms: torch.Tensor
    sample_rate: int
    meta: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def save(self, path: str | Path) -> None:
        save_atomic({"inputs": self.inputs, "targets": self.targets, "lengths": self.lengths,
                     "audiograms": self.audiograms, "sample_rate": self.sample_rate,
                     "meta": json.dumps(self.meta)}, path)

    @classmethod
    def load(cls, path: str | Path) -> PairSet:
        content = torch.load(path, map_location="cpu", weights_only=True)
        return cls(content["inputs"], content["targets"], content["lengths"],
                   content["audiograms"], int(content["sample_rate"]), json.loads(content["meta"]))

    def subset(self, indices: Sequence[int] | torch.Tensor) -> PairSet:
        index = torch.as_tensor(indices, dtype=torch.long)
        return PairSet(self.inputs[index], self.targets[index], self.lengths[index],
                       self.audiograms[index], self.sample_rate,
                       [self.meta[i] for i in index.tolist()])

    def crops(self, rng: np.random.Generator, count: int, segment: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``count`` random examples, each a random ``segment``-sample crop inside its length
        (zero-padded when shorter): ``(inputs [count, segment], targets, audiograms [count, 8])``."""
        chosen = rng.integers(len(self), size=count)
        inputs = torch.zeros(count, segment)
        targets = torch.zeros(count, segment)
        for row, example in enumerate(chosen):
            length = int(self.lengths[example])
            start = int(rng.integers(0, max(1, length - segment + 1)))
            stop = min(length, start + segment)
            inputs[row, : stop - start] = self.inputs[example, start:stop]
            targets[row, : stop - start] = self.targets[example, start:stop]
        return inputs, targets, self.audiograms[torch.as_tensor(chosen)]

    def train_batch(self, rng: np.random.Generator, count: int, segment: int, device: torch.device
                    ) -> tuple[torch.Tensor, ...]:
        """:meth:`crops` moved to ``device``: one training batch."""
        return tuple(t.to(device) for t in self.crops(rng, count, segment))

    def valid_batches(self, batch: int, segment: int, device: torch.device, batches: int = 4
                      ) -> list[tuple[torch.Tensor, ...]]:
        """Up to ``batches`` validation batches of ``batch`` crops, the same crops in every run
        (a fixed seed), on ``device``."""
        if len(self) == 0:
            return []
        rng = np.random.default_rng(1234)
        count = min(len(self), batches * batch)
        inputs, targets, audiograms = self.crops(rng, count, segment)
        return [tuple(t[first : first + batch].to(device) for t in (inputs, targets, audiograms))
                for first in range(0, count, batch)]


@dataclass
class PairTask:
    """What the pair-trained models' :class:`hltk.train.loop.TrainTask` s share: random crops
    of the training pairs as batches, fixed crops of the validation pairs. A subclass adds the
    model (``config``, ``build_model``, ``model_config``), ``loss`` and ``describe``."""

    train_pairs: PairSet
    valid_pairs: PairSet | None
    segment_seconds: float = 2.0
    valid_batch: int = 16
    data_description: dict[str, Any] | None = None

    @property
    def segment(self) -> int:
        return int(self.segment_seconds * self.train_pairs.sample_rate)

    def train_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device
                    ) -> tuple[torch.Tensor, ...]:
        return self.train_pairs.train_batch(rng, batch_size, self.segment, device)

    def valid_batches(self, device: torch.device) -> list[Any]:
        if self.valid_pairs is None:
            return []
        return list(self.valid_pairs.valid_batches(self.valid_batch, self.segment, device))


def joined_pairs(settings: Sequence[PairSettings], cache_dir: Path,
                 factory: Callable[[], Processor], progress: Progress | None = None
                 ) -> tuple[PairSet, list[Path]]:
    """One cached pair set per ``settings`` (each corpus cached on its own, so it is reused by
    other runs and models), joined by :func:`concatenate`; also the cache files."""
    made = [cached_pairs(one, cache_dir, factory, progress) for one in settings]
    return concatenate([pairs for pairs, _ in made]), [path for _, path in made]


def concatenate(sets: Sequence[PairSet]) -> PairSet:
    """One pair set of all examples of ``sets`` (same sample rate), padded to the longest."""
    if not sets:
        raise ValueError("nothing to concatenate")
    if len({s.sample_rate for s in sets}) > 1:
        raise ValueError("pair sets at different sample rates")
    longest = max(s.inputs.shape[-1] for s in sets)

    def padded(tensor: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, longest - tensor.shape[-1]))

    return PairSet(torch.cat([padded(s.inputs) for s in sets]),
                   torch.cat([padded(s.targets) for s in sets]),
                   torch.cat([s.lengths for s in sets]), torch.cat([s.audiograms for s in sets]),
                   sets[0].sample_rate, [m for s in sets for m in s.meta])


@dataclass(frozen=True)
class PairSettings:
    """What decides a pair set's content (hashed into the cache key)."""

    manifests: tuple[str, ...]
    target_backend: str
    model_rate: int
    max_seconds: float = 4.0
    seed: int = 0
    input_column: str = "audio"
    target_column: str = "audio"
    clarity_share: float = 0.4
    level_jitter_db: float = 6.0
    backend_options: tuple[tuple[str, Any], ...] = ()
    #: keep only rows whose ``split`` column is one of these (all rows when empty)
    splits: tuple[str, ...] = ()
    #: use at most this many items (in manifest order; None: all)
    max_items: int | None = None


def _manifest_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def settings_key(settings: PairSettings) -> str:
    """The cache key: :func:`hltk.runner.settings.config_hash` of the settings and the
    manifests' contents (the digest a run's ``run.json`` records as ``config_hash``)."""
    description = {**settings.__dict__, "manifest_sha256": [_manifest_digest(m) for m in settings.manifests]}
    return config_hash(description)


def _mono(audio: torch.Tensor) -> torch.Tensor:
    return audio.mean(0) if audio.shape[0] > 1 else audio[0]


def build_pairs(settings: PairSettings, processor: Processor, batch_items: int = 8,
                progress: Progress | None = None) -> PairSet:
    """Make the pair set (see the module docstring)."""
    items: list[tuple[str, torch.Tensor, torch.Tensor, int]] = []
    for manifest_path in settings.manifests:
        manifest = load_manifest(manifest_path, require_listener=False, check_audio="header",
                                 audio_columns=sorted({settings.input_column, settings.target_column}))
        for item in manifest.items:
            if settings.splits and item.row.get("split", "") not in settings.splits:
                continue
            if settings.max_items is not None and len(items) >= settings.max_items:
                break
            rng = item_rng(settings.seed, item.id, "crop")
            source, rate = read_audio(item.paths[settings.input_column])
            clean = source
            if settings.target_column != settings.input_column:
                clean, clean_rate = read_audio(item.paths[settings.target_column])
                if clean_rate != rate:
                    clean = resample(clean, clean_rate, rate)
            source, clean = _mono(source), _mono(clean)
            length = min(source.shape[-1], clean.shape[-1])
            crop = int(settings.max_seconds * rate)
            start = int(rng.integers(0, max(1, length - crop + 1)))
            stop = min(length, start + crop)
            gain = 10.0 ** (rng.uniform(-settings.level_jitter_db, settings.level_jitter_db) / 20.0)
            items.append((item.id, source[start:stop] * gain, clean[start:stop] * gain, rate))
    if not items:
        raise ValueError(f"no items in {', '.join(settings.manifests)}"
                         + (f" with split {'/'.join(settings.splits)}" if settings.splits else ""))
    rng = np.random.default_rng(settings.seed)
    audiograms = draw_audiograms(rng, 2 * len(items), settings.clarity_share).reshape(len(items), 2, -1)
    inputs: list[torch.Tensor] = []
    targets: list[torch.Tensor] = []
    meta: list[dict[str, Any]] = []
    ear_levels: list[np.ndarray] = []
    for first in range(0, len(items), batch_items):
        chunk = items[first : first + batch_items]
        rate = chunk[0][3]
        work = [resample(clean, item_rate, processor.sample_rate) for _, _, clean, item_rate in chunk]
        longest = max(signal.shape[-1] for signal in work)
        audio = torch.zeros(len(chunk), 2, longest)
        for row, signal in enumerate(work):
            audio[row, :, : signal.shape[-1]] = signal
        listeners = ListenerBatch(tuple(
            Listener(f"train{first + row}",
                     Audiogram(AUDIOGRAM_GRID, tuple(audiograms[first + row, 0].tolist())),
                     Audiogram(AUDIOGRAM_GRID, tuple(audiograms[first + row, 1].tolist())))
            for row in range(len(chunk))
        ))
        lengths = torch.tensor([signal.shape[-1] for signal in work])
        with torch.no_grad():
            output = processor(audio, listeners, lengths=lengths,
                               level_db_spl=torch.full((len(chunk),), 100.0),
                               seeds=[first + row for row in range(len(chunk))])
        for row, (item_id, source, _, item_rate) in enumerate(chunk):
            if item_rate != rate:
                raise ValueError("all items of a pair set must share one sample rate")
            model_input = resample(source, item_rate, settings.model_rate)
            for ear in range(2):
                target = resample(output[row, ear, : int(lengths[row])], processor.sample_rate,
                                  settings.model_rate)
                size = min(model_input.shape[-1], target.shape[-1])
                inputs.append(model_input[:size])
                targets.append(target[:size])
                meta.append({"id": item_id, "ear": ("left", "right")[ear]})
                ear_levels.append(audiograms[first + row, ear])
        if progress:
            progress(min(first + batch_items, len(items)), len(items))
    longest = max(signal.shape[-1] for signal in inputs)
    stacked_inputs = torch.zeros(len(inputs), longest)
    stacked_targets = torch.zeros(len(inputs), longest)
    for row, (source, target) in enumerate(zip(inputs, targets, strict=True)):
        stacked_inputs[row, : source.shape[-1]] = source
        stacked_targets[row, : target.shape[-1]] = target
    return PairSet(stacked_inputs, stacked_targets,
                   torch.tensor([signal.shape[-1] for signal in inputs]),
                   torch.as_tensor(np.stack(ear_levels), dtype=torch.float32),
                   settings.model_rate, meta)


def cached_pairs(settings: PairSettings, cache_dir: str | Path,
                 processor_factory: Callable[[], Processor], progress: Progress | None = None
                 ) -> tuple[PairSet, Path]:
    """The pair set for ``settings`` from ``cache_dir``, made (and saved) when missing."""
    path = Path(cache_dir) / f"pairs-{settings.target_backend}-{settings_key(settings)}.pt"
    if path.is_file():
        return PairSet.load(path), path
    pairs = build_pairs(settings, processor_factory(), progress=progress)
    pairs.save(path)
    return pairs, path
