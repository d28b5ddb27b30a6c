"""Separators: mixture -> ``{vocals, drums, bass, other}`` stems for the remix chain.

- ``oracle``: the ground-truth stems named in the manifest (the upper bound of any separator,
  and what a gain predictor trains on). It separates nothing: the stems come with the item.
- ``hdemucs``: Hybrid Demucs (:mod:`hltk.remix.hdemucs`, the ``hdemucs_high`` configuration)
  from a local weights file, run as the Cadenza ICASSP 2024 baseline runs it
  (``recipes/cad_icassp_2024/baseline/enhance.py: decompose_signal`` and pyclarity's
  ``separate_sources``): at 44.1 kHz, the mixture standardised by the mean and std of its mono
  mix, 10 s segments with 10 % overlap and linear cross-fades, the stems de-standardised.
  One deliberate difference: ``separate_sources`` makes the segments after the first 12 s
  long and fades out the last second of a song of 11 s or less; here every segment is 11 s
  and the last one ends at the song's end (:func:`segment_starts`), so the segments of an
  item batch together and nothing is faded to silence.

Stems are returned as numpy ``(time, channels)`` float64 (the chain's layout). Both are
registered as the backends of the task ``separate`` (a component of ``remix``:
``hltk remix --separator NAME`` and its options come from the registry).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk.io.audio import resample
from hltk.registry import get, names, option, register
from hltk.remix.chain import MODEL_SAMPLE_RATE, STEMS
from hltk.remix.hdemucs import (
    HDEMUCS_HIGH,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    HDemucs,
    HDemucsConfig,
    load_hdemucs,
)

TASK = "separate"
SEGMENT_SECONDS = 10.0
OVERLAP = 0.1
#: Segments of one item run together as one batch of at most this many (a memory bound:
#: three 11 s segments of ``hdemucs_high`` in one batch peak at about 2.5 GB on the CPU,
#: model and process included; bench/hdemucs_speed.py).
SEGMENTS_PER_BATCH = 8

#: The usage error for ``--separator hdemucs`` without weights.
MISSING_CHECKPOINT = (
    "--separator hdemucs needs --checkpoint PATH: the Hybrid Demucs weights of the Cadenza "
    f"ICASSP 2024 baseline, {WEIGHTS_FILE} (torchaudio's HDEMUCS_HIGH_MUSDB state dict; "
    f"download it from {WEIGHTS_URL}, or take the copy torchaudio cached under "
    "~/.cache/torch/hub/torchaudio/models/). No weights are shipped with hltk."
)


def given_stems(mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None,
                separator: str) -> dict[str, np.ndarray]:
    """The item's own stems (``[C, T]`` tensors, the mixture's length) as float64 ``[T, C]``
    arrays: what the oracle separators start from; ``separator`` names the one that asks."""
    if stems is None or any(stem not in stems for stem in STEMS):
        raise ValueError(f"the {separator} separator needs the stems {', '.join(STEMS)}")
    separated = {}
    for stem in STEMS:
        audio = stems[stem]
        if audio.shape[-1] != mixture.shape[-1]:
            raise ValueError(f"stem {stem} has {audio.shape[-1]} samples, the mixture "
                             f"{mixture.shape[-1]}")
        separated[stem] = audio.detach().cpu().to(torch.float64).numpy().T.copy()
    return separated


class OracleSeparator:
    """The ground-truth stems of the item (manifest columns ``vocals, drums, bass, other``)."""

    name = "oracle"
    input_columns: tuple[str, ...] = STEMS

    def __init__(self, device: str | torch.device | None = None) -> None:
        del device  # the stems are read, not computed

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None
                 ) -> dict[str, np.ndarray]:
        return given_stems(mixture, stems, self.name)

    def describe(self) -> dict[str, Any]:
        return {"separator": "oracle"}


# ------------------------------------------------------------------------ segment-wise inference


def segment_starts(length: int, segment: int, overlap: int) -> list[int]:
    """First samples of the segments that cover ``length`` samples: every ``segment - overlap``
    samples, the last one moved back to end exactly at ``length`` (so all segments have the
    same length and batch together). One segment when the signal fits in one."""
    if overlap < 0 or segment < 2 * overlap:
        raise ValueError(f"segment {segment} must be at least twice the overlap {overlap} >= 0")
    if length <= segment:
        return [0]
    starts = list(range(0, length - segment, segment - overlap))
    starts.append(length - segment)
    return starts


def segment_weights(starts: list[int], segment: int, overlap: int, length: int) -> torch.Tensor:
    """Cross-fade weights ``[segments, segment]`` (float64) that sum to one over the signal.

    Neighbours overlap by ``overlap`` samples: the earlier fades out linearly while the later
    fades in (``(i + 0.5) / overlap``, never exactly zero). The last segment, moved back to end
    at the signal's end, overlaps its neighbour by more; its weight is zero until the
    neighbour's fade-out begins, so each sample mixes at most two segments, over ``overlap``
    samples, as the recipe's ``Fade``. With one segment: ones (cut to ``length``).
    """
    if len(starts) == 1:
        return torch.ones(1, min(segment, length), dtype=torch.float64)
    ramp = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
    weights = torch.ones(len(starts), segment, dtype=torch.float64)
    for number, start in enumerate(starts):
        if number > 0:
            previous_end = starts[number - 1] + segment
            fade_from = previous_end - overlap - start  # where the previous one starts fading
            weights[number, :fade_from] = 0.0
            weights[number, fade_from:fade_from + overlap] = ramp
        if number < len(starts) - 1:
            weights[number, segment - overlap:] = ramp.flip(0)
    return weights


def separate_in_segments(
    model: Callable[[torch.Tensor], torch.Tensor],
    mixture: torch.Tensor,
    segment: int,
    overlap: int,
    *,
    sources: int,
    batch: int = SEGMENTS_PER_BATCH,
) -> torch.Tensor:
    """``model`` (``[N, C, segment] -> [N, sources, C, segment]``) over ``mixture [C, T]``
    segment by segment, cross-faded (:func:`segment_starts`, :func:`segment_weights`).
    Segments of the item go through the model ``batch`` at a time along the batch dimension,
    on the mixture's device. Returns ``[sources, C, T]`` (float32, mixture's device)."""
    channels, length = mixture.shape
    starts = segment_starts(length, segment, overlap)
    width = min(segment, length)
    weights = segment_weights(starts, segment, overlap, length).to(mixture.device, torch.float32)
    separated = torch.zeros(sources, channels, length, device=mixture.device)
    for first in range(0, len(starts), batch):
        group = starts[first:first + batch]
        pieces = torch.stack([mixture[:, start:start + width] for start in group])
        with torch.no_grad():
            estimates = model(pieces)
        for offset, start in enumerate(group):
            weight = weights[first + offset, :width]
            separated[..., start:start + width] += estimates[offset] * weight
    return separated


def mono_statistics(mixture: torch.Tensor) -> tuple[float, float]:
    """Mean and (population) std of the mono mix of ``[C, T]``: the recipe's
    ``normalize_signal`` (``ref = signal.mean(0)``; ``ref.mean()``, ``ref.std()``)."""
    mono = mixture.to(torch.float64).mean(dim=0)
    return float(mono.mean()), float(mono.std(correction=0))


# ------------------------------------------------------------------------------ Hybrid Demucs


_MODELS: dict[tuple[str, str, str], HDemucs] = {}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HDemucsSeparator:
    """Hybrid Demucs from a local weights file (see the module docstring).

    ``__call__(mixture [C, T], sample_rate)``: the mixture on any device; the model runs on
    ``device`` (default: the mixture's). Input at another rate than 44.1 kHz is resampled
    (soxr) in and the stems back out. The weights are read once per process (cached by path,
    digest and device, outside the object): the separator pickles small, and ``-j N`` workers
    each load the weights once.
    """

    name = "hdemucs"
    input_columns: tuple[str, ...] = ()

    def __init__(self, checkpoint: str | Path | None = None, *, config: HDemucsConfig = HDEMUCS_HIGH,
                 device: str | torch.device | None = None, segment_seconds: float = SEGMENT_SECONDS,
                 overlap: float = OVERLAP, segments_per_batch: int = SEGMENTS_PER_BATCH) -> None:
        if checkpoint is None:
            raise ValueError(MISSING_CHECKPOINT)
        self.checkpoint = Path(checkpoint)
        self.config = config
        self.device = None if device is None else str(device)
        self.segment_seconds = segment_seconds
        self.overlap = overlap
        self.segments_per_batch = segments_per_batch
        self.sha256 = _file_digest(self.checkpoint) if self.checkpoint.is_file() else ""
        self.model("cpu")  # read and check the weights now: a bad file is a usage error

    def model(self, device: str | torch.device) -> HDemucs:
        key = (str(self.checkpoint.resolve()), self.sha256, str(device))
        if key not in _MODELS:
            _MODELS[key] = load_hdemucs(self.checkpoint, self.config, device)
        return _MODELS[key]

    @property
    def segment(self) -> int:
        """Samples per segment: ``segment_seconds * (1 + overlap)`` at the model rate (11 s)."""
        return int(self.config.sample_rate * self.segment_seconds * (1 + self.overlap))

    @property
    def overlap_samples(self) -> int:
        return int(self.config.sample_rate * self.overlap)

    def separate(self, mixture: torch.Tensor, sample_rate: int = MODEL_SAMPLE_RATE) -> torch.Tensor:
        """``[C, T]`` -> ``[sources, C, T]`` in the model's source order, at ``sample_rate``."""
        device = torch.device(self.device) if self.device is not None else mixture.device
        model = self.model(device)
        rate = self.config.sample_rate
        audio = resample(mixture.detach().float(), sample_rate, rate).to(device)
        mean, std = mono_statistics(audio)
        if not math.isfinite(std) or std <= 0.0:  # silence: nothing to separate
            return torch.zeros(len(self.config.sources), *mixture.shape)
        standardised = (audio - mean) / std
        separated = separate_in_segments(model, standardised, self.segment, self.overlap_samples,
                                         sources=len(self.config.sources),
                                         batch=self.segments_per_batch)
        separated = separated * std + mean
        stems = resample(separated.cpu(), rate, sample_rate)
        return stems[..., : mixture.shape[-1]]

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None,
                 sample_rate: int = MODEL_SAMPLE_RATE) -> dict[str, np.ndarray]:
        separated = self.separate(mixture, sample_rate)
        by_name = dict(zip(self.config.sources, separated, strict=True))
        missing = [stem for stem in STEMS if stem not in by_name]
        if missing:
            raise ValueError(f"the model's sources {self.config.sources} lack {missing}")
        return {stem: by_name[stem].to(torch.float64).numpy().T.copy() for stem in STEMS}

    def describe(self) -> dict[str, Any]:
        return {"separator": "hdemucs", "checkpoint": str(self.checkpoint),
                "checkpoint_sha256": self.sha256, "config": self.config.to_dict(),
                "segment_seconds": self.segment_seconds, "overlap": self.overlap,
                "segments_per_batch": self.segments_per_batch,
                "normalisation": "mono mix mean/std (population), stems de-normalised",
                "cross_fade": "linear, overlap samples; last segment aligned to the end"}


