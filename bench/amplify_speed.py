"""Speed of the amplification baselines on CPU, as real-time factor (audio seconds per second).

Batch: 32 items x 4 s at 44.1 kHz, two ears each (real speech from the demo set at 65 dB SPL,
listeners cycling through Bisgaard N1-N7 and S1-S3), one CPU thread (``torch.set_num_threads(1)``).
Backends: nalr-wdrc (target >= 200x real time), nalr (FIR), and the two-stage chain (RNNoise
+ nalr-wdrc). RTF counts item duration (32 x 4 s = 128 s), not ear-channels.

    python bench/amplify_speed.py [--repeats 3] [--items 32] [--seconds 4] [--skip-two-stage]

Prints one JSON line per backend on stdout: wall-clock and process CPU time (best and median
of the repeats), and the real-time factors from each. On a machine shared with other jobs the
wall clock includes time spent waiting for a core; the CPU time (one thread) is then the better
estimate of the speed on a core of one's own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from hltk.amplify.nalr import NalrProcessor
from hltk.amplify.wdrc import NalrWdrcProcessor
from hltk.denoise.two_stage import TwoStageProcessor
from hltk.io.listeners import ListenerBatch, standard_listener

RATE = 44100
DEMO = Path(__file__).resolve().parent.parent / "manifests" / "demo" / "audio"
PROFILES = ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "S1", "S2", "S3")


def speech_batch(items: int, seconds: float) -> torch.Tensor:
    """``[items, 2, seconds * RATE]`` speech at RMS 10^(-35/20) (65 dB SPL at level 100)."""
    voices = []
    for path in sorted(DEMO.glob("s0*.*")):
        samples, rate = sf.read(path, dtype="float64")
        samples = samples if samples.ndim == 1 else samples[:, 0]
        voices.append(soxr.resample(samples, rate, RATE))
    stream = np.concatenate(voices)
    length = int(seconds * RATE)
    audio = np.zeros((items, 2, length), dtype=np.float32)
    for item in range(items):
        for ear in range(2):
            start = (item * 7919 + ear * 104729) % (len(stream) - length)
            segment = stream[start : start + length]
            audio[item, ear] = segment / np.sqrt(np.mean(segment**2)) * 10 ** (-35 / 20)
    return torch.from_numpy(audio)


def measure(
    processor: object, audio: torch.Tensor, listeners: ListenerBatch, repeats: int
) -> dict[str, float]:
    lengths = torch.full((audio.shape[0],), audio.shape[-1])
    levels = torch.full((audio.shape[0],), 100.0)
    processor(audio[:2], listeners.select([0, 1]), lengths=lengths[:2], level_db_spl=levels[:2])  # type: ignore[operator]
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        processor(audio, listeners, lengths=lengths, level_db_spl=levels)  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    duration = audio.shape[0] * audio.shape[-1] / RATE
    return {
        "wall_s_best": round(min(walls), 3),
        "wall_s_median": round(statistics.median(walls), 3),
        "cpu_s_best": round(min(cpus), 3),
        "rtf_wall_best": round(duration / min(walls), 1),
        "rtf_wall_median": round(duration / statistics.median(walls), 1),
        "rtf_cpu_best": round(duration / min(cpus), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-two-stage", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    audio = speech_batch(args.items, args.seconds)
    listeners = ListenerBatch(
        tuple(standard_listener(PROFILES[i % len(PROFILES)]) for i in range(args.items))
    )
    backends: list[tuple[str, object, int]] = [
        ("nalr-wdrc", NalrWdrcProcessor(), args.repeats),
        ("nalr", NalrProcessor(), args.repeats),
    ]
    if not args.skip_two_stage:
        backends.append(("two-stage", TwoStageProcessor(), 1))
    for name, processor, repeats in backends:
        result = measure(processor, audio, listeners, repeats)
        record = {
            "backend": name,
            "items": args.items,
            "seconds_each": args.seconds,
            "ears": 2,
            "threads": 1,
            "repeats": repeats,
            **result,
        }
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
