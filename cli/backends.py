"""``hltk backends``: the registered backends, their options and defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from hltk.pipelines.backends import COLUMNS, backend_rows
from hltk_cli import common as c
from hltk_cli.output import print_rows

#: The table view leaves out the backend descriptions (csv and json carry them).
TABLE_COLUMNS = [column for column in COLUMNS if column != "description"]


def backends(
    task: Annotated[str | None, typer.Argument(
        help="Only this task's backends (simulate, amplify, denoise-amplify, remix, ...).",
        show_default=False)] = None,
    output_format: c.OutputFormatOpt = "table",
) -> None:
    """Every backend of every task (or of TASK) with its options: type, default, help, and
    which backend is the default and which are references."""
    with c.exit_codes(usage=(ValueError,)):
        rows = backend_rows(task)
    print_rows(rows, TABLE_COLUMNS if output_format == "table" else list(COLUMNS), output_format,
               title="hltk backends")
