"""Manifests: CSV files with one row per unit of work (one signal for one listener).

Schema (DESIGN.md): ``id`` (required, unique, read as a string); path columns relative to the
manifest's folder (``--root`` overrides); listeners from a ``listener`` column resolved in a
Clarity ``listeners.json`` (``--listeners``, else a ``listeners.json`` beside the manifest) or
by standard name (NH, N1..N7, S1..S3, clarity-*), or from inline ``hl_left_<Hz>`` /
``hl_right_<Hz>`` / ``hl_<Hz>`` columns (these win over the ``listener`` column, which then
only names the listener). Optional ``level_db_spl`` overrides the calibration per row. Unknown
columns are carried through.

A bad manifest is refused before any work with every problem found, each naming the line of
the file (the header is line 1) and the column. With ``skip_invalid`` the rows with problems are
set aside instead (:attr:`Manifest.invalid`, each with its problems, which a run records as
failures) and the others load; problems of the file itself (header, listeners file, no rows) and
rows whose id cannot be trusted (wrong field count, empty or duplicate id: ledgers, resume and
merge key by id) still refuse the whole manifest.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hltk.io.audio import AudioReadError, audio_info, read_audio
from hltk.io.listeners import (
    Audiogram,
    Listener,
    ListenerError,
    load_listeners,
    standard_audiograms,
    standard_listener,
)

#: Columns that hold paths to audio files (resolved against the manifest's folder).
AUDIO_COLUMNS: tuple[str, ...] = (
    "audio", "input", "reference", "noise", "vocals", "drums", "bass", "other",
    "audio_ch2", "audio_ch3",  # CEC3: the middle and back microphone pairs (audio is CH1)
)
#: a remix stem with any name: column ``stem_<name>`` (the four MUSDB stems keep their own
#: names above); such columns hold audio paths, resolved like the others
STEM_PREFIX = "stem_"
HL_COLUMN = re.compile(r"^hl_(?:(?P<ear>left|right)_)?(?P<frequency>\d+(?:\.\d+)?)$")
MAX_REPORTED_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: where (file line, column) and what."""

    line: int | None
    column: str | None
    message: str

    def describe(self, source: str) -> str:
        where = source
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class ManifestError(ValueError):
    """A manifest refused before any work; ``problems`` lists every problem found."""

    def __init__(self, source: str | Path, problems: Sequence[Problem]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        shown = [p.describe(self.source) for p in self.problems[:MAX_REPORTED_PROBLEMS]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problems")
        super().__init__("\n".join(shown))


def load_metadata(path: Path, what: str) -> Any:
    """A challenge's JSON metadata file (``what`` names it in the message): a missing file or
    invalid JSON is a :class:`ManifestError`, as a bad manifest is (exit 2)."""
    if not path.is_file():
        raise ManifestError(path.name, [Problem(None, None, f"{what} not found: {path}")])
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ManifestError(path.name, [Problem(None, None, f"not valid JSON: {error}")]) from None


@dataclass(frozen=True)
class ManifestItem:
    """One row of a manifest, resolved."""

    id: str
    line: int
    row: dict[str, str]
    paths: dict[str, Path] = field(default_factory=dict)
    listener: Listener | None = None
    level_db_spl: float | None = None

    @property
    def audio(self) -> Path:
        return self.paths["audio"]


@dataclass(frozen=True)
class InvalidRow:
    """A row set aside by ``skip_invalid``: where it is and what is wrong with it."""

    id: str
    line: int
    problems: tuple[Problem, ...]

    def message(self, source: str) -> str:
        """The problems as the refusal of the whole manifest words them."""
        return "; ".join(problem.describe(source) for problem in self.problems)


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: its items in file order and where it came from; with
    ``skip_invalid``, also the rows set aside (in file order)."""

    path: Path
    root: Path
    columns: tuple[str, ...]
    items: tuple[ManifestItem, ...]
    listeners: dict[str, Listener]
    listeners_path: Path | None = None
    invalid: tuple[InvalidRow, ...] = ()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def rows(self) -> int:
        """Rows of the file: items and rows set aside."""
        return len(self.items) + len(self.invalid)

    def set_aside(self, problems: Sequence[Problem]) -> Manifest:
        """This manifest with the items named by ``problems`` (by line) moved to
        :attr:`invalid`, their problems with them."""
        by_line: dict[int, list[Problem]] = {}
        for problem in problems:
            assert problem.line is not None, "only row problems set a row aside"
            by_line.setdefault(problem.line, []).append(problem)
        if not by_line:
            return self
        kept = tuple(item for item in self.items if item.line not in by_line)
        aside = [InvalidRow(item.id, item.line, tuple(by_line[item.line]))
                 for item in self.items if item.line in by_line]
        invalid = tuple(sorted([*self.invalid, *aside], key=lambda row: row.line))
        return dataclasses.replace(self, items=kept, invalid=invalid)


def refuse_or_set_aside(manifest: Manifest, problems: Sequence[Problem], skip_invalid: bool) -> Manifest:
    """Row problems found after loading (output names, a backend's columns): the manifest is
    refused with all of them, or with ``skip_invalid`` their rows are set aside."""
    if not problems:
        return manifest
    if not skip_invalid or any(p.line is None for p in problems):
        raise ManifestError(manifest.path.name, sorted(problems, key=lambda p: (p.line or 0, p.column or "")))
    return manifest.set_aside(problems)


def _hl_columns(columns: Iterable[str]) -> dict[str, list[tuple[float, str]]]:
    """Inline audiogram columns by ear: ``{"left": [(Hz, column)], "right": [...]}``."""
    by_ear: dict[str, list[tuple[float, str]]] = {"left": [], "right": []}
    for column in columns:
        match = HL_COLUMN.match(column)
        if match is None:
            continue
        frequency = float(match["frequency"])
        ears = [match["ear"]] if match["ear"] else ["left", "right"]
        for ear in ears:
            by_ear[ear].append((frequency, column))
    for ear in by_ear:
        by_ear[ear].sort()
    return by_ear


def _parse_float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _check_audio(path: Path, full: bool) -> str | None:
    """None if the file is usable audio, else what is wrong with it."""
    if not path.exists():
        return f"audio file not found: {path}"
    if path.is_dir():
        return f"is a folder, not an audio file: {path}"
    try:
        if full:
            read_audio(path, check_finite=True)
        else:
            info = audio_info(path)
            if info.frames == 0:
                return f"zero-length audio file {path}"
    except AudioReadError as error:
        return str(error)
    return None


def load_manifest(
    path: str | Path,
    *,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    required_columns: Sequence[str] = ("id", "audio"),
    audio_columns: Sequence[str] | None = None,
    require_listener: bool = True,
    check_audio: str = "full",
    jobs: int = 8,
    skip_invalid: bool = False,
) -> Manifest:
    """Read and validate a manifest; raise :class:`ManifestError` listing every problem.

    ``audio_columns``: which path columns must name usable audio (default: those of
    :data:`AUDIO_COLUMNS` present, ``input`` excepted). ``check_audio``: ``full`` reads every
    file (catches NaN/inf), ``header`` reads headers only, ``none`` skips the checks.
    ``skip_invalid``: rows with problems go to :attr:`Manifest.invalid` (see the module
    docstring for what still refuses the whole manifest).
    """
    path = Path(path)
    source = path.name
    if not path.is_file():
        raise ManifestError(source, [Problem(None, None, f"manifest not found: {path}")])
    base = Path(root) if root is not None else path.parent
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows: list[tuple[int, list[str]]] = []
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    continue
                rows.append((reader.line_num, values))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ManifestError(source, [Problem(None, None, f"not a readable CSV file: {error}")]) from error
    if header is None:
        raise ManifestError(source, [Problem(None, None, "empty manifest (no header line)")])
    columns = tuple(column.strip() for column in header)
    problems: list[Problem] = []
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    for column in duplicates:
        problems.append(Problem(1, column, "column appears more than once in the header"))
    for column in required_columns:
        if column not in columns:
            problems.append(Problem(1, column, "required column is missing"))
    if problems:
        raise ManifestError(source, problems)

    hl_columns = _hl_columns(columns)
    has_inline = bool(hl_columns["left"] or hl_columns["right"])
    if has_inline and (not hl_columns["left"] or not hl_columns["right"]):
        missing = "left" if not hl_columns["left"] else "right"
        raise ManifestError(
            source,
            [Problem(1, None, f"inline audiogram columns give no {missing} ear "
                     f"(use hl_<Hz> for both ears, or hl_left_<Hz> and hl_right_<Hz>)")],
        )
    listeners: dict[str, Listener] = {}
    listeners_file: Path | None = None
    if "listener" in columns and not has_inline:
        candidate = Path(listeners_path) if listeners_path else path.parent / "listeners.json"
        if listeners_path is not None or candidate.exists():
            listeners_file = candidate
            try:
                listeners = load_listeners(candidate)
            except ListenerError as error:
                raise ManifestError(source, [Problem(None, "listener", str(error))]) from error
    elif listeners_path is not None:
        listeners_file = Path(listeners_path)
        try:
            listeners = load_listeners(listeners_file)
        except ListenerError as error:
            raise ManifestError(source, [Problem(None, None, str(error))]) from error
    if require_listener and not has_inline and "listener" not in columns:
        raise ManifestError(
            source,
            [Problem(1, "listener", "no listener: add a 'listener' column (ids in "
                     "listeners.json or standard names such as N3) or hl_<Hz> columns")],
        )
    standard_names = set(standard_audiograms())
    if audio_columns is None:
        audio_columns = [c for c in AUDIO_COLUMNS if c in columns and c != "input"]

    items: list[ManifestItem] = []
    untrusted_ids: set[int] = set()  # lines whose id cannot key a ledger entry
    first_line_of: dict[str, int] = {}
    used_listeners: dict[str, Listener] = {}
    to_check: list[tuple[int, str, Path]] = []
    for line, values in rows:
        if len(values) != len(columns):
            problems.append(Problem(line, None, f"{len(values)} fields for {len(columns)} columns"))
            untrusted_ids.add(line)
            continue
        row = dict(zip(columns, (v.strip() for v in values), strict=True))
        item_id = row["id"]
        if not item_id:
            problems.append(Problem(line, "id", "empty id"))
            untrusted_ids.add(line)
        elif item_id in first_line_of:
            problems.append(
                Problem(line, "id", f"duplicate id {item_id!r} (first on line {first_line_of[item_id]})")
            )
            untrusted_ids.add(line)
        else:
            first_line_of[item_id] = line
        paths: dict[str, Path] = {}
        for column in columns:
            if column not in AUDIO_COLUMNS and not column.startswith(STEM_PREFIX):
                continue
            value = row[column]
            if not value:
                if column in audio_columns and column in required_columns:
                    problems.append(Problem(line, column, "empty path"))
                continue
            resolved = Path(value) if Path(value).is_absolute() else base / value
            paths[column] = resolved
            if column in audio_columns:
                to_check.append((line, column, resolved))
        listener: Listener | None = None
        if has_inline:
            listener = _inline_listener(row, item_id, line, hl_columns, problems)
        elif "listener" in columns:
            name = row["listener"]
            if not name:
                problems.append(Problem(line, "listener", "empty listener id"))
            elif name in listeners:
                listener = listeners[name]
            elif name in standard_names:
                listener = standard_listener(name)
            else:
                where = f"in {listeners_file}" if listeners_file else "(no listeners.json given)"
                problems.append(
                    Problem(line, "listener", f"unknown listener {name!r} {where}; standard "
                            f"names: {', '.join(sorted(standard_names))}")
                )
        if listener is not None:
            used_listeners[listener.id] = listener
        level: float | None = None
        if "level_db_spl" in columns and row["level_db_spl"]:
            level = _parse_float(row["level_db_spl"])
            if level is None:
                problems.append(
                    Problem(line, "level_db_spl", f"not a finite number: {row['level_db_spl']!r}")
                )
        items.append(ManifestItem(item_id, line, row, paths, listener, level))

    if check_audio != "none" and to_check:
        full = check_audio == "full"
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            verdicts = list(pool.map(lambda entry: _check_audio(entry[2], full), to_check))
        for (line, column, _), verdict in zip(to_check, verdicts, strict=True):
            if verdict is not None:
                problems.append(Problem(line, column, verdict))
    if not items and not problems:
        problems.append(Problem(None, None, "no rows: the manifest lists no items"))
    problems.sort(key=lambda p: (p.line or 0, p.column or ""))
    fatal = [p for p in problems if p.line is None or p.line == 1 or p.line in untrusted_ids]
    if problems and (fatal or not skip_invalid):
        raise ManifestError(source, problems)
    manifest = Manifest(path, base, columns, tuple(items), used_listeners, listeners_file)
    return manifest.set_aside(problems)


def _inline_listener(
    row: dict[str, str],
    item_id: str,
    line: int,
    hl_columns: dict[str, list[tuple[float, str]]],
    problems: list[Problem],
) -> Listener | None:
    audiograms: dict[str, Audiogram] = {}
    for ear, entries in hl_columns.items():
        levels: list[float] = []
        for frequency, column in entries:
            value = _parse_float(row[column])
            if value is None:
                problems.append(Problem(line, column, f"hearing level is not a number: {row[column]!r}"))
                return None
            if not -10.0 <= value <= 120.0:
                problems.append(
                    Problem(line, column, f"hearing level {value:g} dB HL outside -10..120 "
                            f"at {frequency:g} Hz")
                )
                return None
            levels.append(value)
        audiograms[ear] = Audiogram(tuple(f for f, _ in entries), tuple(levels))
    name = row.get("listener") or item_id
    return Listener(name, audiograms["left"], audiograms["right"])


def write_manifest(path: str | Path, rows: Sequence[dict[str, object]], columns: Sequence[str]) -> None:
    """Write rows as CSV (atomically), columns in the given order."""
    from hltk.io.audio import atomic_path

    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
