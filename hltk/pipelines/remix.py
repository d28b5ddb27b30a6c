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

``chain="cad2-task2"`` / ``"cad2-task1"``: the CAD2 recipes (:mod:`hltk.remix.cad2` makes
their manifests): each row's own stems (``stems`` column, ``stem_<name>`` paths), the
listener's multiband compressor from ``compressor_params.json`` (``--compressor-params``,
else beside the manifest), 16-bit FLAC at 32 kHz (task 2) or 44.1 kHz (task 1) named as the
recipes name them. Only the oracle separator runs them here: the recipes' ConvTasNet
separators are weights on a model hub that hltk does not ship.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hltk import registry
from hltk.io.manifest import STEM_PREFIX, Manifest, ManifestError, Problem, load_manifest
from hltk.remix.cad2 import (
    COMPRESSOR_PARAMS,
    TASK1_FILENAME,
    TASK2_FILENAME,
    Cad2Manifest,
    stem_column,
    write_cad2_manifest,
)
from hltk.remix.cadenza import CadenzaManifest, write_cadenza_manifest
from hltk.remix.chain import MODEL_SAMPLE_RATE, NALR_NFIR, STEMS, CompressorParams
from hltk.remix.gains import GainsError, GainTable, load_gains, row_gains
from hltk.remix.hdemucs import CheckpointError
from hltk.remix.processor import (
    ACCOMPANIMENT,
    CAD2_TASK1,
    CAD2_TASK2,
    CADENZA_ICASSP2024,
    CHAINS,
    RemixProcessor,
    row_stem_names,
)
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


#: ``--gains predictor``: the gains come from the gain predictor (:mod:`hltk.remix.gain_predictor`)
PREDICTOR = "predictor"
#: the output manifest's columns of the gains the predictor chose (``gain_<stem>`` columns
#: would change the scoring reference, which keeps the requested gains)
PREDICTED_PREFIX = "predicted_gain_"
#: separators that read the manifest's true stems
STEM_SEPARATORS: tuple[str, ...] = ("oracle", "leaky-oracle")


def load_remix_manifest(path: str | Path, separator: str, *, root: str | Path | None = None,
                        listeners_path: str | Path | None = None) -> Manifest:
    """A remix manifest; the oracle separators need the four stem columns."""
    needs_stems = separator in STEM_SEPARATORS
    required = ("id", "audio", *STEMS) if needs_stems else ("id", "audio")
    audio_columns = ("audio", *STEMS) if needs_stems else ("audio",)
    return load_manifest(path, root=root, listeners_path=listeners_path, required_columns=required,
                         audio_columns=audio_columns, require_listener=True, check_audio="header")


def find_gains(manifest: Manifest, gains_path: str | Path | None, *, any_stems: bool = False
               ) -> tuple[GainTable | None, Path | None]:
    """The gains table: ``--gains``, else ``gains.json`` beside the manifest (if any);
    ``any_stems``: entries may name any stems (CAD2), not only the MUSDB four."""
    if gains_path is None:
        beside = manifest.path.parent / "gains.json"
        if "gain" not in manifest.columns or not beside.exists():
            return None, None
        gains_path = beside
    try:
        return load_gains(gains_path, None if any_stems else STEMS), Path(gains_path)
    except GainsError as error:
        raise RunError(str(error)) from None


def check_gains(manifest: Manifest, table: GainTable | None, *, per_row_stems: bool = False) -> None:
    """Every row's gains resolve (else :class:`ManifestError` before any work)."""
    problems = []
    for item in manifest.items:
        try:
            row_gains(item.row, table, row_stem_names(item.row) if per_row_stems else STEMS)
        except GainsError as error:
            problems.append(Problem(item.line, "gain", str(error)))
    if problems:
        raise ManifestError(manifest.path.name, problems)


