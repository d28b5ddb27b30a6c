"""Neuro-MSBG from 44.1 kHz input: the FFT resampler it declares against soxr VHQ (issue #28).

The runner resamples neuro-msbg's input (44.1 -> 16 kHz) and output (16 -> 44.1 kHz) with
:func:`hltk.io.audio.fft_resample` (the backend's ``resampler = "fft"``), where every other
backend gets soxr VHQ. This checks that the change is negligible against the emulator's own
error:

1. ``--items`` rows of a 16 kHz manifest (default the held-out English recordings), each
   resampled to 44.1 kHz with soxr VHQ and written as float WAV, with its listener;
2. ``hltk simulate --backend msbg`` (the reference) and ``--backend neuro-msbg`` (the runner,
   FFT resampling) over them, float WAV out;
3. the same neuro-msbg items once more with soxr VHQ in and out, here, item by item as the
   runner does (``--batch-size 1`` above); the FFT path is recomputed here too and must equal
   the runner's files to the bit, which checks that the two paths differ only in the resampler;
4. STOI and wide-band PESQ per ear against the clean 44.1 kHz item
   (:func:`hltk.metrics.engine_clarity.metric_ear`) for msbg and both neuro-msbg paths; the
   relative difference of the two neuro-msbg outputs (dB, all samples); each path's MSE and
   mean bias (neuro-msbg minus msbg) per metric.

    .venv/bin/python recipes/neuro_msbg/resampler_fidelity.py \\
        --manifest data/recorded-en/manifest.csv -o out/resampler-fidelity [--items 16]

Writes ``OUT/ears.csv`` (one row per item and ear) and ``OUT/summary.csv``, prints both tables.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from hltk.io.audio import read_audio, resample, select_ears, write_audio
from hltk.io.listeners import EARS, ListenerBatch, load_listeners
from hltk.metrics.engine_clarity import ScoringSettings, metric_ear
from hltk.simulate.neuro_msbg import NeuroMsbg

RATE = 44100
METRICS = ("stoi", "pesq")


def make_manifest(source: Path, out: Path, items: int) -> Path:
    table = pd.read_csv(source, dtype=str).head(items)
    (out / "audio44").mkdir(parents=True, exist_ok=True)
    rows = []
    for _, row in table.iterrows():
        audio, rate = read_audio(source.parent / row["audio"])
        wide = resample(audio, rate, RATE)
        name = f"audio44/{row['id']}.wav"
        write_audio(out / name, wide, RATE, "wav32f")
        rows.append({"id": row["id"], "audio": name, "listener": row["listener"]})
    path = out / "manifest44.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def simulate(manifest: Path, listeners: Path, backend: str, out: Path, jobs: int) -> None:
    command = [str(Path(sys.executable).parent / "hltk"), "-q", "simulate", str(manifest),
               "--listeners", str(listeners), "--backend", backend, "-o", str(out),
               "--audio-format", "wav32f", "--batch-size", "1", "--jobs", str(jobs)]
    print(" ".join(command), flush=True)
    # one thread, as this script computes: the network's rounding depends on the thread count
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def neuro_path(backend: NeuroMsbg, audio: torch.Tensor, rate: int, listeners: ListenerBatch,
               method: str) -> torch.Tensor:
    """What the runner does for one item of a batched backend (``hltk.runner.work``), with
    the resampler ``method``: in, the backend, back out, cut to the input's length, hard clip."""
    narrow = resample(audio, rate, backend.sample_rate, method)
    with torch.no_grad():
        simulated = backend(narrow.unsqueeze(0), listeners,
                            lengths=torch.tensor([narrow.shape[-1]]),
                            level_db_spl=torch.tensor([100.0], dtype=torch.float64))[0]
    back = resample(simulated.float(), backend.sample_rate, rate, method)
    back = torch.nn.functional.pad(back, (0, max(0, audio.shape[-1] - back.shape[-1])))
    return back[..., : audio.shape[-1]].clamp(-1.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True,
                        help="a 16 kHz manifest with listener ids and listeners.json beside it")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=1, help="msbg's workers")
    args = parser.parse_args()
    torch.set_num_threads(1)
    listeners_json = args.manifest.parent / "listeners.json"
    manifest = make_manifest(args.manifest, args.out, args.items)
    simulate(manifest, listeners_json, "msbg", args.out / "msbg", args.jobs)
    simulate(manifest, listeners_json, "neuro-msbg", args.out / "neuro-fft", 1)

    listeners = load_listeners(listeners_json)
    backend = NeuroMsbg()
    settings = ScoringSettings(metrics=METRICS)
    rows, error, power = [], 0.0, 0.0
    for _, item in pd.read_csv(manifest, dtype=str).iterrows():
        clean, rate = read_audio(args.out / item["audio"])
        ears = select_ears(clean, "both")
        batch = ListenerBatch((listeners[item["listener"]],), EARS)
        outputs = {"soxr": neuro_path(backend, ears, rate, batch, "soxr"),
                   "fft": neuro_path(backend, ears, rate, batch, "fft")}
        runner_fft, _ = read_audio(args.out / "neuro-fft" / "audio" / f"{item['id']}.wav")
        if not torch.equal(runner_fft, outputs["fft"]):
            raise SystemExit(f"{item['id']}: the runner's FFT path differs from this script's")
        outputs["msbg"], _ = read_audio(args.out / "msbg" / "audio" / f"{item['id']}.wav")
        difference = (outputs["fft"].double() - outputs["soxr"].double()).square().sum()
        error += float(difference)
        power += float(outputs["soxr"].double().square().sum())
        for channel, ear in enumerate(EARS):
            reference = ears[channel].double().numpy()
            row = {"id": item["id"], "listener": item["listener"], "ear": ear,
                   "rel_db": 10 * np.log10(float(
                       (outputs["fft"][channel].double() - outputs["soxr"][channel].double())
                       .square().sum() / outputs["soxr"][channel].double().square().sum()))}
            for system, output in outputs.items():
                for metric in METRICS:
                    row[f"{metric}_{system}"] = metric_ear(
                        metric, reference, rate, output[channel].double().numpy(), rate, None,
                        settings, 0)
            rows.append(row)
            print(row, flush=True)
    ears_table = pd.DataFrame(rows)
    ears_table.to_csv(args.out / "ears.csv", index=False)
    summary = []
    for metric in METRICS:
        msbg_values = ears_table[f"{metric}_msbg"].to_numpy()
        for system in ("soxr", "fft"):
            values = ears_table[f"{metric}_{system}"].to_numpy()
            summary.append({"metric": metric, "resampler": system, "n_ears": len(values),
                            "mse_vs_msbg": float(np.mean((values - msbg_values) ** 2)),
                            "bias_vs_msbg": float(np.mean(values - msbg_values)),
                            "max_abs_fft_minus_soxr": float(np.max(np.abs(
                                ears_table[f"{metric}_fft"] - ears_table[f"{metric}_soxr"])))})
    summary_table = pd.DataFrame(summary)
    summary_table.to_csv(args.out / "summary.csv", index=False)
    print(f"{len(ears_table) // 2} items x 2 ears at {RATE} Hz; neuro-msbg FFT path minus soxr "
          f"path, relative difference over all samples: {10 * np.log10(error / power):.1f} dB "
          f"(worst ear {ears_table['rel_db'].max():.1f} dB)")
    print(summary_table.to_string(index=False, float_format=lambda v: f"{v:.6f}"))
    if sf.info(str(args.out / "msbg" / "audio" / f"{rows[0]['id']}.wav")).samplerate != RATE:
        raise SystemExit("msbg's output is not at 44.1 kHz")


if __name__ == "__main__":
    main()
