"""The benchmark's report: Markdown tables and the speed plot (RTFx per backend, log scale)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Speed table columns (results.csv / results.json carry all of them).
SPEED_COLUMNS: tuple[str, ...] = (
    "task", "backend", "metric", "reference", "device", "batched", "jobs", "batch", "threads",
    "items", "audio_s", "warmup_s", "repeats", "median_s", "p90_s", "cpu_s", "rtf", "rtfx",
    "items_per_s", "cpu_rtf", "peak_rss_mb", "cuda_peak_mb", "speedup", "cpu_speedup",
    "status", "message",
)
#: Fidelity table columns.
FIDELITY_COLUMNS: tuple[str, ...] = (
    "task", "backend", "reference_backend", "metric", "n", "mean_system", "mean_reference",
    "lcc", "srcc", "mse", "max_abs_diff", "mean_abs_diff", "status", "message",
)
#: The columns of the Markdown view (stdout, README).
SPEED_VIEW: tuple[tuple[str, str], ...] = (
    ("task", "task"), ("backend", "backend"), ("device", "device"), ("jobs", "jobs"),
    ("batch", "batch"), ("median_s", "median s"), ("p90_s", "p90 s"), ("rtfx", "RTFx"),
    ("rtf", "RTF"), ("cpu_rtf", "CPU s / audio s"), ("items_per_s", "items/s"),
    ("peak_rss_mb", "peak RSS MB"), ("cuda_peak_mb", "CUDA peak MB"), ("speedup", "speed-up"),
)
FIDELITY_VIEW: tuple[tuple[str, str], ...] = (
    ("task", "task"), ("backend", "backend"), ("reference_backend", "vs"), ("metric", "metric"),
    ("n", "N"), ("mean_system", "mean"), ("mean_reference", "mean (ref)"), ("lcc", "LCC"),
    ("srcc", "SRCC"), ("mse", "MSE"), ("max_abs_diff", "max |diff|"),
    ("mean_abs_diff", "mean |diff|"),
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}" if abs(value) < 100 else f"{value:.1f}"
    return str(value).replace("|", "\\|")


def backend_label(row: dict[str, Any]) -> str:
    """``backend`` (``backend:metric`` for metric engines), ``*`` marking the reference."""
    label = str(row.get("backend", ""))
    if row.get("metric"):
        label += f" ({row['metric']})"
    return label + (" *" if row.get("reference") else "")


def markdown_table(rows: Sequence[dict[str, Any]], view: Sequence[tuple[str, str]]) -> str:
    """A GitHub Markdown table of ``rows`` with the ``(column, heading)`` pairs of ``view``."""
    headings = [heading for _, heading in view]
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    for row in rows:
        cells = []
        for column, _ in view:
            cells.append(backend_label(row) if column == "backend" and "reference" in row
                         else _cell(row.get(column)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(speed: Sequence[dict[str, Any]], fidelity: Sequence[dict[str, Any]],
                    header: str = "") -> str:
    """The speed table and the fidelity table, in Markdown."""
    parts = [header] if header else []
    if speed:
        parts.append("### Speed (`*` = the task's reference; speed-up = reference median / "
                     "backend median, same run)\n")
        parts.append(markdown_table(speed, SPEED_VIEW))
    if fidelity:
        parts.append("\n### Fidelity to the reference backend\n")
        parts.append(markdown_table(fidelity, FIDELITY_VIEW))
    return "\n".join(parts) + "\n"


def rtfx_plot(speed: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Horizontal bars of RTFx (seconds of audio per second) per backend, log scale."""
    rows = [r for r in speed if r.get("status") == "ok" and r.get("rtfx")]
    if not rows:
        return None
    from hltk.metrics.plots import _pyplot, _save

    plt = _pyplot()
    labels = [f"{r['task']}: {backend_label(r)}" for r in rows]
    values = [float(r["rtfx"]) for r in rows]
    colours = ["tab:gray" if r.get("reference") else "tab:blue" for r in rows]
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.5))
    positions = list(range(len(rows)))[::-1]
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, labels)
    axes.set_xscale("log")
    axes.axvline(1.0, color="k", lw=1, ls="--")
    for position, row, value in zip(positions, rows, values, strict=True):
        speedup = row.get("speedup")
        note = f" {value:.3g}x" + (f"  ({speedup:.3g}x the reference)" if speedup and not row.get("reference")
                                    else "")
        axes.text(value, position, note, va="center", fontsize=8)
    axes.set_xlabel("RTFx: seconds of audio per second (log; > 1 is faster than real time)")
    axes.set_title("hltk benchmark: speed per backend (grey = task reference)")
    axes.grid(axis="x", alpha=0.3, which="both")
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(_save(figure, path, plt))
