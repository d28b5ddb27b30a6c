"""``hltk train cnrhlc`` (registered on the ``hltk train`` app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.train_cnrhlc import SIZES, train_cnrhlc
from hltk.train.cnrhlc import AUDITORY_MODELS, HLC_WEIGHTINGS
from hltk.train.loop import TrainSettings
from hltk_cli import common as c
from hltk_cli.train import (
    BatchOpt,
    CheckpointOut,
    DataOpt,
    InitOpt,
    LrOpt,
    QuickOpt,
    StepsOpt,
    ThreadsOpt,
    print_result,
    train_app,
    training,
)


@train_app.command("cnrhlc")
def cnrhlc(
    data: DataOpt,
    out: CheckpointOut,
    auditory_model: Annotated[c.choices(AUDITORY_MODELS), typer.Option(
        "--auditory-model", help="The differentiable auditory model the losses go through: "
        "drnl (hltk.auditory) or msbg (torch-msbg; NH = a 0 dB HL audiogram).")] = "drnl",
    size: Annotated[c.choices(tuple(SIZES)), typer.Option(
        "--size", help="cpu: the configuration trained here; paper: the published one.")] = "cpu",
    steps: StepsOpt = 600,
    batch_size: BatchOpt = 8,
    lr: LrOpt = 1e-3,
    max_items: Annotated[int | None, typer.Option(
        "--max-items", min=1, help="At most this many training items per --data manifest.")] = None,
    max_seconds: Annotated[float, typer.Option(
        "--max-seconds", min=0.5, help="Keep the first this many seconds of each item.")] = 4.0,
    segment_seconds: Annotated[float, typer.Option(
        "--segment-seconds", min=0.25, help="Training crop length.")] = 1.0,
    hlc_weighting: Annotated[c.choices(HLC_WEIGHTINGS), typer.Option(
        "--hlc-weighting", help="none: the paper's plain MSE HLC loss; level: each crop's and "
        "channel's squared HLC error weighted by clip(rms NH target / rms impaired response, "
        "1, --hlc-max-weight), to pull under-amplified (severe, high-frequency) channels "
        "harder (docs/cnrhlc.md).")] = "none",
    hlc_max_weight: Annotated[float, typer.Option(
        "--hlc-max-weight", min=1.0, help="The cap of --hlc-weighting level's weight.")] = 10.0,
    severe_weight: Annotated[float, typer.Option(
        "--severe-weight", min=1.0, help="Draw the training audiograms from N6, N7, S2, S3 this "
        "many times as often as from each other Bisgaard profile (1: uniform).")] = 1.0,
    init: InitOpt = None,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda[:N].")] = "cpu",
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Train the adjustable joint noise-reduction + hearing-loss-compensation network
    (Gonzalez, Dau and May) through a differentiable auditory model; resumable."""
    quiet = c.is_quiet(quiet)
    settings = TrainSettings(steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed,
                             threads=threads, device=device, warmup_steps=min(50, steps),
                             valid_every=50, checkpoint_every=25)
    with training(settings, quiet) as (_data_update, report):
        result = train_cnrhlc(list(data), Path(out), auditory=auditory_model, size=size,
                              settings=settings, quick=quick, max_items=max_items,
                              max_seconds=max_seconds, segment_seconds=segment_seconds,
                              init=init, progress=report, hlc_weighting=hlc_weighting,
                              hlc_max_weight=hlc_max_weight, severe_weight=severe_weight)
    print_result(result, output_format, "hltk train cnrhlc")
