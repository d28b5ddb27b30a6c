"""The NeuroAMP tables from ``recipes/neuroamp/run.sh evaluate`` / ``denoise-table`` outputs.

- Fidelity (the paper's Tables II-V): for each condition and core, from
  ``EVAL/<condition>/neuroamp-<core>/scores/summary.csv`` (``hltk evaluate --against`` the
  nalr-wdrc scores): N, mean of NeuroAMP and of nalr-wdrc, LCC and SRCC with 95% bootstrap
  intervals, MSE.
- Denoising (Table VI): mean HASPI and HASQI against the clean reference of nalr-wdrc on the
  noisy input, two-stage and neuroamp-denoise, over the ids all three scored.

    python recipes/neuroamp/tables.py EVAL    (markdown on stdout)

The readers are :func:`hltk.train.neuroamp_card.fidelity` and ``denoising``: the model cards
show the same tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hltk.train.neuroamp_card import denoising, fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evaluation", type=Path, metavar="EVAL",
                        help="the evaluation folder of recipes/neuroamp/run.sh")
    evaluation = parser.parse_args().evaluation
    print("### Fidelity against nalr-wdrc (held-out)\n")
    print("\n".join(fidelity(evaluation)))
    print("\n### Denoising (held-out noisy speech, scores against the clean reference)\n")
    print("\n".join(denoising(evaluation)))


if __name__ == "__main__":
    main()
