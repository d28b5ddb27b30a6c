"""``hltk train neuroamp``, ``hltk train neuroamp-denoise`` and ``hltk train
neuroamp-denoised-corpus`` (registered on the ``hltk train`` app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.amplify.neuroamp import ARCHS, DEFAULT_ARCH, SIZES
from hltk.denoise.neuroamp_denoise import DEFAULT_ARCH as DENOISE_ARCH
from hltk.pipelines.train_neuroamp import make_denoised_corpus, train_neuroamp
from hltk.train.loop import TrainResult, TrainSettings
from hltk.train.neuroamp import Source
from hltk_cli import common as c
from hltk_cli.output import print_rows, progress_bar
from hltk_cli.train import (
    BatchOpt,
    CacheOpt,
    CheckpointOut,
    DataOpt,
    EpochsOpt,
    InitOpt,
    LrOpt,
    QuickOpt,
    StepsOpt,
    ThreadsOpt,
    print_result,
    train_app,
    training,
)

MaxItemsOpt = Annotated[int | None, typer.Option(
    "--max-items", min=1, help="At most this many training items per --data manifest.")]
MaxSecondsOpt = Annotated[float, typer.Option(
    "--max-seconds", min=0.5, help="Crop each item to at most this long before making pairs.")]
SegmentOpt = Annotated[float, typer.Option("--segment-seconds", min=0.25,
                                           help="Training crop length.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu or cuda[:N].")]
StoiWeightOpt = Annotated[float, typer.Option(
    "--stoi-weight", min=0.0,
    help="Add this weight x a STOI band loss (the output's band envelopes against the target's); "
         "0: the spectral MSE alone.")]
LevelWeightOpt = Annotated[float, typer.Option(
    "--level-weight", min=0.0,
    help="Add this weight x a third-octave band level loss (output vs target, units of 10 dB); "
         "0: off.")]
ArchOpt = Annotated[c.choices(ARCHS), typer.Option("--arch", help="NeuroAMP core.")]
SizeOpt = Annotated[c.choices(SIZES), typer.Option(
    "--size", help="basic: ~0.5 M parameters per core; published: the paper's widths.")]


def _run(sources: list[Source], out: Path, *, model_kind: str, arch: str, size: str,
         settings: TrainSettings, epochs: float | None, quick: bool, cache_dir: Path | None,
         max_seconds: float, segment_seconds: float, quiet: bool,
         init: Path | None = None, stoi_weight: float = 0.0,
         level_weight: float = 0.0) -> TrainResult:
    with training(settings, quiet) as (data_update, report):
        result = train_neuroamp(
            sources, out, model_kind=model_kind, arch=arch, size=size, settings=settings,
            epochs=epochs, quick=quick, cache_dir=cache_dir, max_seconds=max_seconds,
            segment_seconds=segment_seconds, init=init, data_progress=data_update,
            progress=report, stoi_weight=stoi_weight, level_weight=level_weight)
    return result


@train_app.command("neuroamp")
def neuroamp(
    data: DataOpt,
    out: CheckpointOut,
    arch: ArchOpt = DEFAULT_ARCH,
    size: SizeOpt = SIZES[0],
    steps: StepsOpt = 2000,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = 16,
    lr: LrOpt = 1e-3,
    max_items: MaxItemsOpt = None,
    max_seconds: MaxSecondsOpt = 3.0,
    segment_seconds: SegmentOpt = 2.0,
    cache_dir: CacheOpt = None,
    init: InitOpt = None,
    stoi_weight: StoiWeightOpt = 0.0,
    level_weight: LevelWeightOpt = 0.0,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "cpu",
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Train a NeuroAMP core to follow NAL-R + WDRC (targets: nalr-wdrc of each --data
    manifest's audio); resumable (run the same command again)."""
    quiet = c.is_quiet(quiet)
    settings = TrainSettings(steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed,
                             threads=threads, device=device)
    sources = [Source(str(m), max_items=max_items) for m in data]
    result = _run(sources, out, model_kind="neuroamp", arch=arch, size=size, settings=settings,
                  epochs=epochs, quick=quick, cache_dir=cache_dir, max_seconds=max_seconds,
                  segment_seconds=segment_seconds, quiet=quiet, init=init,
                  stoi_weight=stoi_weight, level_weight=level_weight)
    print_result(result, output_format, "hltk train neuroamp")


@train_app.command("neuroamp-denoise")
def neuroamp_denoise(
    data: DataOpt,
    out: CheckpointOut,
    reference_column: Annotated[str, typer.Option(
        "--reference-column", help="Column of the clean speech the target is made from.")] = "reference",
    arch: ArchOpt = DENOISE_ARCH,
    size: SizeOpt = SIZES[0],
    steps: StepsOpt = 2000,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = 16,
    lr: LrOpt = 1e-3,
    max_items: MaxItemsOpt = None,
    max_seconds: MaxSecondsOpt = 3.0,
    segment_seconds: SegmentOpt = 2.0,
    cache_dir: CacheOpt = None,
    init: InitOpt = None,
    stoi_weight: StoiWeightOpt = 0.0,
    level_weight: LevelWeightOpt = 0.0,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "cpu",
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Train Denoising NeuroAMP: noisy audio in, NAL-R + WDRC of the clean reference as the
    target (the paper's core is the LSTM); resumable."""
    quiet = c.is_quiet(quiet)
    settings = TrainSettings(steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed,
                             threads=threads, device=device)
    sources = [Source(str(m), "audio", reference_column, max_items) for m in data]
    result = _run(sources, out, model_kind="neuroamp-denoise", arch=arch, size=size,
                  settings=settings, epochs=epochs, quick=quick, cache_dir=cache_dir,
                  max_seconds=max_seconds, segment_seconds=segment_seconds, quiet=quiet,
                  init=init, stoi_weight=stoi_weight, level_weight=level_weight)
    print_result(result, output_format, "hltk train neuroamp-denoise")


@train_app.command("neuroamp-denoised-corpus")
def neuroamp_denoised_corpus(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    split: Annotated[str | None, typer.Option(
        "--split", help="Only rows of these splits, comma-separated (default all).")] = None,
    limit: c.LimitOpt = None,
    threads: ThreadsOpt = 1,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """RNNoise (the two-stage baseline's denoiser) over a noisy corpus: NeuroAMP's
    "denoised speech" training and test data."""
    quiet = c.is_quiet(quiet)
    splits = tuple(s.strip() for s in split.split(",") if s.strip()) if split else ()
    with c.exit_codes(), progress_bar("denoise", quiet) as update:
        summary = make_denoised_corpus(manifest, out, splits=splits, limit=limit,
                                       threads=threads or 1, progress=update)
    print_rows([summary], list(summary), output_format, title="hltk train neuroamp-denoised-corpus")
