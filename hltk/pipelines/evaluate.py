"""``hltk evaluate`` and ``hltk compare``: corpus-scale scoring and agreement statistics.

``evaluate`` scores each manifest row's processed ``audio`` against its reference column and
writes ``OUT/scores.csv`` (one row per id), ``ledger.jsonl`` (resume), ``failures.csv`` and
``run.json``, through the plan and records of :mod:`hltk.runner` (selection, resume,
``--shard I/N`` in ``OUT/shards/I-of-N``, which ``hltk merge`` combines, ``--skip-invalid``).
With ``against``, a second system is scored over the same ids (or its existing
``scores.csv`` reused), the two are joined by id, and ``summary.csv`` gives per metric N, the
means, LCC, SRCC, MSE with 95% bootstrap intervals (per group with ``group_by``), plus plots.

``preset="cadenza-icassp2024"`` scores the way the Cadenza ICASSP 2024 challenge does
(:mod:`hltk.remix.scoring`): each row's reference is built from its ground-truth stems
(``vocals, drums, bass, other``) and mixture (``input``, as in a ``hltk remix`` output manifest)
through the row's gains (``gain_<stem>`` columns, or ``gain`` + ``gains.json`` beside the
manifest), remix and NAL-R; HAAQI per ear at 24 kHz, ``equalisation=2``, reference-rms level
rule, mean of the ears. ``preset="cad2-task2"`` and ``"cad2-task1"`` score as the CAD2
recipes (:func:`hltk.remix.scoring.cad2_task2_haaqi`, :func:`~hltk.remix.scoring.cad2_task1_haaqi`:
the reference through the listener's multiband compressor from ``compressor_params.json``
beside the manifest; task 1's HAAQI half only).

``preset="cec3"`` scores as the CEC3 recipe does (:mod:`hltk.challenges.cec3`): better-ear
HASPI v2 of ``audio`` against ``reference`` (``{scene}_reference.wav``) at 100 dB SPL for a
digital RMS of 1, the numpy RNG seeded once per row with ``md5(scene) % 10**8`` then left and
right ears; with an ``snr`` column, ``report.csv`` gives the mean SNR and HASPI per SNR bin as
``report_score.py`` prints them.

Engines (:mod:`hltk.pipelines.provenance`): HASPI / HASQI / HAAQI come from the ``fast`` engine
by default (hltk's batched port, compiled kernels on CPU; pyclarity's scores to rounding) or
from pyclarity itself (``engine="clarity"``, the reference); a preset may fix its own. The
engine is recorded in ``run.json`` and in ``scores.csv.json`` beside the table, with the system
scored; ``summary.csv`` and the plots name both systems (their labels, else their backends).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hltk.challenges import cec3
from hltk.io.audio import read_audio
from hltk.io.listeners import Audiogram, Listener
from hltk.io.manifest import Manifest, ManifestItem, load_manifest
from hltk.metrics.engine_clarity import METRICS, NEEDS_AUDIOGRAM, ScoringSettings, score_pair
from hltk.metrics.engine_torch import PairSignals, torch_ear_scores
from hltk.metrics.entries import recipe_entry
from hltk.metrics.stats import agreement
from hltk.pipelines.provenance import (
    distinct_labels,
    engine_record,
    engine_refusal,
    manifest_system,
    resolve_engine,
    scores_system,
    write_sidecar,
)
from hltk.pipelines.remix import header, load_stems_manifest
from hltk.remix.cad2 import stem_column
from hltk.remix.chain import STEMS
from hltk.remix.gains import GainsError, load_gains, row_gains
from hltk.remix.processor import row_stem_names
from hltk.remix.scoring import CAD2_TASK1_PRESET, CAD2_TASK2_PRESET, cadenza_haaqi, song_seed
from hltk.remix.scoring import PRESET as CADENZA_PRESET
from hltk.runner.executors import map_work
from hltk.runner.plan import plan_run
from hltk.runner.records import (
    RunRecords,
    hardware,
    record_dir_for,
    validation_failure,
    versions,
    warning_counts,
)
from hltk.runner.settings import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    RunError,
    check_workers,
    item_seed,
)

SCORES, SUMMARY, REPORT = "scores.csv", "summary.csv", "report.csv"
PRESETS: tuple[str, ...] = (CADENZA_PRESET, cec3.PRESET, CAD2_TASK2_PRESET, CAD2_TASK1_PRESET)
CAD2_PRESETS: tuple[str, ...] = (CAD2_TASK2_PRESET, CAD2_TASK1_PRESET)
#: the mixture column of a Cadenza preset manifest (a ``hltk remix`` output keeps it as ``input``)
MIXTURE_COLUMN = "input"


def preset_scoring(preset: str) -> ScoringSettings:
    """The scoring settings a preset fixes."""
    if preset in (CADENZA_PRESET, *CAD2_PRESETS):
        return ScoringSettings(metrics=("haaqi",), calibration="reference-rms",
                               reference_level_db_spl=65.0, equalisation=2)
    if preset == cec3.PRESET:
        return ScoringSettings(metrics=("haspi",), calibration="fixed",
                               level_db_spl=cec3.LEVEL_DB_SPL)
    raise RunError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"haspi,stoi"`` or ``"all"`` -> metric names, checked."""
    if text.strip() == "all":
        return METRICS
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise RunError(f"--metrics {text!r}: unknown {unknown}; choose from {', '.join(METRICS)} or all")
    return names


