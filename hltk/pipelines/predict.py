"""``hltk predict``: intelligibility prediction from ``hltk evaluate`` scores, and the challenge
readers behind ``hltk manifest cpc2|cpc3|clip``.

``predict(test, out, train=...)`` reads two ``scores.csv`` (or the ``evaluate`` folders holding
them), fits the baselines' logistic (:mod:`hltk.predict.logistic`) from ``score_column``
(better-ear ``haspi`` by default; any metric column) to ``correctness_column`` (0-100) on the
training table, and writes the test table's predictions as the challenges' submission file::

    signal_ID,intelligibility_score
    S0001_L0001_E001_hr,63.2...

(``header=False`` for leaderboards that want none), in the test table's row order. Without
``train`` each test row is predicted by a fit on the rows disjoint from it in ``disjoint``
columns (the CPC2 / CPC3 train-set protocol). ``score=True`` adds RMSE, Std, NCC, KT and SRCC
against the test table's correctness (:mod:`hltk.predict.statistics`). Beside the predictions
``<out stem>.json`` records the fit, its inputs and the statistics.

``evaluate`` copies the manifest's columns into ``scores.csv``, so a manifest written by
``hltk manifest cpc2|cpc3|clip`` carries ``correctness``, ``system`` and ``listener`` through.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hltk import __version__
from hltk.challenges.clip import write_clip_manifest
from hltk.challenges.cpc2 import ENHANCEMENT_CHALLENGES, write_cpc2_manifest
from hltk.challenges.cpc3 import write_cpc3_manifest
from hltk.challenges.layout import ChallengeManifest  # noqa: F401  (re-exported for the CLI)
from hltk.io.audio import atomic_path
from hltk.predict.logistic import FitError, LogisticFit, fit_logistic, predict_disjoint
from hltk.predict.statistics import prediction_statistics
from hltk.runner.settings import RunError

SCORES = "scores.csv"
HEADER: tuple[str, str] = ("signal_ID", "intelligibility_score")
DEFAULT_DISJOINT: tuple[str, ...] = ("system", "listener")


@dataclass
class PredictResult:
    """What :func:`predict` wrote and found."""

    predictions: Path
    record: Path
    table: pd.DataFrame
    fit: LogisticFit | None
    fits: int
    statistics: list[dict[str, Any]] = field(default_factory=list)
    dropped_train: int = 0


def scores_path(path: str | Path) -> Path:
    """``scores.csv`` itself, or the one in an ``evaluate`` output folder."""
    path = Path(path)
    if path.is_dir():
        path = path / SCORES
    if not path.is_file():
        raise RunError(f"no scores table at {path}")
    return path


def load_scores(path: str | Path, score_column: str, correctness_column: str | None) -> pd.DataFrame:
    """A scores table with ``id`` as text and the score (and correctness) as numbers."""
    source = scores_path(path)
    table = pd.read_csv(source, dtype={"id": str, "listener": str, "system": str},
                        keep_default_na=True)
    for column in ("id", score_column, correctness_column):
        if column is not None and column not in table.columns:
            numeric = [c for c in table.columns if c not in ("id",) and
                       pd.api.types.is_numeric_dtype(table[c])]
            raise RunError(f"{source}: no column {column!r} (numeric columns: "
                           f"{', '.join(numeric) or 'none'})")
    if table["id"].duplicated().any():
        raise RunError(f"{source}: duplicate ids {table['id'][table['id'].duplicated()].tolist()[:5]}")
    table[score_column] = pd.to_numeric(table[score_column], errors="coerce")
    if correctness_column is not None:
        table[correctness_column] = pd.to_numeric(table[correctness_column], errors="coerce")
        values = table[correctness_column].dropna()
        if len(values) and (values.min() < 0 or values.max() > 100):
            raise RunError(f"{source}: {correctness_column!r} must be in 0-100 (percent), got "
                           f"{values.min():g}..{values.max():g}")
    return table


def write_predictions(path: Path, ids: Sequence[str], values: np.ndarray, header: bool) -> None:
    """``signal_ID,intelligibility_score`` rows (full-precision floats), atomically."""
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header:
            writer.writerow(HEADER)
        for signal, value in zip(ids, values, strict=True):
            writer.writerow([signal, repr(float(value))])


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def predict(
    test: str | Path,
    out: str | Path,
    *,
    train: str | Path | None = None,
    score_column: str = "haspi",
    correctness_column: str = "correctness",
    header: bool = True,
    score: bool = False,
    disjoint: Sequence[str] = DEFAULT_DISJOINT,
    resamples: int = 1000,
    seed: int = 0,
    command: Sequence[str] | None = None,
) -> PredictResult:
    """Fit on ``train`` (or per row, disjointly, on ``test``), predict ``test``, write ``out``.

    Raises :class:`RunError` for a missing column, a test row without a score (the submission
    must name every signal), correctness outside 0-100, or a fit that fails.
    """
    out = Path(out)
    if out.is_dir():
        raise RunError(f"-o {out}: is a folder; give the predictions file (e.g. {out}/predict.csv)")
    needs_truth = score or train is None
    test_table = load_scores(test, score_column, correctness_column if needs_truth else None)
    unscored = test_table["id"][test_table[score_column].isna()].tolist()
    if unscored:
        raise RunError(f"{len(unscored)} test rows have no {score_column!r} score (first: "
                       f"{', '.join(unscored[:5])}); score them (hltk evaluate --retry-failed) first")
    fit: LogisticFit | None = None
    dropped = 0
    try:
        if train is not None:
            train_table = load_scores(train, score_column, correctness_column)
            usable = train_table[score_column].notna() & train_table[correctness_column].notna()
            dropped = int((~usable).sum())
            fit = fit_logistic(train_table[score_column][usable], train_table[correctness_column][usable])
            predictions, fits = fit.predict(test_table[score_column].to_numpy()), 1
        else:
            if test_table[correctness_column].isna().any():
                raise RunError(f"without --train every row needs {correctness_column!r} (the "
                               "disjoint fit trains on the table itself)")
            predictions, fits = predict_disjoint(test_table, score_column, correctness_column,
                                                 list(disjoint))
    except FitError as error:
        raise RunError(str(error)) from None
    statistics: list[dict[str, Any]] = []
    if score:
        truth = test_table[correctness_column].to_numpy(dtype=np.float64)
        if not np.isfinite(truth).any():
            raise RunError(f"--score: the test table has no {correctness_column!r} values")
        statistics = prediction_statistics(predictions, truth, resamples, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_predictions(out, test_table["id"].tolist(), predictions, header)
    record = out.with_suffix(".json")
    content = {
        "hltk_version": __version__, "command": list(command) if command else None,
        "test": str(scores_path(test)), "train": str(scores_path(train)) if train else None,
        "score_column": score_column, "correctness_column": correctness_column,
        "mode": "train" if train is not None else f"disjoint by {', '.join(disjoint) or 'row'}",
        "fit": fit.as_dict() if fit is not None else None, "fits": fits,
        "dropped_train_rows": dropped, "header": header,
        "statistics": [{k: _clean(v) for k, v in row.items()} for row in statistics],
    }
    with atomic_path(record) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    table = pd.DataFrame({HEADER[0]: test_table["id"], HEADER[1]: predictions,
                          score_column: test_table[score_column]})
    if correctness_column in test_table:
        table[correctness_column] = test_table[correctness_column]
    return PredictResult(out, record, table, fit, fits, statistics, dropped)


def cpc2_manifest(root: str | Path, split: str, out: str | Path,
                  challenges: tuple[str, ...] = ENHANCEMENT_CHALLENGES) -> ChallengeManifest:
    """``hltk manifest cpc2`` (:mod:`hltk.challenges.cpc2`)."""
    return write_cpc2_manifest(root, split, out, challenges)


def cpc3_manifest(root: str | Path, split: str, out: str | Path,
                  dataset: str = "clarity_data") -> ChallengeManifest:
    """``hltk manifest cpc3`` (:mod:`hltk.challenges.cpc3`)."""
    return write_cpc3_manifest(root, split, out, dataset)


def clip_manifest(root: str | Path, split: str, out: str | Path) -> ChallengeManifest:
    """``hltk manifest clip`` (:mod:`hltk.challenges.clip`)."""
    return write_clip_manifest(root, split, out)
