"""The alpha grid (the paper's Figures 6 and 7), cut to two sweeps: alpha_NR in
{0, 0.25, 0.5, 0.75, 1} at alpha_HLC in {0, 0.5, 1} for NH (PESQ / ESTOI / SI-SDR, and HASPI /
HASQI), and alpha_HLC in {0, ..., 1} at alpha_NR = 1 for NH, N1, N3, N6, S2 (HASPI / HASQI), on
a few held-out items.

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
#: the alpha_HLC lines of the alpha_NR sweep
NR_LINES = (0.0, 0.5, 1.0)
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
        # Figure 6: the NR metrics along alpha_NR (NH audiogram), lines of alpha_HLC;
        # Figure 7: HASPI / HASQI along alpha_HLC at alpha_NR = 1, one line per profile.
        cells = [("NH", nr, hlc) for hlc in NR_LINES for nr in ALPHAS]
        cells += [(p, 1.0, hlc) for p in GRID_PROFILES for hlc in ALPHAS
                  if (p, 1.0, hlc) not in cells]
        for profile, nr, hlc in cells:
            processor = systems.cnrhlc(nr, hlc)
            processed = [common.run(processor, i.noisy, profile) for i in items]
            row = {"profile": profile, "alpha_nr": nr, "alpha_hlc": hlc}
            ear = common.ear_metrics([i.clean for i in items], processed, profile)
            for metric in ("haspi", "hasqi"):
                row[metric] = common.mean([e[metric] for e in ear])
            if profile == "NH":
                nh = [common.nh_metrics(i.clean, p) for i, p in zip(items, processed, strict=True)]
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
        for hlc in NR_LINES:
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
