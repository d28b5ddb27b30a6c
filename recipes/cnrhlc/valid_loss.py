"""The training losses of cnrhlc checkpoints on the same validation crops (the ``valid``
split of the training corpora: prompts unseen in training), to choose between checkpoints
without looking at the test rows.

    python recipes/cnrhlc/valid_loss.py CKPT [CKPT ...] [--crops 64] [--data MANIFEST ...]

Each checkpoint is scored on the same ``--crops`` random 1 s crops (seeded), each at a drawn
speech level (64-80 dB SPL) with a drawn jittered Bisgaard audiogram, exactly as in training
(:meth:`hltk.train.cnrhlc.CnrhlcTask.loss`). Prints the NR loss and the HLC loss (mean squared
difference of the DRNL responses), not the uncertainty-weighted sum, whose weights are learned.
``--per-profile N6,N7,...``: also the HLC loss of each listed standard Bisgaard profile (no
jitter) on the first ``--profile-crops`` of the same crops.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from hltk.io.listeners import standard_listener
from hltk.nn.bsrnn import BandSplitRnn, BsrnnConfig
from hltk.nn.checkpoint import load_checkpoint
from hltk.train.cnrhlc import CnrhlcTask, auditory_model, draw_batch, load_noisy

DATA = Path(os.environ.get("DATA", "/work/out/cnrhlc/data"))
MANIFESTS = [DATA / name / "manifest.csv" for name in ("recorded-noisy", "synth-noisy",
                                                       "recorded-reverb")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, nargs="*", default=MANIFESTS)
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--seed", type=int, default=4321)
    parser.add_argument("--per-profile", default="")
    parser.add_argument("--profile-crops", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = load_noisy([str(p) for p in args.data if p.is_file()], ("valid",), 4.0)
    batches = []
    rng = np.random.default_rng(args.seed)
    for _ in range(0, args.crops, 8):
        batches.append(draw_batch(pairs, rng, 8, 16000, (64.0, 80.0)))
    print(f"{len(pairs)} valid items, {len(batches) * 8} crops")
    for path in args.checkpoints:
        content = load_checkpoint(path, expect_model="cnrhlc")
        config = BsrnnConfig.from_dict({k: v for k, v in content["config"].items()
                                        if k != "auditory_model"})
        model = BandSplitRnn(config)
        model.load_state_dict(content["state_dict"])
        model.eval()
        task = CnrhlcTask(pairs, None, config, auditory_model("drnl"), "drnl")
        totals = {"nr": 0.0, "hlc": 0.0}
        with torch.no_grad():
            for batch in batches:
                _, parts = task.loss(model, batch)
                for name in totals:
                    totals[name] += parts[name] / len(batches)
        steps = content.get("training", {}).get("steps")
        print(f"{path} (steps {steps}): NR loss {totals['nr']:.4f}  HLC loss {totals['hlc']:.4f}")
        profiles = [p for p in args.per_profile.split(",") if p]
        chosen = batches[: max(1, args.profile_crops // 8)]
        per_profile = []
        for profile in profiles:
            levels = torch.as_tensor(standard_listener(profile).left.on_grid(),
                                     dtype=torch.float32).clamp(max=100.0)
            value = 0.0
            with torch.no_grad():
                for noisy, clean, _ in chosen:
                    _, parts = task.loss(model, (noisy, clean, levels[None].repeat(8, 1)))
                    value += parts["hlc"] / len(chosen)
            per_profile.append(f"{profile} {value:.3f}")
        if profiles:
            print(f"  HLC loss per profile ({len(chosen) * 8} crops): " + ", ".join(per_profile))


if __name__ == "__main__":
    main()
