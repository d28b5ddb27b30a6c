"""Neuro-MSBG on a padded batch of items of different lengths: the backend given the items'
``lengths`` (each length its own sub-batch, so every item comes out as it does alone) against
the same padded batch without them (every item run at the longest length).

    .venv/bin/python bench/neuro_msbg_lengths.py [--items 32] [--threads 2] [--repeats 3]

Items are speech-like signals of 3-5 s at 16 kHz (all lengths different), two ears, mixed
audiograms; median of ``--repeats`` runs each. The process has the ``hltk`` command's
settings (OpenMP's passive wait set before torch loads, :mod:`hltk.runtime`).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import time

import numpy as np
import torch

from hltk.bench.data import speech_like
from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.runtime import configure_process
from hltk.simulate.neuro_msbg import NeuroMsbg

RATE = 16000
PROFILES = ["NH", "N2", "N4", "S1", "S2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure_process()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    sizes = sorted({int(RATE * seconds) for seconds in rng.uniform(3.0, 5.0, args.items)})
    audio = torch.zeros(len(sizes), 2, max(sizes))
    for index, size in enumerate(sizes):
        for ear in range(2):
            signal = speech_like(size / RATE + 0.01, RATE, seed=2 * index + ear)[:size]
            audio[index, ear, :size] = torch.as_tensor(signal, dtype=torch.float32)
    listeners = ListenerBatch(tuple(standard_listener(PROFILES[i % len(PROFILES)])
                                    for i in range(len(sizes))))
    backend = NeuroMsbg()
    print(f"{len(sizes)} items x 2 ears, 3-5 s at {RATE} Hz (all lengths different), torch "
          f"threads {args.threads}, median of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    for name, lengths in [("padded batch, no lengths", None),
                          ("with lengths (a sub-batch per length)", torch.tensor(sizes))]:
        timings = []
        with torch.no_grad():
            backend(audio, listeners, lengths=lengths)  # warm-up
            for _ in range(args.repeats):
                start = time.perf_counter()
                backend(audio, listeners, lengths=lengths)
                timings.append(time.perf_counter() - start)
        print(f"{name}: {float(np.median(timings)):.3f} s")


if __name__ == "__main__":
    main()