@dataclass(frozen=True)
class EvaluateSettings:
    out: Path
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    reference_column: str = "reference"
    #: ``fast`` (the default), ``clarity`` (the reference) or ``torch`` (``fast``'s former
    #: name); None: the default, or the preset's own engine (hltk.pipelines.provenance)
    engine: str | None = None
    seed: int = 0
    jobs: int = 1
    batch_size: int = 8
    executor: str = "local"
    scheduler: str | None = None
    limit: int | None = None
    overwrite: bool = False
    retry_failed: bool = False
    preset: str | None = None
    shard: tuple[int, int] | None = None
    skip_invalid: bool = False
    #: the name of the system scored (plots, summary); None: its backend (hltk.pipelines.provenance)
    label: str | None = None


@dataclass(frozen=True)
class ScoreItem:
    """One pair to score (picklable for workers)."""

    id: str
    line: int
    processed: str
    reference: str
    audiograms: dict[str, Audiogram] | None
    seed: int
    #: preset items: ground-truth stems and mixture paths, gains (dB per stem), the listener
    inputs: dict[str, str] = field(default_factory=dict)
    gains: dict[str, float] = field(default_factory=dict)
    listener: Listener | None = None
    #: CAD2 preset items: the chain's further values (compressor parameters, segment)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluateSummary:
    exit_code: int
    scores: pd.DataFrame
    counts: dict[str, int]
    out: Path
    summary: pd.DataFrame | None = None
    plots: list[Path] = field(default_factory=list)
    #: ``--preset cec3`` with an ``snr`` column: the SNR-bin report (``report.csv``)
    report: pd.DataFrame | None = None
    #: the system scored, and with ``against`` the other (``label``, ``backend``, ``task``, ``run``)
    system: dict[str, Any] = field(default_factory=dict)
    against: dict[str, Any] | None = None


def _read_pair(item: ScoreItem) -> PairSignals:
    processed, processed_rate = read_audio(item.processed)
    reference, reference_rate = read_audio(item.reference)
    return PairSignals(reference.numpy().astype(np.float64), reference_rate,
                       processed.numpy().astype(np.float64), processed_rate,
                       item.audiograms, item.seed)


def _entry(item: ScoreItem, pair: PairSignals, scoring: ScoringSettings, started: float,
           precomputed: dict[tuple[str, str], float] | None = None) -> dict[str, Any]:
    """The ledger entry of one item: its scores, failures (per metric) and warnings."""
    entry: dict[str, Any] = {"id": item.id, "line": item.line, "status": "failed"}
    try:
        scores, failures, warnings = score_pair(
            pair.reference, pair.reference_rate, pair.processed, pair.processed_rate,
            item.audiograms, scoring, item.seed, precomputed,
        )
    except Exception as error:  # one item's failure never stops the run
        entry.update(stage="score", message=f"{type(error).__name__}: {error}")
        return entry
    entry.update(scores={k: (None if not math.isfinite(v) else v) for k, v in scores.items()},
                 warnings=warnings, seconds=time.perf_counter() - started,
                 duration=pair.processed.shape[-1] / pair.processed_rate)
    if failures:
        entry.update(stage=",".join(sorted({m for m, _ in failures})),
                     message="; ".join(f"{m}: {msg}" for m, msg in failures))
    else:
        entry["status"] = "ok"
    return entry


