"""Why Neuro-MSBG's phase decoder hurt here: oracle measurements on training pairs.

On the validation pairs of a corpus (input speech, torch-msbg target, per ear), with the
model's STFT (512-point Hann, hop 256):

1. **oracle reconstructions** of the target: its own magnitude with (a) its own phase, (b) the
   *input's* phase (what ``--phase none`` can at best reach), (c) a uniformly random phase;
   SNR against the target, STOI / wide-band PESQ against the clean input beside msbg's own;
2. **phase losses** (IP / GD / IAF, :func:`hltk.train.losses.phase_losses`) of the input phase
   against the target phase, unweighted and only over bins within 40 dB of the item's peak;
3. **the untrained phase head**: the offset ``atan2(imag, real)`` a freshly initialised
   ``--phase residual`` model adds to the input phase (the identity would be 0).

    .venv/bin/python recipes/neuro_msbg/phase_diagnosis.py --data SPEECH/manifest.csv \\
        --cache-dir CACHE -o OUT/phase_oracle.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hltk.simulate.neuro_msbg import NeuroMsbgConfig, NeuroMsbgNet
from hltk.train.losses import anti_wrap
from hltk.train.neuro_msbg import make_task


def snr_db(estimate: torch.Tensor, target: torch.Tensor) -> float:
    return float(10 * torch.log10(target.pow(2).sum() / (estimate - target).pow(2).sum().clamp_min(1e-20)))


def masked_phase_losses(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                        ) -> dict[str, float]:
    """IP / GD / IAF means over the bins (or bin pairs) where ``mask`` holds."""
    gd_mask = mask[:, :, 1:] & mask[:, :, :-1]
    iaf_mask = mask[:, 1:] & mask[:, :-1]
    return {
        "ip": float(anti_wrap(predicted - target)[mask].mean()),
        "gd": float(anti_wrap(torch.diff(predicted, dim=2) - torch.diff(target, dim=2))[gd_mask].mean()),
        "iaf": float(anti_wrap(torch.diff(predicted, dim=1) - torch.diff(target, dim=1))[iaf_mask].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=24, help="validation ear-signals scored")
    options = parser.parse_args()
    torch.set_num_threads(1)
    from pesq import pesq
    from pystoi import stoi

    config = NeuroMsbgConfig()
    task = make_task(options.data, config, options.cache_dir)
    pairs = task.valid_pairs or task.train_pairs
    model = NeuroMsbgNet(config)
    stft = model.stft
    rng = torch.Generator().manual_seed(0)
    rows = []
    for index in range(min(options.items, len(pairs))):
        length = int(pairs.lengths[index])
        clean = pairs.inputs[index : index + 1, :length]
        target = pairs.targets[index : index + 1, :length]
        magnitude, phase_in, _ = stft.analyse(clean)
        target_magnitude, phase_target, _ = stft.analyse(target)
        linear = target_magnitude ** (1 / config.compress)
        peak_db = 20 * torch.log10(linear.amax())
        mask = 20 * torch.log10(linear + 1e-12) > peak_db - 40
        random_phase = (torch.rand(phase_in.shape, generator=rng) * 2 - 1) * math.pi
        with torch.no_grad():
            audiogram = model.audiogram(pairs.audiograms[index : index + 1])[:, None]
            features = model.blocks(model.encoder(torch.stack(
                [magnitude, phase_in, audiogram.expand(-1, magnitude.shape[1], -1)], dim=1)))
            assert model.phase is not None
            real, imaginary = model.phase(features)
            init_offset = torch.atan2(imaginary, real)
        row: dict[str, float | str] = {"id": pairs.meta[index]["id"], "ear": pairs.meta[index]["ear"],
                                       "loud_bins": float(mask.float().mean()),
                                       "init_offset_abs_mean": float(init_offset.abs().mean())}
        reference = clean[0].numpy()
        row["stoi_msbg"] = float(stoi(reference, target[0].numpy(), 16000))
        row["pesq_msbg"] = float(pesq(16000, reference, target[0].numpy(), "wb"))
        for name, phase in (("target", phase_target), ("input", phase_in), ("random", random_phase)):
            rebuilt = stft.synthesise(target_magnitude, phase, length)
            row[f"snr_{name}_phase"] = snr_db(rebuilt, target)
            row[f"stoi_{name}_phase"] = float(stoi(reference, rebuilt[0].numpy(), 16000))
            try:
                row[f"pesq_{name}_phase"] = float(pesq(16000, reference, rebuilt[0].numpy(), "wb"))
            except Exception:  # noqa: BLE001 - pesq refuses silent signals
                row[f"pesq_{name}_phase"] = float("nan")
            if name != "target":
                for term, value in masked_phase_losses(phase, phase_target, torch.ones_like(mask)).items():
                    row[f"{term}_{name}_all"] = value
                for term, value in masked_phase_losses(phase, phase_target, mask).items():
                    row[f"{term}_{name}_loud"] = value
        rows.append(row)
        print(index, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    table = pd.DataFrame(rows)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(options.out, index=False)
    numeric = table.drop(columns=["id", "ear"])
    summary = numeric.mean()
    for name in ("input", "random"):
        for metric in ("stoi", "pesq"):
            summary[f"{metric}_{name}_phase_mse_vs_msbg"] = float(np.nanmean(
                (table[f"{metric}_{name}_phase"] - table[f"{metric}_msbg"]) ** 2))
    print(summary.round(4).to_string())
    summary.to_csv(options.out.with_name(options.out.stem + "_summary.csv"), header=["mean"])


if __name__ == "__main__":
    main()
