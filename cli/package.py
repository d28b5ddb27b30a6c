"""``hltk package``: a challenge submission folder and archive from a run's outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.challenges.cec3 import PackageError
from hltk.pipelines.package import package as run_package
from hltk_cli import common as c
from hltk_cli.output import info, print_rows, warn


def package(
    out: Annotated[Path, typer.Argument(help="Folder to write the submission in.",
                                        show_default=False)],
    team: Annotated[str, typer.Option("--team", help="Your team ID (e.g. E001).",
                                      show_default=False)],
    source: Annotated[Path, typer.Option(
        "--from", help="The run folder of the outputs (hltk amplify -o), or a folder of "
        "{scene}_{listener}_HA-output.wav files.", show_default=False)],
    task: Annotated[int, typer.Option("--task", min=1, max=3, help="CEC3 task: 1, 2 or 3.",
                                      show_default=False)],
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="The expected scene-listener pairs: the manifest.csv of `hltk "
        "manifest cec3` (default: the one the run was made from, in its run.json).")] = None,
    challenge: Annotated[Literal["cec3"], typer.Option(
        "--challenge", help="Whose submission rules.")] = "cec3",
    archive: Annotated[Literal["tar.gz", "zip", "none"], typer.Option(
        "--archive", help="Archive of the team folder, named {TEAM}_task{N}.")] = "tar.gz",
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing submission folder and archive.")] = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Lay out a CEC3 submission: OUT/{TEAM}_task{N}/{TEAM}/{scene}_{listener}_HA-output.wav
    (16-bit WAV, every expected pair) and the archive OUT/{TEAM}_task{N}.tar.gz with the team
    folder at its root. A missing or malformed file is refused (exit 2), each one named."""
    with c.exit_codes(usage=(PackageError,)):
        result = run_package(source, out, team=team, task=task, manifest=manifest,
                             challenge=challenge, archive=archive, overwrite=overwrite)
    summary = {"team": team, "task": task, "files": result.files,
               "sample_rate": ",".join(str(rate) for rate in result.sample_rates),
               "folder": str(result.folder), "archive": str(result.archive or "")}
    print_rows([summary], list(summary), output_format, title="hltk package")
    if result.extra:
        warn(f"{len(result.extra)} outputs are not in the manifest and were left out: "
             + ", ".join(result.extra[:10]) + (" ..." if len(result.extra) > 10 else ""))
    info(f"package: {result.files} files in {result.folder}"
         + (f", archive {result.archive}" if result.archive else ""), c.is_quiet(quiet))
