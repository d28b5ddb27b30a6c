"""Agreement plots (matplotlib, Agg, PNG): the figures of the NeuroAMP and Neuro-MSBG papers.

Per metric: a scatter of the system's score against the reference system's, with the y = x
line and LCC / SRCC / MSE / N in the title; a histogram of the differences; and the mean score
of both systems by severity. Every figure names the two systems (``labels``: the callers pass
each run's label or backend, :mod:`hltk.pipelines.provenance`), so a figure pasted into a
paper says whose scores it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SEVERITY_ORDER = ["NOTHING", "MILD", "MODERATE", "SEVERE"]
LABELS = {"haspi": "HASPI", "hasqi": "HASQI", "haaqi": "HAAQI", "stoi": "STOI", "estoi": "ESTOI",
          "pesq": "PESQ (MOS-LQO)", "sisdr": "SI-SDR (dB)"}


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def agreement_plots(system: pd.DataFrame, reference: pd.DataFrame, summary: pd.DataFrame,
                    metrics: Sequence[str], folder: Path,
                    labels: tuple[str, str] = ("the system", "the reference system")) -> list[Path]:
    """Write ``{metric}_scatter.png``, ``{metric}_difference.png``, ``{metric}_severity.png``;
    ``labels``: the names of the system and of the reference system."""
    name, reference_name = labels
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    joined = system.merge(reference, on="id", suffixes=("", "_reference"))
    written: list[Path] = []
    for metric in metrics:
        if metric not in joined or f"{metric}_reference" not in joined:
            continue
        columns = [metric, f"{metric}_reference"]
        pairs = joined[["id", *columns, "severity"]].dropna(subset=columns)
        if pairs.empty:
            continue
        label = LABELS.get(metric, metric.upper())
        x = pairs[f"{metric}_reference"].to_numpy(dtype=float)
        y = pairs[metric].to_numpy(dtype=float)
        stats = summary[(summary["metric"] == metric) & (summary["group"] == "all")].iloc[0]

        figure, axes = plt.subplots(figsize=(5, 5))
        axes.scatter(x, y, s=14, alpha=0.7)
        low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        margin = 0.05 * (high - low or 1.0)
        axes.plot([low - margin, high + margin], [low - margin, high + margin], "k--", lw=1, label="y = x")
        axes.set_xlabel(f"{label} of {reference_name}")
        axes.set_ylabel(f"{label} of {name}")
        axes.set_title(f"{label}: {name} against {reference_name}\n"
                       f"LCC {stats['lcc']:.4f}  SRCC {stats['srcc']:.4f}  "
                       f"MSE {stats['mse']:.3g}  N {int(stats['n'])}", fontsize=10)
        axes.legend(loc="lower right")
        axes.grid(alpha=0.3)
        written.append(_save(figure, folder / f"{metric}_scatter.png", plt))

        figure, axes = plt.subplots(figsize=(6, 4))
        axes.hist(y - x, bins=min(40, max(5, len(x) // 2)), color="tab:orange", alpha=0.8)
        axes.axvline(0.0, color="k", lw=1)
        axes.set_xlabel(f"{label}: {name} - {reference_name}")
        axes.set_ylabel("items")
        axes.set_title(f"{label}: {name} - {reference_name} (mean {np.mean(y - x):+.4f})",
                       fontsize=10)
        written.append(_save(figure, folder / f"{metric}_difference.png", plt))

        figure, axes = plt.subplots(figsize=(6, 4))
        present = [s for s in SEVERITY_ORDER if s in set(pairs["severity"].fillna(""))]
        groups = present or ["all"]
        positions = np.arange(len(groups))
        if present:
            means_system = [pairs.loc[pairs["severity"] == s, metric].mean() for s in present]
            means_reference = [pairs.loc[pairs["severity"] == s, columns[1]].mean() for s in present]
        else:
            means_system, means_reference = [float(np.mean(y))], [float(np.mean(x))]
        axes.bar(positions - 0.2, means_reference, width=0.4, label=reference_name)
        axes.bar(positions + 0.2, means_system, width=0.4, label=name)
        axes.set_xticks(positions, [g.lower() for g in groups])
        axes.set_xlabel("hearing-loss severity (worse ear)")
        axes.set_ylabel(f"mean {label}")
        axes.set_title(f"mean {label} by severity: {name} and {reference_name}", fontsize=10)
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        written.append(_save(figure, folder / f"{metric}_severity.png", plt))
    return written


def _save(figure, path: Path, plt) -> Path:  # type: ignore[no-untyped-def]
    from hltk.io.audio import atomic_path

    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)
    return path
