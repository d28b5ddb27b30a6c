"""Speed of the remix chain, and the oracle-separator Cadenza HAAQI.

1. The chain after separation, step by step (gains, remix + loudness match, NAL-R per ear,
   44.1 -> 32 kHz), in-process on one song after a warm-up call: seconds per second of audio.
2. ``hltk remix --separator oracle`` over a synthetic music corpus (``hltk synth music`` is
   run first if ``--music`` has no manifest): the runner's real-time factor, I/O included.
3. With ``--haaqi``: ``hltk evaluate --preset cadenza-icassp2024`` on the oracle remix.

    .venv/bin/python bench/remix_speed.py [--music DIR] [--n 6] [--seconds 8] [--haaqi]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def chain_steps(music: Path) -> dict[str, float]:
    import soundfile as sf

    from hltk.io.listeners import standard_listener
    from hltk.remix import chain

    rows = (music / "manifest.csv").read_text().splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    row = dict(zip(header, first, strict=True))
    stems = {s: sf.read(music / row[s], dtype="float64")[0] for s in chain.STEMS}
    mixture, rate = sf.read(music / row["audio"], dtype="float64")
    seconds = mixture.shape[0] / rate
    gains = {"vocals": 6.0, "drums": -3.0, "bass": 0.0, "other": 0.0}
    listener = standard_listener("N3")
    chain.remix_for_listener(stems, mixture, gains, listener, rate)  # warm-up: imports, filter design
    timings: dict[str, float] = {}
    started = time.perf_counter()
    adjusted = chain.apply_gains(stems, rate, gains)
    timings["gains"] = time.perf_counter() - started
    started = time.perf_counter()
    remix = chain.remix_stems(adjusted, mixture, rate)
    timings["remix_and_match"] = time.perf_counter() - started
    started = time.perf_counter()
    amplified = chain.nalr_per_ear(remix, listener, rate)
    timings["nalr"] = time.perf_counter() - started
    started = time.perf_counter()
    chain.to_output_rate(amplified, rate)
    timings["resample"] = time.perf_counter() - started
    result = {f"{k}_s_per_audio_s": round(v / seconds, 5) for k, v in timings.items()}
    result["chain_s_per_audio_s"] = round(sum(timings.values()) / seconds, 5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, default=REPO / "out/bench-music")
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--haaqi", action="store_true", help="also score the oracle remix (slow)")
    arguments = parser.parse_args()
    hltk = [sys.executable, "-m", "hltk_cli"]
    if not (arguments.music / "manifest.csv").exists():
        subprocess.run([*hltk, "synth", "music", "-o", str(arguments.music), "--n", str(arguments.n),
                        "--seconds", str(arguments.seconds), "-q"], check=True, stdout=subprocess.DEVNULL)
    results: dict[str, object] = chain_steps(arguments.music)
    print(f"chain: {results}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "remix"
        subprocess.run([*hltk, "remix", str(arguments.music / "manifest.csv"), "-o", str(out), "-q",
                        "--format", "csv", "-j", str(arguments.jobs)], check=True, stdout=subprocess.DEVNULL)
        record = json.loads((out / "run.json").read_text())
        results["remix_runner_rtf"] = record["timing"]["real_time_factor"]
        results["remix_items"] = record["counts"]["ok"]
        results["remix_clipped_items"] = record["clipping"]["items_with_clipped_samples"]
        print(f"hltk remix: RTF {results['remix_runner_rtf']} (jobs {arguments.jobs})", file=sys.stderr)
        if arguments.haaqi:
            scores = Path(folder) / "scores"
            subprocess.run([*hltk, "evaluate", str(out / "manifest.csv"), "-o", str(scores), "--preset",
                            "cadenza-icassp2024", "-q", "--format", "csv", "-j", str(arguments.jobs)],
                           check=True, stdout=subprocess.DEVNULL)
            import pandas as pd

            table = pd.read_csv(scores / "scores.csv")
            results["oracle_haaqi_mean"] = round(float(table["haaqi"].mean()), 4)
            results["oracle_haaqi_per_item"] = [round(float(v), 4) for v in table["haaqi"]]
            results["severity"] = list(table["severity"])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
