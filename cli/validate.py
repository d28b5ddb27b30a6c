"""``hltk validate``: check a manifest (and its audio and listeners) without processing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.validate import validate_manifest
from hltk.runner import EXIT_USAGE
from hltk_cli import common as c
from hltk_cli.output import error, info, print_rows


def validate(
    manifest: c.ManifestArg,
    listeners: c.ListenersOpt = None,
    root: c.RootOpt = None,
    require_listener: Annotated[bool, typer.Option(
        "--require-listener/--no-require-listener",
        help="Every row needs a listener (processing manifests do).")] = True,
    columns: Annotated[str, typer.Option(
        "--columns", help="Required columns, comma-separated.")] = "id,audio",
    filename: c.FilenameOpt = "{id}.{ext}",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Check MANIFEST: columns, ids, audio files, listeners, levels, output names. Exit 2 on any
    problem."""
    with c.exit_codes():
        report = validate_manifest(
            manifest, root=root, listeners_path=listeners, require_listener=require_listener,
            required_columns=[name.strip() for name in columns.split(",") if name.strip()],
            filename=filename,
        )
    if report.problems:
        for line in report.messages():
            error(line)
        raise typer.Exit(EXIT_USAGE)
    print_rows([report.summary], list(report.summary), output_format, title=str(Path(manifest)))
    info(f"{manifest}: ok ({report.summary['items']} items)", c.is_quiet(quiet))
