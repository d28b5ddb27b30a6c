"""The 3rd Clarity Enhancement Challenge (CEC3): manifests, scoring, report and submission.

Everything here follows pyclarity's ``recipes/cec3/baseline`` (claritychallenge/clarity:
``config.yaml``, ``enhance.py``, ``evaluate.py``, ``report_score.py``) and the challenge's
submission page (claritychallenge.github.io ``docs/cec3/taking_part/cec3_submission.mdx``).

Layout (``ROOT`` is the recipe's ``path.root``, the unpacked ``clarity_CEC3_data``)::

    ROOT/task{N}/clarity_data/metadata/scenes_listeners.{split}.json  {scene: [listener, ...]}
    ROOT/task{N}/clarity_data/metadata/listeners.json                 Clarity listeners
    ROOT/task{N}/clarity_data/metadata/scenes.{split}.json            [{scene, SNR, ...}]
    ROOT/task{N}/clarity_data/{split}/scenes/{scene}_mix_CH{1,2,3}.wav
    ROOT/task{N}/clarity_data/{split}/scenes/{scene}_reference.wav

(the recipe reads the ``dev`` split; the evaluation split is laid out the same way, with
mixtures only: no references, and ``scenes.eval.json`` may be absent).

- :func:`write_cec3_manifest` (``hltk manifest cec3``): one row per (scene, listener) pair
  in the recipe's order (``make_scene_listener_list``: scenes in file order, each scene's
  listeners in order), ``id = {scene}_{listener}``; ``audio`` = CH1 (front pair),
  ``audio_ch2``, ``audio_ch3`` (middle and back pairs, which the baseline averages with CH1,
  :mod:`hltk.amplify.compressor` ``preset="cec3"``), ``reference`` when every scene has one,
  ``scene``, ``listener``, ``snr`` (``scenes.{split}.json``'s ``SNR``), ``sample_rate`` (of
  CH1), ``task``, ``split``; ``listeners.json`` copied beside it.
- :func:`cec3_haspi`: the recipe's score, ``haspi_v2_be(level=100)``: the numpy RNG seeded
  once per pair with ``md5(scene) % 10**8`` (``set_scene_seed``), HASPI v2 of the left ear
  then the right (the RNG continuing), the better ear. The reference is read as
  ``int16 / 32768`` and a mono reference serves both ears, as the recipe reads it.
- :func:`snr_report`: ``report_score.py``'s table: mean SNR and HASPI per SNR bin
  ``pd.cut(SNR, bins=range(-12, 7, 3))`` (``(-12, -9]`` ... ``(3, 6]``), and the overall mean.
- :func:`package_submission` (``hltk package``): ``{scene}_{listener}_HA-output.wav`` 16-bit
  WAV files in a folder named for the team, archived as ``{TEAM}_task{N}`` with that folder at
  the archive's root; refused (naming them) when an expected pair has no file or a file is not
  16-bit two-channel WAV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import shutil
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hltk.io.audio import atomic_path, audio_info
from hltk.io.listeners import Listener
from hltk.io.manifest import ManifestError, Problem, load_metadata, write_manifest
from hltk.io.paths import relative_path

PRESET = "cec3"
TASKS: tuple[int, ...] = (1, 2, 3)
SPLITS: tuple[str, ...] = ("dev", "eval")
MICROPHONES: tuple[str, ...] = ("audio", "audio_ch2", "audio_ch3")  # CH1, CH2, CH3
COLUMNS: tuple[str, ...] = ("id", *MICROPHONES, "reference", "scene", "listener", "snr",
                            "sample_rate", "task", "split")
#: ``evaluate.py``: ``haspi_v2_be(..., level=100)``, 0 dBFS = 100 dB SPL
LEVEL_DB_SPL = 100.0
#: ``report_score.py``: ``pd.cut(results["SNR"], bins=range(-12, 7, 3))``
SNR_BIN_EDGES: tuple[int, ...] = tuple(range(-12, 7, 3))
OUTPUT_NAME = "{scene}_{listener}_HA-output.wav"
TEAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
ARCHIVES: tuple[str, ...] = ("tar.gz", "zip", "none")


@dataclass(frozen=True)
class Cec3Manifest:
    """What :func:`write_cec3_manifest` wrote."""

    manifest: Path
    listeners: Path
    rows: int
    scenes: int
    with_reference: bool
    sample_rates: tuple[int, ...]


def task_folder(root: str | Path, task: int) -> Path:
    """``ROOT/task{N}/clarity_data``."""
    if task not in TASKS:
        raise ValueError(f"--task {task}: CEC3 has tasks 1, 2 and 3")
    return Path(root) / f"task{task}" / "clarity_data"






def scene_listener_pairs(scenes_listeners: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """The recipe's ``make_scene_listener_list`` (without ``small_test``): scenes in file
    order, each scene's listeners in order."""
    return [(scene, listener) for scene in scenes_listeners for listener in scenes_listeners[scene]]


