"""``hltk benchmark``: speed and fidelity of every registered backend, side by side, measured
in one run on the machine at hand.

Backends are discovered through the registry (every task, every backend; the task's reference
is its backend registered with ``reference=True``, the default one first when several are),
metric engines through :data:`hltk.bench.engines.ENGINES` (task ``metrics``).

**Speed** (``suite`` ``speed`` or ``all``): every backend gets the same items (the benchmark
corpus of :mod:`hltk.bench.data`, or ``--data``), resampled to its working rate beforehand.
After one untimed warm-up pass (caches, pools, compilation), ``repeats`` passes are timed
(CUDA-synchronised), fewer when they add up to ``max_seconds`` first (the ``repeats`` column
says how many were made). Per-item backends (``batched = False``) run in a joblib pool of ``jobs``
single-threaded workers, as ``hltk simulate --jobs`` runs them; batched backends get batches
of ``batch_size`` (default: all items) in this process on ``device``. Reported: wall median and
p90, RTF (seconds per second of audio) and RTFx (its inverse), items/s, CPU seconds per second
of audio (this process and its workers: fairer than wall time on a shared machine), peak RSS
(this process, plus the workers for pools), CUDA peak allocation, and the speed-up over the
task's reference backend from the same run (wall and CPU).

**Fidelity** (``fidelity`` or ``all``): every backend of a task with more than one backend runs
once through :func:`hltk.pipelines.process.process_manifest` (the real ``hltk <task>`` path,
float WAV outputs); its outputs are scored with :func:`hltk.pipelines.evaluate.score_manifest`
against the clean signal (the manifest's ``reference`` column, else the input) — STOI and PESQ
for ``simulate`` (as Neuro-MSBG), HASPI and HASQI for ``amplify`` / ``denoise-amplify`` (as
NeuroAMP), HAAQI for ``remix`` — and each non-reference backend's scores are compared with the
reference backend's by :func:`hltk.pipelines.evaluate.compare_scores` (LCC, SRCC, MSE) plus the
largest and mean absolute score difference, with agreement plots. For metric engines the scores
of each engine are compared with the reference engine's on the same pairs.

Writes ``OUT/results.csv`` (speed and fidelity rows, ``suite`` column), ``speed.csv``,
``fidelity.csv``, ``results.json`` (rows, hardware, versions, settings), ``run.json`` (the run
record), ``report.md`` and ``plots/`` (``rtfx.png``, ``fidelity/<task>/<backend>/*.png``).
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hltk import registry
from hltk.bench.data import BenchCorpus, make_corpus, make_music, music_available
from hltk.bench.engines import ENGINE_METRICS, MetricEngine, MetricPair, available_engines
from hltk.bench.report import FIDELITY_COLUMNS, SPEED_COLUMNS, markdown_report, rtfx_plot
from hltk.bench.timing import Timing, measure, timed, total_cpu_seconds
from hltk.io.audio import read_audio, resample, select_ears
from hltk.io.listeners import EARS, Listener, ListenerBatch
from hltk.metrics.engine_clarity import ScoringSettings
from hltk.metrics.stats import agreement
from hltk.pipelines.evaluate import EvaluateSettings, compare_scores, score_manifest
from hltk.pipelines.process import load_task_manifest, process_manifest
from hltk.processor import optional
from hltk.registry import BackendSpec
from hltk.runner import (
    EXIT_FAILED,
    EXIT_OK,
    RunError,
    RunSettings,
    item_seed,
    resolve_device,
)
from hltk.runner.executors import map_work
from hltk.runner.records import hardware, versions, write_json

SUITES: tuple[str, ...] = ("speed", "fidelity", "all")
#: The pseudo-task of the metric engines.
METRICS_TASK = "metrics"
#: Fidelity metrics per task (scored against the clean signal); other tasks get SI-SDR.
FIDELITY_METRICS: dict[str, tuple[str, ...]] = {
    "simulate": ("stoi", "pesq"),
    "amplify": ("haspi", "hasqi"),
    "denoise-amplify": ("haspi", "hasqi"),
    "remix": ("haaqi",),
}
DEFAULT_FIDELITY_METRICS: tuple[str, ...] = ("sisdr",)
#: How the fidelity metrics are presented per task (default: fixed level 100 dB SPL, as
#: Clarity's better-ear wrappers); remix follows the Cadenza rule.
FIDELITY_SCORING: dict[str, dict[str, Any]] = {
    "remix": {"calibration": "reference-rms", "equalisation": 2},
}
#: How the metric engines present each metric (default: fixed level 100 dB SPL); HAAQI as
#: Cadenza scores a remix: reference at 65 dB SPL, reference already amplified.
ENGINE_SCORING: dict[str, ScoringSettings] = {
    "haaqi": ScoringSettings(calibration="reference-rms", equalisation=2),
}
#: Tasks whose input is noisy speech (the corpus's noisy manifest, with a clean reference).
NOISY_TASKS: frozenset[str] = frozenset({"denoise-amplify"})


@dataclass(frozen=True)
class BenchmarkSettings:
    """Everything ``hltk benchmark`` is asked to do."""

    out: Path
    suite: str = "all"
    tasks: tuple[str, ...] | None = None  #: None: every registered task, then ``metrics``
    items: int = 8
    seconds: float = 2.0
    device: str = "auto"
    data: Path | None = None
    jobs: int = 2
    repeats: int = 3
    #: stop repeating a backend once its timed passes add up to this (at least one pass)
    max_seconds: float | None = 30.0
    batch_size: int | None = None  #: None: all items in one batch
    engine_metrics: tuple[str, ...] = ("haspi", "hasqi")
    seed: int = 0


@dataclass
class BenchmarkResult:
    """Rows of both suites, where they were written, and the run record."""

    speed: list[dict[str, Any]]
    fidelity: list[dict[str, Any]]
    notes: list[str]
    record: dict[str, Any]
    report: str
    plots: list[Path] = field(default_factory=list)
    exit_code: int = EXIT_OK


@dataclass(frozen=True)
class BenchItem:
    """One item in memory: two ears ``[2, time]`` at ``rate``."""

    id: str
    audio: torch.Tensor
    rate: int
    listener: Listener
    level_db_spl: float | None
    seed: int

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.rate


Progress = Callable[[str], Any]


# --------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------


def reference_backend(task: str) -> str | None:
    """The reference backend of ``task``: registered with ``reference=True`` (the default one
    when several are), else the default backend; None when the task has no backend."""
    specs = registry.backends(task)  # default first, then by name
    references = [spec for spec in specs if spec.reference]
    chosen = references or specs
    return chosen[0].name if chosen else None


def ordered_backends(task: str) -> list[BackendSpec]:
    """The task's backends, its reference first."""
    reference = reference_backend(task)
    specs = registry.backends(task)
    return sorted(specs, key=lambda spec: (spec.name != reference, spec.name))


