"""``hltk manifest``: build hltk manifests from challenge metadata (``hltk manifest cadenza``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.remix import cad2_manifest, cadenza_manifest
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


@manifest_app.command("cad2")
def cad2(
    root: Annotated[Path, typer.Option("--root", help="CAD2 task data root (holds metadata/ and "
                                       "audio/).", show_default=False)],
    out: c.OutOpt,
    task: Annotated[int, typer.Option("--task", help="1 (lyric intelligibility) or 2 (rebalancing "
                                      "classical music).")] = 2,
    split: Annotated[Literal["train", "valid", "test"], typer.Option(
        "--split", help="Which split's scenes and listeners.")] = "valid",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) of a CAD2 task's split: OUT/manifest.csv, listeners.json,
    compressor_params.json (and task 2's gains.json), ready for
    `hltk remix OUT/manifest.csv --chain cad2-taskN`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cad2_manifest(root, task, split, out)
    summary = {"task": task, "split": split, "rows": result.rows, "scenes": result.scenes,
               "stem_columns": result.stems, "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cad2")
    info(f"cad2 task {task} {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_stems else " (no stems: the oracle separator cannot run on it)"),
         c.is_quiet(quiet))
