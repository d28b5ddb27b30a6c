"""Printing: data to stdout (table, csv or json), everything else to stderr."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True, highlight=False)

OUTPUT_FORMATS = ("table", "csv", "json")


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str,
               title: str | None = None) -> None:
    """Write rows to stdout as a rich table, CSV or JSON (a list of objects)."""
    if fmt == "json":
        sys.stdout.write(json.dumps([{c: row.get(c) for c in columns} for row in rows],
                                    indent=2, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    else:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(table)
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@contextmanager
def progress_bar(description: str, quiet: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``update(done, total)``."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=stderr, disable=quiet, transient=False,
    )
    task_id = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task_id, completed=done, total=total)

    with progress:
        yield update


def error(message: str) -> None:
    stderr.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)


def warn(message: str) -> None:
    stderr.print(Text.assemble(("warning: ", "yellow"), message), soft_wrap=True)


def info(message: str, quiet: bool = False) -> None:
    if not quiet:
        stderr.print(message, markup=False, soft_wrap=True)
