"""Agreement statistics between two systems' scores: LCC, SRCC, MSE, bootstrap intervals.

LCC is Pearson's linear correlation, SRCC Spearman's rank correlation (average ranks for ties),
MSE the mean squared difference — the figures the Neuro-MSBG and NeuroAMP papers report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as scipy_stats


def lcc(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson linear correlation; NaN when either side is constant or N < 2."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def srcc(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2:
        return float("nan")
    return lcc(scipy_stats.rankdata(a), scipy_stats.rankdata(b))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.mean((a - b) ** 2)) if len(a) else float("nan")


STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"lcc": lcc, "srcc": srcc, "mse": mse}


def bootstrap_interval(
    a: np.ndarray, b: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float],
    resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over paired items (seeded)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 3:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(a), size=(resamples, len(a)))
    values = np.array([statistic(a[i], b[i]) for i in indices])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def agreement(system: np.ndarray, reference: np.ndarray, resamples: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """N, means, LCC, SRCC, MSE and their 95% bootstrap intervals, NaN pairs dropped."""
    system, reference = np.asarray(system, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    keep = np.isfinite(system) & np.isfinite(reference)
    system, reference = system[keep], reference[keep]
    row: dict[str, Any] = {
        "n": int(len(system)),
        "mean_system": float(np.mean(system)) if len(system) else float("nan"),
        "mean_reference": float(np.mean(reference)) if len(reference) else float("nan"),
    }
    for name, function in STATISTICS.items():
        row[name] = function(system, reference)
        low, high = bootstrap_interval(system, reference, function, resamples, seed=seed)
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row
