"""What the challenge readers share: JSON loading with named errors, relative paths, and
writing ``OUT/manifest.csv`` (+ ``listeners.json``) in the pattern of
:mod:`hltk.remix.cadenza`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hltk.io.audio import atomic_path
from hltk.io.listeners import Listener, save_listeners
from hltk.io.manifest import ManifestError, Problem, write_manifest

#: the columns every reader writes first; then the challenge's own, then ``correctness``
LEADING: tuple[str, ...] = ("id", "audio", "reference", "listener")
CORRECTNESS = "correctness"


@dataclass(frozen=True)
class ChallengeManifest:
    """What a reader wrote: the manifest, its listeners file (``None`` when the listener
    column names standard audiograms), the row count, whether correctness is known, notes."""

    manifest: Path
    listeners: Path | None
    rows: int
    split: str
    with_correctness: bool
    notes: dict[str, Any] = field(default_factory=dict)






def find_data_root(root: Path, *candidates: str) -> Path:
    """The folder holding ``metadata/``: ``root`` itself or ``root/<candidate>``."""
    for folder in (root, *(root / c for c in candidates)):
        if (folder / "metadata").is_dir():
            return folder
    tried = ", ".join(str(f / "metadata") for f in (root, *(root / c for c in candidates)))
    raise ManifestError(str(root), [Problem(None, None, f"no metadata folder (tried {tried})")])


def check_files(rows: Sequence[dict[str, Any]], out: Path, problems: list[Problem]) -> None:
    """A problem for every ``audio`` / ``reference`` file that does not exist."""
    for row in rows:
        for column in ("audio", "reference"):
            if not (out / str(row[column])).is_file():
                problems.append(Problem(None, column, f"{row['id']}: no {column} file at "
                                        f"{(out / str(row[column])).resolve()}"))


def write_challenge_manifest(out: Path, rows: list[dict[str, Any]], columns: Sequence[str],
                             split: str, listeners: Sequence[Listener] | Path | None,
                             notes: dict[str, Any] | None = None) -> ChallengeManifest:
    """``OUT/manifest.csv`` (``correctness`` last, dropped when no row has it) and, with
    ``listeners``, ``OUT/listeners.json`` (a copy of the challenge's file, or the listeners
    given)."""
    with_correctness = bool(rows) and all(row.get(CORRECTNESS) is not None for row in rows)
    ordered = [*LEADING, *(c for c in columns if c not in LEADING and c != CORRECTNESS)]
    if with_correctness:
        ordered.append(CORRECTNESS)
    manifest = out / "manifest.csv"
    write_manifest(manifest, rows, ordered)
    listeners_path = None
    if listeners is not None:
        listeners_path = out / "listeners.json"
        if isinstance(listeners, Path):
            with atomic_path(listeners_path) as temporary:
                temporary.write_bytes(listeners.read_bytes())
        else:
            save_listeners(listeners, listeners_path)
    return ChallengeManifest(manifest, listeners_path, len(rows), split, with_correctness,
                             dict(notes or {}))
