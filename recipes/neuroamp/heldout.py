"""Held-out manifests for the NeuroAMP evaluation: the ``test`` rows of ``hltk synth``
corpora (voices and songs unseen in training: the synth corpora hold test voices out, every
song is its own), the first ``--n`` rows no longer than ``--max-seconds``, with absolute paths
and the corpus's listeners.json (listeners never used in training: training draws its own
audiograms).

    python recipes/neuroamp/heldout.py CORPUS/manifest.csv OUT --n 40 --max-seconds 4.5
        [--split valid] [--voice es-mx-allison] [--append]

``--append`` adds rows to an existing ``OUT`` (same columns and listeners), their ids prefixed
with the corpus folder's name so that two corpora's ids cannot collide.

writes ``OUT/manifest.csv`` and ``OUT/listeners.json``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

PATH_COLUMNS = ("audio", "reference", "noise", "noisy", "vocals", "drums", "bass", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--split", default="test", help="split(s), comma-separated")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--voice", default=None, help="only rows of these voices, comma-separated")
    parser.add_argument("--append", action="store_true",
                        help="add the rows to OUT/manifest.csv (ids prefixed with the corpus folder's name)")
    args = parser.parse_args()
    root = args.manifest.resolve().parent
    with args.manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = []
        for row in reader:
            if row.get("split") not in args.split.split(","):
                continue
            if args.max_seconds and row.get("duration_s") and float(row["duration_s"]) > args.max_seconds:
                continue
            if args.voice and row.get("voice") not in args.voice.split(","):
                continue
            if args.append:
                row["id"] = f"{root.name}-{row['id']}"
            for column in PATH_COLUMNS:
                if row.get(column):
                    row[column] = str((root / row[column]).resolve())
            rows.append(row)
            if len(rows) == args.n:
                break
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "manifest.csv"
    appending = args.append and target.is_file()
    with target.open("a" if appending else "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if not appending:
            writer.writeheader()
        writer.writerows(rows)
    listeners = root / "listeners.json"
    if appending and listeners.is_file() and (args.out / "listeners.json").is_file():
        if listeners.read_bytes() != (args.out / "listeners.json").read_bytes():
            raise SystemExit(f"{listeners} differs from {args.out / 'listeners.json'}: cannot append")
    elif listeners.is_file():
        shutil.copyfile(listeners, args.out / "listeners.json")
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