def _read_failure(item: ScoreItem, error: Exception) -> dict[str, Any]:
    return {"id": item.id, "line": item.line, "status": "failed", "stage": "read",
            "message": f"{type(error).__name__}: {error}"}


def _score_one(scoring: ScoringSettings, item: ScoreItem, worker: bool) -> list[dict[str, Any]]:
    """The clarity engine: one item, every metric by its reference implementation."""
    if worker:
        import torch

        torch.set_num_threads(1)
    started = time.perf_counter()
    try:
        pair = _read_pair(item)
    except Exception as error:
        return [_read_failure(item, error)]
    return [_entry(item, pair, scoring, started)]


def _score_batch(shared: tuple[ScoringSettings, int], items: Sequence[ScoreItem],
                 worker: bool) -> list[dict[str, Any]]:
    """The torch engine: HASPI / HASQI / HAAQI of a batch through the batched ear model, the
    waveform metrics by their reference implementations."""
    if worker:
        import torch

        torch.set_num_threads(1)
    scoring, batch_size = shared
    started = time.perf_counter()
    entries: dict[str, dict[str, Any]] = {}
    pairs: list[tuple[ScoreItem, PairSignals]] = []
    for item in items:
        try:
            pairs.append((item, _read_pair(item)))
        except Exception as error:
            entries[item.id] = _read_failure(item, error)
    try:
        precomputed = torch_ear_scores([pair for _, pair in pairs], scoring, batch_size)
    except Exception as error:  # the batch failed: say so for each of its items
        for item, _ in pairs:
            entries[item.id] = {"id": item.id, "line": item.line, "status": "failed",
                                "stage": "score", "message": f"{type(error).__name__}: {error}"}
        return [entries[item.id] for item in items]
    for (item, pair), scores in zip(pairs, precomputed, strict=True):
        entries[item.id] = _entry(item, pair, scoring, started, scores)
    share = (time.perf_counter() - started) / max(1, len(items))
    for entry in entries.values():
        if "seconds" in entry:
            entry["seconds"] = share
    return [entries[item.id] for item in items]


def _score_cadenza(scoring: ScoringSettings, item: ScoreItem, worker: bool) -> list[dict[str, Any]]:
    """One item of the Cadenza ICASSP 2024 preset (reference rebuilt from the stems)."""

    def read() -> tuple[tuple[torch.Tensor, int, dict[str, np.ndarray]], float]:
        processed, processed_rate = read_audio(item.processed)
        signals = {}
        for column, path in item.inputs.items():
            audio, rate = read_audio(path)
            if rate != 44100 or audio.shape[0] != 2:
                raise ValueError(f"{column}: the ground truth must be stereo 44.1 kHz, got "
                                 f"{audio.shape[0]} channels at {rate} Hz")
            signals[column] = audio.numpy().T.astype(np.float64)
        return (processed, processed_rate, signals), processed.shape[-1] / processed_rate

    def score(read_back: tuple[torch.Tensor, int, dict[str, np.ndarray]]) -> dict[str, float]:
        processed, processed_rate, signals = read_back
        assert item.listener is not None
        mixture = signals.pop(MIXTURE_COLUMN)
        return cadenza_haaqi(processed.numpy().T.astype(np.float64), processed_rate, signals,
                             mixture, item.gains, item.listener, item.seed)

    return recipe_entry(item, worker, read, score)


def _score_cec3(_: ScoringSettings, item: ScoreItem, worker: bool) -> list[dict[str, Any]]:
    """The CEC3 preset: one item, better-ear HASPI v2 as the recipe computes it."""

    def read() -> tuple[tuple[torch.Tensor, int, torch.Tensor, int], float]:
        processed, processed_rate = read_audio(item.processed)
        reference, reference_rate = read_audio(item.reference)
        return (processed, processed_rate, reference, reference_rate), processed.shape[-1] / processed_rate

    def score(read_back: tuple[torch.Tensor, int, torch.Tensor, int]) -> dict[str, float]:
        processed, processed_rate, reference, reference_rate = read_back
        assert item.listener is not None
        # dtypes as the recipe's: the processed file as read (float32), the reference / 32768.0
        return cec3.cec3_haspi(processed.numpy(), processed_rate,
                               reference.numpy().astype(np.float64), reference_rate,
                               item.listener, item.seed)

    return recipe_entry(item, worker, read, score)


