"""CLIP (Cadenza lyric intelligibility prediction, CLIP1 / CLIP2) metadata -> a manifest.

The layout (``ROOT`` = ``cadenza_data``, ``cadenza_data/clip2``, or the folder above ``cadenza_data``
— the CLIP1 recipe's ``cadenza_data_root``)::

    metadata/<split>_metadata.json        [{signal, prompt, hearing_loss, n_words,
                                            correctness (train only), ...}]
    <split>/signals/<signal>.flac          audio (1): what the listeners heard
    <split>/unprocessed/<signal>_unproc.flac   audio (2): without the hearing-loss simulation

The challenge pages and CLIP2's ``clip_dataset.py`` put the split folders at the root; CLIP1's
recipe code (``recipes/cad_icassp_2026/baseline/shared_predict_utils.py``, ``load_mixture``)
reads ``ROOT/audio/<split>/...``: both are accepted (``audio/`` first, as the code).

The listeners of CLIP had normal hearing; the loss (``hearing_loss``: No Loss, Mild, Moderate) is
simulated in audio (1). Every row's listener is therefore ``NH`` (0 dB HL, a standard name
``hltk evaluate`` resolves without a listeners file), the severity kept in ``hearing_loss``.
The reference is audio (2); the CLIP1 STOI baseline separates its vocals first (Hybrid Demucs)
— hltk scores against the unprocessed mixture unless the manifest's ``reference`` is replaced.

Correctness: the leaderboards and the CLIP1 baseline's logistic work in percent (0-100); CLIP2's
``clip_dataset.py`` documents the metadata's ``correctness`` in [0, 1]. When every value of a
split lies in [0, 1] it is multiplied by 100 (the summary says so: ``correctness_scale``).
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
from hltk.io.manifest import ManifestError, Problem, load_metadata
from hltk.io.paths import relative_path

CHALLENGE = "CLIP"
SPLITS: tuple[str, ...] = ("train", "valid", "eval")
COLUMNS: tuple[str, ...] = ("id", "audio", "reference", "listener", "hearing_loss", "n_words",
                            "prompt", "split", "correctness")
LISTENER = "NH"


def audio_root(data: Path, split: str) -> Path:
    """``ROOT/audio/<split>`` when it exists (CLIP1's recipe code), else ``ROOT/<split>``."""
    coded = data / "audio" / split
    return coded if coded.is_dir() else data / split


def clip_rows(root: str | Path, split: str, out: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Manifest rows of ``<split>_metadata.json`` (paths relative to ``out``) and the scale
    the correctness was multiplied by (1 or 100)."""
    data = find_data_root(Path(root), "cadenza_data", "clip2", "cadenza_data/clip2")
    out = Path(out)
    records = load_metadata(data / "metadata" / f"{split}_metadata.json", f"{CHALLENGE} metadata file")
    folder = audio_root(data, split)
    values = [r["correctness"] for r in records if r.get("correctness") is not None]
    scale = 100 if values and all(0.0 <= float(v) <= 1.0 for v in values) else 1
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    for number, record in enumerate(records, start=1):
        signal = str(record.get("signal", ""))
        if not signal:
            problems.append(Problem(number, "signal", "record without a signal"))
            continue
        correctness = record.get("correctness")
        rows.append({
            "id": signal,
            "audio": relative_path(folder / "signals" / f"{signal}.flac", out),
            "reference": relative_path(folder / "unprocessed" / f"{signal}_unproc.flac", out),
            "listener": LISTENER, "hearing_loss": str(record.get("hearing_loss", "")),
            "n_words": record.get("n_words"), "prompt": record.get("prompt"), "split": split,
            "correctness": None if correctness is None else float(correctness) * scale,
        })
    check_files(rows, out, problems)
    if not rows and not problems:
        problems.append(Problem(None, None, f"{split}: no records"))
    if problems:
        raise ManifestError(f"{root} ({split})", problems)
    return rows, scale


def write_clip_manifest(root: str | Path, split: str, out: str | Path) -> ChallengeManifest:
    """``OUT/manifest.csv`` (no listeners file: every listener is the standard ``NH``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, scale = clip_rows(root, split, out)
    return write_challenge_manifest(out, rows, COLUMNS, split, None,
                                    {"correctness_scale": scale})
