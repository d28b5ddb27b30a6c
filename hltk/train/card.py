"""Model cards: a Markdown page for a checkpoint, made from its own training record.

    python -m hltk.train.card CKPT [--title T] [--command "how it was trained"]
                                  [--table fidelity.csv ...] > CKPT.md

The page lists the model and its config, the parameter count, the data and the training
(steps, wall time, final losses, device, versions) as the checkpoint recorded them, and any
measured tables (CSV) given, so the card cannot drift from the file it describes.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from hltk.nn.checkpoint import load_checkpoint


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)


def model_card(checkpoint: str | Path, title: str | None = None, command: str | None = None,
               tables: list[tuple[str, Path]] | None = None, notes: str | None = None) -> str:
    path = Path(checkpoint)
    content = load_checkpoint(path)
    training = content.get("training", {})
    parameters = sum(t.numel() for t in content["state_dict"].values())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    lines = [f"# {title or path.name}", "",
             f"- file: `{path.name}` ({path.stat().st_size / 1e6:.2f} MB, sha256 `{digest[:16]}…`)",
             f"- model: `{content['model']}`, {parameters:,} parameters"]
    lines += ["", "## Config", "", "| field | value |", "|---|---|"]
    lines += [f"| {k} | {_value(v)} |" for k, v in content["config"].items()]
    data = training.get("data", {})
    if data:
        lines += ["", "## Data", "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {_value(v)} |" for k, v in data.items() if k != "pairs_cache"]
    settings = training.get("settings", {})
    history = training.get("history", [])
    lines += ["", "## Training", "",
              f"- steps: {training.get('steps')}, wall time {training.get('wall_seconds')} s on "
              f"{training.get('device')} (hltk {training.get('hltk')}, torch {training.get('torch')})",
              "- settings: " + ", ".join(f"{k}={_value(v)}" for k, v in settings.items())]
    if command:
        lines += ["- command:", "", "```", command, "```"]
    if history:
        columns = [c for c in ("step", "wall_seconds", "train_loss", "valid_loss", "valid_magnitude",
                               "valid_phase") if c in history[0]]
        picks = sorted({0, len(history) // 4, len(history) // 2, 3 * len(history) // 4, len(history) - 1})
        lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_value(history[i].get(c)) for c in columns) + " |" for i in picks]
    for heading, table in tables or []:
        frame = pd.read_csv(table)
        lines += ["", f"## {heading}", "", f"From `{table.name}`:", "",
                  "| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
        lines += ["| " + " | ".join(_value(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a checkpoint's model card (Markdown) to stdout.")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--title")
    parser.add_argument("--command")
    parser.add_argument("--table", type=Path, action="append", default=[],
                        help="a CSV of measured figures (repeatable)")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended as Notes")
    options = parser.parse_args()
    tables = [(table.stem.replace("_", " "), table) for table in options.table]
    notes = options.notes.read_text() if options.notes else None
    print(model_card(options.checkpoint, options.title, options.command, tables, notes), end="")


if __name__ == "__main__":
    main()