def _severity(audiograms: dict[str, Audiogram] | None) -> str:
    """The worse ear's MSBG severity class (NOTHING < MILD < MODERATE < SEVERE)."""
    if not audiograms:
        return ""
    order = ["NOTHING", "MILD", "MODERATE", "SEVERE"]
    return max((a.severity for a in audiograms.values()), key=order.index)


def load_scoring_manifest(path: Path, settings: EvaluateSettings, root: Path | None,
                          listeners_path: Path | None) -> Manifest:
    needs_listener = any(m in NEEDS_AUDIOGRAM for m in settings.scoring.metrics)
    column = settings.reference_column
    if settings.preset in CAD2_PRESETS:
        from hltk.pipelines.remix import load_cad2_manifest

        return load_cad2_manifest(path, settings.preset, root=root, listeners_path=listeners_path,
                                  skip_invalid=settings.skip_invalid)
    if settings.preset == CADENZA_PRESET and "stems" in header(path):  # any stems per row
        return load_stems_manifest(path, ("id", "audio", MIXTURE_COLUMN, "stems"), root=root,
                                   listeners_path=listeners_path, skip_invalid=settings.skip_invalid)
    if settings.preset == CADENZA_PRESET:
        columns = ("id", "audio", MIXTURE_COLUMN, *STEMS)
        return load_manifest(path, root=root, listeners_path=listeners_path, required_columns=columns,
                             audio_columns=columns[1:], require_listener=True,
                             skip_invalid=settings.skip_invalid)
    return load_manifest(
        path, root=root, listeners_path=listeners_path,
        required_columns=("id", "audio", column),
        audio_columns=("audio", column),
        require_listener=needs_listener,
        skip_invalid=settings.skip_invalid,
    )


def _score_item(item: ManifestItem, settings: EvaluateSettings,
                gains_table: dict[str, dict[str, float]] | None,
                cad2_params: dict[str, Any] | None = None) -> ScoreItem:
    audiograms = ({"left": item.listener.left, "right": item.listener.right}
                  if item.listener is not None else None)
    if settings.preset in CAD2_PRESETS:
        from hltk.remix.scoring import cad2_score_item

        return ScoreItem(item.id, item.line, str(item.paths["audio"]), "", audiograms,
                         song_seed(item.row.get("scene") or item.id), listener=item.listener,
                         **cad2_score_item(item, settings.preset, gains_table, cad2_params or {}))
    if settings.preset == CADENZA_PRESET and "stems" in item.row:
        names = row_stem_names(item.row)
        return ScoreItem(
            item.id, item.line, str(item.paths["audio"]), str(item.paths[MIXTURE_COLUMN]),
            audiograms, song_seed(item.row.get("scene") or item.id),
            inputs={MIXTURE_COLUMN: str(item.paths[MIXTURE_COLUMN]),
                    **{name: str(item.paths[stem_column(name)]) for name in names}},
            gains=row_gains(item.row, gains_table, names), listener=item.listener)
    if settings.preset == CADENZA_PRESET:
        return ScoreItem(
            item.id, item.line, str(item.paths["audio"]), str(item.paths[MIXTURE_COLUMN]),
            audiograms, song_seed(item.row.get("scene") or item.id),
            inputs={c: str(item.paths[c]) for c in (MIXTURE_COLUMN, *STEMS)},
            gains=row_gains(item.row, gains_table), listener=item.listener)
    if settings.preset == cec3.PRESET:
        return ScoreItem(item.id, item.line, str(item.paths["audio"]),
                         str(item.paths[settings.reference_column]), audiograms,
                         cec3.scene_seed(item.row.get("scene") or item.id), listener=item.listener)
    return ScoreItem(item.id, item.line, str(item.paths["audio"]),
                     str(item.paths[settings.reference_column]), audiograms,
                     item_seed(settings.seed, item.id))


