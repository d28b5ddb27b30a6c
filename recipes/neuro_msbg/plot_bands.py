"""Figure of ``magnitude_diagnosis.py`` runs: STOI's per-band correlation and each band's level
re the clean speech, by the ear's hearing level at the band, msbg against each model.

    .venv/bin/python recipes/neuro_msbg/plot_bands.py --run "old default=OUT/diag-old" \\
        --run "silence-aware=OUT/diag-new" -o docs/figures/neuro_msbg_bands.png

Each ``--run`` is ``label=folder`` (a folder with ``bands.csv``); msbg's curve is the first run's
(every run scores the same held-out items against the same msbg outputs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

EDGES = [-20, 30, 50, 70, 90, 130]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, help="label=folder")
    parser.add_argument("-o", "--out", type=Path, required=True)
    options = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = [f"{low}-{high}" if low > -20 else f"<{high}"
              for low, high in zip(EDGES, EDGES[1:], strict=False)]
    for index, entry in enumerate(options.run):
        label, folder = entry.split("=", 1)
        bands = pd.read_csv(Path(folder) / "bands.csv")
        bands["group"] = pd.cut(bands["hl"], EDGES, labels=labels)
        means = bands.groupby("group", observed=False)[["d_msbg", "d_model", "gain_msbg_db",
                                                       "gain_model_db"]].mean()
        if index == 0:
            left.plot(labels, means["d_msbg"], "k-o", label="msbg")
            right.plot(labels, means["gain_msbg_db"], "k-o", label="msbg")
        left.plot(labels, means["d_model"], "--s", label=label)
        right.plot(labels, means["gain_model_db"], "--s", label=label)
    left.set(xlabel="hearing level at the band (dB HL)", ylabel="STOI band correlation d_j",
             title="what STOI sees per band")
    right.set(xlabel="hearing level at the band (dB HL)", ylabel="band level re clean (dB)",
              title="band level")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    figure.tight_layout()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(options.out, dpi=80)


if __name__ == "__main__":
    main()
