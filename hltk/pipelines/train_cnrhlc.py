"""``hltk train cnrhlc``: the joint NR + HLC network trained through an auditory model
(:mod:`hltk.train.cnrhlc`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from hltk.nn.bsrnn import CPU_CONFIG, PAPER_CONFIG, BsrnnConfig
from hltk.train.cnrhlc import (
    QUICK_MODEL,
    QUICK_SETTINGS,
    CnrhlcTask,
    auditory_model,
    load_noisy,
)
from hltk.train.loop import TrainResult, TrainSettings, train

StepProgress = Callable[[int, int, dict[str, float]], None]
#: ``--size``: the configuration trained on CPU here, or the paper's.
SIZES: dict[str, BsrnnConfig] = {"cpu": CPU_CONFIG, "paper": PAPER_CONFIG}


def train_cnrhlc(
    manifests: list[Path],
    checkpoint: Path,
    *,
    auditory: str = "drnl",
    size: str = "cpu",
    settings: TrainSettings,
    quick: bool = False,
    max_items: int | None = None,
    max_seconds: float = 4.0,
    segment_seconds: float = 1.0,
    level_range_db: tuple[float, float] = (64.0, 80.0),
    init: Path | None = None,
    progress: StepProgress | None = None,
    hlc_weighting: str = "none",
    hlc_max_weight: float = 10.0,
    severe_weight: float = 1.0,
) -> TrainResult:
    """Train into ``checkpoint`` (resumable: the same call goes on). ``--quick``: the tiny
    :data:`QUICK_MODEL`, :data:`QUICK_SETTINGS`, 4 items per manifest, 0.5 s crops.
    ``hlc_weighting`` / ``hlc_max_weight``: :func:`hltk.train.cnrhlc.hlc_error` (``none``, the
    default, is the paper's loss); ``severe_weight``: :func:`hltk.train.cnrhlc.profile_weights`
    (1 = the uniform draw)."""
    config = QUICK_MODEL if quick else SIZES[size]
    if quick:
        settings = replace(QUICK_SETTINGS, seed=settings.seed, threads=settings.threads,
                           device=settings.device)
        max_items, max_seconds, segment_seconds = 4, 1.5, 0.5
    paths = [str(m) for m in manifests]
    train_pairs = load_noisy(paths, ("train",), max_seconds, max_items)
    if len(train_pairs) == 0:
        raise FileNotFoundError("no split=train rows in the --data manifests")
    valid_pairs = load_noisy(paths, ("valid",), max_seconds, 2 if quick else 16)
    task = CnrhlcTask(train_pairs, valid_pairs, config, auditory_model(auditory), auditory,
                      segment_seconds=segment_seconds, level_range_db=level_range_db,
                      valid_batch=2 if quick else 8,
                      data_description={"manifests": paths, "max_items": max_items,
                                        "max_seconds": max_seconds},
                      hlc_weighting=hlc_weighting, hlc_max_weight=hlc_max_weight,
                      severe_weight=severe_weight)
    return train(task, settings, checkpoint, progress=progress, init=init)