def _score_stream(settings: EvaluateSettings, todo: Sequence[ScoreItem]) -> Iterator[list[dict[str, Any]]]:
    """The ledger entries of ``todo``, unit by unit as they finish."""
    if settings.preset in CAD2_PRESETS:
        from hltk.remix.scoring import score_cad2

        return map_work(score_cad2, settings.preset, todo, jobs=settings.jobs,
                        executor=settings.executor, scheduler=settings.scheduler, single_thread=True)
    if settings.preset == CADENZA_PRESET:
        return map_work(_score_cadenza, settings.scoring, todo, jobs=settings.jobs,
                        executor=settings.executor, scheduler=settings.scheduler, single_thread=True)
    if settings.preset == cec3.PRESET:
        return map_work(_score_cec3, settings.scoring, todo, jobs=settings.jobs,
                        executor=settings.executor, scheduler=settings.scheduler, single_thread=True)
    if settings.engine == "fast":
        return map_work(
            _score_batch, (settings.scoring, settings.batch_size),
            [todo[i: i + settings.batch_size] for i in range(0, len(todo), settings.batch_size)],
            jobs=settings.jobs, executor=settings.executor, scheduler=settings.scheduler,
        )
    return map_work(_score_one, settings.scoring, todo, jobs=settings.jobs,
                    executor=settings.executor, scheduler=settings.scheduler, single_thread=True)


def _scores_table(items: Sequence[ManifestItem], ledger: dict[str, dict[str, Any]],
                  settings: EvaluateSettings) -> pd.DataFrame:
    """``scores.csv``: one row per selected item with an entry, in manifest order."""
    rows = []
    for item in items:
        entry = ledger.get(item.id)
        if entry is None:
            continue
        audiograms = ({"left": item.listener.left, "right": item.listener.right}
                      if item.listener is not None else None)
        row: dict[str, Any] = {"id": item.id, "listener": item.listener.id if item.listener else "",
                               "severity": _severity(audiograms), "status": entry["status"]}
        for column in item.row:
            if column not in row and column not in ("audio", settings.reference_column):
                row[column] = item.row[column]
        row.update(entry.get("scores") or {})
        rows.append(row)
    score_columns = [f"{m}{suffix}" for m in settings.scoring.metrics for suffix in ("_left", "_right", "")]
    table = pd.DataFrame(rows)
    for column in score_columns:
        if column not in table:
            table[column] = np.nan
    leading = ["id", "listener", "severity", "status", *score_columns]
    return table[leading + [c for c in table.columns if c not in leading]] if len(table) else table


