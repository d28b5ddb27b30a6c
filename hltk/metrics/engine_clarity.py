"""The ``clarity`` scoring engine, the reference (``hltk evaluate --engine clarity``):
pyclarity's HASPI v2 / HASQI v2 / HAAQI, pystoi's STOI / ESTOI, the ``pesq`` package's
wide-band PESQ, and SI-SDR — one item at a time.

Every pyclarity call uses keywords only (HAAQI takes the processed signal first) and is
preceded by ``np.random.seed(item seed)``: pyclarity draws threshold noise from the global
numpy RNG, so seeding before each (metric, ear) call makes every score repeatable whatever the
order, batching or worker count.

Ears: the processed signal's channels are (left, right); a mono processed signal is presented
to both ears (diotic). A mono reference serves both ears. Per-ear scores are combined by
:data:`COMBINE` (HASPI, HASQI: better ear, as Clarity's ``*_be`` wrappers; HAAQI: mean of
ears, as Cadenza; the others: mean of ears).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hltk.io.listeners import Audiogram

METRICS: tuple[str, ...] = ("haspi", "hasqi", "haaqi", "stoi", "estoi", "pesq", "sisdr")
NEEDS_AUDIOGRAM: frozenset[str] = frozenset({"haspi", "hasqi", "haaqi"})
COMBINE: dict[str, str] = {
    "haspi": "max", "hasqi": "max", "haaqi": "mean",
    "stoi": "mean", "estoi": "mean", "pesq": "mean", "sisdr": "mean",
}
PESQ_RATE = 16000
#: Length differences up to this are silently truncated; longer ones are recorded as warnings.
LENGTH_TOLERANCE_S = 0.005


@dataclass(frozen=True)
class ScoringSettings:
    """How signals are presented to the metrics.

    ``calibration``: ``fixed`` — ``level1 = level_db_spl`` (dB SPL of a digital RMS of 1;
    default 100 as Clarity's better-ear wrappers); ``reference-rms`` — the Cadenza rule, the
    reference ear presented at ``reference_level_db_spl`` (65):
    ``level1 = 65 - 20 log10(rms(reference ear))``. ``equalisation`` for HASQI and HAAQI:
    1 = the metric applies NAL-R to the reference, 2 = the reference is already amplified.
    """

    metrics: tuple[str, ...] = METRICS
    calibration: str = "fixed"
    level_db_spl: float = 100.0
    reference_level_db_spl: float = 65.0
    equalisation: int = 1

    def describe(self) -> dict[str, Any]:
        return {
            "calibration": self.calibration,
            "level_db_spl": self.level_db_spl if self.calibration == "fixed" else None,
            "reference_level_db_spl": self.reference_level_db_spl
            if self.calibration == "reference-rms" else None,
            "equalisation": self.equalisation,
            "combine": {m: COMBINE[m] for m in self.metrics},
            "pesq": "wide-band, both signals resampled to 16 kHz",
            "stoi": "pystoi at the processed signal's rate (resampled to 10 kHz inside pystoi)",
            "ears": "processed channels (left, right); mono processed = both ears",
        }


class MetricError(RuntimeError):
    """A metric that cannot be computed for an item (e.g. a silent reference)."""


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), means removed."""
    reference = reference - np.mean(reference)
    estimate = estimate - np.mean(estimate)
    energy = float(np.dot(reference, reference))
    if energy <= 0:
        raise MetricError("silent reference: SI-SDR is undefined")
    target = float(np.dot(estimate, reference)) / energy * reference
    residual = estimate - target
    return 10.0 * math.log10(float(np.dot(target, target)) / max(float(np.dot(residual, residual)), 1e-20))


def presentation_level(settings: ScoringSettings, reference_ear: np.ndarray) -> float:
    """``level1`` for one ear under the calibration mode."""
    if settings.calibration == "fixed":
        return settings.level_db_spl
    if settings.calibration == "reference-rms":
        rms = float(np.sqrt(np.mean(np.square(reference_ear))))
        if rms <= 0:
            raise MetricError("silent reference: the reference-rms calibration is undefined")
        return settings.reference_level_db_spl - 20.0 * math.log10(rms)
    raise ValueError(f"unknown calibration {settings.calibration!r}")


def _resample(signal: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return signal
    import soxr

    return np.asarray(soxr.resample(signal, rate_in, rate_out, quality="VHQ"))


def metric_ear(metric: str, reference: np.ndarray, reference_rate: int, processed: np.ndarray,
               processed_rate: int, audiogram: Audiogram | None, settings: ScoringSettings,
               seed: int) -> float:
    """One metric for one ear, computed by the reference implementation."""
    if not np.any(reference):
        raise MetricError("silent reference")
    if metric in NEEDS_AUDIOGRAM:
        if audiogram is None:
            raise MetricError(f"{metric} needs a listener audiogram")
        level = presentation_level(settings, reference)
        np.random.seed(seed)
        if metric == "haspi":
            from clarity.evaluator.haspi import haspi_v2

            score, _ = haspi_v2(reference=reference, reference_sample_rate=reference_rate,
                                processed=processed, processed_sample_rate=processed_rate,
                                audiogram=audiogram.to_clarity(), level1=level)
            return float(score)
        if metric == "hasqi":
            from clarity.evaluator.hasqi import hasqi_v2

            combined, _, _, _ = hasqi_v2(reference=reference, reference_sample_rate=reference_rate,
                                         processed=processed, processed_sample_rate=processed_rate,
                                         audiogram=audiogram.to_clarity(),
                                         equalisation=settings.equalisation, level1=level)
            return float(combined)
        from clarity.evaluator.haaqi import compute_haaqi

        return float(compute_haaqi(processed_signal=processed, reference_signal=reference,
                                   processed_sample_rate=processed_rate,
                                   reference_sample_rate=reference_rate,
                                   audiogram=audiogram.to_clarity(),
                                   equalisation=settings.equalisation, level1=level))
    # waveform metrics: same rate, same length
    matched = _resample(reference, reference_rate, processed_rate)
    length = min(len(matched), len(processed))
    matched, degraded = matched[:length], processed[:length]
    if metric in ("stoi", "estoi"):
        from pystoi import stoi

        return float(stoi(matched, degraded, processed_rate, extended=metric == "estoi"))
    if metric == "pesq":
        from pesq import pesq

        try:
            return float(pesq(PESQ_RATE, _resample(matched, processed_rate, PESQ_RATE),
                              _resample(degraded, processed_rate, PESQ_RATE), "wb"))
        except Exception as error:  # pesq raises its own types for silence / no utterance
            raise MetricError(f"pesq: {type(error).__name__}: {error}") from error
    if metric == "sisdr":
        return si_sdr(matched, degraded)
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def ear_signals(reference: np.ndarray, processed: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(ear, reference, processed) per ear from ``[channels, time]`` arrays."""
    if processed.shape[0] > 2 or reference.shape[0] > 2:
        raise MetricError("more than two channels: hltk scores mono or (left, right)")
    ears = []
    for index, ear in enumerate(("left", "right")):
        processed_ear = processed[min(index, processed.shape[0] - 1)]
        reference_ear = reference[min(index, reference.shape[0] - 1)]
        ears.append((ear, reference_ear, processed_ear))
    return ears


def combine(metric: str, values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) != len(values) or not finite:
        return float("nan")
    return max(finite) if COMBINE[metric] == "max" else float(np.mean(finite))


def trim_pair(reference: np.ndarray, reference_rate: int, processed: np.ndarray,
              processed_rate: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Cut ``[channels, time]`` reference and processed to the shorter duration; a warning when
    they differ by more than :data:`LENGTH_TOLERANCE_S`."""
    warnings: list[str] = []
    reference_s = reference.shape[-1] / reference_rate
    processed_s = processed.shape[-1] / processed_rate
    if abs(reference_s - processed_s) > LENGTH_TOLERANCE_S:
        warnings.append(f"reference and processed lengths differ by more than "
                        f"{LENGTH_TOLERANCE_S * 1000:g} ms; truncated to the shorter")
    shortest = min(reference_s, processed_s)
    return (reference[..., : int(round(shortest * reference_rate))],
            processed[..., : int(round(shortest * processed_rate))], warnings)


def score_pair(
    reference: np.ndarray, reference_rate: int, processed: np.ndarray, processed_rate: int,
    audiograms: dict[str, Audiogram] | None, settings: ScoringSettings, seed: int,
    precomputed: dict[tuple[str, str], float] | None = None,
) -> tuple[dict[str, float], list[tuple[str, str]], list[str]]:
    """Every selected metric for one item. ``reference``/``processed``: ``[channels, time]``.

    ``precomputed``: scores by (metric, ear) computed elsewhere (the torch engine); NaN there
    means the metric could not be computed (below threshold).
    Returns (scores with ``<metric>_left``, ``<metric>_right`` and ``<metric>``,
    failures as (metric, message), warnings).
    """
    scores: dict[str, float] = {}
    failures: list[tuple[str, str]] = []
    reference, processed, warnings = trim_pair(reference, reference_rate, processed, processed_rate)
    for metric in settings.metrics:
        per_ear: list[float] = []
        for ear, reference_ear, processed_ear in ear_signals(reference, processed):
            try:
                if precomputed is not None and (metric, ear) in precomputed:
                    if not np.any(reference_ear):
                        raise MetricError("silent reference")
                    value = precomputed[(metric, ear)]
                    if not math.isfinite(value):
                        raise MetricError("reference below the ear model's threshold")
                else:
                    value = metric_ear(metric, reference_ear, reference_rate, processed_ear,
                                       processed_rate, (audiograms or {}).get(ear), settings, seed)
            except (MetricError, ValueError, FloatingPointError, ZeroDivisionError) as error:
                failures.append((metric, f"{ear} ear: {error}"))
                value = float("nan")
            scores[f"{metric}_{ear}"] = value
            per_ear.append(value)
        scores[metric] = combine(metric, per_ear)
    return scores, failures, warnings
