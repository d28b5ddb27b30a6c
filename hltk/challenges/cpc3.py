"""CPC3 (the 3rd Clarity Prediction Challenge) metadata -> an ``hltk evaluate`` manifest.

The layout (``ROOT`` = ``clarity_CPC3_data``, the recipe's ``clarity_data_root``; the dataset
folder ``clarity_data`` — ``clarity_demo_data`` for the demo, ``--dataset`` — or the dataset
folder itself may be given)::

    <dataset>/metadata/CPC3.<split>.json      [{signal, correctness (0-100, train), ...}]
                                              the dev records carry ``hearing_loss`` instead
    <dataset>/metadata/listeners.csv          listener_id, severity (no audiograms)
    <dataset>/<split>/signals/<signal>.wav    the hearing-aid outputs
    <dataset>/<split>/references/<ref>.wav    the references

As ``recipes/cpc3/baseline/compute_haspi.py`` (``compute_haspi_for_signal``): a train signal is
named ``<cec>_<system>_<scene>_<listener>`` (``CEC2_E032_S09318_L0254``), its severity comes from
``listeners.csv`` and its reference is ``<cec>_<scene>_ref.wav``; a dev record names its severity
in ``hearing_loss`` and its reference is ``<signal>_ref.wav``. The listener is given the
recipe's fixed audiogram for that severity (:data:`SEVERITY_AUDIOGRAMS`, the same at both
ears). ``system`` is ``<cec>_<system>`` as ``predict_train.py`` forms it for the disjoint fit.

Rows: ``id`` = signal, ``audio``, ``reference``, ``listener`` (the listener id; for dev records,
which have none, the severity), ``hearing_loss`` (severity), ``scene``, ``system``, ``split``,
``correctness``; ``listeners.json`` holds one entry per listener named in the manifest.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from hltk.challenges.layout import (
    ChallengeManifest,
    check_files,
    find_data_root,
    write_challenge_manifest,
)
from hltk.io.listeners import Audiogram, Listener
from hltk.io.manifest import ManifestError, Problem, load_metadata
from hltk.io.paths import relative_path

CHALLENGE = "CPC3"
SPLITS: tuple[str, ...] = ("train", "dev", "eval")
COLUMNS: tuple[str, ...] = ("id", "audio", "reference", "listener", "hearing_loss", "scene",
                            "system", "split", "correctness")
AUDIOGRAM_FREQUENCIES: tuple[float, ...] = (250, 500, 1000, 2000, 3000, 4000, 6000, 8000)
#: the recipe's per-severity audiograms (``MILD_LISTENER``, ``MOD_LISTENER``,
#: ``MOD_SEV_LISTENER`` of compute_haspi.py; dB HL at :data:`AUDIOGRAM_FREQUENCIES`, both ears)
SEVERITY_AUDIOGRAMS: dict[str, tuple[float, ...]] = {
    "Mild": (10, 15, 19, 25, 28, 31, 35, 38),
    "Moderate": (20, 20, 25, 35, 40, 45, 50, 55),
    "Moderately severe": (19, 28, 40, 52, 56, 58, 58, 63),
}


def severity_listener(listener_id: str, severity: str) -> Listener:
    """A listener with the recipe's audiogram for ``severity`` at both ears."""
    if severity not in SEVERITY_AUDIOGRAMS:
        raise ValueError(f"unknown severity {severity!r}; the recipe knows "
                         f"{', '.join(SEVERITY_AUDIOGRAMS)}")
    audiogram = Audiogram(AUDIOGRAM_FREQUENCIES, SEVERITY_AUDIOGRAMS[severity])
    return Listener(listener_id, audiogram, audiogram)


def parse_signal(signal: str) -> dict[str, str]:
    """``CEC2_E032_S09318_L0254`` -> cec, system, scene, listener; ValueError when malformed."""
    parts = signal.split("_")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"not a CPC3 training signal name (<cec>_<system>_<scene>_<listener>): "
                         f"{signal!r}")
    cec, system, scene, listener = parts
    return {"cec": cec, "system": system, "scene": scene, "listener": listener}


def _severities(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["listener_id"]: row["severity"] for row in csv.DictReader(handle)}


def cpc3_rows(root: str | Path, split: str, out: str | Path,
              dataset: str = "clarity_data") -> tuple[list[dict[str, Any]], list[Listener]]:
    """Manifest rows of ``CPC3.<split>.json`` (paths relative to ``out``) and their listeners.
    Raises :class:`ManifestError` naming every missing file, listener or severity."""
    data = find_data_root(Path(root), dataset)
    out = Path(out)
    records = load_metadata(data / "metadata" / f"CPC3.{split}.json", f"{CHALLENGE} metadata file")
    severities = _severities(data / "metadata" / "listeners.csv")
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    listeners: dict[str, Listener] = {}
    for number, record in enumerate(records, start=1):
        signal = str(record.get("signal", ""))
        if "hearing_loss" in record:  # dev: severity in the record, one reference per signal
            severity = str(record["hearing_loss"])
            listener_id, reference = severity, f"{signal}_ref"
            fields = {"scene": str(record.get("scene", "")), "system": str(record.get("system", ""))}
        else:
            try:
                parts = parse_signal(signal)
            except ValueError as error:
                problems.append(Problem(number, "signal", str(error)))
                continue
            listener_id = parts["listener"]
            if listener_id not in severities:
                problems.append(Problem(number, "listener", f"{signal}: listener {listener_id!r} "
                                        "is not in listeners.csv"))
                continue
            severity = severities[listener_id]
            reference = f"{parts['cec']}_{parts['scene']}_ref"
            fields = {"scene": parts["scene"], "system": f"{parts['cec']}_{parts['system']}"}
        try:
            listeners.setdefault(listener_id, severity_listener(listener_id, severity))
        except ValueError as error:
            problems.append(Problem(number, "hearing_loss", f"{signal}: {error}"))
            continue
        rows.append({
            "id": signal,
            "audio": relative_path(data / split / "signals" / f"{signal}.wav", out),
            "reference": relative_path(data / split / "references" / f"{reference}.wav", out),
            "listener": listener_id, "hearing_loss": severity, **fields, "split": split,
            "correctness": record.get("correctness"),
        })
    check_files(rows, out, problems)
    if not rows and not problems:
        problems.append(Problem(None, None, f"{split}: no records"))
    if problems:
        raise ManifestError(f"{root} ({split})", problems)
    return rows, list(listeners.values())


def write_cpc3_manifest(root: str | Path, split: str, out: str | Path,
                        dataset: str = "clarity_data") -> ChallengeManifest:
    """``OUT/manifest.csv`` + ``OUT/listeners.json`` (the per-severity audiograms)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, listeners = cpc3_rows(root, split, out, dataset)
    return write_challenge_manifest(out, rows, COLUMNS, split, listeners,
                                    {"severities": sorted({str(r["hearing_loss"]) for r in rows})})
