"""Speed of torch-msbg (one batch) against pyclarity's MSBG (one item per task, joblib pool).

    PYTHONPATH=. python bench/torch_msbg_speed.py [--items 32] [--seconds 4] [--jobs 2]

The pyclarity side is the ``msbg`` backend itself (``hltk.simulate.msbg.simulate_ear`` per
ear, one item per joblib task); torch-msbg does the same work per ear in one batch. Each ear's
delay (one impulse through the chain per audiogram) is measured before the timed runs on both
sides and reported separately, since a corpus run pays it once per listener (per worker).
The headline batch uses ``--recursion`` (default ``auto``: the compiled recursions on CPU) and
is timed ``--passes`` times: the headline is the median of the passes after the first
(steady state; the machine's noise moves single passes by 10-30%), and the first is printed
too;
the all-torch recursion (the path autograd and CUDA use) is timed on the same batch too.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import time

import numpy as np
import torch
from joblib import Parallel, delayed

from hltk.bench.probes import MSBG_RATE
from hltk.bench.probes import TORCH_MSBG_PATHS as PATHS
from hltk.bench.probes import msbg_listeners as test_listeners
from hltk.bench.probes import msbg_signals as test_signals
from hltk.io.listeners import Audiogram, ListenerBatch
from hltk.runtime import configure_process
from hltk.simulate import msbg
from hltk.simulate.torch_msbg import TorchMsbg

try:  # OpenBLAS threads spinning on a busy machine slow pyclarity's SVDs by 10-100x
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
except ImportError:
    pass

SAMPLE_RATE = MSBG_RATE


def pyclarity_delay(audiogram: Audiogram) -> int:
    """The msbg backend's delay for one audiogram (one impulse through pyclarity's chain)."""
    configure_process()  # a fresh worker: the hltk command's process settings
    return msbg.ear_delay(audiogram, 100.0, 20.0, "ff")


def pyclarity_item(audio: np.ndarray, audiograms: list[Audiogram]) -> tuple[np.ndarray, float]:
    """One item ``[ears, T]`` through the msbg backend (pyclarity), ear by ear; also the CPU
    seconds used. The backend caches each audiogram's Ear and delay per worker process."""
    import logging

    configure_process()  # a fresh worker: the hltk command's process settings
    logging.disable(logging.WARNING)
    cpu_start = time.process_time()
    outputs = [msbg.simulate_ear(signal, audiogram)
               for signal, audiogram in zip(audio, audiograms, strict=True)]
    return np.stack(outputs), time.process_time() - cpu_start


