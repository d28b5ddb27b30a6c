"""The NH line of the alpha_HLC sweep (HASPI with the NH audiogram at alpha_NR = 1, alpha_HLC
0, 0.25, ..., 1) of the shipped cnrhlc checkpoint at two inference floors, on the alpha grid's
four held-out items (one per corpus, 2.5 s): does the NH curve's flatness depend on the floor?

    python recipes/cnrhlc/nh_line.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    items = common.load_items(1, 2.5)
    for floor in (-20.0, -40.0):
        systems = common.Systems(None, floor)
        out = []
        for hlc in (0.0, 0.25, 0.5, 0.75, 1.0):
            processed = [common.run(systems.cnrhlc(1.0, hlc), i.noisy, "NH") for i in items]
            ear = common.ear_metrics([i.clean for i in items], processed, "NH")
            out.append(f"{common.mean([e['haspi'] for e in ear]):.3f}")
        print(f"floor {floor:g} dB: NH HASPI at alpha_NR = 1, alpha_HLC 0..1: {' / '.join(out)}",
              flush=True)


if __name__ == "__main__":
    main()
