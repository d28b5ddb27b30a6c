"""The paper's Fig. 13: frequency-specific gain of NeuroAMP against NAL-R and NAL-R + WDRC.

For each listener, held-out speech (the items of a manifest, joined, presented at
``--speech-db-spl`` with the toolkit's calibration of 100 dB SPL per digital RMS of 1) goes
through ``nalr`` and ``nalr-wdrc`` (at 44.1 kHz, as ``hltk amplify`` runs them) and through
each shipped NeuroAMP core (16 kHz). The gain at each frequency is the ratio of the long-term
spectra (Welch, 512 points at 16 kHz) of output and input, in dB, per ear.

    python recipes/neuroamp/gain.py MANIFEST --listeners L.json --listener L0003 --listener L0017 \
        -o OUT [--seconds 30] [--speech-db-spl 65]

Writes ``OUT/gain.png`` (one panel per listener and ear) and ``OUT/gain.csv`` (gains at the
audiometric frequencies), and prints the CSV.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soxr
import torch
from scipy.signal import welch

from hltk import registry
from hltk.amplify.neuroamp import ARCHS, default_checkpoint
from hltk.io.audio import read_audio
from hltk.io.listeners import EARS, ListenerBatch, load_listeners
from hltk.io.manifest import load_manifest

RATE = 16000
REPORT_FREQUENCIES = (250, 500, 1000, 2000, 3000, 4000, 6000)


def speech(manifest: Path, seconds: float, level_db_spl: float) -> np.ndarray:
    items = load_manifest(manifest, require_listener=False, check_audio="none").items
    pieces, total = [], 0
    for item in items:
        audio, rate = read_audio(item.audio)
        mono = audio.mean(0).double().numpy()
        mono = soxr.resample(mono, rate, RATE) if rate != RATE else mono
        pieces.append(mono)
        total += len(mono)
        if total >= seconds * RATE:
            break
    joined = np.concatenate(pieces)[: int(seconds * RATE)]
    return joined / np.sqrt(np.mean(joined**2)) * 10 ** ((level_db_spl - 100.0) / 20.0)


def run(name: str, options: dict[str, str], signal: np.ndarray, listeners: ListenerBatch) -> np.ndarray:
    """``[ears, T]`` output of backend ``name`` (amplify task) at 16 kHz."""
    task = "denoise-amplify" if name == "neuroamp-denoise" else "amplify"
    processor = registry.create(task, name, **options)
    rate = processor.sample_rate
    source = soxr.resample(signal, RATE, rate) if rate != RATE else signal
    audio = torch.from_numpy(np.stack([source, source])[None].astype(np.float32))
    with torch.no_grad():
        output = processor(audio, listeners, lengths=torch.tensor([audio.shape[-1]]),
                           level_db_spl=torch.tensor([100.0]), seeds=[0])[0].double().numpy()
    if rate != RATE:
        output = np.stack([soxr.resample(channel, rate, RATE) for channel in output])
    return output[:, : len(signal)]


def gain_db(source: np.ndarray, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frequencies, power_in = welch(source, RATE, nperseg=512)
    _, power_out = welch(output, RATE, nperseg=512)
    return frequencies, 10 * np.log10(np.maximum(power_out, 1e-30) / np.maximum(power_in, 1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--listeners", type=Path, required=True)
    parser.add_argument("--listener", action="append", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speech-db-spl", type=float, default=65.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    signal = speech(args.manifest, args.seconds, args.speech_db_spl)
    systems: list[tuple[str, str, dict[str, str]]] = [("NAL-R", "nalr", {}),
                                                      ("NAL-R+WDRC", "nalr-wdrc", {})]
    systems += [(f"NeuroAMP {arch}", "neuroamp", {"arch": arch}) for arch in ARCHS
                if default_checkpoint(arch).is_file()]
    known = load_listeners(args.listeners)
    args.out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(len(args.listener), 2, figsize=(10, 3.6 * len(args.listener)),
                                sharex=True, squeeze=False)
    rows = []
    for row_index, listener_id in enumerate(args.listener):
        listener = known[listener_id]
        batch = ListenerBatch((listener,))
        for label, name, options in systems:
            output = run(name, options, signal, batch)
            for ear_index, ear in enumerate(EARS):
                frequencies, gains = gain_db(signal, output[ear_index])
                style = {"NAL-R": "k--", "NAL-R+WDRC": "k-"}.get(label, "-")
                axes[row_index, ear_index].semilogx(frequencies[1:], gains[1:], style, label=label,
                                                    lw=2 if label.startswith("NAL") else 1.2)
                rows.append({"listener": listener_id, "ear": ear, "system": label,
                             **{f"{f}Hz": round(float(np.interp(f, frequencies, gains)), 1)
                                for f in REPORT_FREQUENCIES}})
        for ear_index, ear in enumerate(EARS):
            axis = axes[row_index, ear_index]
            levels = " ".join(f"{v:g}" for v in listener.ear(ear).levels)
            axis.set_title(f"{listener_id} {ear} (HL {levels} dB)", fontsize=9)
            axis.grid(True, which="both", alpha=0.3)
            axis.set_xlim(125, 8000)
            axis.set_xticks([250, 500, 1000, 2000, 4000, 8000])
            axis.set_xticklabels(["250", "500", "1k", "2k", "4k", "8k"])
            axis.xaxis.set_minor_formatter(NullFormatter())
        axes[row_index, 0].set_ylabel("gain (dB)")
    axes[-1, 0].set_xlabel("frequency (Hz)")
    axes[-1, 1].set_xlabel("frequency (Hz)")
    axes[0, 0].legend(fontsize=7)
    figure.suptitle(f"long-term gain on held-out speech at {args.speech_db_spl:g} dB SPL", fontsize=10)
    figure.tight_layout()
    figure.savefig(args.out / "gain.png", dpi=110)
    with (args.out / "gain.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    csv.writer(sys.stdout).writerows([list(rows[0])] + [list(r.values()) for r in rows])


if __name__ == "__main__":
    main()
