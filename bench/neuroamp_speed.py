"""Speed of NeuroAMP (each shipped core) and Denoising NeuroAMP against nalr-wdrc on CPU, as
real-time factor (seconds of audio per second of processing; higher is faster).

Batch: ``--items`` x ``--seconds`` of real speech (demo set) at 65 dB SPL, two ears each,
listeners cycling through Bisgaard N1-N7 and S1-S3, one CPU thread. Each backend runs at its
own rate on the same seconds of audio: NeuroAMP at 16 kHz, nalr-wdrc at 44.1 kHz (what
``hltk amplify`` runs) and at 16 kHz. Resampling, which the runner does for both, is not timed.

    python bench/neuroamp_speed.py [--items 16] [--seconds 4] [--repeats 3]

One JSON line per backend on stdout: wall and process CPU time, real-time factors, parameters.
"""

from __future__ import annotations

import argparse
import json

import soxr
import torch

from hltk import registry
from hltk.amplify.neuroamp import ARCHS, default_checkpoint
from hltk.amplify.wdrc import NalrWdrcProcessor
from hltk.bench.probes import AMPLIFY_PROFILES as PROFILES
from hltk.bench.probes import AMPLIFY_RATE as RATE  # the rate of speech_batch
from hltk.bench.probes import speech_batch
from hltk.bench.probes import time_processor as measure
from hltk.denoise.neuroamp_denoise import DEFAULT_CHECKPOINT as DENOISE_CHECKPOINT
from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.nn.checkpoint import parameter_count
from hltk.runtime import configure_process


def at_rate(audio: torch.Tensor, rate: int) -> torch.Tensor:
    if rate == RATE:
        return audio
    flat = audio.reshape(-1, audio.shape[-1]).double().numpy().T
    resampled = torch.from_numpy(soxr.resample(flat, RATE, rate).T.copy()).float()
    return resampled.reshape(*audio.shape[:-1], -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(1)
    audio = speech_batch(args.items, args.seconds)
    listeners = ListenerBatch(
        tuple(standard_listener(PROFILES[i % len(PROFILES)]) for i in range(args.items)))
    backends: list[tuple[str, object, int]] = [
        ("nalr-wdrc (44.1 kHz)", NalrWdrcProcessor(), 44100),
        ("nalr-wdrc (16 kHz)", NalrWdrcProcessor(sample_rate=16000), 16000),
    ]
    for arch in ARCHS:
        if default_checkpoint(arch).is_file():
            processor = registry.create("amplify", "neuroamp", arch=arch)
            backends.append((f"neuroamp --arch {arch}", processor, 16000))
    if DENOISE_CHECKPOINT.is_file():
        backends.append(("neuroamp-denoise", registry.create("denoise-amplify", "neuroamp-denoise"), 16000))
    for name, processor, rate in backends:
        batch = at_rate(audio, rate)
        # measure() computes the duration at 44.1 kHz: rescale the RTFs to the true duration
        result = measure(processor, batch, listeners, args.repeats)
        factor = RATE / rate
        for key in [k for k in result if k.startswith("rtf")]:
            result[key] = round(result[key] * factor, 1)
        model = getattr(processor, "model", None)
        record = {"backend": name, "items": args.items, "seconds_each": args.seconds, "ears": 2,
                  "threads": 1, "rate": rate, "repeats": args.repeats,
                  "parameters": parameter_count(model) if model is not None else None, **result}
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
