"""The exact Cadenza ICASSP 2024 HAAQI of a remix as a function of its four stem gains, fast.

What it computes, for one item (true stems, mixture, the scene's requested gains ``r``, a
listener) and the stems a separator estimated: the score ``hltk evaluate --preset
cadenza-icassp2024`` gives the file ``hltk remix`` writes when the estimated stems get the
gains ``g`` (:func:`hltk.remix.scoring.cadenza_haaqi`): the reference is the *true* stems
with the *requested* gains through the same chain (remix, loudness match, NAL-R per ear), so
the gains ``g`` only change the processed side. HAAQI per ear (24 kHz, ``equalisation=2``,
``level1 = 65 - 20 log10(rms)`` of the reference mixture's ear), the numpy stream seeded once
with ``md5(scene or id)`` before the left ear and going on into the right (the recipe's
``set_song_seed``), the mean of the ears.

Why it is fast: everything between the gains and the 32 kHz output is linear except the
loudness match. Each estimated stem goes once through NAL-R per ear and the 44.1 -> 32 kHz
resampler; for a gain vector the output is ``c(g) * sum_i 10 ** (g_i / 20) P_i`` where
``c(g)`` matches the remix's integrated loudness to the mixture's (one pyloudnorm call). The
output is then hard-clipped and quantised as the runner's 16-bit FLAC write and read back
(``round(x * 32768)``, saturated, ``/ 32768``), resampled to 24 kHz and scored by the compiled HAAQI
(:func:`hltk.metrics.indices.haaqi`, equal to pyclarity's to rounding), whose reference
side is the same for every ``g``. Equal to the file route to float rounding (the resampler
applied to a sum instead of the sum of resampled stems; ``tests/test_remix_gains.py``).

A common offset added to all four gains changes nothing (the loudness match undoes it), so
the search has three degrees of freedom; :func:`search_gains` keeps the mean offset from the
requested gains at zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from hltk.io.listeners import Listener
from hltk.remix.chain import (
    HAAQI_SAMPLE_RATE,
    MODEL_SAMPLE_RATE,
    REMIX_SAMPLE_RATE,
    STEMS,
    integrated_loudness,
    nalr_per_ear,
    reference_for_listener,
    to_output_rate,
)
from hltk.remix.scoring import EQUALISATION, haaqi_level

#: 16-bit PCM as libsndfile writes float (x 32768, rounded, saturated) and reads it back
PCM16_SCALE = 32768.0


def pcm16_round_trip(signal: np.ndarray) -> np.ndarray:
    """Hard clip to [-1, 1], then the 16-bit write and read of the runner (float32 first)."""
    clipped = np.clip(signal.astype(np.float32), -1.0, 1.0).astype(np.float64)
    return np.clip(np.rint(clipped * PCM16_SCALE), -PCM16_SCALE, PCM16_SCALE - 1) / PCM16_SCALE


@dataclass
class ItemObjective:
    """One item's HAAQI as a function of the gains (module docstring). Build with
    :meth:`build`; call :meth:`score`."""

    listener: Listener
    seed: int
    mixture_loudness: float
    stems_44k: dict[str, np.ndarray]
    stems_32k: dict[str, np.ndarray]
    reference_24k: list[np.ndarray]
    levels: list[float]
    evaluations: int = 0
    cache: dict[tuple[float, ...], tuple[float, float, float]] = field(default_factory=dict)

    @classmethod
    def build(cls, estimated: Mapping[str, np.ndarray], true_stems: Mapping[str, np.ndarray],
              mixture: np.ndarray, requested: Mapping[str, float], listener: Listener, seed: int
              ) -> ItemObjective:
        """``estimated``, ``true_stems``, ``mixture``: ``(time, 2)`` float64 at 44.1 kHz."""
        reference, reference_mixture = reference_for_listener(true_stems, mixture, requested,
                                                              listener, MODEL_SAMPLE_RATE)
        reference_24k = [to_output_rate(reference[:, ear], MODEL_SAMPLE_RATE, HAAQI_SAMPLE_RATE)
                         for ear in range(2)]
        levels = [haaqi_level(reference_mixture[:, ear]) for ear in range(2)]
        stems_32k = {name: to_output_rate(nalr_per_ear(estimated[name], listener),
                                          MODEL_SAMPLE_RATE, REMIX_SAMPLE_RATE)
                     for name in STEMS}
        return cls(listener, seed, integrated_loudness(mixture, MODEL_SAMPLE_RATE),
                   {name: np.asarray(estimated[name], dtype=np.float64) for name in STEMS},
                   stems_32k, reference_24k, levels)

    def output(self, gains: Mapping[str, float]) -> np.ndarray:
        """The 32 kHz ``(time, 2)`` remix for ``gains`` before the clip (what the chain returns)."""
        factors = {name: 10.0 ** (float(gains.get(name, 0.0)) / 20.0) for name in STEMS}
        remix = sum(factors[name] * self.stems_44k[name] for name in STEMS)
        loudness = integrated_loudness(remix, MODEL_SAMPLE_RATE)
        match = 10.0 ** ((self.mixture_loudness - loudness) / 20.0)
        return match * sum(factors[name] * self.stems_32k[name] for name in STEMS)

    def score(self, gains: Mapping[str, float]) -> tuple[float, float, float]:
        """(HAAQI left, right, mean of the ears) of the remix with ``gains``."""
        from hltk.metrics import indices

        key = tuple(round(float(gains.get(name, 0.0)), 6) for name in STEMS)
        if key in self.cache:
            return self.cache[key]
        processed = pcm16_round_trip(self.output(gains))
        rng = np.random.RandomState(self.seed)
        ears = []
        for ear, audiogram in enumerate((self.listener.left, self.listener.right)):
            signal = to_output_rate(processed[:, ear], REMIX_SAMPLE_RATE, HAAQI_SAMPLE_RATE)
            with torch.no_grad():
                value = indices.haaqi(
                    [torch.from_numpy(np.ascontiguousarray(self.reference_24k[ear]))],
                    [torch.from_numpy(np.ascontiguousarray(signal))], HAAQI_SAMPLE_RATE,
                    [(audiogram.levels, audiogram.frequencies)], equalisation=EQUALISATION,
                    level1=torch.tensor([self.levels[ear]], dtype=torch.float64), seeds=[rng])
            ears.append(float(value[0]))
        self.evaluations += 1
        result = (ears[0], ears[1], float(np.mean(ears)))
        self.cache[key] = result
        return result

    def clipped_samples(self, gains: Mapping[str, float]) -> int:
        """Output samples (both channels) at or beyond full scale: what the hard clip cuts."""
        return int(np.sum(np.abs(self.output(gains).astype(np.float32)) >= 1.0))


@dataclass(frozen=True)
class SearchResult:
    gains: dict[str, float]
    haaqi: tuple[float, float, float]
    start_haaqi: tuple[float, float, float]
    evaluations: int


def search_gains(objective: Callable[[Mapping[str, float]], tuple[float, float, float]],
                 requested: Mapping[str, float], *, bound: float, step: float = 6.0,
                 min_step: float = 1.5, max_evaluations: int = 40) -> SearchResult:
    """The gains that maximise the mean-ear HAAQI, by a derivative-free compass search on the
    offsets from ``requested`` (each within ``+-bound`` dB, their mean kept at zero: a common
    offset changes nothing). From zero offsets, try ``+-step`` on each stem (the other three
    moving by ``-+step/3`` to keep the mean), move to the best improvement, halve the step
    when none improves, stop under ``min_step`` or after ``max_evaluations``. Deterministic."""
    offsets = np.zeros(len(STEMS))

    def gains_of(values: np.ndarray) -> dict[str, float]:
        return {name: float(requested.get(name, 0.0)) + float(values[i])
                for i, name in enumerate(STEMS)}

    start = objective(gains_of(offsets))
    best, evaluations = start, 1
    while step >= min_step and evaluations < max_evaluations:
        candidates = []
        for i in range(len(STEMS)):
            for sign in (1.0, -1.0):
                move = np.full(len(STEMS), -sign * step / (len(STEMS) - 1))
                move[i] = sign * step
                trial = offsets + move
                if np.max(np.abs(trial)) <= bound + 1e-9:
                    candidates.append(trial)
        improved = None
        for trial in candidates:
            if evaluations >= max_evaluations:
                break
            value = objective(gains_of(trial))
            evaluations += 1
            if value[2] > best[2] + 1e-6 and (improved is None or value[2] > improved[1][2]):
                improved = (trial, value)
        if improved is None:
            step /= 2.0
        else:
            offsets, best = improved
    return SearchResult(gains_of(offsets), best, start, evaluations)
