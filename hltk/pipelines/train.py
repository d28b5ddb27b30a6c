"""``hltk train``: train a model family with the shared loop (:mod:`hltk.train.loop`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hltk.simulate.neuro_msbg import NeuroMsbgConfig
from hltk.train.loop import TrainResult, TrainSettings, train
from hltk.train.neuro_msbg import LOG_FLOOR, QUICK_MODEL, QUICK_SETTINGS, TARGET_FLOOR, make_task

StepProgress = Callable[[int, int, dict[str, float]], None]


def steps_for_epochs(epochs: float, examples: int, batch_size: int) -> int:
    """Steps that show each training example ``epochs`` times on average."""
    return max(1, round(epochs * examples / batch_size))


def train_neuro_msbg(
    manifests: list[Path],
    checkpoint: Path,
    *,
    model: dict[str, Any],
    settings: TrainSettings,
    epochs: float | None = None,
    steps: int | None = None,
    quick: bool = False,
    cache_dir: Path | None = None,
    target_backend: str = "torch-msbg",
    max_seconds: float = 4.0,
    segment_seconds: float = 2.0,
    log_magnitude_weight: float = 0.0,
    phase_loss: str = "plain",
    phase_weight: float = 0.3,
    target_floor: float = TARGET_FLOOR,
    log_floor: float = LOG_FLOOR,
    init: Path | None = None,
    data_progress: Callable[[int, int], None] | None = None,
    progress: StepProgress | None = None,
) -> TrainResult:
    """Train Neuro-MSBG on ``manifests`` into ``checkpoint``; ``model`` overrides fields of
    the config (``--quick``: the tiny :data:`QUICK_MODEL` and :data:`QUICK_SETTINGS`, 1 s
    crops of 6 training items (12 ears)); ``steps`` overrides the settings' (also under
    ``quick``)."""
    config = QUICK_MODEL if quick else NeuroMsbgConfig()
    config = replace(config, **{k: v for k, v in model.items() if v is not None})
    if quick:
        settings = replace(QUICK_SETTINGS, seed=settings.seed, threads=settings.threads,
                           device=settings.device)
        max_seconds, segment_seconds = 1.5, 1.0
    if steps is not None:
        settings = replace(settings, steps=steps)
    cache_dir = cache_dir or checkpoint.parent / "cache"
    task = make_task(manifests, config, cache_dir, target_backend=target_backend,
                     max_seconds=max_seconds, seed=settings.seed, segment_seconds=segment_seconds,
                     limit=6 if quick else None, log_magnitude_weight=log_magnitude_weight,
                     phase_loss=phase_loss, phase_weight=phase_weight,
                     target_floor=target_floor, log_floor=log_floor, progress=data_progress)
    if epochs is not None:
        settings = replace(settings, steps=steps_for_epochs(
            epochs * max_seconds / segment_seconds, len(task.train_pairs), settings.batch_size))
    return train(task, settings, checkpoint, progress=progress, init=init)
