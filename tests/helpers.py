"""Factories the test modules share: short real-speech items from the demo set (as numpy
arrays or float32 tensors), listener batches by standard name, manifests written on the fly,
and a small batched processor for runner tests (registered by the ``attenuator`` fixture of
``conftest.py``). Test modules import these from here, never from one another or from
``conftest.py``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch

from hltk.io.listeners import ListenerBatch, standard_listener

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "manifests" / "demo"
#: the amplification backends' working rate, the default of :func:`speech`
AMPLIFY_RATE = 44100


def demo_speech(
    item: str = "s01", seconds: float | None = None, rate: int | None = None
) -> tuple[np.ndarray, int]:
    """Real speech from the shipped demo set (espeak-ng), optionally cut and resampled."""
    path = next((DEMO / "audio").glob(f"{item}.*"))
    samples, sample_rate = sf.read(path, dtype="float64")
    if samples.ndim == 2:
        samples = samples[:, 0]
    if rate is not None and rate != sample_rate:
        samples = soxr.resample(samples, sample_rate, rate)
        sample_rate = rate
    if seconds is not None:
        start = int(0.25 * sample_rate)  # skip the leading silence
        samples = samples[start: start + int(seconds * sample_rate)]
    return samples, sample_rate


def speech(item: str = "s01", seconds: float = 1.0, rate: int = AMPLIFY_RATE) -> torch.Tensor:
    """Real speech ``[T]`` float32 at ``rate``: a demo item, leading silence skipped."""
    path = next((DEMO / "audio").glob(f"{item}.*"))
    samples, source_rate = sf.read(path, dtype="float64")
    if samples.ndim == 2:
        samples = samples[:, 0]
    samples = soxr.resample(samples, source_rate, rate)
    start = int(0.25 * rate)
    return torch.from_numpy(samples[start : start + int(seconds * rate)].astype(np.float32))


def batch_of(*names: str, ears: tuple[str, ...] = ("left", "right")) -> ListenerBatch:
    """Standard listeners by name (Bisgaard N1-N7, S1-S3, NH), one per item."""
    return ListenerBatch(tuple(standard_listener(name) for name in names), ears)


def write_manifest_csv(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    columns = list(columns or rows[0].keys())
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def make_speech_manifest(folder: Path, count: int = 4, seconds: float = 0.6,
                         listeners: Sequence[str] = ("NH", "N2", "N4", "S2")) -> Path:
    """A manifest of ``count`` short real-speech items, listeners by standard name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    rows = []
    demo_items = ["s01", "s02", "s03", "s04", "s05", "s06"]
    for index in range(count):
        samples, rate = demo_speech(demo_items[index % len(demo_items)], seconds)
        name = f"audio/item{index:02d}.wav"
        sf.write(folder / name, samples, rate, subtype="PCM_16")
        rows.append({"id": f"item{index:02d}", "audio": name,
                     "listener": listeners[index % len(listeners)], "note": f"n{index}"})
    return write_manifest_csv(folder / "manifest.csv", rows)


class AttenuatorProcessor:
    """A small real batched backend for runner tests: each ear is attenuated by its mean
    hearing level / 2 (dB) and gets seeded noise at -60 dB, so outputs depend on the
    audiogram, the level and the per-item seed. Items of listeners in ``fail_on`` raise;
    those in ``interrupt_on`` raise KeyboardInterrupt (a user pressing Ctrl-C mid-run)."""

    name = "attenuator"
    sample_rate = 16000
    batched = True

    #: listeners whose items raise KeyboardInterrupt: the test's stand-in for Ctrl-C, set
    #: outside the backend options so that a resumed run has the same settings.
    interrupt_on: set[str] = set()

    def __init__(self, fail_on: Sequence[str] = (), device: str = "cpu") -> None:
        self.fail_on = set(fail_on)
        self.calls: list[int] = []

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, *, lengths: torch.Tensor,
                 level_db_spl: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        self.calls.append(audio.shape[0])
        for listener in listeners.listeners:
            if listener.id in self.interrupt_on:
                raise KeyboardInterrupt
            if listener.id in self.fail_on:
                raise ValueError(f"cannot process listener {listener.id}")
        mean_hl = listeners.audiograms().mean(dim=-1)  # [B, E]
        gain = 10.0 ** (-(mean_hl / 2.0 + (level_db_spl[:, None] - 100.0)) / 20.0)
        output = audio * gain[:, :, None].to(audio.dtype)
        for index, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(seed)
            noise = torch.randn(audio.shape[1], int(lengths[index]), generator=generator) * 1e-3
            output[index, :, : int(lengths[index])] += noise
        return output
