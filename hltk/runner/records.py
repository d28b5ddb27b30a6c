"""The records of a run, in ``OUT`` (or ``OUT/shards/I-of-N`` for a shard).

- ``ledger.jsonl``: one line per finished item (``id``, ``line``, ``status`` ``ok`` or
  ``failed``, ``stage``, ``message`` and what the command adds), written and flushed as each
  item finishes, so a killed run resumes from it; its last line per id wins, a torn last line
  is ignored.
- ``failures.csv``: ``id, line, stage, message`` of every failed item of the run's selection,
  in manifest order.
- the run's table, one row per item: ``manifest.csv`` for the processing commands (the
  produced items, input columns carried through, paths relative to ``OUT``), ``scores.csv``
  for ``evaluate``; ``run.json`` names it (``table``), so :mod:`hltk.runner.merge` combines
  shards of either.
- ``run.json``: the command, settings, versions, hardware, timing, counts and ``config_hash``
  (what a resumed run must match).

Every table is written atomically (a temporary file renamed over the old one).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from hltk import __version__
from hltk.io.audio import atomic_path
from hltk.io.manifest import InvalidRow, Manifest, ManifestItem
from hltk.io.paths import relative_path

LEDGER, FAILURES, MANIFEST, RUN_RECORD = "ledger.jsonl", "failures.csv", "manifest.csv", "run.json"
#: A table's sidecar (``scores.csv`` -> ``scores.csv.json``): what its values need to be traced
#: when the table travels alone (evaluate's engine record); ``hltk merge`` carries it over.
SIDECAR_SUFFIX = ".json"


def sidecar_path(table: Path) -> Path:
    """``OUT/scores.csv`` -> ``OUT/scores.csv.json``."""
    return table.with_name(table.name + SIDECAR_SUFFIX)
FAILURE_COLUMNS = ("id", "line", "stage", "message")
#: the stage of a row set aside by ``--skip-invalid``
VALIDATE_STAGE = "validate"

Entry = dict[str, Any]


def record_dir_for(out: Path, shard: tuple[int, int] | None) -> Path:
    """Where a run keeps its records: ``OUT``, or ``OUT/shards/I-of-N`` for shard I of N."""
    return out if shard is None else out / "shards" / f"{shard[0]}-of-{shard[1]}"


def read_ledger(path: Path) -> dict[str, Entry]:
    """The last ledger entry of each id (a torn last line from a crash is ignored)."""
    entries: dict[str, Entry] = {}
    if not path.exists():
        return entries
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "id" in entry:
                entries[str(entry["id"])] = entry
    return entries


def previous_config_hash(record_dir: Path) -> str | None:
    """The ``config_hash`` of the run recorded in ``record_dir`` (None when unreadable)."""
    with contextlib.suppress(json.JSONDecodeError, OSError, AttributeError):
        found = json.loads((record_dir / RUN_RECORD).read_text()).get("config_hash")
        return str(found) if found else None
    return None


def validation_failure(row: InvalidRow, source: str) -> Entry:
    """The ledger entry of a row set aside by ``--skip-invalid``."""
    return {"id": row.id, "line": row.line, "status": "failed", "stage": VALIDATE_STAGE,
            "message": row.message(source)}


class RunRecords:
    """The record folder of one run, opened once its plan has passed every check.

    :meth:`open` makes the folder and, under ``--overwrite``, removes the old ledger: the only
    places a run deletes or creates records before its items finish.
    """

    def __init__(self, record_dir: Path, ledger: dict[str, Entry]) -> None:
        self.record_dir = record_dir
        #: the last entry of every id: the previous run's, then this run's as they finish
        self.ledger = ledger

    @classmethod
    def open(cls, record_dir: Path, ledger: dict[str, Entry], overwrite: bool) -> RunRecords:
        record_dir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            (record_dir / LEDGER).unlink(missing_ok=True)
        return cls(record_dir, dict(ledger))

    @contextlib.contextmanager
    def appending(self) -> Iterator[Callable[[Entry], None]]:
        """``append(entry)``: one ledger line, flushed at once."""
        with (self.record_dir / LEDGER).open("a", encoding="utf-8") as handle:

            def append(entry: Entry) -> None:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
                self.ledger[str(entry["id"])] = entry

            yield append

    def final(self, ids: Iterable[str]) -> list[Entry]:
        """The last entries of ``ids`` (those that have one), in the order given."""
        return [self.ledger[i] for i in ids if i in self.ledger]

    def write_failures(self, entries: Iterable[Entry]) -> None:
        write_failures(self.record_dir / FAILURES, [e for e in entries if e.get("status") != "ok"])

    def write_run_record(self, record: dict[str, Any]) -> None:
        write_json(self.record_dir / RUN_RECORD, record)


def output_row(item: ManifestItem, output_rel: str, out: Path,
               extra: dict[str, Any]) -> dict[str, Any]:
    """The output manifest row: input columns carried, paths relative to ``out``."""
    row: dict[str, Any] = dict(item.row)
    for column, path in item.paths.items():
        row[column] = relative_path(path, out)
    row["input"] = relative_path(item.paths["audio"], out)
    row["audio"] = output_rel
    if item.listener is not None and "listener" not in row:
        row["listener"] = item.listener.id
    row.update(extra)
    return row


def output_columns(manifest: Manifest, extra: Sequence[str]) -> list[str]:
    columns = list(manifest.columns)
    for column in ("input", "listener", *extra):
        if column not in columns:
            columns.append(column)
    return columns


def write_failures(path: Path, entries: Iterable[Entry]) -> None:
    rows = sorted(entries, key=lambda e: int(e.get("line", 0)))
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FAILURE_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for entry in rows:
            writer.writerow({c: entry.get(c, "") for c in FAILURE_COLUMNS})


def write_json(path: Path, content: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2, default=str) + "\n", encoding="utf-8")


def warning_counts(entries: Iterable[Entry | Any]) -> list[dict[str, Any]]:
    """``run.json``'s ``warnings``: each message once with the number of items that gave it."""
    counts: dict[str, int] = {}
    for entry in entries:
        messages = entry.get("warnings", []) if isinstance(entry, dict) else entry.warnings
        for message in messages:
            counts[message] = counts.get(message, 0) + 1
    return [{"message": m, "items": n} for m, n in sorted(counts.items())]


def versions() -> dict[str, str]:
    found = {"hltk": __version__, "python": platform.python_version(), "torch": torch.__version__}
    for package in ("numpy", "pyclarity", "soundfile", "soxr"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            found[package] = version(package)
    return found


def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "platform": platform.platform(), "device": str(device)}
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def clean_partial_files(folder: Path) -> None:
    """Remove temporary files a killed worker may have left (never final outputs)."""
    if folder.exists():
        for stale in folder.rglob(".*.part"):
            stale.unlink(missing_ok=True)
