"""Separators: mixture -> ``{vocals, drums, bass, other}`` stems for the remix chain.

- ``oracle``: the ground-truth stems named in the manifest (the upper bound of any separator,
  and what a gain predictor trains on). It separates nothing: the stems come with the item.
- ``hdemucs``: Hybrid Demucs (:mod:`hltk.remix.hdemucs`, torchaudio's ``hdemucs_high``) loaded
  from a local state dict (``hdemucs_high_musdbhq_only.pt``), run as the Cadenza ICASSP 2024
  baseline runs it (``enhance.decompose_signal`` + ``source_separation_utils.separate_sources``,
  after the torchaudio Hybrid Demucs tutorial): the mixture is normalised by the mean and
  standard deviation of its mono mix, cut into segments of ``segment * (1 + overlap)`` seconds
  overlapping by ``overlap`` seconds (10 s and 0.1, so 11 s segments with 0.1 s overlap), each
  separated on its own, cross-faded linearly and summed, then de-normalised.

Segment-wise inference equals whole-signal inference only for a model whose output at a
sample depends on a short context; HDemucs is not such a model (each forward normalises by its
own input's mean and std, and the deep layers hold a BLSTM, local attention and group norm), so
the recipe's separation depends on where the segments fall. :func:`separate_sources` itself is
exact: with a local model it reproduces whole-signal inference away from segment edges.

Stems are returned as numpy ``(time, channels)`` float64 (the chain's layout).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk.remix.chain import MODEL_SAMPLE_RATE, STEMS

SEPARATORS: tuple[str, ...] = ("oracle", "hdemucs")
#: torchaudio's ``HDEMUCS_HIGH_MUSDB`` source order (the model's output order).
HDEMUCS_SOURCES: tuple[str, ...] = ("drums", "bass", "other", "vocals")
SEGMENT_S = 10.0
OVERLAP = 0.1


def linear_fade(length: int, fade_in: int, fade_out: int, device: torch.device | None = None) -> torch.Tensor:
    """torchaudio ``Fade(fade_in, fade_out, "linear")`` as a gain curve ``[length]``:
    ``linspace(0, 1, fade_in)`` at the start, ``linspace(1, 0, fade_out)`` at the end."""
    gain = torch.ones(length, device=device)
    if fade_in > 0:
        ramp = torch.linspace(0.0, 1.0, fade_in, device=device)
        gain[: min(fade_in, length)] = ramp[: min(fade_in, length)]
    if fade_out > 0:
        ramp = torch.linspace(1.0, 0.0, fade_out, device=device)
        count = min(fade_out, length)
        gain[length - count:] = gain[length - count:] * ramp[fade_out - count:]
    return gain.clamp(0.0, 1.0)


def separate_sources(
    model: torch.nn.Module,
    mixture: torch.Tensor,
    sample_rate: int,
    segment: float = SEGMENT_S,
    overlap: float = OVERLAP,
    device: torch.device | str | None = None,
    sources: int = 4,
) -> torch.Tensor:
    """Segment-wise separation with linear cross-fades: ``[batch, channels, time]`` ->
    ``[batch, sources, channels, time]`` (on the mixture's device).

    A port of the recipe's ``separate_sources``: the first segment is ``chunk =
    sample_rate * segment * (1 + overlap)`` samples with a fade-out of ``overlap * sample_rate``;
    later ones start ``overlap * sample_rate`` before the previous end, fade in and out over that
    overlap (the two linear ramps sum to one), the last one has no fade-out. One deviation:
    the recipe also fades out the first segment when it is the only one (signals shorter than
    ``segment * (1 + overlap)``), and returns silence for signals shorter than the overlap;
    here neither happens. Longer signals are treated identically.
    """
    device = mixture.device if device is None else torch.device(device)
    if mixture.ndim == 2:
        mixture = mixture.unsqueeze(0)
    batch, channels, length = mixture.shape
    chunk_len = int(sample_rate * segment * (1 + overlap))
    overlap_frames = overlap * sample_rate
    # the recipe fades out the first segment even when it is also the last (a signal shorter
    # than one segment loses its final overlap); here a segment reaching the end never fades out
    fade_in, fade_out = 0, (0 if chunk_len >= length else int(overlap_frames))
    final = torch.zeros(batch, sources, channels, length, device=mixture.device)
    start, end = 0, chunk_len
    while start == 0 or start < length - overlap_frames:
        chunk = mixture[:, :, start:end].to(device)
        with torch.no_grad():
            separated = model(chunk)
        separated = separated * linear_fade(separated.shape[-1], fade_in, fade_out, separated.device)
        final[:, :, :, start:end] += separated.to(final.device)
        if start == 0:
            fade_in = int(overlap_frames)
            start += int(chunk_len - overlap_frames)
        else:
            start += chunk_len
        end += chunk_len
        if end >= length:
            fade_out = 0
    return final


def normalise_mixture(mixture: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """The recipe's ``normalize_signal``: ``[channels, time]`` -> (normalised, mean, std) of
    the mono mix (population std, as numpy)."""
    mono = mixture.to(torch.float64).mean(dim=0)
    mean, std = float(mono.mean()), float(mono.std(unbiased=False))
    if std <= 0:
        raise ValueError("silent mixture: cannot normalise it for separation")
    return ((mixture.to(torch.float64) - mean) / std).to(torch.float32), mean, std


class OracleSeparator:
    """The ground-truth stems of the item (manifest columns ``vocals, drums, bass, other``)."""

    name = "oracle"
    input_columns: tuple[str, ...] = STEMS

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None
                 ) -> dict[str, np.ndarray]:
        if stems is None or any(stem not in stems for stem in STEMS):
            raise ValueError(f"the oracle separator needs the stems {', '.join(STEMS)}")
        separated = {}
        for stem in STEMS:
            audio = stems[stem]
            if audio.shape[-1] != mixture.shape[-1]:
                raise ValueError(f"stem {stem} has {audio.shape[-1]} samples, the mixture "
                                 f"{mixture.shape[-1]}")
            separated[stem] = audio.detach().cpu().to(torch.float64).numpy().T.copy()
        return separated

    def describe(self) -> dict[str, Any]:
        return {"separator": "oracle"}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_hdemucs(checkpoint: str | Path | None = None, *, sources: tuple[str, ...] = HDEMUCS_SOURCES,
                 **config: Any) -> torch.nn.Module:
    """``hdemucs_high`` (or an ``HDemucs`` of ``config``) with the checkpoint's weights.

    ``checkpoint``: a state dict saved with ``torch.save(model.state_dict())`` (the format of
    ``hdemucs_high_musdbhq_only.pt``; a dict holding ``state_dict`` is accepted too); None
    keeps the random initialisation. Loading is strict: every parameter name must match.
    """
    from hltk.remix.hdemucs import HDemucs, hdemucs_high

    model = HDemucs(list(sources), **config) if config else hdemucs_high(list(sources))
    if checkpoint is not None:
        state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        model.load_state_dict(state, strict=True)
    return model.eval()


class HDemucsSeparator:
    """Hybrid Demucs separation as the Cadenza ICASSP 2024 baseline runs it."""

    name = "hdemucs"
    input_columns: tuple[str, ...] = ()

    def __init__(self, checkpoint: str | Path | None = None, *, device: str = "cpu",
                 segment: float = SEGMENT_S, overlap: float = OVERLAP, normalise: bool = True,
                 model: torch.nn.Module | None = None, threads: int | None = None) -> None:
        if model is None and checkpoint is None:
            raise ValueError("--separator hdemucs needs --checkpoint (hdemucs_high_musdbhq_only.pt)")
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.checkpoint_sha256 = file_sha256(checkpoint) if checkpoint is not None else None
        self.model = model if model is not None else load_hdemucs(checkpoint)
        self.device = device
        self.model.to(torch.device(device))
        self.segment, self.overlap, self.normalise = segment, overlap, normalise
        #: torch threads for the model on the CPU (None: as the caller set them). The runner
        #: runs per-item work single-threaded; the network is worth its own thread pool.
        self.threads = threads
        self.sources = tuple(getattr(self.model, "sources", HDEMUCS_SOURCES))
        # the last separation, by a digest of the mixture: a Cadenza scene has several
        # listeners (consecutive manifest rows) and the song is separated once for all of them,
        # as the recipe does (``previous_song``)
        self._last: tuple[str, dict[str, np.ndarray]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_last"] = None  # workers start without the cache
        return state

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None
                 ) -> dict[str, np.ndarray]:
        """``mixture [channels, time]`` at 44.1 kHz -> ``{stem: (time, channels)}``."""
        signal = mixture.detach().to(torch.float32).cpu().contiguous()
        digest = hashlib.sha1(signal.numpy().tobytes()).hexdigest() + str(tuple(signal.shape))
        if self._last is not None and self._last[0] == digest:
            return {name: stem.copy() for name, stem in self._last[1].items()}
        separated = self._separate(signal)
        self._last = (digest, {name: stem.copy() for name, stem in separated.items()})
        return separated

    def _separate(self, signal: torch.Tensor) -> dict[str, np.ndarray]:
        mean, std = 0.0, 1.0
        if self.normalise:
            signal, mean, std = normalise_mixture(signal)
        previous = torch.get_num_threads()
        if self.threads is not None and torch.device(self.device).type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            separated = separate_sources(self.model, signal.unsqueeze(0), MODEL_SAMPLE_RATE,
                                         self.segment, self.overlap, self.device,
                                         sources=len(self.sources))[0]
        finally:
            torch.set_num_threads(previous)
        estimates = separated.detach().cpu().to(torch.float64).numpy()
        if self.normalise:
            estimates = estimates * std + mean  # the recipe's denormalize_signals
        return {name: estimates[index].T.copy() for index, name in enumerate(self.sources)
                if name in STEMS}

    def describe(self) -> dict[str, Any]:
        return {"separator": "hdemucs", "checkpoint": self.checkpoint,
                "checkpoint_sha256": self.checkpoint_sha256, "segment_s": self.segment,
                "overlap": self.overlap, "normalise": self.normalise}
