"""``hltk merge``: combine shard runs (processing or ``evaluate``) into one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.runner import EXIT_USAGE, merge_runs
from hltk_cli import common as c
from hltk_cli.output import error, info, print_rows


def merge(
    sources: Annotated[list[Path], typer.Argument(
        help="Output folders of shard runs (their shards/* records are merged).")],
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Destination (default: the single source folder).")] = None,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Merge `--shard I/N` runs: ledger, manifest.csv (or evaluate's scores.csv), failures.csv
    and run.json in one folder."""
    if out is None:
        if len(sources) != 1:
            error("several sources need -o/--out")
            raise typer.Exit(EXIT_USAGE)
        out = sources[0]
    with c.exit_codes():
        counts = merge_runs(sources, out)
    print_rows([counts], list(counts), output_format, title="hltk merge")
    info(f"merged {counts['runs']} runs into {out}", c.is_quiet(quiet))
    raise typer.Exit(3 if counts["failed"] else 0)
