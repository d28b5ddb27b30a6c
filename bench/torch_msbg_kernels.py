"""torch-msbg's compiled kernels alone: ns per channel-sample against the signals per chunk.

    PYTHONPATH=. python bench/torch_msbg_kernels.py [--threads 2] [--seconds 4] [--repeats 3]

For each filterbank (MILD 36, MODERATE 28, SEVERE 19 channels) and each count of signals in
a chunk, times :func:`hltk.simulate.msbg_dsp.compiled.gammatone_filterbank_compiled` (with float64 states in
every channel and, where the checkout has ``wide_channels``, in the channels below
``NARROW_BELOW_HZ`` only, as torch-msbg runs it), ``envelope_compiled`` and, where the checkout
has it, ``recruited_sum_compiled`` on random float32 signals at 44.1 kHz (best of
``--repeats``), and prints wall time per channel-sample (the work is channels x signals x
steps). Written against the functions' public signatures, so that it also runs on older
checkouts: the signals-as-lanes kernels' cost at few signals is what it was made to show.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import functools
import inspect
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from hltk.runtime import configure_process
from hltk.simulate.msbg_dsp import compiled as recursion
from hltk.simulate.torch_msbg import ENVELOPE_PADLEN, FILTERBANK_FILES, build_filterbank


def best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--signals", type=int, nargs="+", default=[2, 8, 13, 16, 19])
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(args.threads)
    steps = int(args.seconds * 44100) + 2000
    fused = getattr(recursion, "recruited_sum_compiled", None)
    split = "wide_channels" in inspect.signature(recursion.gammatone_filterbank_compiled).parameters
    print(f"{args.threads} threads, {steps} steps; ns per channel-sample (best of "
          f"{args.repeats})")
    print("bank      channels signals  gammatone  envelope  recruited-sum  gammatone-split")
    generator = torch.Generator().manual_seed(0)
    for severity in ("MILD", "MODERATE", "SEVERE"):
        bank = build_filterbank(FILTERBANK_FILES[severity])
        channels = len(bank.delays)
        for signals in args.signals:
            x = torch.randn(steps, signals, generator=generator) * 0.05
            gammatone = functools.partial(recursion.gammatone_filterbank_compiled, x, bank.biquads,
                                          bank.order, np.asarray(bank.delays),
                                          bank.highpass_biquads)
            bands = gammatone()
            work = channels * signals * steps * 1e-9
            row = [best_of(args.repeats, gammatone) / work,
                   best_of(args.repeats, functools.partial(
                       recursion.envelope_compiled, bands, bank.envelope_biquads,
                       ENVELOPE_PADLEN)) / work]
            if fused is not None:
                power = torch.rand(channels, signals, dtype=torch.float64,
                                   generator=generator) * 3
                log_max = (0.05 * math.log(10)) * (5.0 - 20 * torch.rand(
                    signals, dtype=torch.float64, generator=generator))
                row.append(best_of(args.repeats, functools.partial(
                    fused, bands, bank.envelope_biquads, ENVELOPE_PADLEN, power,
                    log_max)) / work)
            if split:
                row.append(best_of(args.repeats, functools.partial(
                    gammatone, wide_channels=bank.wide_channels)) / work)
            print(f"{severity:9s} {channels:8d} {signals:7d}  "
                  + "  ".join(f"{v:9.2f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
