"""Synthetic corpora: speech throughput, STOI sanity checks and spectrograms.

    python bench/synth_speed.py [--minutes 6] [--jobs 2] [--out out/synth-bench]

1. Throughput: makes ``--minutes`` of speech (16 kHz) with ``--jobs`` and extrapolates to one
   hour (the issue's goal: one hour in under 10 minutes on 2 cores).
2. Intelligibility sanity: mean STOI (pystoi) of clean vs clean (1.0) and of multi-talker
   babble mixtures at 0 dB SNR vs clean, over ``--stoi-items`` items.
3. Spectrograms of one speech item and one music mixture, as PNGs under ``--out``.

Results go to stdout as JSON; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from hltk.synth.corpus import make_corpus


def throughput(out: Path, minutes: float, jobs: int, seed: int) -> dict[str, float]:
    result = make_corpus("speech", out / "speech", hours=minutes / 60.0, seed=seed, jobs=jobs)
    speed = result.audio_seconds / result.elapsed_seconds
    return {
        "speech_seconds_made": round(result.audio_seconds, 1),
        "items": result.items,
        "elapsed_seconds": round(result.elapsed_seconds, 2),
        "times_real_time": round(speed, 1),
        "extrapolated_minutes_per_hour_of_speech": round(60.0 / speed, 2),
        "jobs": jobs,
    }


def stoi_check(out: Path, items: int, seed: int) -> dict[str, float]:
    from pystoi import stoi

    result = make_corpus("noisy", out / "babble0", n=items, seed=seed, noise_types=("babble",),
                         snr_range_db=(0.0, 0.0))
    clean_scores, babble_scores = [], []
    for row in result.rows:
        clean, rate = sf.read(str(out / "babble0" / row["reference"]), dtype="float32")
        mixture, _ = sf.read(str(out / "babble0" / row["audio"]), dtype="float32")
        clean_scores.append(stoi(clean, clean, rate))
        babble_scores.append(stoi(clean, mixture, rate))
    return {
        "stoi_items": len(clean_scores),
        "stoi_clean_vs_clean": round(float(np.mean(clean_scores)), 4),
        "stoi_babble_0db_vs_clean": round(float(np.mean(babble_scores)), 4),
        "stoi_babble_0db_std": round(float(np.std(babble_scores)), 4),
    }


def spectrograms(out: Path, seed: int) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speech = make_corpus("speech", out / "speech_png", n=1, seed=seed, sample_rate=16000)
    music = make_corpus("music", out / "music_png", n=1, seed=seed, music_seconds=10.0)
    paths = {}
    for name, result, folder in (("speech", speech, "speech_png"), ("music", music, "music_png")):
        row = result.rows[0]
        audio, rate = sf.read(str(out / folder / row["audio"]), dtype="float32", always_2d=True)
        figure, axis = plt.subplots(figsize=(10, 4))
        axis.specgram(audio.mean(axis=1), NFFT=1024 if rate > 20000 else 512, Fs=rate,
                      noverlap=768 if rate > 20000 else 384, cmap="magma", vmin=-140)
        label = row.get("text") or f"{row['style']} in {row['key']} {row['mode']}, " \
                                     f"{row['tempo_bpm']} bpm"
        axis.set_title(f"{row['id']}: {label}", fontsize=9)
        axis.set_xlabel("time (s)")
        axis.set_ylabel("frequency (Hz)")
        figure.tight_layout()
        path = out / f"spectrogram_{name}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths[f"spectrogram_{name}"] = str(path.resolve())
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--stoi-items", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/synth-bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    print("throughput ...", file=sys.stderr)
    report.update(throughput(args.out, args.minutes, args.jobs, args.seed))
    print("STOI ...", file=sys.stderr)
    report.update(stoi_check(args.out, args.stoi_items, args.seed))
    print("spectrograms ...", file=sys.stderr)
    report.update(spectrograms(args.out, args.seed))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
