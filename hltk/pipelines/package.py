"""``hltk package``: lay out a challenge submission from a run's outputs.

CEC3 (:func:`hltk.challenges.cec3.package_submission`): the submission page asks for
``<Scene ID>_<Listener ID>_HA-output.wav`` 16-bit WAV files (0 dBFS = 100 dB SPL) in a folder
named for the team ID, packaged per task as ``<TEAM_ID>_task<N>`` with the folder at the
archive's root. Every expected pair (the manifest of ``hltk manifest cec3``, by default the
one the run was made from, recorded in its ``run.json``) must have its file.
"""

from __future__ import annotations

import json
from pathlib import Path

from hltk.challenges.cec3 import Package, PackageError, package_submission

CHALLENGES: tuple[str, ...] = ("cec3",)


def run_manifest(source: Path) -> Path | None:
    """The manifest a run folder was made from (its ``run.json``'s ``manifest``), if any."""
    record = source / "run.json"
    if not record.is_file():
        return None
    try:
        recorded = json.loads(record.read_text(encoding="utf-8")).get("manifest")
    except (json.JSONDecodeError, AttributeError):
        return None
    return Path(recorded) if recorded else None


def package(source: str | Path, out: str | Path, *, team: str, task: int,
            manifest: str | Path | None = None, challenge: str = "cec3",
            archive: str = "tar.gz", overwrite: bool = False) -> Package:
    """One task's submission folder and archive under ``out`` (:class:`PackageError`, exit 2,
    names every missing or malformed file before anything is written)."""
    if challenge not in CHALLENGES:
        raise PackageError([f"--challenge {challenge!r}: choose one of {', '.join(CHALLENGES)}"])
    source = Path(source)
    if not source.is_dir():
        raise PackageError([f"--from {source}: not a folder"])
    expected = Path(manifest) if manifest is not None else run_manifest(source)
    if expected is None:
        raise PackageError([f"{source} has no run.json naming its manifest: give --manifest "
                            "(the manifest.csv of `hltk manifest cec3`)"])
    return package_submission(source, expected, out, team=team, task=task, archive=archive,
                              overwrite=overwrite)
