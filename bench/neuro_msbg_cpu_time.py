"""Neuro-MSBG against msbg ``--jobs 2`` by CPU time, for a machine other jobs share.

``bench/neuro_msbg_speed.py`` times both by the wall clock, which is the figure a user sees
on a machine of their own; on a machine that other jobs load (several runnable processes
per core) it swings by 1.5x or more between repeats. This bench runs the same items, the same
way (``neuro_msbg_speed``'s functions), and also counts each side's CPU seconds: the network's
process (``--threads 1``), and the sum over msbg's items of each worker's CPU time for that
item. Two ratios:

- **work** ``msbg CPU / neuro-msbg CPU``: the wall-clock ratio on an idle machine when both get
  the same ``J`` cores and use them fully (msbg ``--jobs J``, the network ``J`` torch threads;
  with 2 threads the network runs 1.9x faster than with 1, so this is close);
- **1 thread vs J jobs** ``(msbg CPU / J) / neuro-msbg CPU``: the network held to one core
  against msbg on ``J`` (the most favourable case for msbg).

msbg's CPU time leaves out joblib's own work (pickling, the pipes), which its wall time pays.
The wall-clock ratios of the same run are printed beside them.

    .venv/bin/python bench/neuro_msbg_cpu_time.py [--rate 16000|44100] [--checkpoint C]
        [--items 32] [--seconds 4] [--jobs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed

from hltk.io.audio import resample
from hltk.io.listeners import Audiogram
from hltk.runtime import configure_process
from hltk.simulate.neuro_msbg import NeuroMsbg, default_checkpoint

_SPEC = importlib.util.spec_from_file_location("neuro_msbg_speed",
                                               Path(__file__).with_name("neuro_msbg_speed.py"))
assert _SPEC is not None and _SPEC.loader is not None
speed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(speed)


def msbg_item_cpu(audio: np.ndarray, audiograms: list[Audiogram], rate: int) -> float:
    """CPU seconds of one msbg item in this worker (``neuro_msbg_speed.msbg_item``)."""
    start = time.process_time()
    speed.msbg_item(audio, audiograms, rate)
    return time.process_time() - start


def timed(run: object, repeats: int) -> tuple[float, float]:
    """(least CPU seconds, least wall seconds) over ``repeats`` runs of ``run()``."""
    cpu, wall = [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        run()  # type: ignore[operator]
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rate", type=int, default=44100, help="corpus sample rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", default=str(default_checkpoint("cnn")))
    args = parser.parse_args()
    configure_process()
    torch.set_num_threads(1)
    length = int(args.seconds * args.rate)
    audio = torch.stack([
        torch.stack([torch.as_tensor(speed.speech_like(args.seconds, args.rate, seed=2 * i + ear)[:length],
                                     dtype=torch.float32) for ear in range(2)])
        for i in range(args.items)])
    listeners = speed.ListenerBatch(tuple(
        speed.Listener(f"L{i}", speed.standard_listener(speed.PROFILES[i % len(speed.PROFILES)]).left,
                       speed.standard_listener(speed.PROFILES[(i * 4 + 3) % len(speed.PROFILES)]).left)
        for i in range(args.items)))
    backend = NeuroMsbg(args.checkpoint)
    narrow = resample(audio, args.rate, backend.sample_rate)
    backend(narrow[:2, :, :16000], listeners.select([0, 1]))  # warm-up
    print(f"{args.items} items x 2 ears x {args.seconds:g} s at {args.rate} Hz, {args.checkpoint}, "
          f"torch threads 1, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    def as_runner() -> None:
        output = backend(resample(audio, args.rate, backend.sample_rate), listeners)
        resample(output, backend.sample_rate, args.rate)

    network_cpu, network_wall = timed(lambda: backend(narrow, listeners), args.repeats)
    runner_cpu, runner_wall = timed(as_runner, args.repeats)
    audiograms = [[listeners.audiogram(i, e) for e in range(2)] for i in range(args.items)]
    unique = sorted({a for pair in audiograms for a in pair}, key=lambda a: a.levels)
    numpy_audio = audio.numpy()
    with Parallel(n_jobs=args.jobs) as pool:
        pool(delayed(speed.msbg_warm)(a) for a in unique * args.jobs)
        start = time.perf_counter()
        msbg_cpu = float(sum(pool(delayed(msbg_item_cpu)(numpy_audio[i], audiograms[i], args.rate)
                                  for i in range(args.items))))
        msbg_wall = time.perf_counter() - start
    ideal = msbg_cpu / args.jobs
    print(f"neuro-msbg network: CPU {network_cpu:.3f} s, wall {network_wall:.3f} s")
    print(f"neuro-msbg as the runner runs it: CPU {runner_cpu:.3f} s, wall {runner_wall:.3f} s")
    print(f"msbg --jobs {args.jobs}: CPU {msbg_cpu:.2f} s (/ {args.jobs} = {ideal:.2f} s), wall "
          f"{msbg_wall:.2f} s; load average now {os.getloadavg()[0]:.1f}")
    print(f"ratio by CPU time, work: network {msbg_cpu / network_cpu:.1f}x, as the runner runs it "
          f"{msbg_cpu / runner_cpu:.1f}x")
    print(f"ratio by CPU time, 1 thread vs {args.jobs} jobs: network {ideal / network_cpu:.1f}x, as the "
          f"runner runs it {ideal / runner_cpu:.1f}x")
    print(f"ratio by wall clock (this loaded run): network {msbg_wall / network_wall:.1f}x, "
          f"as the runner runs it {msbg_wall / runner_wall:.1f}x")


if __name__ == "__main__":
    main()
