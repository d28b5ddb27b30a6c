"""torch-msbg's recursions and chunk sizes side by side, alternating, in one process.

    PYTHONPATH=. python bench/torch_msbg_recursion.py [--threads 2] [--items 32] [--repeats 3]

Times one batch (the signals and audiograms of ``bench/torch_msbg_speed.py``) per
configuration, the configurations taking turns ``--repeats`` times so that a noisy machine
slows them alike; prints every time (seconds) and the median per configuration.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import statistics
import time

import torch

from hltk.bench.probes import TORCH_MSBG_PATHS as PATHS
from hltk.bench.probes import msbg_listeners as test_listeners
from hltk.bench.probes import msbg_signals as test_signals
from hltk.runtime import configure_process
from hltk.simulate.torch_msbg import TorchMsbg

CONFIGS = (("compiled", 27), ("compiled", 26), ("torch", 26))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(args.threads)
    audio = test_signals(args.items, args.seconds)
    listeners = test_listeners(args.items)
    print(f"{args.items} items x 2 ears x {args.seconds:g} s, torch threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.1f}")
    times: dict[tuple[str, int], list[float]] = {config: [] for config in CONFIGS}
    for _ in range(args.repeats):
        for recursion, log2_elements in CONFIGS:
            processor = TorchMsbg(compiled=PATHS[recursion], max_elements=1 << log2_elements)
            processor(audio[:1, :, :4410], listeners.select([0]))  # delays, warm-up
            with torch.no_grad():
                start = time.perf_counter()
                processor(audio, listeners)
                times[(recursion, log2_elements)].append(time.perf_counter() - start)
    for (recursion, log2_elements), values in times.items():
        print(f"{recursion:9s} max_elements 2^{log2_elements}: "
              + " ".join(f"{value:.2f}" for value in values)
              + f" s; median {statistics.median(values):.2f} s")


if __name__ == "__main__":
    main()
