"""Speed of the cnrhlc backend (joint NR + HLC, band-split RNN) against nalr-wdrc and
Denoising NeuroAMP on CPU, side by side in one process, as real-time factor (seconds of audio
per second of processing; higher is faster), and the training cost per step of
``hltk train cnrhlc`` with each auditory model (msbg; drnl when :mod:`hltk.auditory` is there).

Batch: ``--items`` x ``--seconds`` of real speech (demo set), two ears each, listeners
cycling through Bisgaard N1-N7 and S1-S3, one CPU thread. nalr-wdrc runs at 44.1 kHz (what
``hltk denoise-amplify`` runs) and at 16 kHz, the networks at 16 kHz; resampling is not timed.
Training: one step (loss through the auditory model + backward) of the shipped configuration
on ``--train-batch`` x 1 s crops, median of ``--train-repeats`` after a warm-up step.

    python bench/cnrhlc_speed.py [--items 8] [--seconds 4] [--repeats 3] [--checkpoint CKPT]

One JSON line per backend / training target on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import soxr
import torch

from hltk import registry
from hltk.amplify.wdrc import NalrWdrcProcessor
from hltk.bench.probes import AMPLIFY_PROFILES as PROFILES
from hltk.bench.probes import AMPLIFY_RATE as RATE
from hltk.bench.probes import speech_batch
from hltk.bench.probes import time_processor as measure
from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.runtime import configure_process


def at_rate(audio: torch.Tensor, rate: int) -> torch.Tensor:
    if rate == RATE:
        return audio
    flat = audio.reshape(-1, audio.shape[-1]).double().numpy().T
    resampled = torch.from_numpy(soxr.resample(flat, RATE, rate).T.copy()).float()
    return resampled.reshape(*audio.shape[:-1], -1)


def training_step_seconds(auditory: str, batch: int, repeats: int) -> dict[str, float]:
    from hltk.nn.bsrnn import CPU_CONFIG
    from hltk.train.cnrhlc import CnrhlcTask, NoisySet, auditory_model

    speech = at_rate(speech_batch(batch, 1.5), 16000)[:, 0]
    noisy = speech + 0.3 * speech.std() * torch.randn_like(speech)
    pairs = NoisySet(noisy, speech, torch.full((batch,), speech.shape[-1]))
    task = CnrhlcTask(pairs, None, CPU_CONFIG, auditory_model(auditory), auditory)
    model = task.build_model()
    rng = np.random.default_rng(0)
    times = []
    for repeat in range(repeats + 1):
        crops = task.train_batch(rng, batch, torch.device("cpu"))
        started = time.perf_counter()
        loss, _ = task.loss(model, crops)
        loss.backward()
        if repeat:  # the first step compiles and measures MSBG delays
            times.append(time.perf_counter() - started)
    return {"step_s_median": round(statistics.median(times), 2),
            "audio_s_per_step": batch * task.segment / 16000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    configure_process()
    torch.set_num_threads(1)
    audio = speech_batch(args.items, args.seconds)
    listeners = ListenerBatch(
        tuple(standard_listener(PROFILES[i % len(PROFILES)]) for i in range(args.items)))
    options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    backends: list[tuple[str, object, int]] = [
        ("nalr-wdrc (44.1 kHz)", NalrWdrcProcessor(), 44100),
        ("nalr-wdrc (16 kHz)", NalrWdrcProcessor(sample_rate=16000), 16000),
        ("neuroamp-denoise", registry.create("denoise-amplify", "neuroamp-denoise"), 16000),
        ("cnrhlc --nr 1 --hlc 1", registry.create("denoise-amplify", "cnrhlc", **options), 16000),
    ]
    for name, processor, rate in backends:
        result = measure(processor, at_rate(audio, rate), listeners, args.repeats)
        for key in [k for k in result if k.startswith("rtf")]:
            result[key] = round(result[key] * RATE / rate, 1)
        model = getattr(processor, "model", None)
        parameters = sum(p.numel() for p in model.parameters()) if model is not None else None
        print(json.dumps({"backend": name, "items": args.items, "seconds_each": args.seconds,
                          "ears": 2, "threads": 1, "rate": rate, "parameters": parameters,
                          **result}), flush=True)
    if args.skip_training:
        return
    targets = ["msbg"]
    try:
        import hltk.auditory  # noqa: F401

        targets.append("drnl")
    except ImportError:
        pass
    for target in targets:
        print(json.dumps({"training": target, "threads": 1, "batch": args.train_batch,
                          **training_step_seconds(target, args.train_batch, args.train_repeats)}),
              flush=True)


if __name__ == "__main__":
    main()
