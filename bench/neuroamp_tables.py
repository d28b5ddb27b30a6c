"""The NeuroAMP tables from ``recipes/neuroamp.sh evaluate`` / ``denoise-table`` outputs.

- Fidelity (the paper's Tables II-V): for each condition and core, from
  ``EVAL/<condition>/neuroamp-<core>/scores/summary.csv`` (``hltk evaluate --against`` the
  nalr-wdrc scores): N, mean of NeuroAMP and of nalr-wdrc, LCC and SRCC with 95% bootstrap
  intervals, MSE.
- Denoising (Table VI): mean HASPI and HASQI against the clean reference of nalr-wdrc on the
  noisy input, two-stage and neuroamp-denoise, over the ids all three scored.

    python bench/neuroamp_tables.py EVAL    (markdown on stdout)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

CONDITIONS = ("clean", "noisy", "denoised", "music")
CORES = ("cnn", "lstm", "crnn", "transformer")


def fidelity(evaluation: Path) -> list[str]:
    lines = ["| condition | metric | core | N | mean NeuroAMP | mean NAL-R+WDRC | LCC [95% CI] "
             "| SRCC [95% CI] | MSE |",
             "|---|---|---|---|---|---|---|---|---|"]
    for condition in CONDITIONS:
        for core in CORES:
            path = evaluation / condition / f"neuroamp-{core}" / "scores" / "summary.csv"
            if not path.is_file():
                continue
            summary = pd.read_csv(path)
            for _, row in summary[summary["group"] == "all"].iterrows():
                lines.append(
                    f"| {condition} | {row['metric']} | {core} | {int(row['n'])} | "
                    f"{row['mean_system']:.3f} | {row['mean_reference']:.3f} | "
                    f"{row['lcc']:.4f} [{row['lcc_ci_low']:.3f}, {row['lcc_ci_high']:.3f}] | "
                    f"{row['srcc']:.4f} [{row['srcc_ci_low']:.3f}, {row['srcc_ci_high']:.3f}] | "
                    f"{row['mse']:.2e} |")
    return lines


def denoising(evaluation: Path) -> list[str]:
    systems = {"NAL-R+WDRC (noisy input)": "nalr-wdrc", "two-stage (RNNoise + NAL-R+WDRC)": "two-stage",
               "neuroamp-denoise": "neuroamp-denoise"}
    tables = {}
    for label, folder in systems.items():
        path = evaluation / "noisy" / folder / "scores" / "scores.csv"
        if path.is_file():
            tables[label] = pd.read_csv(path, dtype={"id": str}).set_index("id")
    if not tables:
        return []
    common = sorted(set.intersection(*(set(t.index[t["status"] == "ok"]) for t in tables.values())))
    lines = [f"| system (N = {len(common)}) | HASPI | HASQI |", "|---|---|---|"]
    for label, table in tables.items():
        part = table.loc[common]
        lines.append(f"| {label} | {part['haspi'].mean():.3f} | {part['hasqi'].mean():.3f} |")
    return lines


def main() -> None:
    evaluation = Path(sys.argv[1])
    print("### Fidelity against nalr-wdrc (held-out)\n")
    print("\n".join(fidelity(evaluation)))
    print("\n### Denoising (held-out noisy speech, scores against the clean reference)\n")
    print("\n".join(denoising(evaluation)))


if __name__ == "__main__":
    main()
