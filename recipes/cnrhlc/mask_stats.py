"""Mean mask gains (dB) of cnrhlc checkpoints in speech- and noise-dominated bins of the
Table I held-out items (``--items`` per corpus, 2.5 s), for NH and N3.

    python recipes/cnrhlc/mask_stats.py CKPT [CKPT ...] [--items 2]

A bin is speech-dominated where the clean speech's STFT magnitude exceeds twice the noise's
(noisy - clean) and lies within 40 dB of the item's peak; noise-dominated where the noise
exceeds twice the speech. Masks are the network's raw outputs (no floor, no cap).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from hltk.denoise.cnrhlc import load_model  # noqa: E402
from hltk.io.listeners import standard_listener  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--items", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = common.load_items(args.items, 2.5)
    for path in args.checkpoints:
        model, _ = load_model(path)
        sums: dict[tuple[str, str, str], list[float]] = {}
        for item in items:
            speech = model.stft(item.clean[None]).abs()
            noise = model.stft((item.noisy - item.clean)[None]).abs()
            regions = {"speech": (speech > 2 * noise) & (speech > speech.amax() * 1e-2),
                       "noise": noise > 2 * speech}
            for profile in ("NH", "N3"):
                levels = torch.as_tensor(standard_listener(profile).left.on_grid(),
                                         dtype=torch.float32)[None]
                with torch.no_grad():
                    masks = model(model.stft(item.noisy[None]), levels)
                for name, gain in (("NR", masks.nr_db), ("HLC", masks.hlc_db),
                                   ("NR+HLC", masks.nr_db + masks.hlc_db)):
                    gain = gain.transpose(-1, -2) if gain.shape != speech.shape else gain
                    for region, where in regions.items():
                        sums.setdefault((profile, name, region), []).append(
                            float(gain[where].mean()))
        print(path)
        for (profile, name, region), values in sums.items():
            print(f"  {profile} {name} mask, {region}-dominated bins: "
                  f"{sum(values) / len(values):.1f} dB")


if __name__ == "__main__":
    main()
