"""A magnitude-only Neuro-MSBG checkpoint from a trained ``residual`` one (issue 28).

Neuro-MSBG's magnitude path does not read the phase decoder (the decoders share the encoder
and blocks, and each only reads them), so dropping the phase decoder and keeping the input's
phase (``phase="none"``, the paper's magnitude-only ablation) leaves every output magnitude
unchanged and only replaces the predicted phase by the input's. On the held-out recorded
speech the predicted phase is what cost PESQ on near-normal ears (docs/performance.md,
"Neuro-MSBG: where the magnitude error sat"), and without its decoder the network does less
work.

    .venv/bin/python recipes/neuro_msbg/magnitude_only.py IN.pt -o OUT.pt

The new checkpoint keeps the training record of ``IN`` and notes the conversion under
``training["converted"]``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from hltk.nn.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from hltk.simulate.neuro_msbg import NeuroMsbgConfig, NeuroMsbgNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    options = parser.parse_args()
    content = load_checkpoint(options.checkpoint, expect_model="neuro-msbg")
    config = {**asdict(NeuroMsbgConfig(**content["config"])), "phase": "none"}
    weights = {k: v for k, v in content["state_dict"].items() if not k.startswith("phase.")}
    NeuroMsbgNet(NeuroMsbgConfig(**config)).load_state_dict(weights)  # strict: nothing missing
    training = {**content.get("training", {}),
                "converted": {"from": str(options.checkpoint),
                              "from_sha256": file_sha256(options.checkpoint),
                              "by": "recipes/neuro_msbg/magnitude_only.py",
                              "what": "phase decoder dropped; the input phase is kept (phase none)"}}
    save_checkpoint(options.out, "neuro-msbg", config, weights, training)


if __name__ == "__main__":
    main()
