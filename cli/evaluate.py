"""``hltk evaluate`` and ``hltk compare``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import typer

from hltk.metrics.engine_clarity import ScoringSettings
from hltk.pipelines.compare import compare as run_compare
from hltk.pipelines.evaluate import EvaluateSettings, parse_metrics, preset_scoring
from hltk.pipelines.evaluate import (
    evaluate as run_evaluate,
)
from hltk.runner import parse_shard
from hltk_cli import common as c
from hltk_cli.output import info, print_rows, progress_bar, warn

SUMMARY_COLUMNS = ["metric", "group", "value", "n", "mean_system", "mean_reference", "lcc",
                   "lcc_ci_low", "lcc_ci_high", "srcc", "srcc_ci_low", "srcc_ci_high", "mse",
                   "mse_ci_low", "mse_ci_high", "system", "reference"]


TABLE_SUMMARY_COLUMNS = ["metric", "group", "value", "n", "mean_system", "mean_reference", "lcc",
                         "srcc", "mse"]


def _summary_columns(output_format: str) -> list[str]:
    """The table view keeps the main figures; csv and json carry the intervals too."""
    return TABLE_SUMMARY_COLUMNS if output_format == "table" else SUMMARY_COLUMNS


def _agreement_title(summary: pd.DataFrame) -> str:
    """``agreement: SYSTEM (system) against REFERENCE (reference)`` from the label columns."""
    if len(summary) and {"system", "reference"} <= set(summary.columns):
        first = summary.iloc[0]
        return f"agreement: {first['system']} (system) against {first['reference']} (reference)"
    return "agreement"


def _records(table: pd.DataFrame) -> list[dict[str, object]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def evaluate(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    metrics: Annotated[str, typer.Option(
        "--metrics", help="Comma-separated: haspi, hasqi, haaqi, stoi, estoi, pesq, sisdr, or all.")]
    = "haspi,stoi",
    reference_column: Annotated[str, typer.Option(
        "--reference-column", help="Column with the reference signal ('input' scores against "
        "the unprocessed input of a chained manifest).")] = "reference",
    calibration: Annotated[Literal["fixed", "reference-rms"], typer.Option(
        "--calibration", help="fixed: level1 = --level-db-spl; reference-rms: the reference "
        "ear presented at 65 dB SPL (Cadenza).")] = "fixed",
    level_db_spl: Annotated[float, typer.Option(
        "--level-db-spl", help="dB SPL of a digital RMS of 1 (fixed calibration).")] = 100.0,
    equalisation: Annotated[int, typer.Option(
        "--equalisation", min=1, max=2, help="HASQI/HAAQI: 1 = metric applies NAL-R to the "
        "reference, 2 = reference already amplified.")] = 1,
    preset: Annotated[Literal["cadenza-icassp2024", "cec3", "cad2-task2", "cad2-task1"] | None,
                      typer.Option(
        "--preset", help="cadenza-icassp2024: HAAQI against the reference rebuilt from the "
        "ground-truth stems (columns vocals, drums, bass, other, input = mixture) through the "
        "row's gains, remix and NAL-R; 24 kHz, equalisation 2, reference-rms level, mean of "
        "ears. cec3: better-ear HASPI v2 against the reference column at 100 dB SPL, seeded per "
        "scene as the CEC3 recipe; report.csv by SNR bin. cad2-task2 / cad2-task1: the CAD2 "
        "recipes' HAAQI (reference through the listener's multiband compressor, "
        "compressor_params.json beside the manifest; task 1: the HAAQI half). Fixes --metrics, "
        "--calibration and --equalisation.")] = None,
    engine: Annotated[Literal["fast", "clarity", "torch"] | None, typer.Option(
        "--engine", help="fast (default): HASPI/HASQI/HAAQI by hltk's batched port of "
        "pyclarity's ear model (compiled kernels on CPU), pyclarity's scores to ~1e-8; "
        "clarity: pyclarity itself, one item per worker (the reference); torch: former name "
        "of fast. STOI, PESQ, SI-SDR are the same code in both. Recorded in run.json and "
        "scores.csv.json. A preset scores with its own engine.", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Items per batch (fast engine).")] = 8,
    against: Annotated[Path | None, typer.Option(
        "--against", help="Another system's manifest (scored over the same ids) or its "
        "scores.csv; writes summary.csv and plots.")] = None,
    label: Annotated[str | None, typer.Option(
        "--label", help="Name of the scored system in the summary and plots (default: the "
        "backend of the run that made the manifest's audio).", show_default=False)] = None,
    against_label: Annotated[str | None, typer.Option(
        "--against-label", help="Name of the --against system (default: its backend).",
        show_default=False)] = None,
    group_by: Annotated[str, typer.Option(
        "--group-by", help="Comma-separated columns for per-group rows (listener, severity, split).")] = "",
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="PNG plots with --against.")] = True,
    listeners: c.ListenersOpt = None,
    root: c.RootOpt = None,
    jobs: c.JobsOpt = 1,
    executor: c.ExecutorOpt = "local",
    scheduler: c.SchedulerOpt = None,
    limit: c.LimitOpt = None,
    shard: c.ShardOpt = None,
    skip_invalid: c.SkipInvalidOpt = False,
    overwrite: c.OverwriteOpt = False,
    retry_failed: c.RetryOpt = False,
    seed: c.SeedOpt = 0,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Score processed audio against references: HASPI, HASQI, HAAQI, STOI, ESTOI, PESQ, SI-SDR."""
    quiet = c.is_quiet(quiet)
    with c.exit_codes():
        scoring = preset_scoring(preset) if preset else ScoringSettings(
            metrics=parse_metrics(metrics), calibration=calibration, level_db_spl=level_db_spl,
            equalisation=equalisation)
        settings = EvaluateSettings(
            out=out, scoring=scoring, reference_column=reference_column, engine=engine, seed=seed,
            jobs=jobs, batch_size=batch_size, executor=executor, scheduler=scheduler, limit=limit,
            overwrite=overwrite, retry_failed=retry_failed, preset=preset, shard=parse_shard(shard),
            skip_invalid=skip_invalid, label=label,
        )
        groups = [g.strip() for g in group_by.split(",") if g.strip()]
        with progress_bar("evaluate", quiet) as update:
            result = run_evaluate(manifest, settings, against=against, against_label=against_label,
                                  group_by=groups, root=root,
                                  listeners_path=listeners, plots=plots, command=sys.argv,
                                  progress=update)
    if result.summary is not None:
        print_rows(_records(result.summary), _summary_columns(output_format), output_format,
                   title=_agreement_title(result.summary))
    else:
        print_rows(_records(result.scores), list(result.scores.columns), output_format, title="scores")
    if result.report is not None:
        print_rows(_records(result.report), list(result.report.columns), output_format,
                   title="HASPI by SNR (report.csv)")
    counts = result.counts
    info(f"evaluate: {counts['scored']} scored, {counts['skipped']} already scored, "
         f"{counts['total_failed']} failed; tables in {result.out}", quiet)
    if counts["total_failed"]:
        warn(f"{counts['total_failed']} items failed: see {result.out / 'failures.csv'}")
    raise typer.Exit(result.exit_code)


