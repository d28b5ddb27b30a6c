"""Synthetic listeners: Bisgaard standard audiograms with per-frequency jitter, both ears.

Each listener starts from one Bisgaard et al. (2010) profile (NH, N1-N7, S1-S3; see
:data:`hltk.io.listeners.BISGAARD_LEVELS`) read on the Clarity frequencies (250-8000 Hz;
8 kHz takes the 6 kHz value, as log-frequency interpolation with constant ends does). Every
frequency gets a jitter shared by both ears plus a smaller one per ear (the asymmetry),
together within +-``jitter_db`` (10 dB by default, as in Gonzalez, Dau and May), rounded to
whole dB and clipped to [0, 105] dB HL. Profiles are assigned in turn (listener ``i`` gets
profile ``i mod 11``) so every profile is present; the jitter is drawn from
``md5(seed, listener id)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hltk.io.listeners import (
    BISGAARD_FREQUENCIES,
    BISGAARD_LEVELS,
    CLARITY_FREQUENCIES,
    Audiogram,
    Listener,
    load_listeners,
)
from hltk.synth.seeding import item_rng

PROFILES: tuple[str, ...] = tuple(BISGAARD_LEVELS)  # NH, N1..N7, S1..S3
HL_CLIP: tuple[float, float] = (0.0, 105.0)
JITTER_DB = 10.0
#: Share of the jitter range that differs between the ears.
ASYMMETRY_SHARE = 0.3


def profile_levels(profile: str) -> np.ndarray:
    """A Bisgaard profile on :data:`CLARITY_FREQUENCIES` (log-frequency interpolation)."""
    audiogram = Audiogram(BISGAARD_FREQUENCIES, BISGAARD_LEVELS[profile])
    return audiogram.on_grid(CLARITY_FREQUENCIES)


def jittered_listener(
    listener_id: str, profile: str, rng: np.random.Generator, jitter_db: float = JITTER_DB
) -> Listener:
    """``profile`` with a shared and a per-ear jitter, together within +-``jitter_db``."""
    base = profile_levels(profile)
    shared_range = jitter_db * (1.0 - ASYMMETRY_SHARE)
    ear_range = jitter_db * ASYMMETRY_SHARE
    shared = rng.uniform(-shared_range, shared_range, size=base.size)
    ears = []
    for _ in ("left", "right"):
        levels = base + shared + rng.uniform(-ear_range, ear_range, size=base.size)
        levels = np.clip(np.round(levels), *HL_CLIP)
        ears.append(Audiogram(CLARITY_FREQUENCIES, tuple(float(v) for v in levels)))
    return Listener(listener_id, ears[0], ears[1])


def listener_id(index: int) -> str:
    """``L0001``, ``L0002``, ... (Clarity's style)."""
    return f"L{index + 1:04d}"


def make_listeners(
    count: int, seed: int, profiles: tuple[str, ...] = PROFILES, jitter_db: float = JITTER_DB
) -> list[Listener]:
    """``count`` listeners ``L0001``...; listener ``i`` has profile ``profiles[i % len]``."""
    listeners = []
    for index in range(count):
        identifier = listener_id(index)
        profile = profiles[index % len(profiles)]
        listeners.append(
            jittered_listener(identifier, profile, item_rng(seed, identifier, "listener"),
                              jitter_db)
        )
    return listeners


def listener_profile(index: int, profiles: tuple[str, ...] = PROFILES) -> str:
    """The profile that listener number ``index`` (0-based) is drawn from."""
    return profiles[index % len(profiles)]


def load_or_make_listeners(
    count: int, seed: int, listeners_file: str | Path | None = None
) -> list[Listener]:
    """The listeners of an existing ``listeners.json`` (sorted by id), or ``count`` new ones."""
    if listeners_file is not None:
        loaded = load_listeners(listeners_file)
        return [loaded[key] for key in sorted(loaded)]
    return make_listeners(count, seed)
