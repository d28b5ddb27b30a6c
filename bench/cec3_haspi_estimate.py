"""What a CEC3 evaluation set costs: HASPI per pair by ``hltk evaluate`` with the default (fast)
engine and with ``--engine clarity``, in one process, and the extrapolation to 7,500 pairs.

The CEC3 recipe (``recipes/cec3/baseline/evaluate.py``) scores each scene/listener pair with
better-ear HASPI v2 (``haspi_v2_be``: 44.1 kHz stereo in, 0 dBFS = 100 dB SPL, resampled to
24 kHz inside the metric); its README puts the 7,500 evaluation pairs at about 8 hours with
pyclarity. The pairs here are made to look like that: ``--pairs`` scenes of 4-6 s of stereo
speech at 44.1 kHz (the demo speech at 65 dB SPL, a level difference between the ears) as the
reference, and as the hearing-aid output that speech in another talker plus noise at -6 to
+6 dB SNR, amplified by 10-20 dB with the baseline's tanh soft clip and a few ms of delay,
16-bit like ``{scene}_{listener}_HA-output.wav``; hearing-impaired listeners cycled over the
standard audiograms N2-N5 and S1-S3. Both engines score the same manifest with the same
seeds after a warm-up run each (numba kernels loaded, worker pool started), so the times are a
corpus run's steady state; the HASPI of the two engines is compared pair by pair. With
``--rounds N`` the settings are timed N times in turn (fast, clarity, fast, ...) and the median
is kept, so that a load that comes and goes on a shared machine weighs on both alike; the
load average before and after is printed with the figures.

Usage: ``python bench/cec3_haspi_estimate.py [--pairs 16] [--jobs 2] [--fast-jobs 1 2]
[--batch-size 8] [--rounds 1] [--total 7500]``. Prints one JSON line per engine setting, then
a table.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: hltk.runtime

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from hltk.runtime import configure_process

RATE = 44100
LISTENERS = ("N2", "N3", "N4", "N5", "S1", "S2", "S3")
SNRS_DB = (-6.0, -3.0, 0.0, 3.0, 6.0)
#: what the CEC3 README gives for pyclarity over the evaluation set (recipes/cec3/README.md)
RECIPE_HOURS = 8.0


def write_pairs(folder: Path, pairs: int, seed: int = 0, short: bool = False) -> Path:
    """A CEC3-like manifest of ``pairs`` rows (``id, audio, reference, listener``)."""
    from hltk.bench.probes import speech_batch

    rng = np.random.default_rng(seed)
    longest = 1.0 if short else 6.0
    speech = speech_batch(2 * pairs, longest).numpy().astype(np.float64)
    rows = ["id,audio,reference,listener"]
    for index in range(pairs):
        seconds = longest if short else float(rng.uniform(4.0, 6.0))
        length = int(seconds * RATE)
        reference = speech[index, :, :length] * np.array([[1.0], [10 ** (-rng.uniform(0, 6) / 20)]])
        talker = speech[pairs + index, :, :length]
        noise = 0.5 * talker + 0.5 * rng.standard_normal(talker.shape) * 10 ** (-35 / 20)
        snr = SNRS_DB[index % len(SNRS_DB)]
        noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
        gain = 10 ** (rng.uniform(10, 20) / 20)
        delay = int(rng.integers(RATE // 1000, 5 * RATE // 1000))
        mixture = np.pad(reference + noise, ((0, 0), (delay, 0)))[:, :length]
        output = np.tanh(gain * mixture)
        scene = f"S{index:05d}"
        listener = LISTENERS[index % len(LISTENERS)]
        sf.write(folder / f"{scene}_reference.wav", reference.T, RATE, subtype="PCM_16")
        sf.write(folder / f"{scene}_{listener}_HA-output.wav", output.T, RATE, subtype="PCM_16")
        rows.append(f"{scene}_{listener},{scene}_{listener}_HA-output.wav,{scene}_reference.wav,"
                    f"{listener}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def score(manifest: Path, out: Path, engine: str, jobs: int, batch_size: int):  # type: ignore[no-untyped-def]
    from hltk.metrics.engine_clarity import ScoringSettings
    from hltk.pipelines.evaluate import EvaluateSettings, score_manifest

    settings = EvaluateSettings(out=out, scoring=ScoringSettings(metrics=("haspi",)),
                                engine=engine, jobs=jobs, batch_size=batch_size)
    started = time.perf_counter()
    result = score_manifest(manifest, settings, command=["bench/cec3_haspi_estimate.py"])
    wall = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"{engine}: evaluate failed, see {out / 'failures.csv'}")
    return result.scores, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2, help="workers of the clarity engine")
    parser.add_argument("--fast-jobs", type=int, nargs="+", default=[1, 2],
                        help="worker counts the fast engine is timed with")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each setting, in turn")
    parser.add_argument("--total", type=int, default=7500, help="pairs to extrapolate to")
    args = parser.parse_args()
    configure_process()

    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        (folder / "warm").mkdir()
        warm = write_pairs(folder / "warm", 2 * args.jobs, seed=1, short=True)
        manifest = write_pairs(folder, args.pairs)
        settings = [("fast", jobs) for jobs in args.fast_jobs] + [("clarity", args.jobs)]
        for engine, jobs in settings:  # numba kernels loaded, worker pools started
            score(warm, folder / f"warm-{engine}-{jobs}", engine, jobs, args.batch_size)
        audio_s = sum(sf.info(str(folder / p)).duration
                      for p in (line.split(",")[1] for line in manifest.read_text().split()[1:]))
        load_before = os.getloadavg()
        walls: dict[tuple[str, int], list[float]] = {setting: [] for setting in settings}
        results = {}
        for round_ in range(args.rounds):
            for engine, jobs in settings:
                scores, wall = score(manifest, folder / f"{engine}-{jobs}-{round_}", engine, jobs,
                                     args.batch_size)
                walls[(engine, jobs)].append(wall)
                results[(engine, jobs)] = (scores, statistics.median(walls[(engine, jobs)]))
        load_after = os.getloadavg()
        reference = results[("clarity", args.jobs)][0].set_index("id")["haspi"]
        rows = []
        for (engine, jobs), (scores, wall) in results.items():
            per_pair = wall / args.pairs
            diff = np.abs(scores.set_index("id")["haspi"] - reference.loc[scores["id"]].to_numpy())
            row = {"engine": engine, "jobs": jobs, "pairs": args.pairs,
                   "audio_s": round(audio_s, 1), "wall_s": round(wall, 2),
                   "s_per_pair": round(per_pair, 3),
                   "hours_for_total": round(per_pair * args.total / 3600, 2),
                   "total": args.total, "rounds": [round(w, 2) for w in walls[(engine, jobs)]],
                   "max_abs_diff_vs_clarity": float(diff.max())}
            rows.append(row)
            print(json.dumps(row), flush=True)
    clarity_wall = results[("clarity", args.jobs)][1]
    print(f"\n{args.pairs} CEC3-like pairs (4-6 s stereo, 44.1 kHz, better-ear HASPI v2, "
          f"0 dBFS = 100 dB SPL); {os.cpu_count()} CPUs, load average {load_before[0]:.1f} "
          f"before, {load_after[0]:.1f} after; median of {args.rounds} round(s)")
    print(f"{'engine':8} {'jobs':>4} {'s/pair':>8} {'h/' + str(args.total):>9} {'speed-up':>9} "
          f"{'max|diff|':>10}")
    for row in rows:
        speed_up = clarity_wall / row["wall_s"]
        print(f"{row['engine']:8} {row['jobs']:>4} {row['s_per_pair']:>8.3f} "
              f"{row['hours_for_total']:>9.2f} {speed_up:>8.1f}x "
              f"{row['max_abs_diff_vs_clarity']:>10.1e}")
    print(f"(the CEC3 README: about {RECIPE_HOURS:g} h for the {args.total} pairs with pyclarity "
          "on a MacBook Pro)")


if __name__ == "__main__":
    main()
