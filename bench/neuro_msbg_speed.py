"""Speed of Neuro-MSBG (one batch, CPU threads) against the msbg backend (pyclarity, one item
per joblib task), side by side in one run on the same items (issue #10's figure).

    .venv/bin/python bench/neuro_msbg_speed.py [--items 32] [--seconds 4] [--jobs 2]
        [--threads 2] [--rate 44100|16000] [--repeats 3]
        [--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt] [--device cpu|cuda]

Items are speech-like signals at ``--rate`` (the corpus rate), two ears, mixed audiograms.
Each backend is timed as the runner runs it, from and back to the corpus rate: Neuro-MSBG works
at 16 kHz and MSBG at 44.1 kHz, so at ``--rate 44100`` Neuro-MSBG pays resampling in and out
(with the resampler it declares, ``resampler``: :func:`hltk.io.audio.fft_resample`; the same
with soxr VHQ, every other backend's, is printed as a further line), and at ``--rate 16000``
(the synthetic corpora) MSBG does. The network alone (16 kHz in, no resampling) is timed as
well, and both again with the previous path (``NeuroMsbg(fused=False)``: the modules, one
pass after another on torch's threads; the same outputs to rounding), the five runs taking
turns. Each timing is the median of ``--repeats`` runs. msbg pays
each audiogram's delay measurement once per worker before the timed runs (as a corpus run
does). The process has the ``hltk`` command's settings (:func:`hltk.runtime.configure_process`,
OpenMP's passive wait included, set before torch loads; ``OMP_WAIT_POLICY=`` in the
environment, empty, gives OpenMP's default instead).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from joblib import Parallel, delayed

from hltk.bench.data import speech_like
from hltk.io.audio import resample
from hltk.io.listeners import Audiogram, Listener, ListenerBatch, standard_listener
from hltk.processor import optional
from hltk.runtime import configure_process
from hltk.simulate import msbg
from hltk.simulate.neuro_msbg import NeuroMsbg, default_checkpoint

MSBG_RATE = 44100
PROFILES = ["NH", "N1", "N2", "N3", "N4", "N5", "S1", "S2", "S3"]


def msbg_item(audio: np.ndarray, audiograms: list[Audiogram], rate: int) -> np.ndarray:
    import logging

    from threadpoolctl import threadpool_limits

    configure_process()  # a fresh worker: the hltk command's process settings
    logging.disable(logging.WARNING)
    with threadpool_limits(limits=1, user_api="blas"):
        wide = resample(torch.from_numpy(audio), rate, MSBG_RATE).double().numpy()
        output = np.stack([msbg.simulate_ear(signal, audiogram)
                           for signal, audiogram in zip(wide, audiograms, strict=True)])
        return resample(torch.from_numpy(output), MSBG_RATE, rate).numpy()


def msbg_warm(audiogram: Audiogram) -> int:
    configure_process()  # a fresh worker: the hltk command's process settings
    return msbg.ear_delay(audiogram, 100.0, 20.0, "ff")


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def median_interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The median seconds of each run, the runs taking turns (a drift in the machine's speed
    reaches all of them alike)."""
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    print("each run, median (fastest, slowest): " + "; ".join(
        f"{name} {np.median(values):.3f} ({min(values):.3f}, {max(values):.3f}) s"
        for name, values in timings.items()))
    return {name: float(np.median(values)) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", type=int, default=MSBG_RATE, help="corpus sample rate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", default=str(default_checkpoint("cnn")))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-msbg", action="store_true")
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(args.threads)
    length = int(args.seconds * args.rate)
    audio = torch.stack([
        torch.stack([torch.as_tensor(speech_like(args.seconds, args.rate, seed=2 * i + ear)[:length],
                                     dtype=torch.float32) for ear in range(2)])
        for i in range(args.items)
    ])
    listeners = ListenerBatch(tuple(
        Listener(f"L{i}", standard_listener(PROFILES[i % len(PROFILES)]).left,
                 standard_listener(PROFILES[(i * 4 + 3) % len(PROFILES)]).left)
        for i in range(args.items)))
    ear_seconds = args.items * 2 * args.seconds
    print(f"{args.items} items x 2 ears x {args.seconds:g} s at {args.rate} Hz, torch threads "
          f"{args.threads}, device {args.device}, median of {args.repeats}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    backend = NeuroMsbg(args.checkpoint, device=args.device)
    # the previous path (the modules, passes one after another on torch's threads)
    modules = NeuroMsbg(args.checkpoint, device=args.device, fused=False)
    device = torch.device(args.device)
    narrow = resample(audio, args.rate, backend.sample_rate).to(device)
    for warm in (backend, modules):
        warm(narrow[:2, :, :16000], listeners.select([0, 1]))  # warm-up

    def synchronise() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def network(model: NeuroMsbg) -> None:
        model(narrow, listeners)
        synchronise()

    declared = optional(backend, "resampler")

    def as_runner(model: NeuroMsbg, method: str = declared) -> None:
        narrowed = resample(audio, args.rate, model.sample_rate, method).to(device)
        resample(model(narrowed, listeners).cpu(), model.sample_rate, args.rate, method)
        synchronise()

    simulated = backend(narrow, listeners).cpu()

    def resampling(method: str) -> None:
        resample(audio, args.rate, backend.sample_rate, method)
        resample(simulated, backend.sample_rate, args.rate, method)

    timed = median_interleaved({
        "network": lambda: network(backend), "runner": lambda: as_runner(backend),
        "network, modules": lambda: network(modules), "runner, modules": lambda: as_runner(modules),
        "runner, soxr": lambda: as_runner(backend, "soxr"),
    }, args.repeats)
    model_s, runner_s, soxr_s = timed["network"], timed["runner"], timed["runner, soxr"]
    if args.rate != backend.sample_rate:
        print(f"resampling alone, in and out: {declared} "
              f"{median_seconds(lambda: resampling(declared), args.repeats):.3f} s, soxr VHQ "
              f"{median_seconds(lambda: resampling('soxr'), args.repeats):.3f} s")
    print(f"neuro-msbg network: {model_s:.3f} s ({model_s / ear_seconds * 1000:.2f} ms per "
          f"ear-second, RTF {model_s / ear_seconds:.4f}); the modules one pass after another "
          f"(the previous path): {timed['network, modules']:.3f} s")
    print(f"neuro-msbg as the runner runs it (from and to {args.rate} Hz, resampler "
          f"{declared}): {runner_s:.3f} s; the modules: {timed['runner, modules']:.3f} s")
    print(f"neuro-msbg with soxr VHQ resampling instead (from and to {args.rate} Hz): "
          f"{soxr_s:.3f} s")
    if args.skip_msbg:
        return
    audiograms = [[listeners.audiogram(i, e) for e in range(2)] for i in range(args.items)]
    unique = sorted({a for pair in audiograms for a in pair}, key=lambda a: a.levels)
    numpy_audio = audio.numpy()
    with Parallel(n_jobs=args.jobs) as pool:
        pool(delayed(msbg_warm)(a) for a in unique * args.jobs)
        msbg_s = median_seconds(lambda: pool(
            delayed(msbg_item)(numpy_audio[i], audiograms[i], args.rate)
            for i in range(args.items)), args.repeats)
    print(f"msbg, joblib n_jobs={args.jobs} (from and to {args.rate} Hz): {msbg_s:.2f} s "
          f"({msbg_s / ear_seconds * 1000:.1f} ms per ear-second)")
    print(f"speed ratio msbg / neuro-msbg: network {msbg_s / model_s:.1f}x, as the runner runs "
          f"it {msbg_s / runner_s:.1f}x ({declared}), with soxr {msbg_s / soxr_s:.1f}x; the "
          f"modules: network {msbg_s / timed['network, modules']:.1f}x, as the runner runs it "
          f"{msbg_s / timed['runner, modules']:.1f}x")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
