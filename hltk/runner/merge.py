"""``hltk merge``: the records of shard runs combined into the records of one run.

Sources are run folders: their ``shards/I-of-N`` record folders and their own records (a
folder merged before) are read. For each id the ``ok`` entry wins over a ``failed`` one; the
merged ledger, ``failures.csv`` and table are in manifest order, so merging the shards of a
run gives the tables of the same run made unsharded. Everything is read and checked (same
``config_hash``, same kind of table) before anything is written; audio of sources other than
the destination is copied in (atomically).

The table: a processing run's ``manifest.csv`` is rebuilt from the ledger rows; any other
(``evaluate``'s ``scores.csv``) is merged row by row from the shards' tables, each row kept as
its shard wrote it.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hltk.io.audio import atomic_path
from hltk.io.manifest import write_manifest
from hltk.runner.records import (
    FAILURES,
    LEDGER,
    MANIFEST,
    RUN_RECORD,
    Entry,
    read_ledger,
    sidecar_path,
    write_failures,
    write_json,
)
from hltk.runner.settings import RunError


def record_dirs(source: Path) -> list[Path]:
    """The record folders of a run folder: itself (when it holds a ledger), then its shards."""
    found = []
    if (source / LEDGER).exists():
        found.append(source)
    shards = source / "shards"
    if shards.is_dir():
        found.extend(sorted(p for p in shards.iterdir() if (p / LEDGER).exists()))
    return found


def merge_runs(sources: Sequence[Path], destination: Path) -> dict[str, Any]:
    """Combine the records of shard runs (in ``SRC/shards/*`` or ``SRC`` itself) into one run
    in ``destination``; audio from other folders is copied in. Returns the merged counts."""
    entries: dict[str, Entry] = {}
    origin: dict[str, tuple[Path, Path]] = {}  # id -> (source, record folder) of its entry
    records: list[dict[str, Any]] = []
    columns: list[str] = []
    hashes: set[str] = set()
    tables: set[str] = set()
    for source in sources:
        dirs = record_dirs(source)
        if not dirs:
            raise RunError(f"{source}: no run records (ledger.jsonl) found")
        for folder in dirs:
            record_path = folder / RUN_RECORD
            if record_path.exists():
                record = json.loads(record_path.read_text())
                records.append(record)
                hashes.add(str(record.get("config_hash")))
                tables.add(str(record.get("table", MANIFEST)))
            manifest_path = folder / MANIFEST
            if manifest_path.exists():
                with manifest_path.open(newline="", encoding="utf-8") as handle:
                    for column in next(csv.reader(handle), []):
                        if column not in columns:
                            columns.append(column)
            for item_id, entry in read_ledger(folder / LEDGER).items():
                previous = entries.get(item_id)
                if previous is None or previous.get("status") != "ok":
                    entries[item_id] = entry
                    origin[item_id] = (source, folder)
    if len(hashes) > 1:
        raise RunError("the runs to merge were made with different settings (config_hash differs)")
    if len(tables) > 1:
        raise RunError(f"the runs to merge are of different commands (tables {sorted(tables)})")
    table = tables.pop() if tables else MANIFEST
    ordered = sorted(entries.values(), key=lambda e: int(e.get("line", 0)))
    ok_entries = [e for e in ordered if e.get("status") == "ok"]
    failed = [e for e in ordered if e.get("status") == "failed"]
    merged_rows = None if table == MANIFEST else _table_rows(table, ordered, origin)
    sidecars = {path.read_bytes() for source in sources for folder in record_dirs(source)
                if (path := sidecar_path(folder / table)).exists()}
    if len(sidecars) > 1:
        raise RunError(f"the runs to merge describe their {table} differently "
                       f"({sidecar_path(Path(table)).name} differs)")

    destination.mkdir(parents=True, exist_ok=True)
    for entry in ok_entries:
        source = origin[str(entry["id"])][0]
        if entry.get("output") and source.resolve() != destination.resolve():
            target = destination / entry["output"]
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as temporary:
                shutil.copyfile(source / entry["output"], temporary)
    for source in sources:
        listeners_file = source / "listeners.json"
        if listeners_file.exists() and source.resolve() != destination.resolve():
            shutil.copyfile(listeners_file, destination / "listeners.json")
    with atomic_path(destination / LEDGER) as temporary:
        temporary.write_text("".join(json.dumps(e) + "\n" for e in ordered), encoding="utf-8")
    if merged_rows is None:
        write_manifest(destination / MANIFEST, [e["row"] for e in ok_entries], columns)
    else:
        _write_rows(destination / table, *merged_rows)
    if sidecars:
        with atomic_path(sidecar_path(destination / table)) as temporary:
            temporary.write_bytes(sidecars.pop())
    write_failures(destination / FAILURES, failed)
    counts = {"ok": len(ok_entries), "failed": len(failed), "runs": len(records)}
    merged = dict(records[0]) if records else {}
    merged.update({
        "merged_from": [str(s) for s in sources],
        "shards": [{"settings": r.get("settings"), "counts": r.get("counts"),
                    "timing": r.get("timing"), "status": r.get("status")} for r in records],
        "counts": counts,
        "status": "merged",
        "finished": datetime.now(UTC).isoformat(),
    })
    write_json(destination / RUN_RECORD, merged)
    return counts


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], str]:
    """A CSV table as text: header, rows, and its line ending."""
    with path.open("rb") as raw:
        first = raw.readline()
    ending = "\r\n" if first.endswith(b"\r\n") else "\n"
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        return header, list(reader), ending


def _table_rows(table: str, ordered: Sequence[Entry], origin: dict[str, tuple[Path, Path]]
                ) -> tuple[list[str], list[list[str]], str]:
    """The merged rows of an id-keyed table: each id's row from the record folder whose entry
    won, in the order of ``ordered``; the shards' tables must share their header."""
    read: dict[Path, tuple[list[str], dict[str, list[str]], str]] = {}
    header: list[str] | None = None
    ending = "\n"
    for folder in dict.fromkeys(folder for _, folder in origin.values()):
        path = folder / table
        if not path.exists():
            raise RunError(f"{folder}: no {table}")
        columns, rows, ending_here = _read_rows(path)
        if "id" not in columns:
            if rows:
                raise RunError(f"{path}: no id column")
            continue  # an empty shard's table
        key = columns.index("id")
        read[folder] = (columns, {row[key]: row for row in rows}, ending_here)
        if rows:
            if header is not None and columns != header:
                raise RunError(f"{path}: its columns differ from the other shards' {table}")
            header, ending = columns, ending_here
    if header is None:
        header = next((columns for columns, _, _ in read.values()), [])
    merged = []
    for entry in ordered:
        found = read.get(origin[str(entry["id"])][1])
        if found is not None and str(entry["id"]) in found[1]:
            merged.append(found[1][str(entry["id"])])
    return header, merged, ending


def _write_rows(path: Path, header: list[str], rows: list[list[str]], ending: str) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator=ending)
        writer.writerow(header)
        writer.writerows(rows)
