"""Scoring throughput of the clarity engine: seconds of audio scored per second, per metric,
with --jobs 1 and --jobs 2, measured side by side in one run.

Scores the demo set's MSBG output against its input (``hltk simulate`` is run first if
``out/demo`` does not exist), one metric at a time, each configuration in a fresh process.

    .venv/bin/python bench/evaluate_throughput.py [--metrics haspi,hasqi,haaqi,stoi,estoi,pesq,sisdr]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", default="haspi,hasqi,haaqi,stoi,estoi,pesq,sisdr")
    parser.add_argument("--simulated", type=Path, default=REPO / "out/demo")
    arguments = parser.parse_args()
    hltk = [sys.executable, "-m", "hltk_cli"]
    if not (arguments.simulated / "manifest.csv").exists():
        subprocess.run([*hltk, "simulate", str(REPO / "manifests/demo/speech.csv"), "-o",
                        str(arguments.simulated), "-q", "--format", "csv"],
                       check=True, stdout=subprocess.DEVNULL)
    results = []
    for metric in arguments.metrics.split(","):
        row: dict[str, object] = {"metric": metric}
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                subprocess.run([*hltk, "evaluate", str(arguments.simulated / "manifest.csv"), "-o", folder,
                                "--reference-column", "input", "--metrics", metric, "--jobs", str(jobs),
                                "-q", "--format", "csv"], check=True, stdout=subprocess.DEVNULL)
                timing = json.loads((Path(folder) / "run.json").read_text())["timing"]
            row[f"audio_s_per_s_jobs{jobs}"] = timing["audio_s_per_s"]
            row["audio_s"] = timing["audio_s"]
            print(f"{metric} jobs={jobs}: {timing['audio_s_per_s']} s of audio per s", file=sys.stderr)
        results.append(row)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
