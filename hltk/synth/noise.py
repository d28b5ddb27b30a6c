"""Noises for the ``noisy`` corpus, and mixing at a signal-to-noise ratio.

Every generator takes a ``numpy.random.Generator`` and returns float64 ``(time,)`` mono noise
with an RMS of 1 (the mixer sets the level). Kinds (:data:`NOISE_TYPES`):

- ``ssn``: speech-shaped noise, white noise filtered to the long-term average spectrum of the
  target utterance (Welch estimate), the classic masker of speech-in-noise tests;
- ``babble``: 4-8 espeak-ng talkers saying other sentences, each at the same active level;
- ``pink`` / ``brown``: 1/f and 1/f^2 power spectra (FFT shaping, 20 Hz high-pass);
- ``music``: a song from :mod:`hltk.synth.music` rendered whole by fluidsynth;
- ``transient``: knocks, claps, door slams and clatter on a quiet pink-noise floor.

:func:`mix_at_snr` scales the noise and returns float32 ``reference``, ``noise`` and
``mixture = reference + noise`` computed in float32, so the three files, written as float
WAV, satisfy the sum exactly when read back.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import welch

NOISE_TYPES: tuple[str, ...] = ("ssn", "babble", "pink", "brown", "music", "transient")


def _unit_rms(noise: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(noise, dtype=np.float64))))
    return noise / rms if rms > 0 else noise


def _shape_spectrum(
    length: int, rng: np.random.Generator, gain: Callable[[np.ndarray], np.ndarray],
    sample_rate: int,
) -> np.ndarray:
    """White Gaussian noise with its spectrum multiplied by ``gain(frequencies)`` (FFT of the
    whole signal, so no frame edges)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    shaped = np.fft.irfft(spectrum * gain(frequencies), n=length)
    return _unit_rms(shaped)


