"""``hltk remix``: the Cadenza ICASSP 2024 demix -> gains -> remix -> NAL-R chain over a manifest.

Manifest: ``id``, ``audio`` (the mixture, stereo, resampled to 44.1 kHz if needed), a listener
(``listener`` + listeners.json, or ``hl_*`` columns), the stems ``vocals, drums, bass, other``
for ``--separator oracle`` (``--separator hdemucs --checkpoint PATH`` separates the mixture
with Hybrid Demucs instead, :mod:`hltk.remix.separators`), and gains (``gain_<stem>``
columns, or a ``gain`` column naming an entry of ``gains.json``: ``--gains``, else
``gains.json`` beside the manifest; see :mod:`hltk.remix.gains`). Output: 16-bit 32 kHz FLAC per item, named
``{scene}_{listener}_remix.flac`` when the manifest has ``scene`` and ``listener`` columns
(Cadenza's name), else ``{id}.flac``; records as every runner command (ledger, failures.csv,
manifest.csv, run.json), plus ``OUT/gains.json`` (the gains table used), so the output
manifest scores directly with ``hltk evaluate OUT/manifest.csv --preset cadenza-icassp2024``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hltk import registry
from hltk.io.manifest import Manifest, ManifestError, Problem, load_manifest
from hltk.remix.cadenza import CadenzaManifest, write_cadenza_manifest
from hltk.remix.chain import MODEL_SAMPLE_RATE, NALR_NFIR, STEMS
from hltk.remix.gains import GainsError, GainTable, load_gains, row_gains
from hltk.remix.hdemucs import CheckpointError
from hltk.remix.processor import RemixProcessor
from hltk.remix.separators import MISSING_CHECKPOINT
from hltk.remix.separators import TASK as SEPARATE
from hltk.runner import RunError, RunSettings, RunSummary, resolve_device, run_processor

TASK = "remix"
CADENZA_FILENAME = "{scene}_{listener}_remix.{ext}"
PLAIN_FILENAME = "{id}.{ext}"
DEFAULT_AUDIO_FORMAT = "flac16"


def default_filename(columns: Sequence[str]) -> str:
    """Cadenza's ``{scene}_{listener}_remix`` when both columns exist, else ``{id}``."""
    return CADENZA_FILENAME if "scene" in columns and "listener" in columns else PLAIN_FILENAME


def load_remix_manifest(path: str | Path, separator: str, *, root: str | Path | None = None,
                        listeners_path: str | Path | None = None) -> Manifest:
    """A remix manifest; the oracle separator needs the four stem columns."""
    required = ("id", "audio", *STEMS) if separator == "oracle" else ("id", "audio")
    audio_columns = ("audio", *STEMS) if separator == "oracle" else ("audio",)
    return load_manifest(path, root=root, listeners_path=listeners_path, required_columns=required,
                         audio_columns=audio_columns, require_listener=True, check_audio="header")


def find_gains(manifest: Manifest, gains_path: str | Path | None) -> tuple[GainTable | None, Path | None]:
    """The gains table: ``--gains``, else ``gains.json`` beside the manifest (if any)."""
    if gains_path is None:
        beside = manifest.path.parent / "gains.json"
        if "gain" not in manifest.columns or not beside.exists():
            return None, None
        gains_path = beside
    try:
        return load_gains(gains_path), Path(gains_path)
    except GainsError as error:
        raise RunError(str(error)) from None


def check_gains(manifest: Manifest, table: GainTable | None) -> None:
    """Every row's gains resolve (else :class:`ManifestError` before any work)."""
    problems = []
    for item in manifest.items:
        try:
            row_gains(item.row, table)
        except GainsError as error:
            problems.append(Problem(item.line, "gain", str(error)))
    if problems:
        raise ManifestError(manifest.path.name, problems)


def remix(
    manifest_path: str | Path,
    settings: RunSettings,
    *,
    separator: str = "oracle",
    checkpoint: str | Path | None = None,
    gains_path: str | Path | None = None,
    compressor: bool = False,
    separator_options: dict[str, Any] | None = None,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> RunSummary:
    """Remix every (selected) item for its listener. ``settings.filename`` empty: the default
    name (:func:`default_filename`). ``checkpoint``: the weights file of ``hdemucs``;
    ``separator_options``: other options the separator declares (:mod:`hltk.registry`)."""
    if separator not in registry.names(SEPARATE):
        raise RunError(f"--separator {separator!r}: choose one of "
                       f"{', '.join(registry.names(SEPARATE))}")
    if separator == "hdemucs" and checkpoint is None:
        raise RunError(MISSING_CHECKPOINT)
    others = registry.check_options(SEPARATE, separator,
                                    {**(separator_options or {}), "checkpoint": checkpoint},
                                    backend_flag="--separator")
    others.pop("checkpoint", None)
    if settings.ear != "both":
        raise RunError("remix processes both ears (--ear both)")
    manifest = load_remix_manifest(manifest_path, separator, root=root, listeners_path=listeners_path)
    table, gains_file = find_gains(manifest, gains_path)
    check_gains(manifest, table)
    if not settings.filename:
        settings = dataclasses.replace(settings, filename=default_filename(manifest.columns))
    try:
        processor = RemixProcessor(separator, gains=table, compressor=compressor,
                                   device=str(resolve_device(settings.device)),
                                   checkpoint=checkpoint, separator_options=others)
    except CheckpointError as error:
        raise RunError(f"--checkpoint: {error}") from None
    options = {"separator": separator, "compressor": compressor,
               "checkpoint": str(checkpoint) if checkpoint is not None else None,
               "gains": str(gains_file) if gains_file else None,
               "gains_table": table, **others}
    return run_processor(
        manifest, processor, settings, task=TASK, backend=processor.name, backend_options=options,
        calibration={"remix": "Cadenza ICASSP 2024: stems to own LUFS + gain, sum, match the "
                     f"mixture's integrated LUFS, NAL-R nfir {NALR_NFIR} per ear at "
                     f"{MODEL_SAMPLE_RATE} Hz (full convolution), {processor.output_sample_rate} Hz"},
        command=command, progress=progress,
        # beside OUT/manifest.csv, so `hltk evaluate OUT/manifest.csv --preset ...` finds it
        side_files={"gains.json": table} if table is not None else None,
    )


def cadenza_manifest(root: str | Path, split: str, out: str | Path) -> CadenzaManifest:
    """``hltk manifest cadenza``: a Cadenza ICASSP 2024 split as ``OUT/manifest.csv`` with
    ``listeners.json`` and ``gains.json`` beside it (:mod:`hltk.remix.cadenza`)."""
    return write_cadenza_manifest(root, split, out)
