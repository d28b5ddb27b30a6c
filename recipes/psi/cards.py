"""Model cards of the shipped psi-msbg checkpoints (hltk/checkpoints/psi_msbg_{3,6}.md) from
the checkpoints' training records and recipes/psi/evaluate.py's results.

    python recipes/psi/cards.py --results /work/out/psi2/results.json \
        [--previous /work/out/psi/results.json --previous-label "3,000 steps, ..."]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hltk.nn.checkpoint import file_sha256, load_checkpoint, parameter_count
from hltk.simulate.psi_msbg import load_model

CHECKPOINTS = Path("hltk/checkpoints")


def mean(rows: list[dict], name: str, key: str) -> float:
    return float(np.mean([r[name][key] for r in rows if name in r]))


def table_rows(results: dict, name: str) -> list[str]:
    lines = []
    for split in ("in-sample", "unseen"):
        for group in ("near-normal", "impaired"):
            rows = [r for r in results["table"] if r["split"] == split and r["group"] == group]
            lines.append(f"| {split} ({len(rows)}) | {group} | {mean(rows, name, 'loss'):.2f} | "
                         f"{mean(rows, name, 'fve'):.2f} | {mean(rows, 'twin', 'loss'):.2f} | "
                         f"{mean(rows, 'twin', 'fve'):.2f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=Path("/work/out/psi2/results.json"))
    parser.add_argument("--previous", type=Path, default=None,
                        help="evaluate.py results of the checkpoint this one replaces")
    parser.add_argument("--previous-label", default="the previous checkpoint")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    previous = json.loads(args.previous.read_text()) if args.previous else None
    for n_psi in (3, 6):
        path = CHECKPOINTS / f"psi_msbg_{n_psi}.pt"
        content = load_checkpoint(path, expect_model="psi-msbg")
        training = content["training"]
        history = training["history"][-1]
        model = load_model(path)
        name = f"psi{n_psi}"
        lines = [f"# psi-msbg ({n_psi} psi), hltk/checkpoints/psi_msbg_{n_psi}.pt", "",
                 f"- file: `{path.name}` ({path.stat().st_size / 1e6:.2f} MB, sha256 "
                 f"`{file_sha256(path)[:16]}…`)",
                 f"- model: `psi-msbg`, {parameter_count(model):,} parameters "
                 f"(psi table: {len(model.config.individuals)} x {n_psi} means and log-variances)",
                 "- what: log-mel response of a simulated listener (torch-msbg with hidden "
                 "smearing / recruitment / dead-region parameters) from the input's log-mel and "
                 "the listener's psi; see docs/listener-profiles.md", "",
                 "## Config", "", "| field | value |", "|---|---|"]
        for key, value in content["config"].items():
            if key == "individuals":
                value = f"{len(value)} ids ({', '.join(value[:4])}, …)"
            lines.append(f"| {key} | {value} |")
        lines += ["", "## Data and training", "",
                  "- population: 20 audiograms (10 near-normal, 10 impaired) of "
                  "/work/main/data/listeners/listeners.json, two individuals each (40), hidden "
                  "parameters drawn per individual (seed 0); 96 training segments of 1.5 s "
                  "(recorded es/fr/it/ru speech, 60-80 dB SPL) per individual from the corpus's "
                  "train rows; fit and test segments from its valid and test rows (no talker "
                  "or prompt shared)",
                  f"- steps: {training['steps']}, batch {training['settings']['batch_size']} "
                  f"crops of 0.8 s, Adam lr {training['settings']['learning_rate']} (warm-up, "
                  f"cosine), {training['wall_seconds']:.0f} s on one CPU thread",
                  f"- final train response loss {history['train_response']:.2f} dB^2, "
                  f"held-out segments of the training individuals {history['valid_response']:.2f}"
                  " dB^2 (mean squared dB error of the log-mel)",
                  "- command: `recipes/psi/train.sh` (`hltk train psi-msbg --data "
                  "data/recorded/manifest.csv --listeners data/listeners/"
                  f"listeners.json -o psi{n_psi}.pt --n-psi {n_psi} --steps {training['steps']} "
                  "--threads 1`)",
                  "", "## Held-out figures (32 test segments; recipes/psi/evaluate.py)", "",
                  "Loss: mean squared dB error; FVE: fraction of the individual variance "
                  "explained (1 - SSE / deviation of the response from the population mean). "
                  "In-sample: the learned psi; unseen: psi fitted on the 16 fit segments "
                  "(reference optimum); twin: the audiogram-conditioned network.",
                  "", "| listeners | group | loss | FVE | twin loss | twin FVE |",
                  "|---|---|---|---|---|---|"]
        lines += table_rows(results, name)
        if previous is not None:
            lines += ["", f"The same figures for {args.previous_label} (its own population "
                      "and test segments, so compare with care):", "",
                      "| listeners | group | loss | FVE | twin loss | twin FVE |",
                      "|---|---|---|---|---|---|", *table_rows(previous, name)]
        runs = [r for r in results.get("bo", []) if r["model"] == name and r["kind"] == "unseen"]
        if runs:
            reached = [r["evaluations_to_target"] for r in runs if r["evaluations_to_target"]]
            lines += ["", f"Bayesian optimisation, unseen listeners (fit segments): within 2% of "
                      f"the reference optimum in {len(reached)}/{len(runs)} runs, median "
                      f"{np.median(reached) if reached else float('nan'):.0f} evaluations; "
                      f"median fit time {np.median([r['seconds'] for r in runs]):.1f} s."]
        lines += ["", "## What was cut", "",
                  "Simulated listeners instead of recorded responses; 40 individuals, 1.5 s "
                  f"segments, one ear, a ~40 k-parameter network trained "
                  f"{training['wall_seconds'] / 60:.0f} minutes on one CPU thread (the paper: "
                  "hours of neural recordings, a GPU-sized network)."]
        (CHECKPOINTS / f"psi_msbg_{n_psi}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