def cec3_rows(root: str | Path, task: int, split: str,
              out: str | Path) -> tuple[list[dict[str, object]], bool, dict[str, Any]]:
    """Manifest rows (paths relative to ``out``), whether every scene has a reference, and the
    listeners file's content. Raises :class:`ManifestError` naming every missing file, scene
    or listener."""
    if split not in SPLITS:
        raise ValueError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    data, out = task_folder(root, task), Path(out)
    metadata, folder = data / "metadata", data / split / "scenes"
    pairs = load_metadata(metadata / f"scenes_listeners.{split}.json", "CEC3 scene-listener pairs")
    listeners = load_metadata(metadata / "listeners.json", "CEC3 listeners")
    scenes_file = metadata / f"scenes.{split}.json"
    snrs: dict[str, float] = {}
    if scenes_file.is_file():
        snrs = {entry["scene"]: float(entry["SNR"]) for entry in load_metadata(scenes_file, "CEC3 scenes")
                if isinstance(entry, dict) and "scene" in entry and "SNR" in entry}
    problems: list[Problem] = []
    rows: list[dict[str, object]] = []
    with_reference = True
    rates: dict[str, int] = {}
    for scene in pairs:
        files = [folder / f"{scene}_mix_CH{channel}.wav" for channel in (1, 2, 3)]
        missing = [path for path in files if not path.is_file()]
        for path in missing:
            problems.append(Problem(None, "audio", f"scene {scene}: no {path}"))
        if not missing:
            rates[scene] = audio_info(files[0]).sample_rate
        with_reference = with_reference and (folder / f"{scene}_reference.wav").is_file()
    for scene, listener in scene_listener_pairs(pairs):
        if listener not in listeners:
            problems.append(Problem(None, "listener", f"scene {scene}: listener {listener!r} is "
                                    "not in listeners.json"))
        row: dict[str, object] = {
            "id": f"{scene}_{listener}", "scene": scene, "listener": listener,
            "snr": snrs.get(scene, ""), "sample_rate": rates.get(scene, ""), "task": task,
            "split": split, "reference": relative_path(folder / f"{scene}_reference.wav", out)}
        for column, channel in zip(MICROPHONES, (1, 2, 3), strict=True):
            row[column] = relative_path(folder / f"{scene}_mix_CH{channel}.wav", out)
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(None, None, f"task {task} {split}: no scene-listener pairs"))
    if problems:
        raise ManifestError(f"{root} (task {task}, {split})", problems)
    if not with_reference:
        for row in rows:
            row.pop("reference")
    return rows, with_reference, listeners


def write_cec3_manifest(root: str | Path, task: int, split: str, out: str | Path) -> Cec3Manifest:
    """``OUT/manifest.csv`` + ``OUT/listeners.json`` for one task and split, ready for
    ``hltk amplify OUT/manifest.csv --backend nalr-compressor --preset cec3``."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, with_reference, listeners = cec3_rows(root, task, split, out)
    columns = [c for c in COLUMNS if with_reference or c != "reference"]
    manifest = out / "manifest.csv"
    write_manifest(manifest, rows, columns)
    with atomic_path(out / "listeners.json") as temporary:
        temporary.write_text(json.dumps(listeners, indent=2) + "\n", encoding="utf-8")
    rates = tuple(sorted({int(row["sample_rate"]) for row in rows  # type: ignore[call-overload]
                          if row["sample_rate"] != ""}))
    return Cec3Manifest(manifest, out / "listeners.json", len(rows),
                        len({row["scene"] for row in rows}), with_reference, rates)


# --- scoring ----------------------------------------------------------------------------------


def scene_seed(scene: str) -> int:
    """The recipe's ``set_scene_seed``: ``int(md5(scene), 16) % 10**8``."""
    return int(hashlib.md5(scene.encode("utf-8")).hexdigest(), 16) % (10**8)


