"""Neuro-MSBG fidelity against MSBG on held-out speech (the table of issue #10).

1. A held-out manifest: the ``split=test`` rows (voices never in training) of ``hltk synth``
   speech and noisy corpora, each with its corpus's listener (drawn with another seed than
   any training audiogram) as inline ``hl_left_*`` / ``hl_right_*`` columns, and the clean
   speech as ``reference``.
2. ``hltk simulate`` with ``--backend msbg`` (the reference) and ``--backend neuro-msbg`` for
   each checkpoint given.
3. ``hltk evaluate`` STOI and PESQ against the clean reference for msbg, then for each
   checkpoint ``--against`` the msbg scores: LCC, SRCC and MSE per metric, with plots.

    .venv/bin/python recipes/neuro_msbg/fidelity.py --speech data/neuro-msbg/speech/manifest.csv \\
        --noisy data/neuro-msbg/noisy/manifest.csv -o out/neuro-msbg-fidelity \\
        --checkpoint hltk/checkpoints/neuro_msbg_cnn.pt [--checkpoint ablation.pt] [--per-corpus 60]

Prints one row per (checkpoint, metric) and writes ``OUT/fidelity.csv`` (with ``bias``: the
mean of neuro-msbg minus msbg's). Run again with more ``--checkpoint`` s into the same ``OUT``:
msbg and the checkpoints already scored there (by file stem) are reused.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd

from hltk.io.listeners import CLARITY_FREQUENCIES, load_listeners


def heldout_manifest(corpora: list[tuple[str, Path]], out: Path, per_corpus: int) -> Path:
    rows = []
    for kind, manifest in corpora:
        table = pd.read_csv(manifest, dtype=str)
        listeners = load_listeners(manifest.parent / "listeners.json")
        test = table[table["split"] == "test"].head(per_corpus)
        for _, row in test.iterrows():
            listener = listeners[row["listener"]]
            entry = {"id": row["id"], "audio": str((manifest.parent / row["audio"]).resolve()),
                     "reference": str((manifest.parent / row.get("reference", row["audio"])).resolve())
                     if isinstance(row.get("reference"), str) else
                     str((manifest.parent / row["audio"]).resolve()),
                     "corpus": kind, "voice": row["voice"], "listener": f"{kind}-{row['listener']}"}
            for ear in ("left", "right"):
                levels = listener.ear(ear).on_grid(CLARITY_FREQUENCIES)
                entry.update({f"hl_{ear}_{f}": f"{v:g}" for f, v in zip(CLARITY_FREQUENCIES, levels,
                                                                        strict=True)})
            rows.append(entry)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "heldout.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def hltk(*arguments: str) -> None:
    command = [sys.executable, "-m", "hltk_cli", "-q", *arguments]
    print("+ hltk " + " ".join(arguments), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=subprocess.DEVNULL)
    if result.returncode not in (0, 3):  # 3: some items failed (listed in failures.csv)
        raise SystemExit(f"hltk {arguments[0]} failed with exit {result.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speech", type=Path, required=True)
    parser.add_argument("--noisy", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--per-corpus", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()
    manifest = heldout_manifest([("speech", options.speech), ("noisy", options.noisy)],
                                options.out, options.per_corpus)
    metrics = "stoi,pesq"
    if not (options.out / "eval-msbg" / "scores.csv").is_file():  # msbg is reused once scored
        hltk("simulate", str(manifest), "-o", str(options.out / "msbg"), "--backend", "msbg",
             "--jobs", str(options.jobs), "--audio-format", "wav32f")
        hltk("evaluate", str(options.out / "msbg" / "manifest.csv"), "-o",
             str(options.out / "eval-msbg"), "--metrics", metrics, "--jobs", str(options.jobs))
    rows = []
    for checkpoint in options.checkpoint:
        name = checkpoint.stem
        if (options.out / f"eval-{name}" / "summary.csv").is_file():  # already scored
            summary = pd.read_csv(options.out / f"eval-{name}" / "summary.csv")
            summary.insert(0, "checkpoint", name)
            rows.append(summary)
            continue
        hltk("simulate", str(manifest), "-o", str(options.out / name), "--backend", "neuro-msbg",
             "--checkpoint", str(checkpoint), "--audio-format", "wav32f", "--batch-size", "16")
        hltk("evaluate", str(options.out / name / "manifest.csv"), "-o", str(options.out / f"eval-{name}"),
             "--metrics", metrics, "--jobs", str(options.jobs), "--against",
             str(options.out / "eval-msbg" / "scores.csv"), "--group-by", "corpus")
        summary = pd.read_csv(options.out / f"eval-{name}" / "summary.csv")
        summary.insert(0, "checkpoint", name)
        rows.append(summary)
    table = pd.concat(rows)
    table["bias"] = table["mean_system"] - table["mean_reference"]
    table.to_csv(options.out / "fidelity.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
