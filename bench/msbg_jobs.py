"""MSBG real-time factor per core, and the speed-up of --jobs 2 over --jobs 1.

Runs ``hltk simulate`` (the msbg backend) on a manifest — by default the shipped demo set —
with ``--jobs 1`` and ``--jobs 2`` alternately, each in a fresh process with a fresh output
folder (so caches start cold), and reads the wall time of the processing from each run.json.

    .venv/bin/python bench/msbg_jobs.py [--manifest manifests/demo/speech.csv] [--repeats 2]
                                        [--copies N]

``--copies N`` runs a manifest with every row repeated N times (new ids, same audio and
listeners): on the 20 s demo set the fixed costs (worker start-up, each worker building its
own Ear and measuring its own delays per listener) dominate, and a larger set shows what
``--jobs`` buys on a corpus.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def one_run(manifest: Path, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        command = [sys.executable, "-m", "hltk_cli", "simulate", str(manifest), "-o", str(out),
                   "--jobs", str(jobs), "-q", "--format", "csv"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        record = json.loads((out / "run.json").read_text())
    timing = record["timing"]
    channels = 2  # --ear both: every item is simulated for two ears
    return {"wall_s": timing["wall_s"], "audio_s": timing["audio_s"],
            "item_cpu_s": timing["item_cpu_s"],
            "rtf_per_channel": timing["wall_s"] * jobs / (timing["audio_s"] * channels)}


def repeated_manifest(manifest: Path, copies: int, folder: Path) -> Path:
    """``manifest`` with each row ``copies`` times (ids suffixed), paths made absolute."""
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = folder / "repeated.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for copy in range(copies):
            for row in rows:
                writer.writerow({**row, "id": f"{row['id']}_{copy}",
                                 "audio": str((manifest.parent / row["audio"]).resolve())})
    listeners = manifest.parent / "listeners.json"
    if listeners.exists():
        (folder / "listeners.json").write_bytes(listeners.read_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=REPO / "manifests/demo/speech.csv")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1)
    arguments = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    if arguments.copies > 1:
        arguments.manifest = repeated_manifest(arguments.manifest, arguments.copies, Path(scratch.name))
    walls: dict[int, list[float]] = {1: [], 2: []}
    audio_s = 0.0
    for _ in range(arguments.repeats):
        for jobs in (1, 2):
            result = one_run(arguments.manifest, jobs)
            walls[jobs].append(result["wall_s"])
            audio_s = result["audio_s"]
            print(f"jobs={jobs}: wall {result['wall_s']:.2f} s, CPU in items "
                  f"{result['item_cpu_s']:.2f} s, for {audio_s:.1f} s of audio", file=sys.stderr)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    rows = {
        "audio_seconds": round(audio_s, 2),
        "wall_jobs1_s": round(one, 2),
        "wall_jobs2_s": round(two, 2),
        # seconds of CPU per second of audio per ear, one process
        "msbg_rtf_per_channel_per_core": round(one / (2 * audio_s), 3),
        "speedup_jobs2_over_jobs1": round(one / two, 2),
    }
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