def cec3_haspi(processed: np.ndarray, processed_rate: int, reference: np.ndarray,
               reference_rate: int, listener: Listener, seed: int) -> dict[str, float]:
    """Better-ear HASPI v2 as ``evaluate.py`` computes it: ``{"haspi_left", "haspi_right",
    "haspi"}``. ``processed``: ``(2, T)``; ``reference``: ``(2, T')`` or ``(1, T')`` (mono
    serves both ears). ``seed`` is set once, before the left ear. The recipe passes the
    processed signal as ``wavfile.read`` gives it (float32 for its float WAV output) and the
    reference as float64 (``int16 / 32768.0``); pyclarity's ear model keeps float32 in part of
    its computation, so the dtypes are part of the score (~1e-7): give them as the recipe does."""
    from clarity.evaluator.haspi import haspi_v2

    if processed.ndim != 2 or processed.shape[0] != 2:
        raise ValueError(f"the processed signal must be two-ear, got shape {processed.shape}")
    if reference.shape[0] == 1:
        reference = np.concatenate([reference, reference])
    np.random.seed(seed)
    scores = {}
    for channel, (ear, audiogram) in enumerate((("left", listener.left), ("right", listener.right))):
        score, _ = haspi_v2(reference=reference[channel], reference_sample_rate=reference_rate,
                            processed=processed[channel], processed_sample_rate=processed_rate,
                            audiogram=audiogram.to_clarity(), level1=LEVEL_DB_SPL)
        scores[f"haspi_{ear}"] = float(score)
    scores["haspi"] = max(scores["haspi_left"], scores["haspi_right"])
    return scores


def snr_report(scores: Any) -> Any:
    """``report_score.py``'s figures from a scores table with ``snr`` and ``haspi`` columns: one
    row per SNR bin (``(-12, -9]`` ... ``(3, 6]``; empty bins have n 0 and no means), then
    ``all`` (every scored pair, in a bin or not): columns ``snr_bin, n, snr, haspi``."""
    import pandas as pd

    table = scores[["snr", "haspi"]].apply(pd.to_numeric, errors="coerce").dropna(subset=["haspi"])
    bins = pd.cut(table["snr"], bins=list(SNR_BIN_EDGES))
    rows = []
    for interval, part in table.groupby(bins, observed=False):
        rows.append({"snr_bin": str(interval), "n": len(part),
                     "snr": part["snr"].mean() if len(part) else math.nan,
                     "haspi": part["haspi"].mean() if len(part) else math.nan})
    rows.append({"snr_bin": "all", "n": len(table), "snr": table["snr"].mean(),
                 "haspi": table["haspi"].mean()})
    return pd.DataFrame(rows, columns=["snr_bin", "n", "snr", "haspi"])


# --- submission -------------------------------------------------------------------------------


class PackageError(ValueError):
    """A submission that cannot be laid out (exit 2): every problem found, named."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:50]
        more = len(self.problems) - len(shown)
        super().__init__("\n".join(shown + ([f"... and {more} more"] if more > 0 else [])))


@dataclass(frozen=True)
class Package:
    """What :func:`package_submission` wrote."""

    folder: Path
    archive: Path | None
    files: int
    sample_rates: tuple[int, ...]
    extra: tuple[str, ...] = field(default_factory=tuple)


def expected_pairs(manifest: str | Path) -> list[tuple[str, str]]:
    """The (scene, listener) pairs of a ``hltk manifest cec3`` manifest, in its order."""
    path = Path(manifest)
    if not path.is_file():
        raise PackageError([f"no manifest at {path}"])
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"scene", "listener"} <= set(reader.fieldnames):
            raise PackageError([f"{path}: needs scene and listener columns (hltk manifest cec3)"])
        return [(row["scene"], row["listener"]) for row in reader]


def manifest_tasks(manifest: str | Path) -> list[str]:
    """The distinct values of a manifest's ``task`` column (none when it has no such column)."""
    with Path(manifest).open(newline="", encoding="utf-8-sig") as handle:
        return sorted({row["task"] for row in csv.DictReader(handle) if row.get("task")})


def produced_files(source: str | Path) -> dict[tuple[str, str], Path]:
    """The outputs of a run folder (its ``manifest.csv``: ``scene``, ``listener``, ``audio``),
    or the ``*_HA-output.wav`` files of a folder, by (scene, listener)."""
    source = Path(source)
    found: dict[tuple[str, str], Path] = {}
    run_manifest = source / "manifest.csv"
    if run_manifest.is_file():
        with run_manifest.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if row.get("scene") and row.get("listener") and row.get("audio"):
                    found[(row["scene"], row["listener"])] = source / row["audio"]
        return found
    for path in sorted(source.glob("*_HA-output.wav")):
        scene, _, listener = path.name[: -len("_HA-output.wav")].partition("_")
        found[(scene, listener)] = path
    return found


