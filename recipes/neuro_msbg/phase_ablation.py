"""Controlled phase-decoder experiment: the same data, steps and seed, one variant per run.

Each variant trains the given Neuro-MSBG config for ``--steps`` steps (one torch thread) on
the pairs of ``--data`` and is scored on the first ``--items`` validation ear-signals: SNR of
the output against the torch-msbg target, and STOI / wide-band PESQ (against the clean input)
compared with msbg's own: MSE and mean bias. Variants (``--variant``, repeatable):

- ``none``: magnitude only (the input phase is kept);
- ``residual``: the first shipped phase path (random start of the atan2 head, plain losses);
- ``residual-identity``: the head starts at atan2 = 0 (passes the input phase through);
- ``residual-identity-weighted``: and the phase losses weighted by the target magnitude;
- ``residual-identity-weighted-light``: and their weight cut from 0.3 to 0.03;
- ``absolute`` / ``absolute-weighted``: the paper's absolute phase (plain / weighted losses);
- any of them with ``-noenc``: no audiogram encoder (levels interpolated onto the bins).

    .venv/bin/python recipes/neuro_msbg/phase_ablation.py --data SPEECH/manifest.csv \\
        --cache-dir CACHE -o OUT --steps 300 --variant none --variant residual ...
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hltk.simulate.neuro_msbg import NeuroMsbgConfig, load_model
from hltk.train.loop import TrainSettings, train
from hltk.train.neuro_msbg import LOSS_WEIGHTS, make_task

#: ``residual-identity-weighted-light``: the phase losses at this weight instead of 0.3
LIGHT_PHASE_WEIGHT = 0.03

VARIANTS: dict[str, tuple[dict[str, object], str]] = {
    "none": ({"phase": "none"}, "plain"),
    "residual": ({"phase": "residual", "identity_phase": False}, "plain"),
    "residual-identity": ({"phase": "residual", "identity_phase": True}, "plain"),
    "residual-identity-weighted": ({"phase": "residual", "identity_phase": True}, "weighted"),
    "residual-identity-weighted-light": ({"phase": "residual", "identity_phase": True}, "weighted"),
    "absolute": ({"phase": "absolute", "identity_phase": False}, "plain"),
    "absolute-weighted": ({"phase": "absolute", "identity_phase": False}, "weighted"),
}


def variant(name: str) -> tuple[dict[str, object], str]:
    base, _, suffix = name.partition("-noenc") if name.endswith("-noenc") else (name, "", "")
    fields, loss = VARIANTS[base]
    return ({**fields, "audiogram_encoder": not name.endswith("-noenc")}, loss)


def score(checkpoint: Path, pairs: object, items: int) -> dict[str, float]:
    from pesq import pesq
    from pystoi import stoi

    model = load_model(checkpoint)
    rows = []
    for index in range(min(items, len(pairs))):  # type: ignore[arg-type]
        length = int(pairs.lengths[index])  # type: ignore[attr-defined]
        clean = pairs.inputs[index : index + 1, :length]  # type: ignore[attr-defined]
        target = pairs.targets[index : index + 1, :length]  # type: ignore[attr-defined]
        with torch.no_grad():
            output = model(clean, pairs.audiograms[index : index + 1])  # type: ignore[attr-defined]
        reference, out, msbg = clean[0].numpy(), output[0].numpy(), target[0].numpy()
        error = float(((output - target) ** 2).sum())
        rows.append({
            "snr": 10 * np.log10(float((target**2).sum()) / max(error, 1e-20)),
            "stoi": stoi(reference, out, 16000), "stoi_msbg": stoi(reference, msbg, 16000),
            "pesq": pesq(16000, reference, out, "wb"), "pesq_msbg": pesq(16000, reference, msbg, "wb"),
        })
    table = pd.DataFrame(rows)
    summary = {"snr_db": float(table["snr"].mean())}
    for metric in ("stoi", "pesq"):
        difference = table[metric] - table[f"{metric}_msbg"]
        summary[f"{metric}_mse"] = float((difference**2).mean())
        summary[f"{metric}_bias"] = float(difference.mean())
        summary[f"{metric}_srcc"] = float(table[metric].corr(table[f"{metric}_msbg"], method="spearman"))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--config", default="{}", help="JSON overrides of NeuroMsbgConfig")
    parser.add_argument("--log-magnitude", type=float, default=0.0)
    parser.add_argument("--segment-seconds", type=float, default=1.5)
    options = parser.parse_args()
    torch.set_num_threads(1)
    options.out.mkdir(parents=True, exist_ok=True)
    base = replace(NeuroMsbgConfig(), **json.loads(options.config))
    rows = []
    for name in options.variant:
        fields, phase_loss = variant(name)
        config = replace(base, **fields)  # type: ignore[arg-type]
        task = make_task(options.data, config, options.cache_dir, segment_seconds=options.segment_seconds,
                         log_magnitude_weight=options.log_magnitude, phase_loss=phase_loss,
                         phase_weight=LIGHT_PHASE_WEIGHT if name.startswith(
                             "residual-identity-weighted-light") else LOSS_WEIGHTS["phase"])
        settings = TrainSettings(steps=options.steps, batch_size=8, learning_rate=2e-3,
                                 warmup_steps=min(100, options.steps // 5),
                                 valid_every=max(1, options.steps // 3),
                                 checkpoint_every=options.steps, threads=1)
        result = train(task, settings, options.out / f"{name}.pt")
        last = result.history[-1]
        row = {"variant": name, "steps": options.steps, "wall_s": round(result.wall_seconds, 1),
               "valid_magnitude": last.get("valid_magnitude"), "valid_phase": last.get("valid_phase"),
               **score(options.out / f"{name}.pt", task.valid_pairs or task.train_pairs, options.items)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        pd.DataFrame(rows).to_csv(options.out / "ablation.csv", index=False)
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