def resolve_tasks(requested: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(tasks to run, notes): ``None`` = every registered task then ``metrics``."""
    registered = registry.tasks()
    if requested is None:
        return [*registered, METRICS_TASK], []
    tasks, notes = [], []
    for task in requested:
        if task == METRICS_TASK or task in registered:
            if task not in tasks:
                tasks.append(task)
        else:
            notes.append(f"task {task!r}: no backend registered (registered: "
                         f"{', '.join(registered) or 'none'}); skipped")
    return tasks, notes


def _build(spec: BackendSpec, device: torch.device) -> Any:
    return spec.factory(device=str(device))  # every factory takes device (hltk.registry)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def load_items(manifest_path: Path, seed: int) -> list[BenchItem]:
    """The manifest's items in memory, two ears each (mono duplicated, as ``--ear both``)."""
    manifest = load_task_manifest(manifest_path)
    items = []
    for item in manifest.items:
        audio, rate = read_audio(item.paths["audio"])
        assert item.listener is not None
        items.append(BenchItem(item.id, select_ears(audio, "both"), rate, item.listener,
                               item.level_db_spl, item_seed(seed, item.id)))
    return items


def metric_pairs(manifest_path: Path, seed: int) -> list[MetricPair]:
    """(clean reference, processed) pairs from a manifest with a ``reference`` column."""
    manifest = load_task_manifest(manifest_path)
    pairs = []
    for item in manifest.items:
        if "reference" not in item.paths:
            raise RunError(f"{manifest_path}: metric engines need a 'reference' column")
        processed, rate = read_audio(item.paths["audio"])
        reference, reference_rate = read_audio(item.paths["reference"])
        reference = resample(reference, reference_rate, rate)
        length = min(processed.shape[-1], reference.shape[-1])
        assert item.listener is not None
        pairs.append(MetricPair(
            item.id, reference[..., :length].numpy().astype(np.float64),
            processed[..., :length].numpy().astype(np.float64), rate,
            {"left": item.listener.left, "right": item.listener.right},
            item_seed(seed, item.id), length / rate))
    return pairs


def engine_pairs(settings: BenchmarkSettings, corpus: BenchCorpus | None, notes: list[str],
                 progress: Progress) -> dict[str, list[MetricPair]]:
    """The pairs each engine metric is scored on: the noisy speech (or ``--data``); HAAQI gets
    remixed songs (:func:`hltk.bench.data.make_music`) when :mod:`hltk.synth` can render them."""
    unknown = [m for m in settings.engine_metrics if m not in ENGINE_METRICS]
    if unknown:
        raise RunError(f"--engine-metrics: unknown {unknown}; choose from {', '.join(ENGINE_METRICS)}")
    speech = metric_pairs(corpus.noisy if corpus is not None else settings.data,  # type: ignore[arg-type]
                          settings.seed)
    pairs: dict[str, list[MetricPair]] = {}
    for metric in settings.engine_metrics:
        if metric == "haaqi" and corpus is not None:
            if music_available():
                progress(f"corpus: {settings.items} songs of {settings.seconds:g} s (hltk.synth)")
                music = make_music(settings.out / "data", settings.items, settings.seconds,
                                   seed=settings.seed)
                pairs[metric] = metric_pairs(music, settings.seed)
                notes.append("metrics haaqi: remixed songs (vocals moved) against their mixture")
                continue
            notes.append("metrics haaqi: no music synthesis here (fluidsynth); scored on speech")
        pairs[metric] = speech
    return pairs


# --------------------------------------------------------------------------------------------
# Speed
# --------------------------------------------------------------------------------------------


def _process_one(processor: Any, payload: tuple[torch.Tensor, Listener, float, int],
                 worker: bool) -> int:
    """One item through a per-item processor (in a worker: one torch thread)."""
    if worker:
        torch.set_num_threads(1)
    audio, listener, level, seed = payload
    with torch.no_grad():
        output = processor(audio.unsqueeze(0), ListenerBatch((listener,), EARS),
                           lengths=torch.tensor([audio.shape[-1]]),
                           level_db_spl=torch.tensor([level], dtype=torch.float64), seeds=[seed])
    return int(output.shape[-1])


def _batches(items: Sequence[BenchItem], audio: Sequence[torch.Tensor], levels: Sequence[float],
             size: int, device: torch.device) -> list[dict[str, Any]]:
    batches = []
    for start in range(0, len(items), size):
        chunk = list(range(start, min(start + size, len(items))))
        lengths = torch.tensor([audio[i].shape[-1] for i in chunk])
        longest = int(lengths.max())
        stacked = torch.stack([torch.nn.functional.pad(audio[i], (0, longest - audio[i].shape[-1]))
                               for i in chunk]).to(device)
        batches.append({"audio": stacked,
                        "listeners": ListenerBatch(tuple(items[i].listener for i in chunk), EARS),
                        "lengths": lengths,
                        "level_db_spl": torch.tensor([levels[i] for i in chunk], dtype=torch.float64),
                        "seeds": [items[i].seed for i in chunk]})
    return batches


def _speed_row(task: str, backend: str, metric: str, reference: bool, timing: Timing | None,
               **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column: None for column in SPEED_COLUMNS}
    row.update(task=task, backend=backend, metric=metric, reference=reference, status="ok",
               message="")
    row.update(extra)
    if timing is not None:
        audio_s, items = float(row["audio_s"]), int(row["items"])
        median = timing.median_s
        row.update(
            warmup_s=timing.warmup_s, repeats=len(timing.wall_s),
            median_s=median, p90_s=timing.p90_s, cpu_s=timing.cpu_median_s,
            rtf=median / audio_s, rtfx=audio_s / median if median > 0 else math.inf,
            items_per_s=items / median if median > 0 else math.inf,
            cpu_rtf=timing.cpu_median_s / audio_s,
            peak_rss_mb=round(timing.peak_rss_bytes / 2**20, 1),
            cuda_peak_mb=(round(timing.cuda_peak_bytes / 2**20, 1)
                          if timing.cuda_peak_bytes is not None else None),
        )
    return row


def time_backend(task: str, spec: BackendSpec, items: Sequence[BenchItem],
                 settings: BenchmarkSettings, device: torch.device, reference: bool) -> dict[str, Any]:
    """Warm-up then ``repeats`` timed passes of one backend over ``items``."""
    base = {"items": len(items), "audio_s": round(sum(item.duration for item in items), 4)}
    try:
        processor = _build(spec, device)
        rate = int(processor.sample_rate)
        audio = [resample(item.audio, item.rate, rate) for item in items]
        default_level = float(optional(processor, "default_level_db_spl"))
        levels = [item.level_db_spl if item.level_db_spl is not None else default_level
                  for item in items]
        if processor.batched:
            size = min(settings.batch_size or len(items), len(items))
            batches = _batches(items, audio, levels, size, device)

            def run_batched() -> None:
                with torch.no_grad():
                    for batch in batches:
                        processor(batch["audio"], batch["listeners"], lengths=batch["lengths"],
                                  level_db_spl=batch["level_db_spl"], seeds=batch["seeds"])

            timing, _ = measure(run_batched, repeats=settings.repeats, device=device, children=False,
                                budget_s=settings.max_seconds)
            layout = {"device": str(device), "batched": True, "jobs": 1, "batch": size,
                      "threads": torch.get_num_threads()}
        else:
            payloads = [(audio[i], items[i].listener, levels[i], items[i].seed)
                        for i in range(len(items))]
            jobs = max(1, min(settings.jobs, len(items)))

            def run_per_item() -> None:
                for _ in map_work(_process_one, processor, payloads, jobs=jobs, single_thread=True):
                    pass

            cpu = torch.device("cpu")
            timing, _ = measure(run_per_item, repeats=settings.repeats, device=cpu, children=jobs > 1,
                                budget_s=settings.max_seconds)
            layout = {"device": "cpu", "batched": False, "jobs": jobs, "batch": 1, "threads": 1}
    except Exception as error:  # one backend's failure never stops the benchmark
        return _speed_row(task, spec.name, "", reference, None, **base, status="failed",
                          message=f"{type(error).__name__}: {error}")
    return _speed_row(task, spec.name, "", reference, timing, **base, **layout)


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """Speed-up = reference median / backend median (and the same for CPU seconds), per task
    and metric, from the rows of this run."""
    for row in rows:
        key = (row["task"], row.get("metric") or "")
        reference = next((r for r in rows if (r["task"], r.get("metric") or "") == key
                          and r.get("reference") and r.get("status") == "ok"), None)
        if reference is None or row.get("status") != "ok":
            continue
        if row["median_s"]:
            row["speedup"] = reference["median_s"] / row["median_s"]
        if row["cpu_s"]:
            row["cpu_speedup"] = reference["cpu_s"] / row["cpu_s"]


# --------------------------------------------------------------------------------------------
# Metric engines
# --------------------------------------------------------------------------------------------


def engine_suite(pairs_by_metric: dict[str, list[MetricPair]], settings: BenchmarkSettings,
                 device: torch.device, speed: bool, fidelity: bool,
                 progress: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                              dict[str, pd.DataFrame]]:
    """Time each available engine per metric on that metric's pairs, and compare each engine's
    scores with the reference engine's. Returns (speed rows, fidelity rows, score tables)."""
    engines = available_engines()
    speed_rows: list[dict[str, Any]] = []
    fidelity_rows: list[dict[str, Any]] = []
    tables: dict[str, pd.DataFrame] = {}
    for metric, pairs in pairs_by_metric.items():
        scoring = ENGINE_SCORING.get(metric, ScoringSettings())
        audio_s = round(sum(pair.duration for pair in pairs), 4)
        scores: dict[str, np.ndarray] = {}
        for engine in engines:
            if metric not in engine.metrics:
                continue
            progress(f"metrics: {engine.name} {metric} ({len(pairs)} pairs)")
            engine_device = device if engine.batched else torch.device("cpu")
            jobs = max(1, min(settings.jobs, len(pairs)))
            # a batched engine on CPU scores `jobs` chunks at a time in threads of one
            # intra-op thread each (hltk.bench.engines.torch_score); on a GPU, one stream
            on_cpu = engine_device.type == "cpu"
            layout = {"device": str(engine_device), "batched": engine.batched,
                      "jobs": jobs if (on_cpu or not engine.batched) else 1,
                      "batch": len(pairs) if engine.batched else 1,
                      "threads": (1 if on_cpu else torch.get_num_threads())
                      if engine.batched else 1,
                      "items": len(pairs), "audio_s": audio_s}
            try:
                result = _run_engine(engine, metric, pairs, scoring, engine_device, jobs, settings,
                                     speed)
            except Exception as error:
                speed_rows.append(_speed_row(METRICS_TASK, engine.name, metric, engine.reference,
                                             None, **layout, status="failed",
                                             message=f"{type(error).__name__}: {error}"))
                continue
            timing, scores[engine.name] = result
            if speed:
                speed_rows.append(_speed_row(METRICS_TASK, engine.name, metric, engine.reference,
                                             timing, **layout))
        reference = next((e.name for e in engines if e.reference and e.name in scores), None)
        if reference is None:
            continue
        table = pd.DataFrame({"id": [pair.id for pair in pairs]})
        for name, values in scores.items():
            table[name] = values
        tables[metric] = table
        if fidelity:
            for name, values in scores.items():
                if name != reference:
                    fidelity_rows.append(_fidelity_row(METRICS_TASK, name, reference, metric,
                                                       values, scores[reference]))
    return speed_rows, fidelity_rows, tables


def _run_engine(engine: MetricEngine, metric: str, pairs: Sequence[MetricPair],
                scoring: ScoringSettings, device: torch.device, jobs: int,
                settings: BenchmarkSettings, speed: bool) -> tuple[Timing | None, np.ndarray]:
    def score() -> np.ndarray:
        return engine.score(metric, pairs, scoring, device, jobs)

    if not speed:
        return None, score()
    # warm-up on one pair per worker: pays numba compilation / pool start, not a full pass
    warm = list(pairs[: max(1, jobs if not engine.batched else 1)])
    warmup_s, _, _ = timed(lambda: engine.score(metric, warm, scoring, device, jobs), device,
                           children=False)
    timing, values = measure(score, repeats=settings.repeats, device=device,
                             children=not engine.batched and jobs > 1, warmup=False,
                             budget_s=settings.max_seconds)
    timing.warmup_s = warmup_s
    return timing, np.asarray(values, dtype=float)


def _fidelity_row(task: str, backend: str, reference_backend: str, metric: str,
                  system: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    stats = agreement(system, reference, resamples=200)
    keep = np.isfinite(system) & np.isfinite(reference)
    difference = np.abs(system[keep] - reference[keep])
    return {column: None for column in FIDELITY_COLUMNS} | {
        "task": task, "backend": backend, "reference_backend": reference_backend,
        "metric": metric, "n": stats["n"], "mean_system": stats["mean_system"],
        "mean_reference": stats["mean_reference"], "lcc": stats["lcc"], "srcc": stats["srcc"],
        "mse": stats["mse"],
        "max_abs_diff": float(difference.max()) if len(difference) else math.nan,
        "mean_abs_diff": float(difference.mean()) if len(difference) else math.nan,
        "status": "ok", "message": "",
    }


# --------------------------------------------------------------------------------------------
# Fidelity of processing backends
# --------------------------------------------------------------------------------------------


def fidelity_task(task: str, manifest_path: Path, settings: BenchmarkSettings,
                  device: torch.device, progress: Progress) -> tuple[list[dict[str, Any]], list[Path],
                                                                     list[str]]:
    """Run every backend of ``task`` once through the real pipeline, score its outputs against
    the clean signal, compare with the reference backend. Returns (rows, plots, notes)."""
    specs = ordered_backends(task)
    reference = reference_backend(task)
    if len(specs) < 2 or reference is None:
        return [], [], [f"fidelity {task}: only the reference backend is registered; nothing "
                        "to compare"]
    metrics = FIDELITY_METRICS.get(task, DEFAULT_FIDELITY_METRICS)
    scoring = ScoringSettings(metrics=metrics, **FIDELITY_SCORING.get(task, {}))
    manifest = load_task_manifest(manifest_path)
    reference_column = "reference" if "reference" in manifest.columns else "input"
    folder = settings.out / "fidelity" / task
    scores: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    for spec in specs:
        progress(f"fidelity: {task} {spec.name} (process, then score {', '.join(metrics)})")
        out = folder / spec.name
        try:
            run = process_manifest(
                task, manifest_path,
                RunSettings(out=out, audio_format="wav32f", jobs=settings.jobs,
                            batch_size=settings.batch_size or len(manifest.items), device=str(device),
                            seed=settings.seed, overwrite=True, quiet=True),
                backend=spec.name, command=sys.argv)
            if run.counts["total_ok"] == 0:
                raise RuntimeError(f"no item processed; see {out / 'failures.csv'}")
            if run.exit_code == EXIT_FAILED:
                notes.append(f"fidelity {task} {spec.name}: {run.counts['total_failed']} items "
                             f"failed (see {out / 'failures.csv'})")
            evaluated = score_manifest(
                out / "manifest.csv",
                EvaluateSettings(out=out / "scores", scoring=scoring,
                                 reference_column=reference_column, seed=settings.seed,
                                 jobs=settings.jobs, overwrite=True),
                command=sys.argv)
            scores[spec.name] = evaluated.scores
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            if spec.name == reference:
                notes.append(f"fidelity {task}: the reference backend {spec.name} failed "
                             f"({message}); no comparison")
                return [{c: None for c in FIDELITY_COLUMNS} | {
                    "task": task, "backend": spec.name, "reference_backend": reference,
                    "status": "failed", "message": message}], [], notes
            rows.append({c: None for c in FIDELITY_COLUMNS} | {
                "task": task, "backend": spec.name, "reference_backend": reference,
                "status": "failed", "message": message})
    plots: list[Path] = []
    reference_scores = scores[reference]
    for name, system in scores.items():
        if name == reference:
            continue
        summary = compare_scores(system, reference_scores, metrics, resamples=200,
                                 seed=settings.seed)
        joined = system.merge(reference_scores, on="id", suffixes=("", "_reference"))
        for metric in metrics:
            if metric not in joined or f"{metric}_reference" not in joined:
                continue
            rows.append(_fidelity_row(task, name, reference, metric,
                                      joined[metric].to_numpy(dtype=float),
                                      joined[f"{metric}_reference"].to_numpy(dtype=float)))
        from hltk.metrics.plots import agreement_plots

        try:
            plots += agreement_plots(system, reference_scores, summary, metrics,
                                     settings.out / "plots" / "fidelity" / task / name)
        except Exception as error:  # a plot never fails the benchmark
            notes.append(f"plots {task} {name}: {type(error).__name__}: {error}")
    return rows, plots, notes


def _engine_plots(tables: dict[str, pd.DataFrame], pairs_by_metric: dict[str, list[MetricPair]],
                  fidelity_rows: Sequence[dict[str, Any]], folder: Path) -> list[Path]:
    from hltk.metrics.plots import agreement_plots
    from hltk.pipelines.evaluate import _severity

    severity = {pair.id: _severity(pair.audiograms)
                for pairs in pairs_by_metric.values() for pair in pairs}
    plots: list[Path] = []
    for row in fidelity_rows:
        metric, engine, reference = row["metric"], row["backend"], row["reference_backend"]
        table = tables.get(metric)
        if table is None or engine not in table or reference not in table:
            continue
        system = pd.DataFrame({"id": table["id"], metric: table[engine],
                               "severity": table["id"].map(severity)})
        reference_scores = pd.DataFrame({"id": table["id"], metric: table[reference]})
        summary = pd.DataFrame([{"metric": metric, "group": "all", **agreement(
            system[metric].to_numpy(dtype=float), reference_scores[metric].to_numpy(dtype=float),
            resamples=200)}])
        plots += agreement_plots(system, reference_scores, summary, [metric], folder / engine)
    return plots


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def machine(device: torch.device) -> dict[str, Any]:
    """Hardware: CPU model, logical / physical cores, GPU, torch and its threads, load."""
    import psutil

    info = hardware(device)
    info.update(physical_cores=psutil.cpu_count(logical=False), torch=torch.__version__,
                torch_threads=torch.get_num_threads(), python=platform.python_version(),
                memory_gb=round(psutil.virtual_memory().total / 2**30, 1))
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(device if device.type == "cuda" else 0)
        info.update(gpu=properties.name, gpu_memory_gb=round(properties.total_memory / 2**30, 1),
                    cuda=torch.version.cuda)
    return info


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def run_benchmark(settings: BenchmarkSettings, *, command: Sequence[str] | None = None,
                  progress: Progress | None = None) -> BenchmarkResult:
    """Run the chosen suites over the chosen tasks; write tables, plots and records to OUT."""
    say: Progress = progress or (lambda message: None)
    if settings.suite not in SUITES:
        raise RunError(f"--suite {settings.suite!r}: choose one of {', '.join(SUITES)}")
    if settings.items < 1 or settings.seconds <= 0 or settings.repeats < 1 or settings.jobs < 1:
        raise RunError("--items, --repeats and --jobs must be at least 1 and --seconds positive")
    device = resolve_device(settings.device)
    tasks, notes = resolve_tasks(settings.tasks)
    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    started_at, started, cpu_started = datetime.now(UTC), time.perf_counter(), total_cpu_seconds()
    load_before = _load_average()

    corpus: BenchCorpus | None = None
    if settings.data is None:
        say(f"corpus: {settings.items} items of {settings.seconds:g} s")
        corpus = make_corpus(out / "data", settings.items, settings.seconds, seed=settings.seed)
        notes.append(f"corpus: {corpus.items} items of {corpus.seconds:g} s, speech from "
                     f"{corpus.source}; listeners NH/N2/N4/S2; noisy copy at 0/5/10 dB SNR")

    def manifest_for(task: str) -> Path:
        if settings.data is not None:
            return settings.data
        assert corpus is not None
        return corpus.noisy if task in NOISY_TASKS else corpus.speech

    speed_on = settings.suite in ("speed", "all")
    fidelity_on = settings.suite in ("fidelity", "all")
    speed_rows: list[dict[str, Any]] = []
    fidelity_rows: list[dict[str, Any]] = []
    plots: list[Path] = []
    for task in tasks:
        if task == METRICS_TASK:
            try:
                pairs_by_metric = engine_pairs(settings, corpus, notes, say)
            except RunError as error:
                notes.append(f"metrics: {error}; skipped")
                continue
            rows, engine_fidelity, tables = engine_suite(pairs_by_metric, settings, device,
                                                         speed_on, fidelity_on, say)
            speed_rows += rows
            fidelity_rows += engine_fidelity
            if fidelity_on:
                try:
                    plots += _engine_plots(tables, pairs_by_metric, engine_fidelity,
                                           out / "plots" / "fidelity" / METRICS_TASK)
                except Exception as error:
                    notes.append(f"plots metrics: {type(error).__name__}: {error}")
            if len(available_engines()) < 2:
                notes.append("metrics: only the clarity engine is available "
                             "(hltk.metrics.indices does not import)")
            continue
        if speed_on:
            items = load_items(manifest_for(task), settings.seed)
            reference = reference_backend(task)
            for spec in ordered_backends(task):
                say(f"speed: {task} {spec.name} (warm-up + {settings.repeats} repeats)")
                speed_rows.append(time_backend(task, spec, items, settings, device,
                                               spec.name == reference))
        if fidelity_on:
            rows, task_plots, task_notes = fidelity_task(task, manifest_for(task), settings, device,
                                                         say)
            fidelity_rows += rows
            plots += task_plots
            notes += task_notes
    add_speedups(speed_rows)
    for row in speed_rows:
        if row["status"] != "ok":
            notes.append(f"speed {row['task']} {row['backend']}: failed: {row['message']}")

    if speed_on:
        rtfx = rtfx_plot(speed_rows, out / "plots" / "rtfx.png")
        if rtfx is not None:
            plots.insert(0, rtfx)
    wall = time.perf_counter() - started
    cpu_used = total_cpu_seconds() - cpu_started
    info = machine(device)
    finished_at = datetime.now(UTC)
    data_text = (f"{settings.items} items x {settings.seconds:g} s" if settings.data is None
                 else f"data {settings.data}")
    header = (f"hltk benchmark, {finished_at:%Y-%m-%d %H:%M} UTC, {info.get('cpu', platform.machine())}"
              f" ({info.get('cpu_count')} logical cores"
              + (f", GPU {info['gpu']}" if info.get("gpu") else "")
              + f"), torch {torch.__version__}; {data_text}, "
              f"{settings.repeats} repeats, jobs {settings.jobs}; load average "
              f"{load_before} -> {_load_average()}; wall {wall:.0f} s, CPU {cpu_used:.0f} s\n")
    report = markdown_report(speed_rows, fidelity_rows, header)
    failed = any(row.get("status") != "ok" for row in [*speed_rows, *fidelity_rows])
    exit_code = EXIT_FAILED if failed else EXIT_OK
    settings_record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
    record = {
        "command": list(command) if command is not None else sys.argv,
        "task": "benchmark",
        "settings": settings_record,
        "tasks": tasks,
        "backends": {task: [spec.name for spec in ordered_backends(task)]
                     for task in tasks if task != METRICS_TASK},
        "reference_backends": {task: reference_backend(task) for task in tasks
                               if task != METRICS_TASK},
        "engines": [engine.name for engine in available_engines()],
        "hardware": info,
        "versions": versions(),
        "started": started_at.isoformat(),
        "finished": finished_at.isoformat(),
        # CPU seconds of the whole run (this process and its workers) over the cores: the wall
        # time the run needs on an idle machine if its work spread over every core
        "timing": {"wall_s": round(wall, 2), "cpu_s": round(cpu_used, 2),
                   "cpu_s_per_core": round(cpu_used / (os.cpu_count() or 1), 2)},
        "load_average": {"start": load_before, "end": _load_average()},
        "notes": notes,
        "status": "completed",
        "exit_code": exit_code,
    }
    _write_tables(out, speed_rows, fidelity_rows)
    write_json(out / "results.json", {**record, "speed": _clean(speed_rows),
                                      "fidelity": _clean(fidelity_rows)})
    write_json(out / "run.json", record)
    from hltk.io.audio import atomic_path

    with atomic_path(out / "report.md") as temporary:
        temporary.write_text(report, encoding="utf-8")
    return BenchmarkResult(speed_rows, fidelity_rows, notes, record, report, plots, exit_code)


def _clean(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for JSON: NaN and infinities become null."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in rows]


def _write_tables(out: Path, speed: Sequence[dict[str, Any]], fidelity: Sequence[dict[str, Any]]) -> None:
    from hltk.io.audio import atomic_path

    speed_table = pd.DataFrame(list(speed), columns=list(SPEED_COLUMNS))
    fidelity_table = pd.DataFrame(list(fidelity), columns=list(FIDELITY_COLUMNS))
    combined = pd.concat([speed_table.assign(suite="speed"), fidelity_table.assign(suite="fidelity")],
                         ignore_index=True, sort=False)
    combined = combined[["suite", *[c for c in combined.columns if c != "suite"]]]
    for name, table in (("speed.csv", speed_table), ("fidelity.csv", fidelity_table),
                        ("results.csv", combined)):
        with atomic_path(out / name) as temporary:
            table.to_csv(temporary, index=False, float_format="%.6g")
