"""``hltk train neuroamp`` / ``neuroamp-denoise`` / ``neuroamp-denoised-corpus``.

The denoised corpus is the first stage of the two-stage baseline (RNNoise,
``denoise-amplify --backend two-stage`` without the amplifier) run over a noisy ``hltk synth``
corpus: NeuroAMP is trained on speech as it comes out of a denoiser too, as in the paper.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hltk.amplify.neuroamp import DEFAULT_ARCH, preset
from hltk.train.loop import TrainResult, TrainSettings, train
from hltk.train.neuroamp import QUICK_SETTINGS, Source, make_task, quick_model

StepProgress = Callable[[int, int, dict[str, float]], None]


def steps_for_epochs(epochs: float, examples: int, batch_size: int) -> int:
    """Steps that show each training example ``epochs`` times on average."""
    return max(1, round(epochs * examples / batch_size))


def train_neuroamp(
    sources: list[Source],
    checkpoint: Path,
    *,
    model_kind: str = "neuroamp",
    arch: str = DEFAULT_ARCH,
    size: str = "basic",
    settings: TrainSettings,
    epochs: float | None = None,
    quick: bool = False,
    cache_dir: Path | None = None,
    max_seconds: float = 3.0,
    segment_seconds: float = 2.0,
    init: Path | None = None,
    data_progress: Callable[[int, int], None] | None = None,
    progress: StepProgress | None = None,
    stoi_weight: float = 0.0,
    level_weight: float = 0.0,
) -> TrainResult:
    """Train a NeuroAMP core (or the denoiser, ``model_kind="neuroamp-denoise"``) against
    ``nalr-wdrc`` targets into ``checkpoint``. ``--quick``: a tiny model of the core's shape,
    :data:`QUICK_SETTINGS`, 1 s crops of 4 training items per source. ``init``: start from
    that checkpoint's weights (same config; fine-tuning). ``stoi_weight``, ``level_weight``:
    see :mod:`hltk.train.neuroamp`."""
    config = quick_model(arch) if quick else preset(arch, size)
    if quick:
        settings = replace(QUICK_SETTINGS, seed=settings.seed, threads=settings.threads,
                           device=settings.device)
        max_seconds, segment_seconds = 1.5, 1.0
        sources = [replace(s, max_items=4) for s in sources]
    cache_dir = cache_dir or checkpoint.parent / "cache"
    task = make_task(sources, config, cache_dir, model_kind=model_kind, max_seconds=max_seconds,
                     seed=settings.seed, segment_seconds=segment_seconds,
                     valid_items=2 if quick else 40, progress=data_progress,
                     stoi_weight=stoi_weight, level_weight=level_weight)
    if epochs is not None:
        settings = replace(settings, steps=steps_for_epochs(
            epochs * max_seconds / segment_seconds, len(task.train_pairs), settings.batch_size))
    return train(task, settings, checkpoint, progress=progress, init=init)


def make_denoised_corpus(noisy_manifest: Path, out: Path, *, splits: tuple[str, ...] = (),
                         limit: int | None = None, threads: int = 1,
                         progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """RNNoise over the ``audio`` column of a noisy corpus into ``out`` (``audio/{id}.wav``,
    float32 at the input's rate, and ``manifest.csv`` with the other columns carried through,
    ``reference``/``noise`` as absolute paths; ``listeners.json`` copied). Items already
    written are kept (rerun to resume)."""
    import torch

    from hltk.denoise.two_stage import TwoStageProcessor
    from hltk.io.audio import read_audio, write_audio
    from hltk.io.manifest import load_manifest, write_manifest

    manifest = load_manifest(noisy_manifest, require_listener=False, check_audio="header",
                             audio_columns=["audio"])
    items = [item for item in manifest.items
             if not splits or item.row.get("split", "") in splits][:limit]
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    made = 0
    denoiser: TwoStageProcessor | None = None
    for done, item in enumerate(items, 1):
        destination = out / "audio" / f"{item.id}.wav"
        if not destination.is_file():
            noisy, rate = read_audio(item.paths["audio"])
            if denoiser is None or denoiser.sample_rate != rate:
                denoiser = TwoStageProcessor(sample_rate=rate, denoise_threads=threads)
            denoised = denoiser.denoise(noisy[None], torch.tensor([noisy.shape[-1]]))[0]
            write_audio(destination, denoised, rate, "wav32f")
            made += 1
        row: dict[str, object] = {**item.row, "audio": f"audio/{item.id}.wav",
                                  "noisy": str(item.paths["audio"].resolve())}
        for column in ("reference", "noise"):
            if column in item.row and item.row[column]:
                row[column] = str((manifest.root / item.row[column]).resolve())
        rows.append(row)
        if progress:
            progress(done, len(items))
    columns = list(manifest.columns) + (["noisy"] if "noisy" not in manifest.columns else [])
    write_manifest(out / "manifest.csv", rows, columns)
    if manifest.listeners_path is not None and manifest.listeners_path.is_file():
        shutil.copyfile(manifest.listeners_path, out / "listeners.json")
    return {"items": len(rows), "made": made, "manifest": str(out / "manifest.csv")}
