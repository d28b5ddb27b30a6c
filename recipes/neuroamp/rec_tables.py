"""Before / after tables of the retraining on recorded speech (``recipes/neuroamp/run.sh
rec-evaluate before|after``), Markdown on stdout.

- Fidelity: ``REVAL/<condition>/neuroamp-<tag>/scores/summary.csv`` (``hltk evaluate
  --against`` nalr-wdrc's scores; HASPI / HASQI against the unprocessed clean input): the
  NeuroAMP card's fidelity table (:func:`hltk.train.neuroamp_card.fidelity`).
- Denoising: mean HASPI / HASQI against the clean reference over the ids every system scored
  (``REVAL/<condition>/<system>/scores/scores.csv``; the systems: nalr-wdrc, two-stage and
  every ``neuroamp-denoise-<tag>`` folder there), with the paired mean difference of each
  neuroamp-denoise model minus the better baseline, and of each model minus ``-before``, each
  with a 95 % bootstrap interval over items.

    python recipes/neuroamp/rec_tables.py REVAL [--conditions rec-babble,valid-babble]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hltk.train.neuroamp_card import fidelity

FIDELITY = ("rec-clean", "syn-clean")
DENOISING = ("rec-babble", "syn-noisy", "syn-noisy20")
TAGS = ("before", "after")


def models(folder: Path) -> list[str]:
    """The ``neuroamp-denoise-<tag>`` systems scored under ``folder``: ``-before`` and
    ``-after`` first, then the others by name."""
    found = sorted(path.parent.parent.name
                   for path in folder.glob("neuroamp-denoise-*/scores/scores.csv"))
    first = [f"neuroamp-denoise-{t}" for t in TAGS if f"neuroamp-denoise-{t}" in found]
    return first + [name for name in found if name not in first]


def denoising(evaluation: Path, conditions: tuple[str, ...] = DENOISING) -> list[str]:
    lines = ["| condition | system | N | HASPI | HASQI |", "|---|---|---|---|---|"]
    for condition in conditions:
        tables = {}
        for system in ("nalr-wdrc", "two-stage", *models(evaluation / condition)):
            path = evaluation / condition / system / "scores" / "scores.csv"
            if path.is_file():
                tables[system] = pd.read_csv(path, dtype={"id": str}).set_index("id")
        if not tables:
            continue
        common = sorted(set.intersection(*(set(t.index[t["status"] == "ok"])
                                           for t in tables.values())))
        for system, table in tables.items():
            part = table.loc[common]
            lines.append(f"| {condition} | {system} | {len(common)} | {part['haspi'].mean():.3f} | "
                         f"{part['hasqi'].mean():.3f} |")
        pairs = []
        for name in models(evaluation / condition):
            if name in tables and "nalr-wdrc" in tables:
                pairs += [(name, "better baseline")]
        before = "neuroamp-denoise-before"
        pairs += [(name, before) for name in models(evaluation / condition)
                  if before in tables and name != before and name in tables]
        for name, other in pairs:
            for metric in ("haspi", "hasqi"):
                against = other
                if other == "better baseline":
                    against = max(("nalr-wdrc", "two-stage"), key=lambda s: tables[s].loc[
                        common, metric].mean() if s in tables else -1)
                diff = tables[name].loc[common, metric] - tables[against].loc[common, metric]
                low, high = bootstrap_interval(diff.to_numpy())
                lines.append(f"| {condition} | {name} - {against}, {metric} | {len(common)} | "
                             f"mean {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}] | "
                             f"higher on {int((diff > 0).sum())} |")
    return lines


def bootstrap_interval(values: np.ndarray, draws: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of the mean over items (2,000 draws, seed 0)."""
    rng = np.random.default_rng(0)
    means = rng.choice(values, (draws, len(values))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evaluation", type=Path, metavar="REVAL")
    parser.add_argument("--conditions", default=None,
                        help="denoising conditions only (comma-separated), no fidelity table")
    args = parser.parse_args()
    evaluation = args.evaluation
    if args.conditions:
        print("\n".join(denoising(evaluation, tuple(args.conditions.split(",")))))
        return
    print("### NeuroAMP LSTM against nalr-wdrc\n")
    print("\n".join(fidelity(evaluation, FIDELITY, TAGS, label="model")))
    print("\n### Denoising (scores against the clean reference)\n")
    print("\n".join(denoising(evaluation)))


if __name__ == "__main__":
    main()
