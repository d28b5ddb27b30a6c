"""What holds the clean envelope that STOI finds in the bands MSBG silences (issue 28, fifth
session): on a fidelity run's held-out outputs (``recipes/neuro_msbg/fidelity.py``), for every
ear with a PTA above ``--pta`` dB HL, the STOI band correlation ``d_j`` (pystoi's, as
``magnitude_diagnosis.py`` keeps it) of the bands at >= 90 dB HL, and its band level re the
clean speech, for msbg, the network, and bin swaps between them on the model's STFT (512-point
Hann, hop 256, exact magnitudes):

- ``model_sil->msbg``: the network's output with msbg's magnitude in the *silenced* bins (msbg's
  time-averaged power there 90 dB or more below the clean's), the network's phase;
- ``model_sil->msbg_magphase``: the same with msbg's phase too;
- ``model_sil->0``: the network's output with the silenced bins zeroed;
- ``msbg_sil->model``: msbg's output with the network's silenced bins (magnitude and phase);
- ``msbg_resyn``: msbg's output through the same STFT and back (the swaps' control).

If zeroing the silenced bins removes the excess, the network's own residual in those bins
carries the envelope; if swapping in msbg's bins does not, the rest of the band does (bins
MSBG leaves above -90 dB whose envelope differs). STOI's analysis (10 kHz, 256-point Hann)
leaks the loud bands into a band 100 dB or more down too, which both sides share.

    .venv/bin/python recipes/neuro_msbg/silenced_bands.py --fidelity OUT/fidelity-recorded \\
        --checkpoint-stem neuro_msbg_cnn [--pta 80] [--ears 60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from magnitude_diagnosis import band_stoi  # noqa: E402

from hltk.dsp.stft import Stft  # noqa: E402

FREQUENCIES = (250, 500, 1000, 2000, 3000, 4000, 6000, 8000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fidelity", type=Path, required=True)
    parser.add_argument("--checkpoint-stem", required=True)
    parser.add_argument("--pta", type=float, default=80.0)
    parser.add_argument("--ears", type=int, default=60)
    parser.add_argument("-o", "--out", type=Path)
    options = parser.parse_args()
    torch.set_num_threads(1)
    from pystoi.stoi import CF

    heldout = pd.read_csv(options.fidelity / "heldout.csv")
    stft = Stft(512, 256, 0.3)
    power = 2 / stft.compress
    rows = []
    for _, row in heldout.iterrows():
        for channel, ear in enumerate(("left", "right")):
            levels = np.array([row[f"hl_{ear}_{f}"] for f in FREQUENCIES], dtype=float)
            if levels[[1, 2, 3, 5]].mean() <= options.pta or len(rows) >= options.ears:
                continue
            band_hl = np.interp(np.log(CF), np.log(FREQUENCIES), levels)
            if not (band_hl >= 90).any():
                continue
            clean = sf.read(row["reference"], dtype="float32", always_2d=True)[0][:, 0]
            msbg = sf.read(options.fidelity / "msbg" / "audio" / f"{row['id']}.wav", dtype="float32",
                           always_2d=True)[0][:, channel]
            model = sf.read(options.fidelity / options.checkpoint_stem / "audio" / f"{row['id']}.wav",
                            dtype="float32", always_2d=True)[0][:, channel]
            length = min(len(clean), len(msbg), len(model))
            clean, msbg, model = clean[:length], msbg[:length], model[:length]
            spectra = [stft.analyse(torch.from_numpy(x.copy())[None], eps=1e-20)[:2]
                       for x in (clean, msbg, model)]
            (m_clean, _), (m_msbg, p_msbg), (m_model, p_model) = spectra
            silenced = ((m_msbg ** power).mean(1, keepdim=True)
                        < 1e-9 * (m_clean ** power).mean(1, keepdim=True)).expand_as(m_model)
            zeros = torch.zeros_like(m_model)

            def swap(magnitude: torch.Tensor, phase: torch.Tensor, length: int = length) -> np.ndarray:
                return stft.synthesise(magnitude, phase, length)[0].numpy()

            variants = {
                "msbg": msbg, "model": model,
                "msbg_resyn": swap(m_msbg, p_msbg),
                "model_sil->msbg": swap(torch.where(silenced, m_msbg, m_model), p_model),
                "model_sil->msbg_magphase": swap(torch.where(silenced, m_msbg, m_model),
                                                 torch.where(silenced, p_msbg, p_model)),
                "model_sil->0": swap(torch.where(silenced, zeros, m_model), p_model),
                "msbg_sil->model": swap(torch.where(silenced, m_model, m_msbg),
                                        torch.where(silenced, p_model, p_msbg)),
            }
            selected = band_hl >= 90
            result: dict[str, object] = {"id": row["id"], "ear": ear, "bands_90": int(selected.sum()),
                                         "silenced_bins": float(silenced[0, 0].float().mean())}
            for name, signal in variants.items():
                d, e_clean, e_signal = band_stoi(clean.astype(np.float64), signal.astype(np.float64))
                result[f"d_{name}"] = float(d[selected].mean())
                result[f"level_{name}"] = float((e_signal - e_clean)[selected].mean())
            rows.append(result)
    table = pd.DataFrame(rows)
    if options.out:
        table.to_csv(options.out, index=False)
    print(f"{len(table)} ears with PTA > {options.pta:g} dB HL and a band at >= 90 dB HL; "
          "mean over the ears of the >= 90 dB HL bands:")
    summary = pd.DataFrame({name[2:]: [table[name].mean(), table["level_" + name[2:]].mean()]
                            for name in table.columns if name.startswith("d_")}, index=["d_j", "level dB"]).T
    print(summary.round(3).to_string())
    print(f"share of the spectrum's bins silenced by msbg: {table['silenced_bins'].mean():.3f}")


if __name__ == "__main__":
    main()
