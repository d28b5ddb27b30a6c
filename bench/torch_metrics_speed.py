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

FS = 24000
FREQS = np.array([250, 500, 1000, 2000, 4000, 6000])
AUDIOGRAMS = np.array([
    [10, 10, 10, 15, 30, 40],
    [35, 35, 40, 50, 60, 65],
    [20, 20, 25, 55, 95, 95],
    [55, 55, 55, 65, 75, 80],
], dtype=float)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced-speech-like signal: harmonic complex with a gliding f0 and syllabic AM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    f0 = 100 + 40 * rng.uniform() + 20 * np.sin(2 * np.pi * 1.1 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / FS
    voiced = sum(np.sin(k * phase) * rng.uniform(0.3, 1.0) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * (3 + rng.uniform()) * t + rng.uniform(0, 6)), 0,
                       None) ** 2
    signal = voiced * envelope + 0.05 * rng.standard_normal(t.size) * envelope
    return 0.05 * signal / np.sqrt(np.mean(signal**2))


def make_pairs(n: int, seconds: float) -> list[dict]:
    pairs = []
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        reference = speech_like(seconds, i)
        noise = rng.standard_normal(reference.size)
        snr = [0.0, 5.0, 10.0, 15.0][i % 4]
        noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
        delay = int(rng.integers(0, 200))
        processed = np.concatenate((np.zeros(delay), (reference + noise)[: reference.size - delay]))
        pairs.append(dict(reference=reference, processed=rng.uniform(0.5, 2.0) * processed,
                          audiogram=AUDIOGRAMS[i % 4], level=[65.0, 100.0][i % 2], seed=i))
    return pairs


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


def torch_scores(metric: str, pairs: list[dict], device: str, batch_size: int,
                 workers: int = 1) -> np.ndarray:
    from hltk.metrics import indices as te

    reference = torch.tensor(np.stack([p["reference"] for p in pairs]), device=device)
    processed = torch.tensor(np.stack([p["processed"] for p in pairs]), device=device)
    audiograms = np.stack([p["audiogram"] for p in pairs])
    levels = torch.tensor([p["level"] for p in pairs])
    seeds = [p["seed"] for p in pairs]
    with torch.no_grad():
        if metric == "haspi":
            out = te.haspi_v2(reference, processed, FS, audiograms, levels, seeds,
                              batch_size=batch_size, workers=workers)
        elif metric == "hasqi":
            out = te.hasqi_v2(reference, processed, FS, audiograms, 1, levels, seeds,
                              batch_size=batch_size, workers=workers)
        else:
            out = te.haaqi(reference, processed, FS, audiograms, 2, levels, seeds,
                           batch_size=batch_size, workers=workers)
    return out.cpu().numpy()


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
