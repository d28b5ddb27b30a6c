"""The logistic mapping of the CPC2 / CPC3 / CLIP1 baselines: objective score -> correctness.

The recipes (``recipes/cpc2/baseline/predict.py``, ``recipes/cpc3/baseline/
shared_predict_utils.py``, ``recipes/cad_icassp_2026/baseline/shared_predict_utils.py`` in
claritychallenge/clarity) all fit

    correctness(x) = 100 / (1 + exp(-k (x - x0)))

by least squares (``scipy.optimize.curve_fit``, initial guess ``x0 = 0.5, k = 1.0``) on the
training set's scores ``x`` and listener correctness (0-100), and predict another set with it.
:func:`fit_logistic` does the same fit (same function, same start, same solver) on any score.

On the training set itself the recipes predict each signal with a model fitted on a *disjoint*
subset: every row that shares the signal, its system or its listener is left out
(``make_disjoint_train_set``; CPC3's README says "target sentence" but its code drops the same
``signal``, ``system`` and ``listener``: this module follows the code). The training subset of a
row depends only on its values in those columns, so :func:`predict_disjoint` fits once per
distinct combination instead of once per row — the predictions are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

#: the recipes' initial guess (x0, k)
INITIAL_GUESS: tuple[float, float] = (0.5, 1.0)
FORMULA = "100 / (1 + exp(-k * (x - x0)))"


class FitError(ValueError):
    """The logistic cannot be fitted (too few points, or the solver did not converge)."""


def logistic(x: np.ndarray, x0: float, k: float) -> np.ndarray:
    """``100 / (1 + exp(-k (x - x0)))``: correctness in percent at score ``x``."""
    return 100.0 / (1.0 + np.exp(-k * (np.asarray(x, dtype=np.float64) - x0)))


@dataclass(frozen=True)
class LogisticFit:
    """A fitted mapping: midpoint ``x0`` (the score at 50 % correct), slope ``k``, and the
    number of training points."""

    x0: float
    k: float
    n: int

    def predict(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        return logistic(np.asarray(x, dtype=np.float64), self.x0, self.k)

    def as_dict(self) -> dict[str, object]:
        return {"function": FORMULA, "x0": self.x0, "k": self.k, "n_train": self.n,
                "initial_guess": list(INITIAL_GUESS), "solver": "scipy.optimize.curve_fit"}


def fit_logistic(scores: np.ndarray | Sequence[float],
                 correctness: np.ndarray | Sequence[float]) -> LogisticFit:
    """Least-squares fit of :func:`logistic` to (score, correctness 0-100) pairs, from the
    recipes' initial guess. Raises :class:`FitError` with fewer than 2 finite pairs or when the
    solver fails."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(correctness, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        raise FitError(f"the logistic needs at least 2 training points with a score and a "
                       f"correctness, got {len(x)}")
    try:
        params, _ = curve_fit(logistic, x, y, p0=list(INITIAL_GUESS))
    except (RuntimeError, ValueError) as error:
        raise FitError(f"the logistic fit failed on {len(x)} points: {error}") from None
    return LogisticFit(float(params[0]), float(params[1]), int(len(x)))


def disjoint_mask(table: pd.DataFrame, row: int, columns: Sequence[str]) -> np.ndarray:
    """Rows of ``table`` that share no value of ``columns`` with row ``row`` and are not it."""
    keep = np.ones(len(table), dtype=bool)
    keep[row] = False
    for column in columns:
        keep &= (table[column] != table[column].iloc[row]).to_numpy()
    return keep


def predict_disjoint(table: pd.DataFrame, score_column: str, correctness_column: str,
                     columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """Each row predicted by a logistic fitted on the rows disjoint from it in ``columns``
    (:func:`disjoint_mask`); returns the predictions and the number of fits made.

    With ``columns`` empty this is leave-one-out. Raises :class:`FitError` naming the first row
    whose disjoint subset cannot be fitted.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise FitError(f"--disjoint: no column {', '.join(missing)} in the scores table")
    scores = table[score_column].to_numpy(dtype=np.float64)
    correctness = table[correctness_column].to_numpy(dtype=np.float64)
    predictions = np.full(len(table), np.nan)
    keys = (list(zip(*(table[c].astype(str) for c in columns), strict=True)) if columns
            else [(str(i),) for i in range(len(table))])
    fits: dict[tuple[str, ...], LogisticFit] = {}
    for row, key in enumerate(keys):
        if key not in fits:
            mask = disjoint_mask(table, row, columns)
            try:
                fits[key] = fit_logistic(scores[mask], correctness[mask])
            except FitError as error:
                raise FitError(f"row {table.index[row]} ({', '.join(key)}): {error}") from None
        predictions[row] = fits[key].predict(scores[row:row + 1])[0]
    return predictions, len(fits)
