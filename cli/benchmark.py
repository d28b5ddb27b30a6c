"""``hltk benchmark``: speed and fidelity of every registered backend, side by side."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.benchmark import BenchmarkSettings, run_benchmark
from hltk_cli import common as c
from hltk_cli.output import info, print_rows, warn


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def benchmark(
    out: c.OutOpt,
    suite: Annotated[Literal["speed", "fidelity", "all"], typer.Option(
        "--suite", help="speed: timings; fidelity: outputs scored against the reference "
        "backend's; all: both.")] = "all",
    tasks: Annotated[str, typer.Option(
        "--tasks", help="Comma-separated tasks (simulate, amplify, denoise-amplify, remix, "
        "metrics) or 'all': every registered task and the metric engines.")] = "all",
    items: Annotated[int, typer.Option("--items", min=1, help="Items in the synthetic corpus.")] = 8,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Seconds per item.")] = 2.0,
    data: Annotated[Path | None, typer.Option(
        "--data", help="Benchmark on this manifest instead of the synthetic corpus (a "
        "'reference' column enables the metric engines and clean-reference scoring).")] = None,
    device: c.DeviceOpt = "auto",
    jobs: Annotated[int, typer.Option(
        "-j", "--jobs", min=1, help="Workers for per-item backends and the clarity engine.")] = 2,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed passes after the "
                                         "warm-up; the median and p90 are reported.")] = 3,
    max_time: Annotated[float, typer.Option(
        "--max-time", min=0.0, help="Stop repeating a backend once its timed passes add up to "
        "this many seconds (at least one pass; 0: always --repeats).")] = 30.0,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="Batch of batched backends (default: all items).")] = None,
    engine_metrics: Annotated[str, typer.Option(
        "--engine-metrics", help="Metrics the metric engines are timed and compared on "
        "(haspi, hasqi, haaqi).")] = "haspi,hasqi",
    seed: c.SeedOpt = 0,
    output_format: Annotated[Literal["markdown", "csv", "json"], typer.Option(
        "--format", help="What goes to stdout: the Markdown report, or the rows as CSV/JSON.")]
    = "markdown",
    quiet: c.QuietOpt = False,
) -> None:
    """Speed (RTF, RTFx, items/s, memory, speed-up over the reference) and fidelity (LCC, SRCC,
    MSE against the reference backend) of every registered backend, measured in one run."""
    quiet = c.is_quiet(quiet)
    with c.exit_codes():
        settings = BenchmarkSettings(
            out=out, suite=suite, tasks=None if tasks.strip() == "all" else _split(tasks),
            items=items, seconds=seconds, device=device, data=data, jobs=jobs, repeats=repeats,
            max_seconds=max_time or None,
            batch_size=batch_size, engine_metrics=_split(engine_metrics), seed=seed,
        )
        result = run_benchmark(settings, command=sys.argv,
                               progress=lambda message: info(message, quiet))
    if output_format == "markdown":
        sys.stdout.write(result.report)
        sys.stdout.flush()
    else:
        rows = [{"suite": "speed", **row} for row in result.speed]
        rows += [{"suite": "fidelity", **row} for row in result.fidelity]
        columns = list(dict.fromkeys(key for row in rows for key in row))
        clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                  for k, v in row.items()} for row in rows]
        print_rows(clean, columns, output_format)
    for note in result.notes:
        info(f"note: {note}", quiet)
    info(f"benchmark: {len(result.speed)} speed rows, {len(result.fidelity)} fidelity rows in "
         f"{result.record['timing']['wall_s']:.0f} s; tables, plots and run.json in {out}", quiet)
    if result.exit_code:
        warn("some backends failed: see the status and message columns of results.csv")
    raise typer.Exit(result.exit_code)
