"""Synthetic speech from espeak-ng: voices, splits by voice, level-normalised utterances.

A :class:`Voice` is an espeak-ng accent (``en``, ``en-us``, ``en-gb-scotland``, ...) with a
voice variant (``f3``, ``m2``, ``Alicia``, ...), spoken as ``-v accent+variant``. The variant
carries the speaker's timbre, so corpora are split by variant: variants in
:data:`TEST_VARIANTS` and :data:`VALID_VARIANTS` never speak in ``split=train``, whatever the
accent. Speaking rate (``-s``, words per minute) and pitch (``-p``, 0-99) vary per utterance.

espeak-ng is deterministic: the same text, voice, rate and pitch give the same samples
(22.05 kHz, 16 bit), which are resampled with soxr and level-normalised here. Its output has
no energy above 11.025 kHz, so 44.1 kHz speech is band-limited there (as telephone-band
corpora are at 4 kHz); pauses between sentences are digital silence.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
import torch

from hltk.io.audio import resample
from hltk.synth.text import make_text

ESPEAK_SAMPLE_RATE = 22050

#: espeak-ng English accents (the non-MBROLA ones, which need no extra voice data).
ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)
#: espeak-ng voice variants that sound like people (robots, whispers and effects left out),
#: with their sex as espeak-ng lists it.
VARIANTS: dict[str, str] = {
    "f1": "F", "f2": "F", "f3": "F", "f4": "F", "f5": "F", "Alicia": "F", "Andrea": "F",
    "Annie": "F", "aunty": "F", "belinda": "F", "linda": "F", "steph": "F", "steph3": "F",
    "anika": "F", "grandma": "F",
    "m1": "M", "m2": "M", "m3": "M", "m4": "M", "m5": "M", "m6": "M", "m7": "M", "m8": "M",
    "adam": "M", "Andy": "M", "david": "M", "edward": "M", "john": "M", "Lee": "M", "max": "M",
    "Michael": "M", "paul": "M", "robert": "M", "travis": "M", "victor": "M", "klatt": "M",
}
#: Variants held out of training: only ever in ``split=test`` / ``split=valid``.
TEST_VARIANTS: tuple[str, ...] = ("f4", "belinda", "m6", "Michael", "paul")
VALID_VARIANTS: tuple[str, ...] = ("f5", "Annie", "m7", "robert")
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: Fractions of items drawn into each split.
SPLIT_FRACTIONS: tuple[float, ...] = (0.8, 0.1, 0.1)

#: Active speech level that utterances are normalised to, dB re a digital RMS of 1.
SPEECH_LEVEL_DB = -26.0
RATE_RANGE_WPM: tuple[int, int] = (130, 200)
PITCH_RANGE: tuple[int, int] = (25, 75)


class SpeechSynthesisError(RuntimeError):
    """espeak-ng failed or returned something that is not audio."""


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: accent plus variant."""

    accent: str
    variant: str

    @property
    def name(self) -> str:
        """The ``-v`` argument, e.g. ``en-us+f3``."""
        return f"{self.accent}+{self.variant}"

    @property
    def sex(self) -> str:
        return VARIANTS[self.variant]

    @property
    def split(self) -> str:
        """The split this voice belongs to (by its variant)."""
        return variant_split(self.variant)


def variant_split(variant: str) -> str:
    """``test``, ``valid`` or ``train`` for a voice variant."""
    if variant in TEST_VARIANTS:
        return "test"
    if variant in VALID_VARIANTS:
        return "valid"
    return "train"


def voices(split: str | None = None) -> list[Voice]:
    """Every voice (accent x variant), or those of one split, in a fixed order."""
    return [
        Voice(accent, variant)
        for variant in VARIANTS
        for accent in ACCENTS
        if split is None or variant_split(variant) == split
    ]


def draw_split(rng: np.random.Generator) -> str:
    """A split drawn with :data:`SPLIT_FRACTIONS`."""
    return SPLITS[int(rng.choice(len(SPLITS), p=SPLIT_FRACTIONS))]


def draw_voice(rng: np.random.Generator, split: str | None = None) -> Voice:
    """A voice drawn uniformly from ``split`` (all voices if ``None``)."""
    pool = voices(split)
    return pool[int(rng.integers(len(pool)))]


