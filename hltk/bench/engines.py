"""Metric engines that ``hltk benchmark`` times and compares: a small table to extend.

An engine scores a list of (reference, processed) pairs for one metric and returns one combined
score per pair (per-ear scores combined as :data:`hltk.metrics.engine_clarity.COMBINE` says:
better ear for HASPI / HASQI, mean of ears for HAAQI), with the per-item seed and presentation
level of the reference engine, so two engines' scores can be compared item by item.

- ``clarity`` (the reference): pyclarity's HASPI v2 / HASQI v2 / HAAQI one ear at a time in a
  joblib pool of ``jobs`` workers — what ``hltk evaluate --engine clarity`` runs.
- ``fast``: the batched port (:mod:`hltk.metrics.indices`), ``hltk evaluate``'s default engine,
  all pairs in one call on the benchmark's device; listed only when that module imports.

Register another with :func:`register_engine`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hltk.io.listeners import Audiogram
from hltk.metrics.engine_clarity import ScoringSettings, combine, ear_signals, presentation_level
from hltk.runner.executors import map_work

#: Metrics an engine may be asked for (the ones both engines implement).
ENGINE_METRICS: tuple[str, ...] = ("haspi", "hasqi", "haaqi")


@dataclass(frozen=True)
class MetricPair:
    """One item to score (picklable): ``[channels, time]`` float64 signals at ``rate``."""

    id: str
    reference: np.ndarray
    processed: np.ndarray
    rate: int
    audiograms: dict[str, Audiogram]
    seed: int
    duration: float


#: ``score(metric, pairs, scoring, device, jobs) -> [len(pairs)]`` combined scores.
ScoreFunction = Callable[[str, Sequence[MetricPair], ScoringSettings, torch.device, int], np.ndarray]


@dataclass(frozen=True)
class MetricEngine:
    """One metric engine: how to score, whether it is the reference, whether it is batched."""

    name: str
    description: str
    score: ScoreFunction
    available: Callable[[], bool]
    reference: bool = False
    batched: bool = False
    metrics: tuple[str, ...] = ENGINE_METRICS


def _clarity_item(shared: tuple[str, ScoringSettings], pair: MetricPair, worker: bool) -> float:
    from hltk.metrics.engine_clarity import score_pair

    if worker:
        torch.set_num_threads(1)
    metric, scoring = shared
    settings = ScoringSettings(metrics=(metric,), calibration=scoring.calibration,
                               level_db_spl=scoring.level_db_spl,
                               reference_level_db_spl=scoring.reference_level_db_spl,
                               equalisation=scoring.equalisation)
    scores, _, _ = score_pair(pair.reference, pair.rate, pair.processed, pair.rate,
                              pair.audiograms, settings, pair.seed)
    return float(scores[metric])


def clarity_score(metric: str, pairs: Sequence[MetricPair], scoring: ScoringSettings,
                  device: torch.device, jobs: int) -> np.ndarray:
    """pyclarity, one item per task in a pool of ``jobs`` single-threaded workers (CPU only;
    in-process with one native thread when ``jobs == 1``, as ``hltk evaluate``)."""
    del device
    payloads = list(enumerate(pairs))
    results = map_work(_clarity_item_indexed, (metric, scoring), payloads, jobs=jobs,
                       single_thread=True)
    return _ordered(results, len(pairs))


def _clarity_item_indexed(shared: tuple[str, ScoringSettings], payload: tuple[int, MetricPair],
                          worker: bool) -> tuple[int, float]:
    index, pair = payload
    return index, _clarity_item(shared, pair, worker)


def _ordered(results: Any, count: int) -> np.ndarray:
    scores = np.full(count, np.nan)
    for index, value in results:
        scores[index] = value
    return scores


def torch_engine_available() -> bool:
    try:
        importlib.import_module("hltk.metrics.indices")
    except Exception:
        return False
    return True


def torch_score(metric: str, pairs: Sequence[MetricPair], scoring: ScoringSettings,
                device: torch.device, jobs: int) -> np.ndarray:
    """The batched torch engine: every ear of every pair in one call on ``device``; on CPU,
    ``jobs`` item chunks at a time in threads of one intra-op thread each (its compiled
    kernels run single-threaded, so this is how it uses the cores ``jobs`` gives the
    reference engine)."""
    torch_engine: Any = importlib.import_module("hltk.metrics.indices")
    references, processed, audiograms, levels, seeds = [], [], [], [], []
    for pair in pairs:
        for ear, reference_ear, processed_ear in ear_signals(pair.reference, pair.processed):
            references.append(torch.as_tensor(reference_ear, dtype=torch.float64, device=device))
            processed.append(torch.as_tensor(processed_ear, dtype=torch.float64, device=device))
            audiograms.append(pair.audiograms[ear])
            levels.append(presentation_level(scoring, reference_ear))
            seeds.append(pair.seed)
    options: dict[str, Any] = {"reference": references, "processed": processed,
                               "sample_rate": pairs[0].rate, "audiograms": audiograms,
                               "level1": torch.tensor(levels, dtype=torch.float64), "seeds": seeds}
    threads = torch.get_num_threads()
    if device.type == "cpu":
        options["workers"] = max(1, jobs)
        torch.set_num_threads(1)
    try:
        if metric == "haspi":
            scores = torch_engine.haspi_v2(**options)
        elif metric == "hasqi":
            scores = torch_engine.hasqi_v2(equalisation=scoring.equalisation, **options)
        elif metric == "haaqi":
            scores = torch_engine.haaqi(equalisation=scoring.equalisation, **options)
        else:
            raise ValueError(f"the torch engine has no metric {metric!r}")
    finally:
        torch.set_num_threads(threads)
    per_ear = scores.detach().cpu().numpy().astype(float).reshape(len(pairs), 2)
    return np.array([combine(metric, list(row)) for row in per_ear])


ENGINES: dict[str, MetricEngine] = {
    "clarity": MetricEngine("clarity", "pyclarity HASPI v2 / HASQI v2 / HAAQI, one item per worker",
                            clarity_score, lambda: True, reference=True, batched=False),
    "fast": MetricEngine("fast", "hltk's batched port of the Kates ear model (hltk.metrics.indices; "
                         "evaluate's default engine)",
                         torch_score, torch_engine_available, reference=False, batched=True),
}


def register_engine(engine: MetricEngine) -> None:
    """Add (or replace) an engine in the table."""
    ENGINES[engine.name] = engine


def unregister_engine(name: str) -> None:
    ENGINES.pop(name, None)


def available_engines() -> list[MetricEngine]:
    """Engines that can run here, the reference first."""
    found = [engine for engine in ENGINES.values() if engine.available()]
    return sorted(found, key=lambda engine: (not engine.reference, engine.name))
