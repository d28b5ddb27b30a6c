"""The alpha grid (the paper's Figures 6 and 7): cnrhlc at alpha_NR, alpha_HLC in
{0, 0.25, 0.5, 0.75, 1} for NH, N1, N3, N6, S2 on a few held-out items.

    python recipes/cnrhlc/alpha_grid.py --out OUT [--checkpoint CKPT] [--items 2] [--seconds 2.5]

Writes ``OUT/grid.csv`` (means over items per profile and alpha pair) and the figures
``docs/figures/cnrhlc_alpha_nr.png`` (PESQ / ESTOI / SI-SDR against alpha_NR, one line per
alpha_HLC, NH audiogram) and ``docs/figures/cnrhlc_alpha_hlc.png`` (HASPI / HASQI against
alpha_HLC at alpha_NR = 1, one line per profile).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
GRID_PROFILES = ("NH", "N1", "N3", "N6", "S2")
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--items", type=int, default=2, help="test items per corpus")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--tag", default="", help="suffix of the figure names")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.plot_only:
        items = common.load_items(args.items, args.seconds)
        systems = common.Systems(args.checkpoint)
        rows = []
        for profile in GRID_PROFILES:
            for nr in ALPHAS:
                for hlc in ALPHAS:
                    processor = systems.cnrhlc(nr, hlc)
                    processed = [common.run(processor, i.noisy, profile) for i in items]
                    ear = common.ear_metrics([i.clean for i in items], processed, profile)
                    nh = [common.nh_metrics(i.clean, p) for i, p in zip(items, processed, strict=True)]
                    row = {"profile": profile, "alpha_nr": nr, "alpha_hlc": hlc}
                    for metric in ("haspi", "hasqi"):
                        row[metric] = common.mean([e[metric] for e in ear])
                    for metric in ("pesq", "estoi", "sisdr"):
                        row[metric] = common.mean([n[metric] for n in nh])
                    rows.append(row)
                    print(row, file=sys.stderr)
            common.write_rows(args.out / "grid.csv", rows)
    plot(common.read_rows(args.out / "grid.csv"), args.tag)


def plot(rows: list[dict[str, str]], tag: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    value = lambda r, k: float(r[k])  # noqa: E731
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for axis, (metric, label) in zip(axes, (("pesq", "PESQ"), ("estoi", "ESTOI"),
                                            ("sisdr", "SI-SDR (dB)")), strict=True):
        for hlc in ALPHAS:
            line = sorted((value(r, "alpha_nr"), value(r, metric)) for r in rows
                          if r["profile"] == "NH" and value(r, "alpha_hlc") == hlc)
            axis.plot(*zip(*line, strict=True), marker="o", label=f"alpha_HLC={hlc:g}")
        axis.set_xlabel("alpha_NR")
        axis.set_title(f"{label}, NH")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(FIGURES / f"cnrhlc_alpha_nr{tag}.png", dpi=90)
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for axis, (metric, label) in zip(axes, (("haspi", "HASPI"), ("hasqi", "HASQI")), strict=True):
        for profile in GRID_PROFILES:
            line = sorted((value(r, "alpha_hlc"), value(r, metric)) for r in rows
                          if r["profile"] == profile and value(r, "alpha_nr") == 1.0)
            axis.plot(*zip(*line, strict=True), marker="o", label=profile)
        axis.set_xlabel("alpha_HLC (alpha_NR = 1)")
        axis.set_title(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(FIGURES / f"cnrhlc_alpha_hlc{tag}.png", dpi=90)


if __name__ == "__main__":
    main()