def _parse_espeak_wav(data: bytes) -> np.ndarray:
    """espeak-ng ``--stdout`` output (a WAV whose sizes say 'streaming') -> float32 samples."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechSynthesisError(f"espeak-ng returned {len(data)} bytes that are not a WAV")
    position = 12
    while position + 8 <= len(data):
        chunk = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        if chunk == b"data":
            payload = data[position + 8 :]
            payload = payload[: len(payload) // 2 * 2]
            return np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0
        position += 8 + size + (size & 1)
    raise SpeechSynthesisError("espeak-ng output has no data chunk")


def espeak(text: str, voice: Voice | str, rate_wpm: int = 175, pitch: int = 50) -> np.ndarray:
    """Speak ``text`` with espeak-ng; float32 mono samples at :data:`ESPEAK_SAMPLE_RATE`.

    The text goes through stdin, so it is never parsed as options.
    """
    name = voice.name if isinstance(voice, Voice) else voice
    command = ["espeak-ng", "-v", name, "-s", str(int(rate_wpm)), "-p", str(int(pitch)),
               "--stdout"]
    try:
        result = subprocess.run(
            command, input=text.encode("utf-8"), capture_output=True, timeout=120, check=False
        )
    except FileNotFoundError as error:
        from hltk.synth.tools import TOOLS, missing_message

        raise SpeechSynthesisError(missing_message([TOOLS["espeak-ng"]])) from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise SpeechSynthesisError(f"espeak-ng -v {name} failed ({result.returncode}): {message}")
    samples = _parse_espeak_wav(result.stdout)
    if samples.size == 0 or not np.any(samples):
        raise SpeechSynthesisError(f"espeak-ng -v {name} returned silence for {text!r}")
    return samples


def active_level_db(audio: np.ndarray, sample_rate: int, floor_db: float = 40.0) -> float:
    """Active level in dB re a digital RMS of 1: the RMS over 20 ms frames whose energy is
    within ``floor_db`` of the loudest frame (a simple stand-in for ITU-T P.56 that ignores
    the pauses between words)."""
    samples = np.asarray(audio, dtype=np.float64).reshape(-1)
    frame = max(1, int(0.02 * sample_rate))
    count = samples.size // frame
    if count == 0:
        power = float(np.mean(samples**2))
        return 10.0 * np.log10(power) if power > 0 else float("-inf")
    powers = np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1)
    peak = powers.max()
    if peak <= 0:
        return float("-inf")
    active = powers[powers >= peak * 10.0 ** (-floor_db / 10.0)]
    return float(10.0 * np.log10(active.mean()))


def normalise_level(
    audio: np.ndarray, sample_rate: int, level_db: float = SPEECH_LEVEL_DB, peak_limit: float = 0.99
) -> np.ndarray:
    """Scale to an active level of ``level_db``; lower further if the peak would pass
    ``peak_limit`` (so 16-bit files never clip)."""
    gain = 10.0 ** ((level_db - active_level_db(audio, sample_rate)) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    if peak > peak_limit:
        gain *= peak_limit / peak
    return (np.asarray(audio, dtype=np.float64) * gain).astype(np.float32)


def to_rate(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample mono float32 samples with soxr (through :func:`hltk.io.audio.resample`)."""
    if rate_in == rate_out:
        return np.asarray(samples, dtype=np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return resample(tensor, rate_in, rate_out).numpy().astype(np.float32)


@dataclass(frozen=True)
class Utterance:
    """One synthetic utterance and how it was made."""

    audio: np.ndarray  # float32 (time,)
    sample_rate: int
    text: str
    voice: Voice
    rate_wpm: int
    pitch: int

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


def draw_utterance(
    rng: np.random.Generator,
    sample_rate: int,
    voice: Voice | None = None,
    split: str | None = None,
    sentences: int | None = None,
    level_db: float = SPEECH_LEVEL_DB,
) -> Utterance:
    """Draw text, voice (from ``split`` unless given), rate and pitch from ``rng``; speak,
    resample to ``sample_rate`` and normalise to ``level_db``."""
    if sentences is None:
        sentences = 1 if rng.random() < 0.75 else 2
    text = make_text(rng, sentences)
    if voice is None:
        voice = draw_voice(rng, split)
    rate_wpm = int(rng.integers(RATE_RANGE_WPM[0], RATE_RANGE_WPM[1] + 1))
    pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
    samples = espeak(text, voice, rate_wpm, pitch)
    samples = to_rate(samples, ESPEAK_SAMPLE_RATE, sample_rate)
    return Utterance(normalise_level(samples, sample_rate, level_db), sample_rate, text, voice,
                     rate_wpm, pitch)
