"""Where the torch metric engine spends its time: cProfile of one metric on CPU, one thread.

Scores ``--pairs`` pairs of ``--seconds`` s (``bench/torch_metrics_speed.py``'s pairs) twice in
one process (the first pass compiles kernels and warms the allocator) and prints the second
pass's profile, sorted by internal time.

Usage: ``python bench/torch_metrics_profile.py haspi|hasqi|haaqi [--pairs 8] [--seconds 4]
[--top 25] [--sort tottime|cumulative]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import cProfile
import pstats
import time

import torch

from hltk.bench.probes import metric_pairs as make_pairs
from hltk.bench.probes import torch_metric_scores as torch_scores
from hltk.runtime import configure_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metric", choices=["haspi", "hasqi", "haaqi"])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(1)
    pairs = make_pairs(args.pairs, args.seconds)
    torch_scores(args.metric, pairs, "cpu", 8)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    torch_scores(args.metric, pairs, "cpu", 8)
    profile.disable()
    print(f"{args.metric}: {args.pairs} pairs x {args.seconds:g} s, one thread: "
          f"{time.perf_counter() - start:.2f} s")
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
