"""Test signals: small, deterministic factories that tests across hltk import.

They need nothing outside Python (no espeak-ng, no fluidsynth), return float32 torch tensors
``[channels, time]`` (the project's in-memory layout) and take an explicit ``seed`` where they
draw random numbers. :func:`speech` and :func:`song_stems` use the external tools and raise
:class:`hltk.synth.tools.ToolMissingError` without them (tests can skip on
:func:`has_espeak` / :func:`has_fluidsynth`).
"""

from __future__ import annotations

import numpy as np
import torch

from hltk.synth.noise import brown_noise, pink_noise, white_noise
from hltk.synth.tools import missing_tools


def _tensor(samples: np.ndarray, channels: int, level_db: float | None) -> torch.Tensor:
    samples = np.asarray(samples, dtype=np.float64)
    if level_db is not None:
        rms = float(np.sqrt(np.mean(samples**2)))
        if rms > 0:
            samples = samples * 10.0 ** (level_db / 20.0) / rms
    mono = torch.from_numpy(samples.astype(np.float32))
    return mono.unsqueeze(0).repeat(channels, 1)


def tone(
    frequency: float, seconds: float = 1.0, sample_rate: int = 44100, level_db: float = -20.0,
    channels: int = 1,
) -> torch.Tensor:
    """A sine at ``frequency`` Hz with an RMS of ``level_db`` dB re 1, ``[channels, time]``."""
    time = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return _tensor(np.sin(2 * np.pi * frequency * time), channels, level_db)


def harmonic_complex(
    f0: float = 150.0, seconds: float = 1.0, sample_rate: int = 44100, level_db: float = -20.0,
    harmonics: int = 20, channels: int = 1,
) -> torch.Tensor:
    """Equal-amplitude harmonics of ``f0`` below Nyquist (a crude voiced sound)."""
    time = np.arange(int(round(seconds * sample_rate))) / sample_rate
    signal = np.zeros_like(time)
    for harmonic in range(1, harmonics + 1):
        if harmonic * f0 < sample_rate / 2:
            signal += np.sin(2 * np.pi * harmonic * f0 * time)
    return _tensor(signal, channels, level_db)


def noise(
    colour: str = "white", seconds: float = 1.0, sample_rate: int = 44100, seed: int = 0,
    level_db: float = -20.0, channels: int = 1,
) -> torch.Tensor:
    """White, pink or brown Gaussian noise; each channel drawn independently."""
    rng = np.random.default_rng(seed)
    length = int(round(seconds * sample_rate))
    makers = {
        "white": lambda: white_noise(length, rng),
        "pink": lambda: pink_noise(length, rng, sample_rate),
        "brown": lambda: brown_noise(length, rng, sample_rate),
    }
    if colour not in makers:
        raise ValueError(f"unknown noise colour {colour!r}; choose white, pink or brown")
    rows = [_tensor(makers[colour](), 1, level_db)[0] for _ in range(channels)]
    return torch.stack(rows)


def impulse(
    seconds: float = 0.5, sample_rate: int = 44100, position: int | None = None,
    channels: int = 1,
) -> torch.Tensor:
    """A unit impulse (at the middle unless ``position`` is given)."""
    length = int(round(seconds * sample_rate))
    signal = np.zeros(length)
    signal[length // 2 if position is None else position] = 1.0
    return _tensor(signal, channels, None)


def speech_like(
    seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0, level_db: float = -26.0,
    channels: int = 1,
) -> torch.Tensor:
    """A speech-like signal without espeak-ng: a harmonic complex with a wandering pitch
    (100-220 Hz), three moving formant-like peaks and a 4 Hz syllabic envelope."""
    rng = np.random.default_rng(seed)
    length = int(round(seconds * sample_rate))
    time = np.arange(length) / sample_rate
    f0 = 100.0 + 120.0 * rng.random() + 20.0 * np.sin(2 * np.pi * 0.7 * time + rng.random() * 6)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    formants = [(500.0, 900.0), (1200.0, 2200.0), (2500.0, 3300.0)]
    centres = [low + (high - low) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * time + rng.random() * 6))
               for low, high in formants]
    signal = np.zeros(length)
    for harmonic in range(1, 40):
        frequency = harmonic * f0
        weight = sum(np.exp(-0.5 * ((frequency - centre) / 120.0) ** 2) for centre in centres)
        signal += np.where(frequency < sample_rate / 2, weight, 0.0) * np.sin(harmonic * phase)
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * time + rng.random() * 6), 0.0, None) ** 0.5
    return _tensor(signal * envelope, channels, level_db)


def has_espeak() -> bool:
    """Whether espeak-ng is installed (for ``pytest.mark.skipif``)."""
    return not missing_tools(("espeak-ng",))


def has_fluidsynth() -> bool:
    """Whether fluidsynth and the GM soundfont are installed."""
    return not missing_tools(("fluidsynth", "soundfont"))


def speech(
    seed: int = 0, sample_rate: int = 16000, channels: int = 1, sentences: int = 1
) -> torch.Tensor:
    """A real espeak-ng sentence (voice, text, rate and pitch from ``seed``), active level
    -26 dB re 1, ``[channels, time]``."""
    from hltk.synth.speech import draw_utterance
    from hltk.synth.tools import require_tools

    require_tools("speech")
    utterance = draw_utterance(np.random.default_rng(seed), sample_rate, sentences=sentences)
    return torch.from_numpy(utterance.audio).unsqueeze(0).repeat(channels, 1)


def song_stems(
    seed: int = 0, seconds: float = 3.0, sample_rate: int = 44100
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A short song's stems ``{vocals, drums, bass, other: [2, time]}`` and their mixture."""
    from hltk.synth.music import compose_song, render_stems
    from hltk.synth.tools import require_tools

    require_tools("music")
    song = compose_song(np.random.default_rng(seed), duration=seconds)
    stems, mixture = render_stems(song, sample_rate, seconds=seconds)
    return {name: torch.from_numpy(audio) for name, audio in stems.items()}, torch.from_numpy(
        mixture
    )