def score_manifest(
    manifest_path: Path,
    settings: EvaluateSettings,
    *,
    root: Path | None = None,
    listeners_path: Path | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> EvaluateSummary:
    """Score every (selected) row; resumable through the ledger, shardable as processing
    runs are (the plan and records of :mod:`hltk.runner`)."""
    settings = replace(settings, engine=resolve_engine(settings.engine, settings.preset))
    assert settings.engine is not None
    if settings.preset is not None and settings.scoring != preset_scoring(settings.preset):
        raise RunError(f"--preset {settings.preset}: the preset fixes the metric and calibration")
    check_workers(settings.executor, settings.jobs, settings.batch_size)
    manifest = load_scoring_manifest(manifest_path, settings, root, listeners_path)
    gains_table = (_preset_gains(manifest, settings.preset)
                   if settings.preset in (CADENZA_PRESET, *CAD2_PRESETS) else None)
    config = {"metrics": settings.scoring.metrics, "scoring": settings.scoring.describe(),
              "reference_column": settings.reference_column, "engine": settings.engine,
              "seed": settings.seed, "preset": settings.preset}
    what = engine_refusal(record_dir_for(settings.out, settings.shard), settings.engine) or \
        "scores made with other settings (metrics or scoring options differ)"
    plan = plan_run(manifest, out=settings.out, config=config, shard=settings.shard,
                    limit=settings.limit, overwrite=settings.overwrite,
                    retry_failed=settings.retry_failed, what=what)
    cad2_params = None
    if settings.preset in CAD2_PRESETS:
        from hltk.pipelines.remix import load_compressor_params

        cad2_params, _ = load_compressor_params(manifest, None)
    todo = [_score_item(item, settings, gains_table, cad2_params) for item in plan.to_run]
    # every check passed: from here on the run writes
    records = RunRecords.open(plan.record_dir, plan.ledger, settings.overwrite)
    started_at, started = datetime.now(UTC), time.perf_counter()
    status, exit_code, done = "completed", EXIT_OK, 0
    try:
        with records.appending() as append:
            for row in plan.invalid:
                append(validation_failure(row, manifest.path.name))
            for entries in _score_stream(settings, todo):
                for entry in entries:
                    append(entry)
                    done += 1
                    if progress is not None:
                        progress(done, len(todo))
    except KeyboardInterrupt:
        status, exit_code = "interrupted", EXIT_INTERRUPTED
    wall = time.perf_counter() - started

    selected = set(plan.selected)
    items = [item for item in manifest.items if item.id in selected]
    table = _scores_table(items, records.ledger, settings)
    final = records.final(plan.selected)
    failed = [entry for entry in final if entry.get("status") != "ok"]
    _write_table(table, plan.record_dir / SCORES)
    system = manifest_system(Path(manifest_path))
    if settings.label:
        system = {**system, "label": settings.label}
    scoring_engine = engine_record(settings.engine, settings.scoring.metrics)
    seeding = ("np.random.seed(md5(seed:id)) before every metric call per ear"
               if settings.preset is None else
               "np.random.seed(md5(scene or id) % 10**8) once per item, then left and right ears "
               "(recipe)")
    write_sidecar(plan.record_dir / SCORES, {
        "engine": scoring_engine, "preset": settings.preset,
        "metrics": list(settings.scoring.metrics), "reference_column": settings.reference_column,
        "calibration": settings.scoring.describe(), "seed": settings.seed, "seeding": seeding,
        "system": system, "run_record": "run.json"})
    records.write_failures(failed)
    if exit_code == EXIT_OK and failed:
        exit_code = EXIT_FAILED
    pending = [records.ledger[t.id] for t in todo if t.id in records.ledger]
    audio_s = sum(float(entry.get("duration", 0.0)) for entry in pending)
    counts = {"manifest": plan.rows, "selected": len(plan.selected), "skipped": plan.skipped,
              "scored": done, "total_ok": len(final) - len(failed), "total_failed": len(failed)}
    if manifest.invalid:
        counts["invalid"] = len(plan.invalid)
    records.write_run_record({
        "command": list(command) if command is not None else sys.argv,
        "task": "evaluate", "manifest": str(Path(manifest_path).resolve()),
        "engine": settings.engine, "scoring_engine": scoring_engine, "system": system,
        "preset": settings.preset, "metrics": list(settings.scoring.metrics),
        "reference_column": settings.reference_column,
        "calibration": settings.scoring.describe(),
        "seeding": seeding,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
                     if k != "scoring"},
        "versions": versions(), "hardware": hardware(_cpu()),
        "config_hash": plan.config_hash, "table": SCORES, "started": started_at.isoformat(),
        "finished": datetime.now(UTC).isoformat(), "status": status, "counts": counts,
        "timing": {"wall_s": round(wall, 4), "audio_s": round(audio_s, 4),
                   "audio_s_per_s": round(audio_s / wall, 4) if wall > 0 and audio_s else None},
        "warnings": warning_counts(pending),
    })
    result = EvaluateSummary(exit_code, table, counts, plan.record_dir, system=system)
    if settings.preset == cec3.PRESET and "snr" in table.columns and "haspi" in table.columns:
        result.report = cec3.snr_report(table)
        _write_table(result.report, plan.record_dir / REPORT)
    return result


def _preset_gains(manifest: Manifest, preset: str = CADENZA_PRESET) -> dict[str, dict[str, float]] | None:
    """The Cadenza preset's gains: ``gains.json`` beside the manifest when rows name a ``gain``;
    every row's gains are checked before any work (CAD2: any stem names, the row's stems)."""
    if preset == CAD2_TASK1_PRESET:
        return None
    cad2 = preset == CAD2_TASK2_PRESET or "stems" in manifest.columns
    table = None
    beside = manifest.path.parent / "gains.json"
    try:
        if "gain" in manifest.columns and beside.exists():
            table = load_gains(beside, None) if cad2 else load_gains(beside)
        for item in manifest.items:
            row_gains(item.row, table, row_stem_names(item.row)) if cad2 else row_gains(item.row, table)
    except GainsError as error:
        raise RunError(f"{manifest.path.name}: {error}") from None
    return table


def _cpu() -> Any:
    import torch

    return torch.device("cpu")


