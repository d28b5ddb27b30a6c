"""``hltk remix``: Cadenza ICASSP 2024 demix -> per-stem gains -> remix -> NAL-R over a manifest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.remix import DEFAULT_AUDIO_FORMAT, TASK
from hltk.pipelines.remix import remix as run_remix
from hltk.runner import RunSettings, parse_shard
from hltk_cli import common as c
from hltk_cli.output import progress_bar


def remix(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    separator: Annotated[Literal["oracle", "hdemucs"], typer.Option(
        "--separator", help="oracle: the manifest's stems (the upper bound); hdemucs: Hybrid "
        "Demucs (the Cadenza baseline) with the weights of --checkpoint.")] = "oracle",
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="Hybrid Demucs weights for --separator hdemucs: "
        "hdemucs_high_musdbhq_only.pt (torchaudio's HDEMUCS_HIGH_MUSDB state dict).")] = None,
    gains: Annotated[Path | None, typer.Option(
        "--gains", help="Cadenza gains.json for the 'gain' column (default: gains.json beside "
        "the manifest).")] = None,
    compressor: Annotated[bool, typer.Option(
        "--compressor/--no-compressor", help="CEC compressor after NAL-R (the recipe: off).")] = False,
    listeners: c.ListenersOpt = None,
    root: c.RootOpt = None,
    device: c.DeviceOpt = "auto",
    jobs: c.JobsOpt = 1,
    executor: c.ExecutorOpt = "local",
    scheduler: c.SchedulerOpt = None,
    shard: c.ShardOpt = None,
    overwrite: c.OverwriteOpt = False,
    retry_failed: c.RetryOpt = False,
    limit: c.LimitOpt = None,
    audio_format: c.FormatOpt = DEFAULT_AUDIO_FORMAT,
    filename: Annotated[str, typer.Option(
        "--filename", help="Output name template under OUT/audio (default: "
        "{scene}_{listener}_remix.{ext} when those columns exist, else {id}.{ext}).")] = "",
    clip: c.ClipOpt = "hard",
    seed: c.SeedOpt = 0,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Remix each item for its listener (Cadenza ICASSP 2024 baseline): 16-bit 32 kHz FLAC."""
    quiet = c.is_quiet(quiet)
    with c.exit_codes():
        settings = RunSettings(
            out=out, audio_format=audio_format, filename=filename, clip=clip, ear="both", seed=seed,
            jobs=jobs, batch_size=1, device=device, executor=executor, scheduler=scheduler,
            shard=parse_shard(shard), overwrite=overwrite, retry_failed=retry_failed, limit=limit,
            quiet=quiet,
        )
        with progress_bar(f"remix ({separator})", quiet) as update:
            summary = run_remix(manifest, settings, separator=separator,
                                checkpoint=checkpoint, gains_path=gains, compressor=compressor, root=root,
                                listeners_path=listeners, command=sys.argv, progress=update)
    c.report_run(TASK, summary, output_format, quiet)
