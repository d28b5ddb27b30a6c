"""``hltk train``: train the neural models (``hltk train neuro-msbg``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.nn.checkpoint import CheckpointError
from hltk.nn.sequence import BLOCKS
from hltk.pipelines.train import train_neuro_msbg
from hltk.simulate.neuro_msbg import DEFAULT_BLOCK, PHASE_MODES, NeuroMsbgConfig
from hltk.train.loop import TrainResult, TrainSettings
from hltk.train.neuro_msbg import LOG_FLOOR, TARGET_FLOOR
from hltk_cli import common as c
from hltk_cli.output import info, print_rows, progress_bar

train_app = typer.Typer(name="train", help="Train hltk's neural models.", no_args_is_help=True)

DataOpt = Annotated[list[Path], typer.Option(
    "--data", help="Manifest of training audio (repeatable); rows with split=train train, "
    "split=valid validate (hltk synth corpora have both).", show_default=False)]
CheckpointOut = Annotated[Path, typer.Option("-o", "--out", help="Checkpoint file to write "
                                             "(CKPT.resume beside it makes runs resumable).",
                                             show_default=False)]
StepsOpt = Annotated[int, typer.Option("--steps", min=1, help="Optimizer steps.")]
EpochsOpt = Annotated[float | None, typer.Option(
    "--epochs", min=0.01, help="Train for this many passes over the data (instead of --steps).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples per step.")]
LrOpt = Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (Adam).")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads.")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="A tiny model on a few items, about a "
                                        "minute on a CPU (smoke test).")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache-dir", help="Where (input, target) pairs are cached. Default: OUT's folder/cache.")]
InitOpt = Annotated[Path | None, typer.Option(
    "--init", help="Start from this checkpoint (same config): fine-tuning.")]


@contextmanager
def training(settings: TrainSettings, quiet: bool
             ) -> Iterator[tuple[Callable[[int, int], None], Callable[[int, int, dict[str, float]], None]]]:
    """Progress bars for making the pairs and for training, a log line per validation, and
    exit code 2 for a bad checkpoint or a missing file. Yields ``(data_progress, progress)``
    for the training pipelines."""
    with c.exit_codes(usage=(CheckpointError, FileNotFoundError)):
        with progress_bar("pairs", quiet) as data_update, progress_bar("train", quiet) as update:
            def report(step: int, total: int, losses: dict[str, float]) -> None:
                update(step, total)
                if "valid" in losses and step % settings.valid_every == 0:
                    info(f"step {step}: train {losses['loss']:.4f} valid {losses['valid']:.4f}",
                         quiet)

            yield data_update, report


def print_result(result: TrainResult, output_format: str, title: str) -> None:
    """One row: the checkpoint, steps, wall time and losses of a training run."""
    first = result.history[0] if result.history else {}
    row = {"checkpoint": str(result.checkpoint), "steps": result.steps,
           "resumed_from": result.resumed_from, "wall_s": round(result.wall_seconds, 1),
           "first_train_loss": first.get("train_loss"), "final_train_loss": result.final_train_loss,
           "final_valid_loss": result.final_valid_loss}
    print_rows([row], list(row), output_format, title=title)


@train_app.command("neuro-msbg")
def neuro_msbg(
    data: DataOpt,
    out: CheckpointOut,
    block: Annotated[c.choices(BLOCKS), typer.Option(
        "--block", help="Dual-path block.")] = DEFAULT_BLOCK,
    phase: Annotated[c.choices(PHASE_MODES), typer.Option(
        "--phase", help="Phase decoder: residual (added to the input phase), absolute (the "
        "paper's), none (magnitude only, the ablation).")] = NeuroMsbgConfig.phase,
    channels: Annotated[int | None, typer.Option("--channels", min=1)] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", min=1)] = None,
    blocks: Annotated[int | None, typer.Option("--blocks", min=1)] = None,
    identity_phase: Annotated[bool, typer.Option(
        "--identity-phase/--random-phase-start", help="Start the phase head at atan2 = 0 (an "
        "untrained residual model passes the input phase through; issue 28's fix) or at the "
        "random rotation the first shipped model started from.")] = False,
    phase_loss: Annotated[Literal["plain", "weighted"], typer.Option(
        "--phase-loss", help="Anti-wrapping phase losses over every bin alike (plain, the "
        "paper's) or weighted by the target's compressed magnitude.")] = "plain",
    phase_weight: Annotated[float, typer.Option(
        "--phase-weight", min=0.0, help="Weight of the summed phase losses (the paper's 0.3).")] = 0.3,
    audiogram_encoder: Annotated[bool, typer.Option(
        "--audiogram-encoder/--no-audiogram-encoder", help="The learnt audiogram encoder, or "
        "the levels interpolated onto the bins (the paper's ablation).")] = True,
    steps: StepsOpt = 2500,
    epochs: EpochsOpt = None,
    batch_size: BatchOpt = 8,
    lr: LrOpt = 2e-3,
    segment_seconds: Annotated[float, typer.Option(
        "--segment-seconds", min=0.25, help="Length of the training crops.")] = 1.5,
    target_backend: Annotated[Literal["torch-msbg", "msbg"], typer.Option(
        "--target-backend", help="Simulator that makes the targets.")] = "torch-msbg",
    cache_dir: CacheOpt = None,
    log_magnitude: Annotated[float, typer.Option(
        "--log-magnitude", min=0.0, help="Weight of an L1 loss on log compressed magnitudes "
        "(0: the paper's losses only).")] = 0.0,
    target_floor: Annotated[float, typer.Option(
        "--target-floor", min=0.0, help="eps of the target's magnitude sqrt(re^2 + im^2 + eps); "
        "small values keep the bands MSBG silences silent (the default checkpoint: 1e-20).")
    ] = TARGET_FLOOR,
    log_floor: Annotated[float, typer.Option(
        "--log-floor", min=0.0, help="Floor of the log-magnitude L1 on compressed magnitudes "
        "(the default checkpoint: 0.002).")] = LOG_FLOOR,
    init: InitOpt = None,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = None,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda[:N].")] = "cpu",
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Train Neuro-MSBG against MSBG targets; resumable (run the same command again)."""
    quiet = c.is_quiet(quiet)
    settings = TrainSettings(steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed,
                             threads=threads, device=device)
    model = {"block": block, "phase": phase, "channels": channels, "hidden": hidden,
             "blocks": blocks, "identity_phase": identity_phase,
             "audiogram_encoder": audiogram_encoder}
    with training(settings, quiet) as (data_update, report):
        result = train_neuro_msbg(
            data, out, model=model, settings=settings, epochs=epochs, quick=quick,
            cache_dir=cache_dir, target_backend=target_backend,
            segment_seconds=segment_seconds, log_magnitude_weight=log_magnitude,
            phase_loss=phase_loss, phase_weight=phase_weight, target_floor=target_floor,
            log_floor=log_floor, init=init, data_progress=data_update, progress=report,
        )
    print_result(result, output_format, "hltk train neuro-msbg")