def load_compressor_params(manifest: Manifest, path: str | Path | None
                           ) -> tuple[dict[str, CompressorParams], Path]:
    """CAD2 ``compressor_params`` of the manifest's listeners: ``path``, else
    ``compressor_params.json`` beside the manifest; every listener's entry checked."""
    source = Path(path) if path is not None else manifest.path.parent / COMPRESSOR_PARAMS
    try:
        content = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RunError(f"CAD2 chains need the listeners' compressor parameters "
                       f"(--compressor-params, or {COMPRESSOR_PARAMS} beside the manifest): {error}"
                       ) from None
    params, problems = {}, []
    for item in manifest.items:
        listener = item.listener.id if item.listener is not None else ""
        if listener in params:
            continue
        try:
            params[listener] = CompressorParams.from_json(content[listener])
        except KeyError:
            problems.append(Problem(item.line, "listener", f"listener {listener!r} is not in {source}"))
        except ValueError as error:
            problems.append(Problem(item.line, "listener", f"{source}: {listener}: {error}"))
    if problems:
        raise ManifestError(manifest.path.name, problems)
    return params, source


def cad2_stem_paths(manifest: Manifest, chain: str) -> dict[str, dict[str, str]]:
    """Each row's stem files (task 2: its ``stems``; task 1: vocals, bass, drums, other);
    a row that names a stem without its audio column is refused."""
    paths, problems = {}, []
    for item in manifest.items:
        names = row_stem_names(item.row) if chain == CAD2_TASK2 else ("vocals", *ACCOMPANIMENT)
        row = {}
        for name in names:
            column = stem_column(name)
            if column not in item.paths:
                problems.append(Problem(item.line, column, f"stem {name!r} has no audio path"))
            else:
                row[name] = str(item.paths[column])
        paths[item.id] = row
    if problems:
        raise ManifestError(manifest.path.name, problems)
    return paths


def with_predicted_gains(manifest: Manifest, table: GainTable | None,
                         checkpoint: str | Path | None) -> tuple[Manifest, dict[str, Any]]:
    """The manifest with ``predicted_gain_<stem>`` columns: the gain predictor's gains for
    each row's listener and requested gains (:func:`hltk.remix.gains.row_gains`), and a
    record of the checkpoint used."""
    from hltk.nn.checkpoint import CheckpointError as BadCheckpoint
    from hltk.remix.gain_predictor import DEFAULT_CHECKPOINT, load_predictor, predict_gains

    path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
    try:
        model, content = load_predictor(path)
    except BadCheckpoint as error:
        raise RunError(f"--gains-checkpoint: {error}") from None
    items = list(manifest.items)
    listeners = [item.listener for item in items]
    if any(listener is None for item, listener in zip(items, listeners, strict=True)):
        raise RunError("--gains predictor needs each row's listener")
    requested = [row_gains(item.row, table) for item in items]
    predicted = predict_gains(model, [lis for lis in listeners if lis is not None], requested)
    new_items = tuple(dataclasses.replace(item, row={**item.row, **{
        f"{PREDICTED_PREFIX}{stem}": f"{gains[stem]:g}" for stem in STEMS}})
        for item, gains in zip(items, predicted, strict=True))
    columns = tuple(dict.fromkeys((*manifest.columns, *(f"{PREDICTED_PREFIX}{s}" for s in STEMS))))
    record = {"checkpoint": str(path), "checkpoint_sha256": _sha256(path),
              "model": content.get("model"), "config": content.get("config")}
    return dataclasses.replace(manifest, items=new_items, columns=columns), record


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def header(path: str | Path) -> list[str]:
    """A manifest's column names ([] when unreadable: :func:`load_manifest` says why)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            return [column.strip() for column in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def load_cad2_manifest(path: str | Path, chain: str, *, root: str | Path | None = None,
                       listeners_path: str | Path | None = None, skip_invalid: bool = False
                       ) -> Manifest:
    """A CAD2 remix manifest: ``id, audio`` and, for task 2, ``stems`` (+ ``stem_<name>``
    audio, checked here), for task 1 ``alpha`` and the four MUSDB stems."""
    required = ("id", "audio", "stems") if chain == CAD2_TASK2 else ("id", "audio", "alpha", *STEMS)
    return load_stems_manifest(path, required, root=root, listeners_path=listeners_path,
                               skip_invalid=skip_invalid)


def load_stems_manifest(path: str | Path, required: Sequence[str], *, root: str | Path | None = None,
                        listeners_path: str | Path | None = None, skip_invalid: bool = False
                        ) -> Manifest:
    """A remix manifest whose stem columns (``stem_<name>`` and the MUSDB four) are all
    checked as audio; the rows' ``stems`` say which each row uses."""
    stem_columns = [c for c in header(path) if c.startswith(STEM_PREFIX) or c in STEMS]
    mixture = ("input",) if "input" in required else ()
    return load_manifest(path, root=root, listeners_path=listeners_path, required_columns=required,
                         audio_columns=("audio", *mixture, *stem_columns), require_listener=True,
                         check_audio="header", skip_invalid=skip_invalid)