def compare(
    system: Annotated[Path, typer.Argument(help="scores.csv of the system (or its folder).")],
    reference: Annotated[Path, typer.Argument(help="scores.csv of the reference system.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write summary.csv and plots here.")] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Metrics to compare (default: all shared).")] = "",
    group_by: Annotated[str, typer.Option("--group-by", help="Comma-separated group columns.")] = "",
    label: Annotated[str | None, typer.Option(
        "--label", help="Name of the system (default: from its scores.csv.json or run.json: "
        "the backend of the run that made its audio).", show_default=False)] = None,
    against_label: Annotated[str | None, typer.Option(
        "--against-label", help="Name of the reference system (default: as --label).",
        show_default=False)] = None,
    seed: c.SeedOpt = 0,
    output_format: c.OutputFormatOpt = "table",
) -> None:
    """LCC, SRCC and MSE (with 95% bootstrap intervals) between two score tables, joined by id."""
    with c.exit_codes():
        summary = run_compare(system, reference, metrics=parse_metrics(metrics) if metrics else None,
                              group_by=[g.strip() for g in group_by.split(",") if g.strip()],
                              seed=seed, out=out, label=label, against_label=against_label)
    print_rows(_records(summary), _summary_columns(output_format), output_format,
               title=_agreement_title(summary))
