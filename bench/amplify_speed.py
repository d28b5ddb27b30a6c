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

import torch

from hltk.amplify.nalr import NalrProcessor
from hltk.amplify.wdrc import NalrWdrcProcessor
from hltk.bench.probes import AMPLIFY_PROFILES, AMPLIFY_RATE, speech_batch
from hltk.bench.probes import time_processor as measure
from hltk.denoise.two_stage import TwoStageProcessor
from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.runtime import configure_process

RATE = AMPLIFY_RATE
PROFILES = AMPLIFY_PROFILES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-two-stage", action="store_true")
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
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