def remix(
    manifest_path: str | Path,
    settings: RunSettings,
    *,
    separator: str = "oracle",
    checkpoint: str | Path | None = None,
    gains_path: str | Path | None = None,
    gains_checkpoint: str | Path | None = None,
    compressor: bool = False,
    separator_options: dict[str, Any] | None = None,
    chain: str = CADENZA_ICASSP2024,
    compressor_params_path: str | Path | None = None,
    vocal_separator: str | Path | None = None,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> RunSummary:
    """Remix every (selected) item for its listener. ``settings.filename`` empty: the default
    name (:func:`default_filename`). ``checkpoint``: the weights file of ``hdemucs``;
    ``separator_options``: other options the separator declares (:mod:`hltk.registry`).
    ``chain``: the recipe (:data:`hltk.remix.processor.CHAINS`); ``vocal_separator``: CAD2
    task 1's TorchScript separator (:class:`hltk.remix.separators.ScriptedSeparator`)."""
    if chain not in CHAINS:
        raise RunError(f"--chain {chain!r}: choose one of {', '.join(CHAINS)}")
    predictor = gains_path is not None and str(gains_path) == PREDICTOR
    if predictor:
        if chain != CADENZA_ICASSP2024:
            raise RunError("--gains predictor runs the cadenza-icassp2024 chain")
        gains_path = None
    elif gains_checkpoint is not None:
        raise RunError("--gains-checkpoint is the gain predictor's (--gains predictor)")
    if vocal_separator is not None and chain != CAD2_TASK1:
        raise RunError("--vocal-separator is CAD2 task 1's separator (--chain cad2-task1)")
    if chain != CADENZA_ICASSP2024:
        return _remix_cad2(manifest_path, settings, chain=chain, separator=separator,
                           gains_path=gains_path, compressor_params_path=compressor_params_path,
                           vocal_separator=vocal_separator,
                           root=root, listeners_path=listeners_path, command=command,
                           progress=progress)
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
    any_stems = separator == "oracle" and "stems" in header(manifest_path)
    if predictor and any_stems:
        raise RunError("--gains predictor predicts the four MUSDB stems' gains; this manifest "
                       "has a stems column")
    manifest = (load_stems_manifest(manifest_path, ("id", "audio", "stems"), root=root,
                                    listeners_path=listeners_path) if any_stems else
                load_remix_manifest(manifest_path, separator, root=root, listeners_path=listeners_path))
    table, gains_file = find_gains(manifest, gains_path, any_stems=any_stems)
    check_gains(manifest, table, per_row_stems=any_stems)
    stem_paths = cad2_stem_paths(manifest, CAD2_TASK2) if any_stems else None
    predictor_record = None
    if predictor:
        manifest, predictor_record = with_predicted_gains(manifest, table, gains_checkpoint)
    if not settings.filename:
        settings = dataclasses.replace(settings, filename=default_filename(manifest.columns))
    try:
        processor = RemixProcessor(separator, gains=table, compressor=compressor, stem_paths=stem_paths,
                                   device=str(resolve_device(settings.device)),
                                   checkpoint=checkpoint, separator_options=others,
                                   gain_columns=PREDICTED_PREFIX if predictor else None)
    except CheckpointError as error:
        raise RunError(f"--checkpoint: {error}") from None
    options = {"separator": separator, "compressor": compressor,
               "checkpoint": str(checkpoint) if checkpoint is not None else None,
               "gains": str(gains_file) if gains_file else None,
               "gains_table": table, **others}
    if predictor_record is not None:
        options["gain_predictor"] = predictor_record
    return run_processor(
        manifest, processor, settings, task=TASK, backend=processor.name, backend_options=options,
        calibration={"remix": "Cadenza ICASSP 2024: stems to own LUFS + gain, sum, match the "
                     f"mixture's integrated LUFS, NAL-R nfir {NALR_NFIR} per ear at "
                     f"{MODEL_SAMPLE_RATE} Hz (full convolution), {processor.output_sample_rate} Hz"},
        command=command, progress=progress,
        # beside OUT/manifest.csv, so `hltk evaluate OUT/manifest.csv --preset ...` finds it
        side_files={"gains.json": table} if table is not None else None,
    )


def _remix_cad2(manifest_path: str | Path, settings: RunSettings, *, chain: str, separator: str,
                gains_path: str | Path | None, compressor_params_path: str | Path | None,
                vocal_separator: str | Path | None, root: str | Path | None,
                listeners_path: str | Path | None,
                command: Sequence[str] | None, progress: Callable[[int, int], Any] | None
                ) -> RunSummary:
    """The CAD2 chains (oracle stems only: see the module docstring)."""
    if separator != "oracle":
        raise RunError(f"--chain {chain} runs with --separator oracle only: the recipe's ConvTasNet "
                       "separators (cadenzachallenge/ConvTasNet_* on the Hugging Face hub) are "
                       "not part of hltk")
    if settings.ear != "both":
        raise RunError("remix processes both ears (--ear both)")
    if vocal_separator is not None:  # the mixture is separated: no stems needed
        manifest = load_stems_manifest(manifest_path, ("id", "audio", "alpha"), root=root,
                                       listeners_path=listeners_path)
    else:
        manifest = load_cad2_manifest(manifest_path, chain, root=root, listeners_path=listeners_path)
    table, gains_file = (find_gains(manifest, gains_path, any_stems=True) if chain == CAD2_TASK2
                         else (None, None))
    if chain == CAD2_TASK2:
        check_gains(manifest, table, per_row_stems=True)
    params, params_file = load_compressor_params(manifest, compressor_params_path)
    stem_paths = cad2_stem_paths(manifest, chain) if vocal_separator is None else {}
    if not settings.filename:
        settings = dataclasses.replace(settings, filename=TASK2_FILENAME if chain == CAD2_TASK2
                                       else TASK1_FILENAME)
    try:
        processor = RemixProcessor(separator, gains=table, chain=chain, compressor_params=params,
                                   stem_paths=stem_paths, vocal_separator=vocal_separator)
    except ValueError as error:
        raise RunError(f"--vocal-separator: {error}") from None
    options = {"separator": separator, "chain": chain,
               "vocal_separator": str(vocal_separator) if vocal_separator is not None else None,
               "gains": str(gains_file) if gains_file else None, "gains_table": table,
               "compressor_params": str(params_file),
               "compressor_params_table": {k: dataclasses.asdict(v) for k, v in params.items()}}
    side_files: dict[str, Any] = {COMPRESSOR_PARAMS: json.loads(params_file.read_text(encoding="utf-8"))}
    if table is not None:
        side_files["gains.json"] = table
    return run_processor(
        manifest, processor, settings, task=TASK, backend=processor.name, backend_options=options,
        calibration={"remix": f"{chain}: recipes/cad2/task{chain[-1]}/baseline/enhance.py "
                     "(true stems as the separation), pyclarity MultibandCompressor per ear, "
                     f"{processor.output_sample_rate} Hz"},
        command=command, progress=progress,
        # beside OUT/manifest.csv, so `hltk evaluate OUT/manifest.csv --preset ...` finds them
        side_files=side_files,
    )


def cad2_manifest(root: str | Path, task: int, split: str, out: str | Path) -> Cad2Manifest:
    """``hltk manifest cad2``: a CAD2 task's split as ``OUT/manifest.csv`` with
    ``listeners.json``, ``compressor_params.json`` (and task 2's ``gains.json``) beside it
    (:mod:`hltk.remix.cad2`)."""
    return write_cad2_manifest(root, task, split, out)


def cadenza_manifest(root: str | Path, split: str, out: str | Path) -> CadenzaManifest:
    """``hltk manifest cadenza``: a Cadenza ICASSP 2024 split as ``OUT/manifest.csv`` with
    ``listeners.json`` and ``gains.json`` beside it (:mod:`hltk.remix.cadenza`)."""
    return write_cadenza_manifest(root, split, out)