def white_noise(length: int, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise, RMS 1."""
    return _unit_rms(rng.standard_normal(length))


def coloured_noise(
    length: int, rng: np.random.Generator, exponent: float, sample_rate: int = 16000,
    high_pass_hz: float = 20.0,
) -> np.ndarray:
    """Noise with power spectrum ``1 / f**exponent`` above ``high_pass_hz`` (1: pink,
    2: brown), RMS 1."""

    def gain(frequencies: np.ndarray) -> np.ndarray:
        safe = np.maximum(frequencies, high_pass_hz)
        return np.where(frequencies >= high_pass_hz, safe ** (-exponent / 2.0), 0.0)

    return _shape_spectrum(length, rng, gain, sample_rate)


def pink_noise(length: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Pink (1/f) noise, RMS 1."""
    return coloured_noise(length, rng, 1.0, sample_rate)


def brown_noise(length: int, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Brown (1/f^2) noise, RMS 1."""
    return coloured_noise(length, rng, 2.0, sample_rate)


def speech_shaped_noise(
    length: int, rng: np.random.Generator, sample_rate: int, speech: np.ndarray
) -> np.ndarray:
    """Noise with the long-term average spectrum of ``speech`` (Welch, 32 ms Hann segments),
    RMS 1."""
    segment = min(len(speech), int(0.032 * sample_rate))
    frequencies, power = welch(speech, fs=sample_rate, nperseg=segment)

    def gain(bins: np.ndarray) -> np.ndarray:
        return np.sqrt(np.interp(bins, frequencies, power))

    return _shape_spectrum(length, rng, gain, sample_rate)


def _loop_to(signal: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """``signal`` repeated and cut to ``length`` samples, starting ``offset`` samples in."""
    repeats = int(np.ceil((length + offset) / max(1, len(signal))))
    return np.tile(signal, repeats)[offset : offset + length]


def babble(
    length: int, rng: np.random.Generator, sample_rate: int, talkers: int | None = None,
    split: str | None = None,
) -> np.ndarray:
    """Multi-talker babble: ``talkers`` (default 4-8) espeak-ng voices speaking other
    sentences, each at the same active level and started at a random point, RMS 1.

    With ``split``, the talkers are voices of that split only (so held-out voices never
    appear in training data, not even in the babble)."""
    from hltk.synth.speech import draw_utterance

    if talkers is None:
        talkers = int(rng.integers(4, 9))
    mixture = np.zeros(length)
    for _ in range(talkers):
        pieces: list[np.ndarray] = []
        total = 0
        while total < length:
            utterance = draw_utterance(rng, sample_rate, split=split, sentences=1)
            pieces.append(utterance.audio.astype(np.float64))
            total += utterance.audio.size
        talker = np.concatenate(pieces)
        mixture += _loop_to(talker, length, int(rng.integers(len(talker))))
    return _unit_rms(mixture)


def music_noise(length: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A song (all parts, one fluidsynth render) as mono noise at ``sample_rate``, RMS 1."""
    from hltk.synth.music import MUSIC_SAMPLE_RATE, compose_song, render_song_mixture
    from hltk.synth.speech import to_rate

    song = compose_song(rng, duration=length / sample_rate + 0.5)
    stereo = render_song_mixture(song, MUSIC_SAMPLE_RATE)
    mono = to_rate(stereo.mean(axis=0).astype(np.float32), MUSIC_SAMPLE_RATE, sample_rate)
    return _unit_rms(_loop_to(mono.astype(np.float64), length))


def _decaying_burst(
    rng: np.random.Generator, sample_rate: int, duration: float, decay: float,
    low_hz: float, high_hz: float,
) -> np.ndarray:
    """Band-limited noise with an exponential decay (time constant ``decay`` seconds)."""
    count = max(8, int(duration * sample_rate))
    nyquist = sample_rate / 2.0

    def band(frequencies: np.ndarray) -> np.ndarray:
        return ((frequencies >= low_hz) & (frequencies <= min(high_hz, nyquist))).astype(float)

    burst = _shape_spectrum(count, rng, band, sample_rate)
    envelope = np.exp(-np.arange(count) / (decay * sample_rate))
    attack = min(count, max(1, int(0.001 * sample_rate)))
    envelope[:attack] *= np.linspace(0.0, 1.0, attack)
    return burst * envelope


def transient_event(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """One knock, clap, door slam or clatter of dishes."""
    kind = int(rng.integers(4))
    if kind == 0:  # knock: short low-mid thud
        return _decaying_burst(rng, sample_rate, 0.12, 0.02, 80, 1500)
    if kind == 1:  # clap: bright and very short
        return _decaying_burst(rng, sample_rate, 0.06, 0.008, 800, 8000)
    if kind == 2:  # door slam: low thump with a rattling tail
        thump = _decaying_burst(rng, sample_rate, 0.5, 0.09, 40, 400)
        rattle = _decaying_burst(rng, sample_rate, 0.5, 0.05, 500, 4000)
        return thump + 0.3 * rattle
    # clatter: a few damped high-pitched pings
    count = int(0.4 * sample_rate)
    clatter = np.zeros(count)
    time = np.arange(count) / sample_rate
    for _ in range(int(rng.integers(3, 7))):
        start = int(rng.integers(count // 2))
        frequency = float(rng.uniform(1500, min(7000, sample_rate * 0.45)))
        ping = np.sin(2 * np.pi * frequency * time[: count - start])
        ping *= np.exp(-time[: count - start] / float(rng.uniform(0.01, 0.06)))
        clatter[start:] += float(rng.uniform(0.3, 1.0)) * ping
    return clatter


def transient_noise(length: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Transient events (about 1.5 per second, at least 2) at random times and levels on a
    pink-noise floor 30 dB below the events, RMS 1."""
    floor = pink_noise(length, rng, sample_rate) * 10.0 ** (-30.0 / 20.0)
    events = np.zeros(length)
    count = max(2, int(rng.poisson(1.5 * length / sample_rate)))
    for _ in range(count):
        event = transient_event(rng, sample_rate)
        event = event / (np.max(np.abs(event)) or 1.0) * 10.0 ** (rng.uniform(-12.0, 0.0) / 20.0)
        start = int(rng.integers(max(1, length - len(event) // 2)))
        end = min(length, start + len(event))
        events[start:end] += event[: end - start]
    events_rms = float(np.sqrt(np.mean(events**2))) or 1.0
    return _unit_rms(events / events_rms + floor)


def make_noise(
    noise_type: str, length: int, rng: np.random.Generator, sample_rate: int,
    speech: np.ndarray | None = None, split: str | None = None,
) -> np.ndarray:
    """Noise of one of :data:`NOISE_TYPES`, ``length`` samples, RMS 1 (``speech`` is needed
    for ``ssn``; ``split`` picks the babble talkers' voices)."""
    if noise_type == "ssn":
        if speech is None:
            raise ValueError("speech-shaped noise needs the speech whose spectrum it takes")
        return speech_shaped_noise(length, rng, sample_rate, speech)
    if noise_type == "babble":
        return babble(length, rng, sample_rate, split=split)
    if noise_type == "pink":
        return pink_noise(length, rng, sample_rate)
    if noise_type == "brown":
        return brown_noise(length, rng, sample_rate)
    if noise_type == "music":
        return music_noise(length, rng, sample_rate)
    if noise_type == "transient":
        return transient_noise(length, rng, sample_rate)
    raise ValueError(f"unknown noise type {noise_type!r}; choose from {', '.join(NOISE_TYPES)}")


def snr_db(reference: np.ndarray, noise: np.ndarray) -> float:
    """10 log10 of the ratio of mean powers over the whole signals (float64)."""
    reference_power = float(np.mean(np.square(reference, dtype=np.float64)))
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    return 10.0 * np.log10(reference_power / noise_power)


def snr_scaling(speech: np.ndarray, noise: np.ndarray, target_snr_db: float,
                peak_limit: float = 0.99, what: str = "reference") -> tuple[np.ndarray, float]:
    """``(noise64, scale)``: ``noise`` (float64) scaled so that ``speech`` to it is
    ``target_snr_db`` over the whole signal, and the common ``scale`` (<= 1) that keeps the
    peak of their sum at ``peak_limit``; ``speech`` is float64."""
    noise64 = np.asarray(noise, dtype=np.float64)
    speech_power = float(np.mean(speech**2))
    noise_power = float(np.mean(noise64**2))
    if speech_power <= 0 or noise_power <= 0:
        raise ValueError(f"cannot set an SNR with a silent {what} or silent noise")
    noise64 = noise64 * np.sqrt(speech_power / noise_power / 10.0 ** (target_snr_db / 10.0))
    peak = float(np.max(np.abs(speech + noise64)))
    return noise64, (peak_limit / peak if peak > peak_limit else 1.0)


def mix_at_snr(
    reference: np.ndarray, noise: np.ndarray, target_snr_db: float, peak_limit: float = 0.99
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale ``noise`` so that :func:`snr_db` of (reference, noise) is ``target_snr_db``;
    returns float32 ``(mixture, reference, scaled_noise)`` with ``mixture`` the float32 sum
    ``reference + scaled_noise``, bit-exact.

    If the mixture's peak would pass ``peak_limit``, reference and noise are lowered together
    (the SNR is unchanged), so the mixture never clips. The SNR is over the whole utterance
    (pauses included), as most corpora define it.
    """
    reference64 = np.asarray(reference, dtype=np.float64)
    noise64, scale = snr_scaling(reference64, noise, target_snr_db, peak_limit)
    reference32 = (reference64 * scale).astype(np.float32)
    noise32 = (noise64 * scale).astype(np.float32)
    mixture32 = reference32 + noise32
    return mixture32, reference32, noise32
