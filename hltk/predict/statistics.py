"""The challenges' prediction statistics, with bootstrap intervals.

As ``recipes/cpc2/baseline/evaluate.py``, ``recipes/cpc3/baseline/evaluate.py`` and
``recipes/cad_icassp_2026/baseline/evaluate.py`` (claritychallenge/clarity) compute them, with
``x`` the predictions and ``y`` the listeners' correctness:

- ``RMSE`` = sqrt(mean((x - y)^2)) — the ranking statistic of CPC2, CPC3 and CLIP;
- ``Std`` = std(x - y) / sqrt(N) (population std, numpy's default), the standard error;
- ``NCC`` = Pearson's r (``scipy.stats.pearsonr``);
- ``KT`` = Kendall's tau-b (``scipy.stats.kendalltau``, ties handled as tau-b);

and ``SRCC`` (Spearman's rank correlation, :func:`hltk.metrics.stats.srcc`), which the recipes
do not report but papers do. Intervals: the seeded percentile bootstrap over items of
:func:`hltk.metrics.stats.bootstrap_interval` (95 %).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from hltk.metrics.stats import bootstrap_interval, srcc


def rmse(predictions: np.ndarray, correctness: np.ndarray) -> float:
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(correctness, dtype=np.float64)
    return float(np.sqrt(np.mean((x - y) ** 2))) if len(x) else float("nan")


def std_err(predictions: np.ndarray, correctness: np.ndarray) -> float:
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(correctness, dtype=np.float64)
    return float(np.std(x - y) / np.sqrt(len(x))) if len(x) else float("nan")


def _constant(values: np.ndarray) -> bool:
    return bool(np.all(values == values[0]))


def ncc(predictions: np.ndarray, correctness: np.ndarray) -> float:
    """Pearson's r; NaN with fewer than 2 items or a constant side (scipy would warn)."""
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(correctness, dtype=np.float64)
    if len(x) < 2 or _constant(x) or _constant(y):
        return float("nan")
    return float(scipy_stats.pearsonr(x, y)[0])


def kendall_tau(predictions: np.ndarray, correctness: np.ndarray) -> float:
    """Kendall's tau-b; NaN with fewer than 2 items or a constant side."""
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(correctness, dtype=np.float64)
    if len(x) < 2 or _constant(x) or _constant(y):
        return float("nan")
    return float(scipy_stats.kendalltau(x, y)[0])


#: name -> statistic, in the recipes' order (SRCC last, not in the recipes)
STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "RMSE": rmse, "Std": std_err, "NCC": ncc, "KT": kendall_tau, "SRCC": srcc}
#: the statistics given a bootstrap interval (Std is itself a spread)
WITH_INTERVAL: tuple[str, ...] = ("RMSE", "NCC", "KT", "SRCC")


def prediction_statistics(predictions: np.ndarray, correctness: np.ndarray,
                          resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """One row per statistic: ``statistic``, ``value``, ``ci_low``, ``ci_high`` (95 %
    bootstrap; empty for Std), ``n``. Pairs with a NaN on either side are dropped."""
    x, y = np.asarray(predictions, dtype=np.float64), np.asarray(correctness, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    rows: list[dict[str, Any]] = []
    for name, function in STATISTICS.items():
        row: dict[str, Any] = {"statistic": name, "value": function(x, y), "ci_low": None,
                               "ci_high": None, "n": int(len(x))}
        if name in WITH_INTERVAL and resamples > 0:
            row["ci_low"], row["ci_high"] = bootstrap_interval(x, y, function, resamples, seed=seed)
        rows.append(row)
    return rows
