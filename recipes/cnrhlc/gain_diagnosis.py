"""Why does cnrhlc under-amplify severe losses? Three numbers per profile and frequency:

- the gain the model's HLC mask adds (output at (1, 1) over output at (1, 0), long-term
  spectra, one held-out item),
- NAL-R's gain on the same item,
- the static per-bin gain that minimises the DRNL HLC loss itself on 2 x 1 s of clean speech
  (Adam on a 257-bin gain vector, ``--steps`` steps of about 1 dB: a lower bound where it ends
  near ``--steps`` dB): what the training objective asks for, free of the network and the
  noise.

Also the raw gradient of the HLC loss w.r.t. each bin's gain (dB) at 0 dB: how strongly the
objective pulls each frequency.

    python recipes/cnrhlc/gain_diagnosis.py [--checkpoint CKPT] [--profiles N3,N6,N7,S2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from hltk.auditory import AuditoryModel, hearing_loss_from_audiogram  # noqa: E402
from hltk.io.listeners import standard_listener  # noqa: E402

SHOWN_HZ = (250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000)


def shown(values: np.ndarray, scale: float = 1.0, digits: int = 1) -> str:
    return " ".join(f"{v * scale:.{digits}f}" for v in values)


def long_term_db(signal: torch.Tensor) -> np.ndarray:
    spectrum = torch.stft(signal, 512, 256, window=torch.hann_window(512), return_complex=True)
    return (10 * torch.log10(spectrum.abs().square().mean(-1) + 1e-12)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--profiles", default="N3,N6,N7,S2")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    bins = [int(round(hz / 31.25)) for hz in SHOWN_HZ]
    items = common.load_items(1, 2.5)
    item = items[0]
    systems = common.Systems(args.checkpoint)
    model = AuditoryModel(sample_rate=common.RATE)
    speech = torch.stack([i.clean[8000:24000] for i in items[:2]])  # 2 x 1 s of clean speech
    window = torch.hann_window(512)
    spectrum = torch.stft(speech, 512, 256, window=window, return_complex=True)
    with torch.no_grad():
        target = model(speech, None)
    print(f"item {item.corpus}:{item.id}; columns: {SHOWN_HZ} Hz")
    for profile in args.profiles.split(","):
        levels = torch.as_tensor(standard_listener(profile).left.on_grid(),
                                 dtype=torch.float32)[None]
        both = systems.process("cnrhlc", item.noisy, profile)
        nr_only = common.run(systems.cnrhlc(1.0, 0.0), item.noisy, profile)
        nalr = systems.process("noisy+nalr", item.noisy, profile)
        hlc_gain = long_term_db(both) - long_term_db(nr_only)
        nalr_gain = long_term_db(nalr) - long_term_db(item.noisy)
        loss = hearing_loss_from_audiogram(levels.repeat(speech.shape[0], 1))
        gain = torch.zeros(257, requires_grad=True)
        optimiser = torch.optim.Adam([gain], lr=1.0)
        for step in range(args.steps):
            output = torch.istft(spectrum * 10 ** (gain[:, None] / 20), 512, 256, window=window,
                                 length=speech.shape[-1])
            value = (model(output, loss) - target).square().mean()
            if step == 0:
                gradient = torch.autograd.grad(value, gain, retain_graph=True)[0]
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
        print(f"{profile} audiogram {levels[0].int().tolist()}")
        print(f"  model HLC gain dB      {shown(hlc_gain[bins])}")
        print(f"  NAL-R gain dB          {shown(nalr_gain[bins])}")
        print(f"  loss-optimal gain dB   {shown(gain.detach().numpy()[bins])} "
              f"(HLC loss {float(value.detach()):.2f}; Adam, {args.steps} steps of ~1 dB)")
        print(f"  dLoss/dgain(dB) at 0 dB {shown(gradient.numpy()[bins], 1e6, 0)} (x1e-6)")


if __name__ == "__main__":
    main()
