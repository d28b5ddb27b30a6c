"""``hltk predict``: intelligibility predictions (CPC2, CPC3, CLIP) from ``hltk evaluate`` scores
(:func:`hltk.pipelines.predict.predict`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.predict import DEFAULT_DISJOINT
from hltk.pipelines.predict import predict as run_predict
from hltk_cli import common as c
from hltk_cli.output import info, print_rows

STAT_COLUMNS = ["statistic", "value", "ci_low", "ci_high", "n"]


def predict(
    test: Annotated[Path, typer.Argument(help="scores.csv to predict (or its evaluate folder).",
                                         show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="The predictions CSV to write "
                                      "(signal_ID,intelligibility_score).", show_default=False)],
    train: Annotated[Path | None, typer.Option(
        "--train", help="scores.csv with correctness to fit on (or its folder). Without it, each "
        "row of TEST is predicted from a fit on the rows disjoint from it (--disjoint), as the "
        "CPC2/CPC3 baselines do on their training sets.")] = None,
    score_column: Annotated[str, typer.Option(
        "--score-column", help="The metric column mapped to intelligibility (better-ear HASPI "
        "by default; any column, e.g. stoi, haspi_left).")] = "haspi",
    correctness_column: Annotated[str, typer.Option(
        "--correctness-column", help="The listeners' correctness column (0-100).")] = "correctness",
    header: Annotated[bool, typer.Option(
        "--header/--no-header", help="Write the signal_ID,intelligibility_score header "
        "(--no-header for leaderboards that want none).")] = True,
    score: Annotated[bool, typer.Option(
        "--score", help="Also give RMSE, Std, NCC, KT and SRCC against TEST's correctness, with "
        "95% bootstrap intervals (as the recipes' evaluate.py).")] = False,
    disjoint: Annotated[str, typer.Option(
        "--disjoint", help="Without --train: the columns a training row must not share with the "
        "predicted row (comma-separated; empty: leave one out).")] = ",".join(DEFAULT_DISJOINT),
    resamples: Annotated[int, typer.Option("--resamples", min=0,
                                           help="Bootstrap resamples (0: no intervals).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Map an objective score to listener correctness with the challenges' logistic
    100 / (1 + exp(-k (x - x0))), fitted on --train, and write TEST's predictions."""
    with c.exit_codes():
        result = run_predict(
            test, out, train=train, score_column=score_column,
            correctness_column=correctness_column, header=header, score=score,
            disjoint=[d.strip() for d in disjoint.split(",") if d.strip()],
            resamples=resamples, seed=seed, command=sys.argv)
    if result.statistics:
        print_rows(result.statistics, STAT_COLUMNS, output_format, title="hltk predict --score")
    else:
        records = result.table.to_dict(orient="records")
        print_rows(records, list(result.table.columns), output_format, title="hltk predict")
    fit = (f"x0 = {result.fit.x0:.4g}, k = {result.fit.k:.4g} on {result.fit.n} rows"
           if result.fit else f"{result.fits} disjoint fits")
    info(f"predict: {len(result.table)} predictions from {score_column} ({fit}) -> "
         f"{result.predictions}; record {result.record}"
         + (f"; {result.dropped_train} training rows without a score or correctness left out"
            if result.dropped_train else ""), c.is_quiet(quiet))
