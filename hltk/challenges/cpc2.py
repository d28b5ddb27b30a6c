"""CPC2 (the 2nd Clarity Prediction Challenge) metadata -> an ``hltk evaluate`` manifest.

The layout (``ROOT`` = ``clarity_CPC2_data``, as ``recipes/cpc2/baseline/config.yaml`` and the
challenge's data page give it; ``ROOT/clarity_data`` may be given instead)::

    clarity_data/metadata/CEC{1,2}.<split>.json    [{signal, scene, listener, system,
                                                     correctness (0-100, train only), ...}]
    clarity_data/metadata/listeners.json           Clarity listeners (audiograms)
    clarity_data/HA_outputs/<split>/CEC{1,2}/<signal>.wav   the hearing-aid outputs
    clarity_data/HA_outputs/signals/CEC{1,2}/<signal>.wav   (the demo package keeps them here)
    clarity_data/scenes/CEC{1,2}/<scene>_target_ref.wav     the reference

The training data come in three partitions ``train.1``, ``train.2``, ``train.3``, each paired
with a disjoint evaluation partition (unseen listeners and systems): one model per partition.
Signal names are ``<scene>_<listener>_<system>`` (``S0001_L0001_E001_hr``: the system may
contain ``_``); scene and listener are read from the name as ``compute_haspi.py``'s
``parse_cec2_signal_name`` does. One row per record, in the files' order (CEC1 then CEC2):
``id`` = signal, ``audio``, ``reference``, ``listener``, ``scene``, ``system``, ``cec``,
``split``, ``correctness`` (when every record has one). ``compute_haspi.py`` scores with
``haspi_v2_be`` at its default level (100 dB SPL) — ``hltk evaluate``'s default HASPI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hltk.challenges.layout import (
    ChallengeManifest,
    check_files,
    find_data_root,
    write_challenge_manifest,
)
from hltk.io.listeners import ListenerError, load_listeners
from hltk.io.manifest import ManifestError, Problem, load_metadata
from hltk.io.paths import relative_path

CHALLENGE = "CPC2"
ENHANCEMENT_CHALLENGES: tuple[str, ...] = ("CEC1", "CEC2")
COLUMNS: tuple[str, ...] = ("id", "audio", "reference", "listener", "scene", "system", "cec",
                            "split", "correctness")


def parse_signal(signal: str) -> tuple[str, str, str]:
    """``S0001_L0001_E001_hr`` -> (scene, listener, system); ValueError when malformed."""
    scene, listener, *system = signal.split("_")
    if not scene or not listener or not system:
        raise ValueError(f"not a CPC2 signal name (<scene>_<listener>_<system>): {signal!r}")
    return scene, listener, "_".join(system)


def _signal_path(data: Path, split: str, cec: str, signal: str) -> Path:
    for folder in (data / "HA_outputs" / split / cec, data / "HA_outputs" / "signals" / cec):
        if (folder / f"{signal}.wav").is_file():
            return folder / f"{signal}.wav"
    return data / "HA_outputs" / split / cec / f"{signal}.wav"


def cpc2_rows(root: str | Path, split: str, out: str | Path,
              challenges: tuple[str, ...] = ENHANCEMENT_CHALLENGES) -> list[dict[str, Any]]:
    """Manifest rows of ``CEC{1,2}.<split>.json`` with paths relative to ``out``. Raises
    :class:`ManifestError` naming every missing file, listener or malformed signal."""
    data = find_data_root(Path(root), "clarity_data")
    out = Path(out)
    metadata = data / "metadata"
    files = {cec: metadata / f"{cec}.{split}.json" for cec in challenges
             if (metadata / f"{cec}.{split}.json").is_file()}
    if not files:
        known = sorted(p.name for p in metadata.glob("CEC*.json"))
        raise ManifestError(str(metadata), [Problem(None, None, f"no {' or '.join(challenges)}."
                                                    f"{split}.json (found: {', '.join(known) or 'none'})")])
    try:
        listeners = load_listeners(metadata / "listeners.json")
    except ListenerError as error:
        raise ManifestError("listeners.json", [Problem(None, "listener", str(error))]) from None
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    for cec, path in files.items():
        records = load_metadata(path, f"{CHALLENGE} metadata file")
        for number, record in enumerate(records, start=1):
            signal = str(record.get("signal", ""))
            try:
                scene, listener, system = parse_signal(signal)
            except ValueError as error:
                problems.append(Problem(number, "signal", f"{path.name}: {error}"))
                continue
            listener = str(record.get("listener", listener))
            if listener not in listeners:
                problems.append(Problem(number, "listener", f"{signal}: listener {listener!r} is "
                                        "not in listeners.json"))
            rows.append({
                "id": signal,
                "audio": relative_path(_signal_path(data, split, cec, signal), out),
                "reference": relative_path(data / "scenes" / cec / f"{scene}_target_ref.wav", out),
                "listener": listener, "scene": str(record.get("scene", scene)),
                "system": str(record.get("system", system)), "cec": cec, "split": split,
                "correctness": record.get("correctness"),
            })
    check_files(rows, out, problems)
    if not rows and not problems:
        problems.append(Problem(None, None, f"{split}: no records"))
    if problems:
        raise ManifestError(f"{root} ({split})", problems)
    return rows


def write_cpc2_manifest(root: str | Path, split: str, out: str | Path,
                        challenges: tuple[str, ...] = ENHANCEMENT_CHALLENGES) -> ChallengeManifest:
    """``OUT/manifest.csv`` + ``OUT/listeners.json`` (a copy of the challenge's)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = cpc2_rows(root, split, out, challenges)
    data = find_data_root(Path(root), "clarity_data")
    return write_challenge_manifest(out, rows, COLUMNS, split, data / "metadata" / "listeners.json",
                                    {"challenges": sorted({str(r["cec"]) for r in rows})})
