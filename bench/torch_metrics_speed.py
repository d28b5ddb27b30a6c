"""Speed of the batched torch HASPI v2 / HASQI v2 / HAAQI vs pyclarity, side by side.

Default workload (issue 8): 32 pairs of 4 s at 24 kHz (speech-like reference; processed =
noisy at 0-15 dB SNR, delayed and scaled), one audiogram per pair. pyclarity runs in a joblib
pool of ``--jobs`` workers (numba compilation paid once per worker in a warm-up round that is
not timed); torch runs the whole batch in-process (``--batch-size`` items per ear-model chunk)
in each ``--configs`` setting ``TxW``: T intra-op threads, W item chunks scored concurrently in
threads (each setting is timed ``--passes`` times: the ratio is the median of the passes after
the first, a corpus run's steady state, and the first pass's, which also pays for growing the
process heap, is printed beside it with every pass's time). Both use the same per-item seeds,
so the scores are also compared.

Usage: ``python bench/torch_metrics_speed.py [--pairs 32] [--seconds 4] [--jobs 2]
[--configs 1x2 2x1] [--passes 4] [--device cpu|cuda] [--metrics haspi hasqi haaqi]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import time

import numpy as np
import torch
from joblib import Parallel, delayed

from hltk.bench.probes import METRIC_FREQUENCIES as FREQS
from hltk.bench.probes import METRIC_RATE as FS
from hltk.bench.probes import metric_pairs as make_pairs
from hltk.bench.probes import torch_metric_scores as torch_scores
from hltk.runtime import configure_process


def pyclarity_score(metric: str, pair: dict) -> float:
    from clarity.utils.audiogram import Audiogram

    audiogram = Audiogram(levels=pair["audiogram"], frequencies=FREQS)
    x, y, level = pair["reference"], pair["processed"], pair["level"]
    np.random.seed(pair["seed"])
    if metric == "haspi":
        from clarity.evaluator.haspi import haspi_v2

        return float(haspi_v2(x, FS, y, FS, audiogram, level)[0])
    if metric == "hasqi":
        from clarity.evaluator.hasqi import hasqi_v2

        return float(hasqi_v2(x, FS, y, FS, audiogram, 1, level)[0])
    from clarity.evaluator.haaqi import compute_haaqi

    return float(compute_haaqi(processed_signal=y, reference_signal=x, processed_sample_rate=FS,
                               reference_sample_rate=FS, audiogram=audiogram, equalisation=2,
                               level1=level))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["1x2", "2x1"],
                        help="torch settings THREADSxWORKERS")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--metrics", nargs="+", default=["haspi", "hasqi", "haaqi"])
    parser.add_argument("--passes", type=int, default=4,
                        help="timed torch passes over the pairs; the ratio is the median of "
                             "the passes after the first (a corpus run's steady state: the "
                             "process heap has grown to the workers' peak), the first pass's "
                             "is shown beside it, and every pass is listed")
    args = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)

    pairs = make_pairs(args.pairs, args.seconds)
    print(f"{args.pairs} pairs x {args.seconds:g} s at {FS} Hz; pyclarity joblib n_jobs="
          f"{args.jobs}; torch device={args.device}, batch_size={args.batch_size}")
    warm = make_pairs(2 * args.jobs, 0.5)
    with Parallel(n_jobs=args.jobs) as pool:
        for metric in args.metrics:
            pool(delayed(pyclarity_score)(metric, p) for p in warm)  # numba compile per worker
            start = time.perf_counter()
            expected = np.array(pool(delayed(pyclarity_score)(metric, p) for p in pairs))
            t_ref = time.perf_counter() - start
            torch_scores(metric, warm[:1], args.device, args.batch_size)  # warm-up
            for config in args.configs:
                threads, workers = (int(v) for v in config.split("x"))
                torch.set_num_threads(threads)
                passes = []
                for _ in range(args.passes):
                    start = time.perf_counter()
                    got = torch_scores(metric, pairs, args.device, args.batch_size, workers)
                    if args.device.startswith("cuda"):
                        torch.cuda.synchronize()
                    passes.append(time.perf_counter() - start)
                t_torch = float(np.median(passes[1:] if len(passes) > 1 else passes))
                diff = np.abs(got - expected)
                first = (f" (first pass {passes[0]:.2f} s: {t_ref / passes[0]:.2f}x; passes "
                         + " ".join(f"{p:.2f}" for p in passes) + " s)"
                         if len(passes) > 1 else "")
                print(f"{metric}: pyclarity {t_ref:7.2f} s | torch ({threads} thread(s) x "
                      f"{workers} worker(s)) {t_torch:7.2f} s | ratio "
                      f"{t_ref / t_torch:5.2f}x{first} | max|diff| {diff.max():.2e} | "
                      f"mean|diff| {diff.mean():.2e}", flush=True)


if __name__ == "__main__":
    main()
