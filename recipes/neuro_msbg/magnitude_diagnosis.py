"""Where Neuro-MSBG's magnitude error sits: per STOI band, per ear hearing level, and what the
network's mask can express at best (oracles), on a fidelity run's held-out outputs.

Reads a ``recipes/neuro_msbg/fidelity.py`` output folder (``heldout.csv``, ``msbg/`` and one
checkpoint's ``<stem>/`` outputs, 16 kHz) and, per item and ear:

1. **STOI per band** (the 15 third-octave bands of STOI, Taal et al. 2011, as pystoi computes
   them): the band's mean correlation ``d_j`` for msbg and for the network, both against the
   clean speech (STOI is their mean over bands), grouped by the ear's hearing level at the
   band's centre frequency; and the band's level re the clean speech (dB), msbg vs network.
   STOI normalises each band-segment's level, so a band that is attenuated but keeps the
   clean envelope scores as if untouched: what it sees is the envelope's shape.
2. **Oracle masks** on the model's STFT (512-point Hann, hop 256, compressed ``|X| ** 0.3``),
   with the input's phase: msbg's exact magnitude (the ideal mask), the ideal mask limited to
   the mask decoder's range ``(0, 2)``, and the ideal mask smoothed along frequency to the
   encoder's resolution (``--stride`` bins: log-mask averaged with a triangular kernel of
   ``2 * stride - 1`` bins weighted by the input magnitude, as a transposed convolution from
   the narrowed bins can at best). STOI / PESQ of each against msbg's.

    .venv/bin/python recipes/neuro_msbg/magnitude_diagnosis.py --fidelity OUT/fidelity-recorded \\
        --checkpoint-stem neuro_msbg_cnn -o OUT/diagnosis [--items 150] [--every 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import torch.nn.functional as F  # noqa: N812

from hltk.dsp.stft import Stft

RATE = 16000


def band_stoi(clean: np.ndarray, processed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pystoi's STOI, kept per band: ``d_j [15]`` (STOI = their mean), and the band energies
    (dB) of clean and processed over the non-silent frames."""
    from pystoi import utils
    from pystoi.stoi import BETA, DYN_RANGE, FS, N_FRAME, NFFT, OBM, N

    x = utils.resample_oct(clean, FS, RATE)
    y = utils.resample_oct(processed, FS, RATE)
    x, y = utils.remove_silent_frames(x, y, DYN_RANGE, N_FRAME, N_FRAME // 2)
    x_tob = np.sqrt(OBM @ np.abs(utils.stft(x, N_FRAME, NFFT, overlap=2).T) ** 2)
    y_tob = np.sqrt(OBM @ np.abs(utils.stft(y, N_FRAME, NFFT, overlap=2).T) ** 2)
    xs = np.array([x_tob[:, m - N:m] for m in range(N, x_tob.shape[1] + 1)])
    ys = np.array([y_tob[:, m - N:m] for m in range(N, x_tob.shape[1] + 1)])
    ys = ys * np.linalg.norm(xs, axis=2, keepdims=True) / (
        np.linalg.norm(ys, axis=2, keepdims=True) + utils.EPS)
    ys = np.minimum(ys, xs * (1 + 10 ** (-BETA / 20)))
    ys = ys - ys.mean(axis=2, keepdims=True)
    xs = xs - xs.mean(axis=2, keepdims=True)
    ys /= np.linalg.norm(ys, axis=2, keepdims=True) + utils.EPS
    xs /= np.linalg.norm(xs, axis=2, keepdims=True) + utils.EPS
    d = (xs * ys).sum(axis=2).mean(axis=0)
    energy_x = 10 * np.log10((x_tob**2).sum(axis=1) + 1e-20)
    energy_y = 10 * np.log10((y_tob**2).sum(axis=1) + 1e-20)
    return d, energy_x, energy_y


def smooth_log_mask(log_mask: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """Weighted triangular smoothing along bins (``[frames, bins]``), width ``2 stride - 1``."""
    kernel = 1.0 - torch.arange(-(stride - 1), stride).abs() / stride
    kernel = kernel[None, None]
    num = F.conv1d((log_mask * weight)[:, None], kernel, padding=stride - 1)[:, 0]
    den = F.conv1d(weight[:, None], kernel, padding=stride - 1)[:, 0]
    return num / den.clamp_min(1e-12)


def oracles(stft: Stft, source: np.ndarray, target: np.ndarray, reference: np.ndarray, length: int,
            stride: int) -> dict[str, float]:
    """STOI / PESQ of the oracle reconstructions (input phase; see the module docstring)."""
    from pesq import pesq
    from pystoi import stoi

    magnitude, phase, _ = stft.analyse(torch.from_numpy(source.copy())[None])
    wave = torch.from_numpy(target).float()[None]
    target_magnitude = stft.analyse(wave)[0]  # the Stft's floor, eps 1e-9: the first models' target
    exact = stft.analyse(wave, eps=1e-20)[0]
    log_mask = torch.log(target_magnitude + 1e-4) - torch.log(magnitude + 1e-4)
    smooth = torch.exp(smooth_log_mask(log_mask[0], magnitude[0], stride))[None]
    variants = {"ideal_floor1e-9": target_magnitude, "ideal_floor1e-20": exact,
                "clip2": magnitude * torch.exp(log_mask).clamp(max=2.0),
                f"smooth{stride}": magnitude * smooth,
                f"smooth{stride}_clip2": magnitude * smooth.clamp(max=2.0)}
    scores: dict[str, float] = {}
    for name, candidate in variants.items():
        rebuilt = stft.synthesise(candidate, phase, length)[0].double().numpy()
        scores[f"stoi_{name}"] = float(stoi(reference, rebuilt, RATE))
        try:
            scores[f"pesq_{name}"] = float(pesq(RATE, reference, rebuilt, "wb"))
        except Exception:  # noqa: BLE001 - pesq refuses silent signals
            scores[f"pesq_{name}"] = float("nan")
    power = target_magnitude ** (2 / stft.compress)
    scores["mask_above2_energy"] = float(((torch.exp(log_mask) > 2.0) * power).sum() / power.sum())
    return scores


def summarise(bands: pd.DataFrame, items: pd.DataFrame) -> None:
    bands["hl_group"] = pd.cut(bands["hl"], [-20, 30, 50, 70, 90, 130])
    bands["d_diff"] = bands["d_model"] - bands["d_msbg"]
    bands["gain_diff"] = bands["gain_model_db"] - bands["gain_msbg_db"]
    print("\nSTOI band correlation (model - msbg) and band gain by hearing level:")
    print(bands.groupby("hl_group", observed=True)[["d_msbg", "d_model", "d_diff", "gain_msbg_db",
                                                    "gain_model_db", "gain_diff"]].mean().round(3))
    print("\nby band:")
    print(bands.groupby("band")[["cf", "d_msbg", "d_model", "d_diff", "gain_diff"]].mean().round(3))
    print("\nby corpus:")
    print(bands.groupby("corpus")[["d_diff", "gain_diff"]].mean().round(4))
    print("\nitems (per ear): MSE / bias against msbg")
    for metric in ("stoi", "pesq"):
        names = [c[len(metric) + 1:] for c in items.columns
                 if c.startswith(metric + "_") and c != f"{metric}_msbg"]
        for name in names:
            diff = items[f"{metric}_{name}"] - items[f"{metric}_msbg"]
            print(f"{metric} {name:18s} MSE {np.nanmean(diff ** 2):.4f} bias {np.nanmean(diff):+.4f}")
    items["pta_group"] = pd.cut(items["pta"], [-20, 25, 40, 60, 80, 130])
    items["stoi_diff"] = items["stoi_model"] - items["stoi_msbg"]
    items["pesq_diff"] = items["pesq_model"] - items["pesq_msbg"]
    print(items.groupby("pta_group", observed=True)[["stoi_diff", "pesq_diff"]]
          .agg(["mean", "count"]).round(4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fidelity", type=Path, required=True)
    parser.add_argument("--checkpoint-stem", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=150)
    parser.add_argument("--every", type=int, default=1, help="score every n-th held-out item")
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--no-oracles", action="store_true")
    options = parser.parse_args()
    torch.set_num_threads(1)
    from pesq import pesq
    from pystoi import stoi
    from pystoi.stoi import CF

    heldout = pd.read_csv(options.fidelity / "heldout.csv").head(options.items).iloc[::options.every]
    stft = Stft(512, 256, 0.3)
    band_rows, item_rows = [], []
    for _, row in heldout.iterrows():
        clean, _ = sf.read(row["reference"], dtype="float32", always_2d=True)
        msbg_out, _ = sf.read(options.fidelity / "msbg" / "audio" / f"{row['id']}.wav", dtype="float32",
                              always_2d=True)
        model_out, _ = sf.read(options.fidelity / options.checkpoint_stem / "audio" / f"{row['id']}.wav",
                               dtype="float32", always_2d=True)
        noisy, _ = sf.read(row["audio"], dtype="float32", always_2d=True)
        length = min(len(clean), len(msbg_out), len(model_out), len(noisy))
        for channel, ear in enumerate(("left", "right")):
            reference = clean[:length, min(channel, clean.shape[1] - 1)].astype(np.float64)
            source = noisy[:length, min(channel, noisy.shape[1] - 1)]
            target = msbg_out[:length, channel].astype(np.float64)
            estimate = model_out[:length, channel].astype(np.float64)
            levels = np.array([row[f"hl_{ear}_{f}"] for f in (250, 500, 1000, 2000, 3000, 4000, 6000, 8000)],
                              dtype=float)
            band_hl = np.interp(np.log(CF), np.log([250, 500, 1000, 2000, 3000, 4000, 6000, 8000]), levels)
            d_msbg, e_clean, e_msbg = band_stoi(reference, target)
            d_model, _, e_model = band_stoi(reference, estimate)
            for j in range(len(CF)):
                band_rows.append({"id": row["id"], "corpus": row["corpus"], "ear": ear, "band": j,
                                  "cf": float(CF[j]), "hl": float(band_hl[j]),
                                  "d_msbg": float(d_msbg[j]), "d_model": float(d_model[j]),
                                  "gain_msbg_db": float(e_msbg[j] - e_clean[j]),
                                  "gain_model_db": float(e_model[j] - e_clean[j])})
            item = {"id": row["id"], "corpus": row["corpus"], "ear": ear, "pta": float(levels[:4].mean()),
                    "stoi_msbg": float(stoi(reference, target, RATE)),
                    "stoi_model": float(stoi(reference, estimate, RATE)),
                    "pesq_msbg": float(pesq(RATE, reference, target, "wb")),
                    "pesq_model": float(pesq(RATE, reference, estimate, "wb"))}
            if not options.no_oracles:
                item.update(oracles(stft, source, target, reference, length, options.stride))
            item_rows.append(item)
        print(row["id"], {k: round(v, 3) for k, v in item.items() if isinstance(v, float)}, flush=True)
    options.out.mkdir(parents=True, exist_ok=True)
    bands = pd.DataFrame(band_rows)
    items = pd.DataFrame(item_rows)
    bands.to_csv(options.out / "bands.csv", index=False)
    items.to_csv(options.out / "items.csv", index=False)
    summarise(bands, items)


if __name__ == "__main__":
    main()
