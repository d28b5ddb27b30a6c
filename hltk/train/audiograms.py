"""Audiograms drawn for training: jittered Bisgaard profiles and Clarity-like sloping losses.

- ``bisgaard``: one of NH, N1-N7, S1-S3 on the Clarity grid, each frequency jittered
  uniformly within +-``jitter_db`` (10 dB, as Gonzalez, Dau and May), rounded, clipped to
  [0, 105] dB HL.
- ``clarity``: the shape of the Clarity listener panels (mild to moderately severe, sloping
  towards high frequencies): a low-frequency level of 0-50 dB HL, a slope of 0-25 dB per
  octave above 500 Hz, and 5 dB of independent noise per frequency, clipped to [0, 105].

Both come from a :class:`numpy.random.Generator`, so a seed fixes the whole set. Levels are
capped at :data:`MAX_HL_DB` (100 dB HL): MSBG's recruitment expands by ``105 / (105 - HL)``,
which is infinite at 105 dB HL.
"""

from __future__ import annotations

import numpy as np

from hltk.io.listeners import AUDIOGRAM_GRID
from hltk.synth.listeners import HL_CLIP, JITTER_DB, PROFILES, profile_levels

KINDS: tuple[str, ...] = ("bisgaard", "clarity")
MAX_HL_DB = 100.0


def bisgaard_audiogram(rng: np.random.Generator, jitter_db: float = JITTER_DB,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """One jittered Bisgaard audiogram; ``weights`` (one per :data:`PROFILES` entry, None =
    uniform, drawn exactly as before) makes some profiles more frequent."""
    if weights is None:
        profile = PROFILES[int(rng.integers(len(PROFILES)))]
    else:
        profile = PROFILES[int(rng.choice(len(PROFILES), p=weights / weights.sum()))]
    levels = profile_levels(profile) + rng.uniform(-jitter_db, jitter_db, len(AUDIOGRAM_GRID))
    return np.clip(np.round(levels), HL_CLIP[0], min(HL_CLIP[1], MAX_HL_DB))


def clarity_like_audiogram(rng: np.random.Generator) -> np.ndarray:
    octaves_above_500 = np.maximum(np.log2(np.asarray(AUDIOGRAM_GRID, dtype=float) / 500.0), 0.0)
    levels = (rng.uniform(0.0, 50.0) + rng.uniform(0.0, 25.0) * octaves_above_500
              + rng.normal(0.0, 5.0, len(AUDIOGRAM_GRID)))
    return np.clip(np.round(levels), HL_CLIP[0], min(HL_CLIP[1], MAX_HL_DB))


def draw_audiograms(rng: np.random.Generator, count: int, clarity_share: float = 0.4) -> np.ndarray:
    """``[count, 8]`` dB HL on :data:`AUDIOGRAM_GRID`, a ``clarity_share`` of them Clarity-like."""
    return np.stack([
        clarity_like_audiogram(rng) if rng.random() < clarity_share else bisgaard_audiogram(rng)
        for _ in range(count)
    ])