def torch_chunk(
    audio: torch.Tensor, listeners: ListenerBatch, dtype: str, recursion: str = "auto"
) -> tuple[torch.Tensor, float, float]:
    """torch-msbg on a sub-batch in a worker process with one torch thread: output, seconds
    spent measuring delays (first use of these audiograms), seconds processing."""
    configure_process()  # a fresh worker: the hltk command's process settings
    torch.set_num_threads(1)
    processor = TorchMsbg(dtype=dtype, compiled=PATHS[recursion])
    items, ears = audio.shape[:2]
    start = time.perf_counter()
    processor.delays([listeners.audiogram(i, e) for i in range(items) for e in range(ears)],
                     [100.0] * (items * ears))
    processor(audio[:1, :, :4410], listeners.select([0]))
    delay_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        output = processor(audio, listeners)
    return output, delay_s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--recursion", default="auto", choices=["auto", "compiled", "torch"],
                        help="torch-msbg's recursion for the headline batch (auto: compiled "
                             "on CPU); the torch recursion is also timed on the same batch")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--passes", type=int, default=4,
                        help="timed torch-msbg passes over the batch; the headline is the "
                             "median of all but the first (steady state: the process heap has "
                             "grown to the batch's peak), the first is printed beside it")
    parser.add_argument("--torch-workers", type=int, default=2,
                        help="also run torch-msbg as this many 1-thread worker processes, each "
                             "on a contiguous share of the batch (0: skip)")
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(args.threads)

    audio = test_signals(args.items, args.seconds)
    listeners = test_listeners(args.items)
    audiograms = [[listeners.audiogram(i, e) for e in range(2)] for i in range(args.items)]
    unique = sorted({a for pair in audiograms for a in pair}, key=lambda a: (a.levels, a.frequencies))
    audio_seconds = args.items * 2 * args.seconds
    print(f"{args.items} items x 2 ears x {args.seconds:g} s at 44.1 kHz, "
          f"{len(unique)} distinct audiograms, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    # torch-msbg: delays (once per audiogram), then the timed batch.
    processor = TorchMsbg(dtype=args.dtype, compiled=PATHS[args.recursion])
    start = time.perf_counter()
    processor.delays([a for pair in audiograms for a in pair], [100.0] * (2 * args.items))
    torch_delay_s = time.perf_counter() - start
    processor(audio[:1, :, :4410], listeners.select([0]))  # warm-up (allocator, caches)
    passes, cpu = [], []
    for _ in range(args.passes):  # after the first: a corpus run's steady state (heap grown)
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.no_grad():
            processed = processor(audio, listeners)
        passes.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    torch_s = float(np.median(passes[1:] or passes))
    torch_cpu_s = float(np.median(cpu[1:] or cpu))
    block_s = float("nan")
    if args.recursion != "torch":  # the all-torch path (autograd, CUDA) on the same batch
        block = TorchMsbg(dtype=args.dtype, compiled=False)
        block(audio[:1, :, :4410], listeners.select([0]))
        start = time.perf_counter()
        with torch.no_grad():
            block_output = block(audio, listeners)
        block_s = time.perf_counter() - start
        assert torch.allclose(block_output, processed, atol=1e-4 * float(processed.abs().max()))

    workers_s = workers_delay_s = float("nan")
    if args.torch_workers > 0:
        shares = np.array_split(np.arange(args.items), args.torch_workers)
        start = time.perf_counter()
        parts = Parallel(n_jobs=args.torch_workers)(
            delayed(torch_chunk)(audio[share], listeners.select(share.tolist()), args.dtype,
                                 args.recursion)
            for share in shares
        )
        workers_wall_s = time.perf_counter() - start
        worker_processed = torch.cat([part[0] for part in parts])
        workers_delay_s = max(part[1] for part in parts)
        workers_s = max(part[2] for part in parts)
        assert torch.allclose(worker_processed, processed, atol=1e-4 * float(processed.abs().max()))

    # pyclarity: delays once per audiogram, then one item per joblib task.
    start = time.perf_counter()
    # warm each worker's caches the way a corpus run pays them: once per audiogram
    Parallel(n_jobs=args.jobs)(delayed(pyclarity_delay)(a) for a in unique)
    clarity_delay_s = time.perf_counter() - start
    numpy_audio = audio.double().numpy()
    start = time.perf_counter()
    results = Parallel(n_jobs=args.jobs)(
        delayed(pyclarity_item)(numpy_audio[i], audiograms[i]) for i in range(args.items)
    )
    clarity_s = time.perf_counter() - start
    reference = [output for output, _ in results]
    clarity_cpu_s = sum(cpu for _, cpu in results)

    snrs = [
        10 * np.log10(np.sum(ref**2) / np.sum((processed[i].double().numpy() - ref) ** 2))
        for i, ref in enumerate(reference)
    ]
    print(f"delay measurement: torch-msbg {torch_delay_s:.2f} s, pyclarity {clarity_delay_s:.2f} s "
          f"({len(unique)} audiograms)")
    print(f"torch-msbg batch ({args.dtype}, recursion {args.recursion}): {torch_s:.2f} s "
          f"({torch_s / audio_seconds * 1000:.1f} ms per ear-second; passes "
          + " ".join(f"{p:.2f}" for p in passes) + " s)")
    print(f"pyclarity MSBG, joblib n_jobs={args.jobs}: {clarity_s:.2f} s "
          f"({clarity_s / audio_seconds * 1000:.1f} ms per ear-second)")
    print(f"speed ratio (pyclarity / torch-msbg): {clarity_s / torch_s:.2f}x"
          + (f" (first pass {passes[0]:.2f} s: {clarity_s / passes[0]:.2f}x)"
             if len(passes) > 1 else ""))
    if block_s == block_s:
        print(f"torch-msbg with the torch (block matrix) recursion: {block_s:.2f} s; speed "
              f"ratio {clarity_s / block_s:.2f}x (compiled recursion {block_s / torch_s:.2f}x "
              f"faster)")
    if args.torch_workers > 0:
        print(f"torch-msbg as {args.torch_workers} one-thread workers: processing "
              f"{workers_s:.2f} s (slowest worker; {workers_wall_s:.2f} s wall with process "
              f"start and {workers_delay_s:.2f} s of delay measurement); speed ratio "
              f"{clarity_s / workers_s:.2f}x ({clarity_s / workers_wall_s:.2f}x on wall time)")
    print(f"CPU seconds: torch-msbg {torch_cpu_s:.2f} (all threads), pyclarity "
          f"{clarity_cpu_s:.2f} (sum over items); CPU ratio {clarity_cpu_s / torch_cpu_s:.2f}x "
          f"(less sensitive to other load on the machine)")
    print(f"ratio including delay measurement: "
          f"{(clarity_s + clarity_delay_s) / (torch_s + torch_delay_s):.2f}x")
    print(f"SNR torch-msbg vs pyclarity per item: min {min(snrs):.1f} dB, "
          f"mean {np.mean(snrs):.1f} dB")


if __name__ == "__main__":
    main()
