"""Mask pictures as the paper's Figure 8: M_NR and M_HLC (gain in dB) and the combined mask at
(1, 1) for one held-out noisy item and the NH, N1, N2, N3 audiograms.

    python recipes/cnrhlc/masks.py [--checkpoint CKPT] [--tag SUFFIX]

Writes ``docs/figures/cnrhlc_masks{tag}.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from hltk.denoise.cnrhlc import DEFAULT_CHECKPOINT, DEFAULT_MIN_GAIN_DB, load_model  # noqa: E402
from hltk.io.listeners import standard_listener  # noqa: E402
from hltk.nn.bsrnn import combine_masks  # noqa: E402

PROFILES = ("NH", "N1", "N2", "N3")
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    item = common.load_items(1, 2.5)[0]
    model, _ = load_model(args.checkpoint)
    spectrum = model.stft(item.noisy[None])
    figure, axes = plt.subplots(len(PROFILES) + 1, 3, figsize=(10, 11), sharex=True, sharey=True)
    extent = (0, item.noisy.shape[-1] / common.RATE, 0, common.RATE / 2000)
    noisy_db = 20 * torch.log10(spectrum.abs()[0].T + 1e-6)
    axes[0, 0].imshow(noisy_db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                      vmin=float(noisy_db.max()) - 80)
    axes[0, 0].set_title(f"noisy ({item.corpus} {item.id})", fontsize=8)
    axes[0, 1].axis("off")
    axes[0, 2].axis("off")
    for row, profile in enumerate(PROFILES, start=1):
        levels = torch.as_tensor(standard_listener(profile).left.on_grid(), dtype=torch.float32)[None]
        with torch.no_grad():
            masks = model(spectrum, levels)
            combined = 20 * torch.log10(combine_masks(masks, 1.0, 1.0, min_gain_db=DEFAULT_MIN_GAIN_DB).abs())
        for column, (values, title) in enumerate(((masks.nr_db, "M_NR"), (masks.hlc_db, "M_HLC"),
                                                 (combined, "combined (1, 1)"))):
            image = axes[row, column].imshow(values[0].T, origin="lower", aspect="auto",
                                             extent=extent, cmap="RdBu_r", vmin=-40, vmax=40)
            axes[row, column].set_title(f"{profile}: {title} (dB)", fontsize=8)
    for axis in axes[:, 0]:
        axis.set_ylabel("kHz")
    for axis in axes[-1]:
        axis.set_xlabel("s")
    figure.colorbar(image, ax=axes[1:, :].ravel().tolist(), shrink=0.6, label="gain (dB)")
    FIGURES.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURES / f"cnrhlc_masks{args.tag}.png", dpi=55)


if __name__ == "__main__":
    main()
