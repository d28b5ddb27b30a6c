"""The ``fast`` scoring engine, ``hltk evaluate``'s default (``--engine fast``; ``torch`` is its
former name): HASPI v2, HASQI v2 and HAAQI of a batch of items through the batched indices
(:mod:`hltk.metrics.indices`); STOI, ESTOI, PESQ and SI-SDR stay on their reference
implementations. The indices run the ear model's compiled kernels on CPU (the engine calls them
without autograd) and its torch path on other devices: :func:`ear_model_path` names which.

Semantics are the clarity engine's (:mod:`hltk.metrics.engine_clarity`): the same ears, trim,
calibration and combination rules, and each (item, metric, ear) score uses a fresh
``RandomState(item seed)`` — what ``np.random.seed(seed)`` before a pyclarity call gives — so
the two engines agree to rounding (about 1e-9, ``tests/test_torch_metrics_slow.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hltk.io.listeners import Audiogram
from hltk.metrics.engine_clarity import (
    NEEDS_AUDIOGRAM,
    MetricError,
    ScoringSettings,
    ear_signals,
    presentation_level,
    trim_pair,
)


@dataclass
class PairSignals:
    """One item's signals, as read: ``[channels, time]`` float64 numpy."""

    reference: np.ndarray
    reference_rate: int
    processed: np.ndarray
    processed_rate: int
    audiograms: dict[str, Audiogram] | None
    seed: int


def ear_model_path(device: str | torch.device = "cpu") -> str:
    """``compiled`` on CPU, ``torch`` elsewhere: the ear-model path the indices take for inputs
    on ``device`` scored without autograd, as :func:`torch_ear_scores` scores them (the test
    is :func:`hltk.metrics.indices._chunk_size`'s)."""
    return "compiled" if torch.device(device).type == "cpu" else "torch"


def torch_ear_scores(pairs: Sequence[PairSignals], settings: ScoringSettings,
                     batch_size: int = 8) -> list[dict[tuple[str, str], float]]:
    """HASPI / HASQI / HAAQI per (metric, ear) for every pair, batched over items and ears.

    Pairs whose reference ear is silent, or that lack an audiogram, are left out (the caller
    reports them as the clarity engine does).
    """
    from hltk.metrics import indices

    results: list[dict[tuple[str, str], float]] = [{} for _ in pairs]
    metrics = [m for m in settings.metrics if m in NEEDS_AUDIOGRAM]
    if not metrics:
        return results
    # one entry per (item, ear): grouped by sample rates, which the indices take per call
    groups: dict[tuple[int, int], list[tuple[int, str, np.ndarray, np.ndarray, Audiogram, float]]] = {}
    for index, pair in enumerate(pairs):
        if pair.audiograms is None:
            continue
        reference, processed, _ = trim_pair(pair.reference, pair.reference_rate, pair.processed,
                                            pair.processed_rate)
        for ear, reference_ear, processed_ear in ear_signals(reference, processed):
            if not np.any(reference_ear):
                continue
            try:
                level = presentation_level(settings, reference_ear)
            except MetricError:
                continue
            groups.setdefault((pair.reference_rate, pair.processed_rate), []).append(
                (index, ear, reference_ear, processed_ear, pair.audiograms[ear], level))
    for (reference_rate, processed_rate), entries in groups.items():
        references = [torch.from_numpy(np.ascontiguousarray(e[2])) for e in entries]
        processed_signals = [torch.from_numpy(np.ascontiguousarray(e[3])) for e in entries]
        audiograms = [(e[4].levels, e[4].frequencies) for e in entries]
        levels = torch.tensor([e[5] for e in entries], dtype=torch.float64)
        seeds = [pairs[e[0]].seed for e in entries]
        common: dict[str, Any] = dict(
            sample_rate=reference_rate, audiograms=audiograms, level1=levels, seeds=seeds,
            processed_sample_rate=processed_rate, batch_size=batch_size)
        for metric in metrics:
            with torch.no_grad():
                if metric == "haspi":
                    values = indices.haspi_v2(references, processed_signals, **common)
                elif metric == "hasqi":
                    values = indices.hasqi_v2(references, processed_signals,
                                                   equalisation=settings.equalisation, **common)
                else:
                    values = indices.haaqi(references, processed_signals,
                                                equalisation=settings.equalisation, **common)
            for entry, value in zip(entries, values.tolist(), strict=True):
                results[entry[0]][(metric, entry[1])] = float(value)
    return results