def _write_table(table: pd.DataFrame, path: Path) -> None:
    from hltk.io.audio import atomic_path

    with atomic_path(path) as temporary:
        table.to_csv(temporary, index=False, float_format="%.10g")


def read_scores(path: Path) -> pd.DataFrame:
    """A ``scores.csv`` (or a folder holding one), ids read as text."""
    path = path / SCORES if path.is_dir() else path
    if not path.exists():
        raise RunError(f"no scores table at {path}")
    return pd.read_csv(path, dtype={"id": str, "listener": str})


def compare_scores(system: pd.DataFrame, reference: pd.DataFrame, metrics: Sequence[str] | None = None,
                   group_by: Sequence[str] = (), resamples: int = 1000, seed: int = 0,
                   labels: tuple[str, str] | None = None) -> pd.DataFrame:
    """Join two score tables by id; per metric (and group) N, means, LCC, SRCC, MSE, 95% CIs.

    The columns keep their names whatever the systems (``mean_system``, ``mean_reference``),
    so one script reads every summary; ``labels`` (the two systems' names) add the columns
    ``system`` and ``reference`` that say whose means they are."""
    if metrics is None:
        metrics = [m for m in METRICS if m in system.columns and m in reference.columns]
    joined = system.merge(reference, on="id", suffixes=("", "_reference"))
    rows = []
    groups: list[tuple[str, str, pd.DataFrame]] = [("all", "", joined)]
    for column in group_by:
        if column not in joined.columns:
            raise RunError(f"--group-by {column!r}: no such column in the scores")
        for value, part in joined.groupby(column, sort=True):
            groups.append((column, str(value), part))
    for metric in metrics:
        if metric not in joined.columns or f"{metric}_reference" not in joined.columns:
            continue
        for group, value, part in groups:
            stats = agreement(part[metric].to_numpy(dtype=float),
                              part[f"{metric}_reference"].to_numpy(dtype=float), resamples, seed)
            row = {"metric": metric, "group": group, "value": value, **stats}
            if labels is not None:
                row.update(system=labels[0], reference=labels[1])
            rows.append(row)
    return pd.DataFrame(rows)


def evaluate(
    manifest_path: Path,
    settings: EvaluateSettings,
    *,
    against: Path | None = None,
    against_label: str | None = None,
    group_by: Sequence[str] = (),
    root: Path | None = None,
    listeners_path: Path | None = None,
    plots: bool = True,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> EvaluateSummary:
    """Score a system; with ``against`` also the other system and their agreement, each named
    by its label (``settings.label``, ``against_label``) or its backend."""
    if against is not None and settings.shard is not None:
        raise RunError("--against compares whole runs: score the shards, `hltk merge` them, "
                       "then `hltk compare` the merged scores.csv")
    result = score_manifest(manifest_path, settings, root=root, listeners_path=listeners_path,
                            command=command, progress=progress)
    if against is None:
        return result
    if against.is_dir() or against.name == SCORES:
        other = read_scores(against)
        other_system = scores_system(against)
        if against_label:
            other_system = {**other_system, "label": against_label}
    else:
        other_settings = EvaluateSettings(**{**asdict(settings), "out": settings.out / "against",
                                             "scoring": settings.scoring, "label": against_label})
        other_result = score_manifest(against, other_settings, root=None, listeners_path=listeners_path,
                                      command=command, progress=progress)
        other, other_system = other_result.scores, other_result.system
        if other_result.exit_code == EXIT_FAILED and result.exit_code == EXIT_OK:
            result.exit_code = EXIT_FAILED
    missing = sorted(set(result.scores["id"]) ^ set(other["id"])) if len(result.scores) else []
    if missing:
        print(f"warning: {len(missing)} ids are not in both systems; compared on the shared ids",
              file=sys.stderr)
    result.against = other_system
    labels = distinct_labels(result.system, other_system, settings.label, against_label)
    summary = compare_scores(result.scores, other, settings.scoring.metrics, group_by,
                             seed=settings.seed, labels=labels)
    _write_table(summary, settings.out / SUMMARY)
    result.summary = summary
    if plots:
        from hltk.metrics.plots import agreement_plots

        result.plots = agreement_plots(result.scores, other, summary, settings.scoring.metrics,
                                       settings.out / "plots", labels=labels)
    return result
