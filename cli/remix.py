"""``hltk remix``: Cadenza ICASSP 2024 demix -> per-stem gains -> remix -> NAL-R over a manifest
(``--chain cad2-task2|cad2-task1``: the CAD2 chains, per-listener multiband compressor)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hltk import registry
from hltk.pipelines.remix import DEFAULT_AUDIO_FORMAT, TASK
from hltk.pipelines.remix import remix as run_remix
from hltk.remix.separators import TASK as SEPARATE
from hltk_cli import common as c
from hltk_cli.output import progress_bar

FilenameOpt = Annotated[str, typer.Option(
    "--filename", help="Output name template under OUT/audio (default: "
    "{scene}_{listener}_remix.{ext} when those columns exist, else {id}.{ext}).")]


@c.processing_command(
    SEPARATE, backend_flag="--separator", describe=True,
    shared=("listeners", "root", "device", "jobs", "executor", "scheduler", "shard", "overwrite",
            "retry_failed", "limit", "audio_format", "filename", "clip", "seed", "output_format",
            "quiet"),
    replace={"audio_format": c.PROCESSING_BY_NAME["audio_format"].replace(default=DEFAULT_AUDIO_FORMAT),
             "filename": c.PROCESSING_BY_NAME["filename"].replace(annotation=FilenameOpt, default="")},
)
def remix(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    separator: str | None,
    backend_options: dict[str, Any],
    shared: c.Shared,
    gains: Annotated[Path | None, typer.Option(
        "--gains", help="Cadenza gains.json for the 'gain' column (default: gains.json beside "
        "the manifest), or 'predictor': each listener's gains from the gain predictor (the "
        "requested gains are its input and stay the scoring reference; the gains applied go "
        "to OUT/manifest.csv columns predicted_gain_<stem>).")] = None,
    gains_checkpoint: Annotated[Path | None, typer.Option(
        "--gains-checkpoint", help="--gains predictor: its checkpoint (default: the shipped "
        "hltk/checkpoints/remix_gains.pt).")] = None,
    compressor: Annotated[bool, typer.Option(
        "--compressor/--no-compressor", help="CEC compressor after NAL-R (the recipe: off).")] = False,
    chain: Annotated[str, typer.Option(
        "--chain", help="The recipe: cadenza-icassp2024 (NAL-R, 32 kHz), cad2-task2 (any stems, "
        "multiband compressor, 32 kHz) or cad2-task1 (alpha downmix, multiband compressor, "
        "44.1 kHz).")] = "cadenza-icassp2024",
    compressor_params: Annotated[Path | None, typer.Option(
        "--compressor-params", help="CAD2 compressor_params.json (default: beside the "
        "manifest).")] = None,
    vocal_separator: Annotated[Path | None, typer.Option(
        "--vocal-separator", help="CAD2 task 1: a TorchScript vocal separator ([B,2,T] -> "
        "[B,2 sources,2,T], vocals first, 44.1 kHz), run as the recipe runs its ConvTasNet "
        "(6 s segments, 10% overlap); default: the true stems.")] = None,
) -> None:
    """Remix each item for its listener (Cadenza ICASSP 2024 baseline, or --chain cad2-task2 /
    cad2-task1): 16-bit FLAC, 32 kHz (44.1 kHz for CAD2 task 1)."""
    with c.exit_codes():
        settings = shared.settings(out, ear="both", batch_size=1)
        name = separator or registry.default_backend(SEPARATE)
        with progress_bar(f"remix ({name})", shared.quiet) as update:
            summary = run_remix(manifest, settings, separator=name,
                                checkpoint=backend_options.pop("checkpoint", None),
                                separator_options=backend_options, gains_path=gains,
                                gains_checkpoint=gains_checkpoint,
                                compressor=compressor, chain=chain,
                                compressor_params_path=compressor_params,
                                vocal_separator=vocal_separator, root=shared["root"],
                                listeners_path=shared["listeners"], command=sys.argv,
                                progress=update)
    c.report_run(TASK, summary, shared.output_format, shared.quiet)