def make_separator(name: str, *, checkpoint: str | Path | None = None,
                   device: str | torch.device | None = None, **options: Any) -> Any:
    """A registered separator by name (``oracle``, ``hdemucs``) with its options."""
    try:
        spec = get(TASK, name)
    except KeyError:
        raise ValueError(f"unknown separator {name!r}; available: {', '.join(names(TASK))}") from None
    if checkpoint is not None:
        options["checkpoint"] = checkpoint
    return spec.factory(device=device, **options)


@dataclass(frozen=True)
class HDemucsOptions:
    """Options of ``remix --separator hdemucs``."""

    checkpoint: Path | None = option(
        None, "Hybrid Demucs weights: hdemucs_high_musdbhq_only.pt (torchaudio's "
        "HDEMUCS_HIGH_MUSDB state dict). Required.")


register(TASK, "oracle", OracleSeparator, "the manifest's stems (the upper bound of any "
         "separator)", reference=True, default=True, part_of="remix")
register(TASK, "hdemucs", HDemucsSeparator, "Hybrid Demucs (hdemucs_high, the Cadenza ICASSP "
         "2024 baseline) from a local weights file", options=HDemucsOptions, part_of="remix")


# ------------------------------------------------------------- CAD2 task 1: a vocal separator

#: CAD2 task 1's separation settings (``recipes/cad2/task1/baseline/config.yaml``: separator)
CAD2_SEGMENT_SECONDS = 6.0
CAD2_OVERLAP = 0.1


