"""Speed of the compiled legacy-normal replay against ``RandomState.standard_normal``.

One ear model's threshold-noise draw: ``standard_normal((32, 96000))`` (4 s at 24 kHz), kept
(added into an array) and skipped, alternating the three ways ``--repeats`` times; prints the
median ns per value of each and checks that the values and the generator state agree.

Usage: ``python bench/legacy_rng_speed.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from hltk.metrics.ear.legacy_rng import add_standard_normal, skip_standard_normal
from hltk.runtime import configure_process

SHAPE = (32, 96000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    count = SHAPE[0] * SHAPE[1]
    target = np.zeros(SHAPE)
    skip_standard_normal(np.random.RandomState(0), 1, 3)  # compile / load the kernels
    add_standard_normal(np.random.RandomState(0), np.zeros((1, 3)), 3)
    times: dict[str, list[float]] = {"numpy": [], "kept": [], "skipped": []}
    for seed in range(args.repeats):
        reference = np.random.RandomState(seed)
        start = time.perf_counter()
        values = reference.standard_normal(SHAPE)
        times["numpy"].append(time.perf_counter() - start)
        kept = np.random.RandomState(seed)
        target[:] = 0.0
        start = time.perf_counter()
        add_standard_normal(kept, target, SHAPE[1])
        times["kept"].append(time.perf_counter() - start)
        skipped = np.random.RandomState(seed)
        start = time.perf_counter()
        skip_standard_normal(skipped, *SHAPE)
        times["skipped"].append(time.perf_counter() - start)
        after = reference.standard_normal(3)
        if not (np.array_equal(target, values) and np.array_equal(kept.standard_normal(3), after)
                and np.array_equal(skipped.standard_normal(3), after)):
            raise SystemExit("the replay disagrees with numpy")
    for name, values_s in times.items():
        print(f"{name:8s} {statistics.median(values_s) / count * 1e9:6.2f} ns per value")


if __name__ == "__main__":
    main()
