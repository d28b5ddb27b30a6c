"""How hard does the HLC loss pull each profile's high frequencies? For ``--hlc-weighting``
(``hltk.train.cnrhlc.hlc_error``): the gradient of the HLC loss w.r.t. a static per-bin gain
(dB), on clean speech crops of the VALID split of the training corpora (74 dB SPL), at an
operating point near the shipped model's gains: the half-gain rule (0.5 x the hearing level,
interpolated on log frequency), or 0 dB (``--at 0``).

Prints, per profile, the mean |gradient| over the bins 4-7 kHz and over 200-1000 Hz, and the
high-frequency pull relative to N1's (the severe profiles' share of the pull on the high
bands, which the network's shared parameters split between profiles), for each weighting.

    python recipes/cnrhlc/hf_pull.py [--profiles N1,N3,N6,N7,S2] [--max-weight 10] [--at half|0]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

from hltk.auditory import AuditoryModel, hearing_loss_from_audiogram
from hltk.io.listeners import AUDIOGRAM_GRID, standard_listener
from hltk.train.cnrhlc import HLC_WEIGHTINGS, draw_batch, hlc_error, load_noisy

DATA = os.environ.get("DATA", "/work/out/cnrhlc/data")
MANIFESTS = [f"{DATA}/{name}/manifest.csv" for name in ("recorded-noisy", "synth-noisy",
                                                         "recorded-reverb")]


def operating_gain(levels: np.ndarray, frequencies: np.ndarray, at: str) -> np.ndarray:
    if at == "0":
        return np.zeros_like(frequencies)
    log_f = np.log(np.maximum(frequencies, AUDIOGRAM_GRID[0] / 2))
    return 0.5 * np.interp(log_f, np.log(AUDIOGRAM_GRID), levels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="N1,N3,N6,N7,S2")
    parser.add_argument("--max-weight", type=float, default=10.0)
    parser.add_argument("--at", choices=("half", "0"), default="half")
    parser.add_argument("--crops", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = load_noisy(MANIFESTS, ("valid",), 4.0, 8)
    _, clean, _ = draw_batch(pairs, np.random.default_rng(0), args.crops, 16000, (74.0, 74.0))
    model = AuditoryModel(sample_rate=16000)
    window = torch.hann_window(512)
    spectrum = torch.stft(clean, 512, 256, window=window, return_complex=True)
    with torch.no_grad():
        target = model(clean, None)
    frequencies = np.arange(257) * 16000 / 512
    low = (frequencies >= 200) & (frequencies <= 1000)
    high = (frequencies >= 4000) & (frequencies <= 7000)
    pulls: dict[str, dict[str, float]] = {w: {} for w in HLC_WEIGHTINGS}
    print(f"{len(pairs)} valid items, {args.crops} crops; operating point: {args.at}; "
          f"max weight {args.max_weight:g}")
    for profile in args.profiles.split(","):
        levels = np.asarray(standard_listener(profile).left.on_grid(), dtype=float)
        loss = hearing_loss_from_audiogram(
            torch.as_tensor(levels, dtype=torch.float32)[None].repeat(args.crops, 1))
        start = operating_gain(levels, frequencies, args.at)
        line = []
        for weighting in HLC_WEIGHTINGS:
            gain = torch.tensor(start, dtype=torch.float32, requires_grad=True)
            output = torch.istft(spectrum * 10 ** (gain[:, None] / 20), 512, 256, window=window,
                                 length=clean.shape[-1])
            value, _ = hlc_error(model(output, loss), target, weighting, args.max_weight)
            gradient = torch.autograd.grad(value, gain)[0].abs().numpy()
            pulls[weighting][profile] = float(gradient[high].mean())
            line.append(f"{weighting}: |dL/dg| 4-7 kHz {gradient[high].mean():.2e}, "
                        f"0.2-1 kHz {gradient[low].mean():.2e}")
        print(f"{profile}: " + "; ".join(line))
    if "N1" in pulls["none"]:
        for weighting in HLC_WEIGHTINGS:
            ratios = ", ".join(f"{p} {v / pulls[weighting]['N1']:.2f}"
                               for p, v in pulls[weighting].items())
            print(f"high-frequency pull relative to N1 ({weighting}): {ratios}")


if __name__ == "__main__":
    main()