def _check_output(path: Path) -> str | None:
    """What is wrong with a file to submit (None: a two-channel 16-bit WAV)."""
    if not path.is_file():
        return f"missing: {path}"
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises several types (LibsndfileError, RuntimeError)
        return f"not readable audio: {path} ({error})"
    if info.format != "WAV" or info.subtype != "PCM_16":
        return f"not a 16-bit WAV ({info.format} {info.subtype}): {path}"
    if info.channels != 2:
        return f"{info.channels} channels, not 2 (left, right): {path}"
    return None


def _tar_info(name: str, size: int, directory: bool = False) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mtime, entry.uid, entry.gid = size, 0, 0, 0
    entry.uname = entry.gname = ""
    entry.mode = 0o755 if directory else 0o644
    if directory:
        entry.type = tarfile.DIRTYPE
    return entry


def _archive(folder: Path, team: str, target: Path, kind: str) -> None:
    """``target`` holding ``team/`` and its files (sorted, fixed times: byte-reproducible)."""
    files = sorted(folder.iterdir())
    with atomic_path(target) as temporary:
        if kind == "zip":
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(zipfile.ZipInfo(f"{team}/", (1980, 1, 1, 0, 0, 0)), b"")
                for path in files:
                    archive.writestr(zipfile.ZipInfo(f"{team}/{path.name}", (1980, 1, 1, 0, 0, 0)),
                                     path.read_bytes(), zipfile.ZIP_DEFLATED)
        else:
            import gzip

            with open(temporary, "wb") as raw, \
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped, \
                    tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
                archive.addfile(_tar_info(team, 0, directory=True))
                for path in files:
                    data = path.read_bytes()
                    archive.addfile(_tar_info(f"{team}/{path.name}", len(data)), io.BytesIO(data))


def package_submission(source: str | Path, manifest: str | Path, out: str | Path, *, team: str,
                       task: int, archive: str = "tar.gz", overwrite: bool = False) -> Package:
    """Lay out one task's submission: ``OUT/{TEAM}_task{N}/{TEAM}/{scene}_{listener}_HA-output.wav``
    for every pair of ``manifest`` (from ``source``: a run folder or a folder of outputs) and
    the archive ``OUT/{TEAM}_task{N}.{tar.gz|zip}`` with ``{TEAM}/`` at its root.

    Raises :class:`PackageError` before writing anything, naming every expected pair without
    a file and every file that is not a two-channel 16-bit WAV."""
    if not TEAM_ID.match(team):
        raise PackageError([f"--team {team!r}: the team ID the organisers sent, e.g. E001"])
    if task not in TASKS:
        raise PackageError([f"--task {task}: CEC3 has tasks 1, 2 and 3"])
    if archive not in ARCHIVES:
        raise PackageError([f"--archive {archive!r}: choose one of {', '.join(ARCHIVES)}"])
    pairs = expected_pairs(manifest)
    produced = produced_files(source)
    problems = [f"{manifest} is task {other}, not task {task}" for other in manifest_tasks(manifest)
                if other != str(task)]
    for scene, listener in pairs:
        path = produced.get((scene, listener))
        if path is None:
            problems.append(f"missing: no output for scene {scene}, listener {listener} "
                            f"({OUTPUT_NAME.format(scene=scene, listener=listener)}) in {source}")
            continue
        problem = _check_output(path)
        if problem is not None:
            problems.append(problem)
    if not pairs:
        problems.append(f"{manifest}: no scene-listener pairs")
    out = Path(out)
    stem = f"{team}_task{task}"
    folder = out / stem / team
    target = out / f"{stem}.{archive}" if archive != "none" else None
    if not overwrite and (folder.exists() and any(folder.iterdir())
                          or (target is not None and target.exists())):
        problems.append(f"{folder} or its archive exists: give --overwrite to replace them")
    if problems:
        raise PackageError(problems)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rates = set()
    for scene, listener in pairs:
        source_path = produced[(scene, listener)]
        with atomic_path(folder / OUTPUT_NAME.format(scene=scene, listener=listener)) as temporary:
            shutil.copyfile(source_path, temporary)
        rates.add(audio_info(source_path).sample_rate)
    expected = set(pairs)
    extra = tuple(sorted(f"{scene}_{listener}" for scene, listener in produced
                         if (scene, listener) not in expected))
    if target is not None:
        _archive(folder, team, target, archive)
    return Package(folder, target, len(pairs), tuple(sorted(rates)), extra)
