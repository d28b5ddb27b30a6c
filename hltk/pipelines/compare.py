"""``hltk compare``: agreement (LCC, SRCC, MSE with bootstrap intervals) between two score
tables joined by id, and where asked its ``summary.csv`` and plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hltk.pipelines.evaluate import SUMMARY, compare_scores, read_scores


def compare(system: Path, reference: Path, *, metrics: Sequence[str] | None = None,
            group_by: Sequence[str] = (), seed: int = 0, out: Path | None = None) -> pd.DataFrame:
    """The agreement table of ``system``'s scores against ``reference``'s (each a
    ``scores.csv`` or its folder); with ``out``, also ``out/summary.csv`` (written atomically)
    and the agreement plots under ``out/plots``."""
    system_scores, reference_scores = read_scores(system), read_scores(reference)
    summary = compare_scores(system_scores, reference_scores, metrics, group_by, seed=seed)
    if out is not None:
        from hltk.io.audio import atomic_path
        from hltk.metrics.plots import agreement_plots

        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / SUMMARY) as temporary:
            summary.to_csv(temporary, index=False, float_format="%.10g")
        agreement_plots(system_scores, reference_scores, summary,
                        list(dict.fromkeys(summary["metric"])) if len(summary) else [], out / "plots")
    return summary
