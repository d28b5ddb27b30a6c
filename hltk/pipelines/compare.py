"""``hltk compare``: agreement (LCC, SRCC, MSE with bootstrap intervals) between two score
tables joined by id, and where asked its ``summary.csv`` and plots.

The two systems are named as ``hltk evaluate --against`` names them
(:mod:`hltk.pipelines.provenance`): ``label`` / ``against_label`` where given, else each
table's sidecar (``scores.csv.json``) or run record, followed to the backend of the run that
made the audio; the names go into the summary's ``system`` / ``reference`` columns and the
plots' titles, axes and legends.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from hltk.pipelines.evaluate import SUMMARY, compare_scores, read_scores
from hltk.pipelines.provenance import distinct_labels, scores_system


def compare(system: Path, reference: Path, *, metrics: Sequence[str] | None = None,
            group_by: Sequence[str] = (), seed: int = 0, out: Path | None = None,
            label: str | None = None, against_label: str | None = None) -> pd.DataFrame:
    """The agreement table of ``system``'s scores against ``reference``'s (each a
    ``scores.csv`` or its folder), with the two systems' names; with ``out``, also
    ``out/summary.csv`` (written atomically) and the agreement plots under ``out/plots``."""
    system_scores, reference_scores = read_scores(system), read_scores(reference)
    labels = distinct_labels(scores_system(system), scores_system(reference), label, against_label)
    summary = compare_scores(system_scores, reference_scores, metrics, group_by, seed=seed,
                             labels=labels)
    if out is not None:
        from hltk.io.audio import atomic_path
        from hltk.metrics.plots import agreement_plots

        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / SUMMARY) as temporary:
            summary.to_csv(temporary, index=False, float_format="%.10g")
        agreement_plots(system_scores, reference_scores, summary,
                        list(dict.fromkeys(summary["metric"])) if len(summary) else [], out / "plots",
                        labels=labels)
    return summary
