"""``hltk manifest``: build hltk manifests from challenge metadata (``hltk manifest cadenza``,
``hltk manifest cec3``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.cec3 import cec3_manifest
from hltk.pipelines.remix import cadenza_manifest
from hltk_cli import common as c
from hltk_cli.output import info, print_rows

manifest_app = typer.Typer(name="manifest", help="Build manifests from challenge metadata.",
                           no_args_is_help=True)


@manifest_app.command("cadenza")
def cadenza(
    root: Annotated[Path, typer.Option("--root", help="Cadenza ICASSP 2024 data root (holds "
                                       "metadata/ and audio/at_mic_music/).", show_default=False)],
    out: c.OutOpt,
    split: Annotated[Literal["train", "valid", "test"], typer.Option(
        "--split", help="Which split's scenes and listeners.")] = "valid",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) of a Cadenza ICASSP 2024 split: OUT/manifest.csv,
    listeners.json and gains.json, ready for `hltk remix OUT/manifest.csv`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cadenza_manifest(root, split, out)
    summary = {"split": split, "rows": result.rows, "scenes": result.scenes,
               "stems": result.with_stems, "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cadenza")
    info(f"cadenza {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_stems else " (no stems: the oracle separator cannot run on it)"),
         c.is_quiet(quiet))


@manifest_app.command("cec3")
def cec3(
    root: Annotated[Path, typer.Option("--root", help="CEC3 data root (clarity_CEC3_data: holds "
                                       "task1/, task2/, task3/).", show_default=False)],
    out: c.OutOpt,
    task: Annotated[int, typer.Option("--task", min=1, max=3, help="CEC3 task: 1, 2 or 3.")] = 1,
    split: Annotated[Literal["dev", "eval"], typer.Option(
        "--split", help="Which split's scene-listener pairs.")] = "dev",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) pair of a CEC3 task and split: OUT/manifest.csv (the three
    microphone pairs, the reference, SNR) and listeners.json, ready for `hltk amplify
    OUT/manifest.csv --backend nalr-compressor --preset cec3`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cec3_manifest(root, task, split, out)
    rates = ",".join(str(rate) for rate in result.sample_rates)
    summary = {"task": task, "split": split, "rows": result.rows, "scenes": result.scenes,
               "reference": result.with_reference, "sample_rate": rates,
               "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cec3")
    info(f"cec3 task {task} {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_reference else " (no references: it cannot be scored)")
         + f"; amplify with --preset cec3 --sample-rate {rates.split(',')[0]}", c.is_quiet(quiet))