def _linear_fade(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """torchaudio ``Fade(fade_shape="linear")`` gains for ``length`` samples: ``linspace(0, 1,
    fade_in)`` over the first samples times ``linspace(1, 0, fade_out)`` over the last."""
    gain_in = torch.cat((torch.linspace(0, 1, fade_in), torch.ones(length - fade_in)))
    gain_out = torch.cat((torch.ones(length - fade_out), 1 - torch.linspace(0, 1, fade_out)))
    return (gain_in.clamp(0, 1) * gain_out.clamp(0, 1))


def separate_recipe_segments(model: Callable[[torch.Tensor], torch.Tensor], mixture: torch.Tensor,
                         sample_rate: int, *, segment: float = CAD2_SEGMENT_SECONDS,
                         overlap: float = CAD2_OVERLAP, sources: int = 2) -> torch.Tensor:
    """The CAD2 recipes' ``separate_sources`` (``recipes/cad2/task1/baseline/enhance.py``
    lines 28-93): ``mixture [batch, channels, time]`` -> ``[batch, sources, channels, time]``,
    segments of ``segment * (1 + overlap)`` seconds, the first faded out only, the others
    faded in and out over ``overlap`` seconds (linear), the last not faded out; added up.
    Ported step by step, including its stepping (after the first segment, the start moves by
    a whole segment length, so neighbours overlap by ``overlap`` seconds) and its end: a
    signal that fits in the first segment is faded out over its last ``overlap`` seconds."""
    batch, channels, length = mixture.shape
    chunk = int(sample_rate * segment * (1 + overlap))
    overlap_frames = overlap * sample_rate
    fade_in, fade_out = 0, int(overlap_frames)
    start, end = 0, chunk
    final = torch.zeros(batch, sources, channels, length, dtype=mixture.dtype, device=mixture.device)
    while start < length - overlap_frames:
        piece = mixture[:, :, start:end]
        with torch.no_grad():
            out = model(piece)
        final[:, :, :, start:end] += out * _linear_fade(piece.shape[-1], fade_in, fade_out).to(out)
        if start == 0:
            fade_in = int(overlap_frames)
            start += int(chunk - overlap_frames)
        else:
            start += chunk
        end += chunk
        if end >= length:
            fade_out = 0
    return final


class ScriptedSeparator:
    """A TorchScript vocal separator for CAD2 task 1: ``[batch, 2, time]`` at 44.1 kHz ->
    ``[batch, 2, 2, time]`` (vocals, accompaniment), as the recipe's ``ConvTasNetStereo``
    returns; run by :func:`separate_recipe_segments`. hltk ships no weights: the recipe's models
    (``cadenzachallenge/ConvTasNet_LyricsSeparation_{Causal,NonCausal}`` on the Hugging Face
    hub) can be exported with ``torch.jit.trace`` where they are installed."""

    def __init__(self, path: str | Path) -> None:
        try:
            self.model = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as error:  # torch raises several types for a bad file
            raise ValueError(f"{path}: not a TorchScript separator ({type(error).__name__}: {error})"
                             ) from None
        self.path = str(path)

    def __call__(self, segment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(time, 2)`` float64 -> (vocals, accompaniment), each ``(time, 2)`` float64."""
        mixture = torch.from_numpy(np.ascontiguousarray(segment.T, dtype=np.float32))[None]
        estimate = separate_recipe_segments(self.model, mixture, MODEL_SAMPLE_RATE)[0]
        if estimate.shape[0] != 2:
            raise ValueError(f"{self.path}: expected 2 sources, got {estimate.shape[0]}")
        vocals, accompaniment = estimate.numpy().astype(np.float64)
        return vocals.T, accompaniment.T

    def describe(self) -> dict[str, Any]:
        return {"separator": "torchscript", "checkpoint": self.path,
                "segment_s": CAD2_SEGMENT_SECONDS, "overlap": CAD2_OVERLAP}
