"""The benchmark corpus: ``N`` items of ``S`` seconds of real speech for mixed listeners, made
on the fly, plus a noisy copy (speech-shaped noise at 0 / 5 / 10 dB SNR) for denoising backends.

Speech comes from the shipped demo set (``manifests/demo/audio``, espeak-ng sentences), each
item a different sentence with its silences trimmed, looped and cut to ``S`` seconds. Without
the demo set (an installed wheel), :mod:`hltk.synth` makes speech when it can, else a
speech-like harmonic complex with syllabic modulation stands in. Every random draw is seeded
from ``md5(seed, id)`` so the corpus is the same on every machine.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from hltk.runner import item_seed

#: The rate the corpus is written at (MSBG's and NAL-R's working rate).
CORPUS_RATE = 44100
#: Listeners cycled over the items: normal hearing, mild and moderate flat, steep sloping.
BENCH_LISTENERS: tuple[str, ...] = ("NH", "N2", "N4", "S2")
#: SNRs (dB) cycled over the noisy items.
BENCH_SNRS_DB: tuple[float, ...] = (0.0, 5.0, 10.0)
DEMO_AUDIO = Path(__file__).resolve().parents[2] / "manifests" / "demo" / "audio"


@dataclass(frozen=True)
class BenchCorpus:
    """The manifests of a benchmark corpus (both list the same ids and listeners)."""

    speech: Path  #: id, audio (clean speech), listener
    noisy: Path  #: id, audio (noisy speech), reference (the clean speech), listener, snr_db
    items: int
    seconds: float
    source: str  #: where the speech came from


def _trim_silence(signal: np.ndarray, rate: int, threshold_db: float = -40.0) -> np.ndarray:
    """``signal`` without its leading and trailing silence (10 ms frames below threshold)."""
    frame = max(1, int(0.01 * rate))
    frames = len(signal) // frame
    if frames == 0:
        return signal
    power = np.mean(signal[: frames * frame].reshape(frames, frame) ** 2, axis=1)
    loud = np.flatnonzero(power > np.max(power) * 10.0 ** (threshold_db / 10.0))
    if len(loud) == 0:
        return signal
    return signal[loud[0] * frame: (loud[-1] + 1) * frame]


def _demo_sentences(rate: int) -> list[np.ndarray]:
    """The demo set's sentences, mono at ``rate``, silences trimmed."""
    import soxr

    sentences = []
    for path in sorted(DEMO_AUDIO.glob("*")):
        if path.suffix.lower() not in (".wav", ".flac"):
            continue
        samples, sample_rate = sf.read(path, dtype="float64", always_2d=True)
        mono = samples[:, 0]
        if sample_rate != rate:
            mono = np.asarray(soxr.resample(mono, sample_rate, rate, quality="VHQ"))
        sentences.append(_trim_silence(mono, rate))
    return [s for s in sentences if len(s)]


def speech_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A speech-like stand-in: harmonic complex (gliding f0 100-160 Hz) with syllabic
    modulation, RMS about -26 dB re 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    f0 = 100 + 40 * rng.uniform() + 20 * np.sin(2 * np.pi * 1.1 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) * rng.uniform(0.3, 1.0) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * (3 + rng.uniform()) * t + rng.uniform(0, 6)), 0, None) ** 2
    signal = np.asarray(voiced) * envelope + 0.05 * rng.standard_normal(t.size) * envelope
    return 0.05 * signal / np.sqrt(np.mean(signal**2))


def _synth_speech(rate: int, count: int) -> list[np.ndarray]:
    """espeak-ng sentences through :mod:`hltk.synth` when it is there (else empty)."""
    try:
        from hltk.synth.signals import has_espeak, speech  # type: ignore[import-not-found]

        if not has_espeak():
            return []
        return [speech(seed=index, sample_rate=rate)[0].numpy().astype(np.float64)
                for index in range(min(count, 6))]
    except Exception:
        return []


def loop_to(signal: np.ndarray, length: int, offset: int = 0) -> np.ndarray:
    """``signal`` repeated (with a 50 ms pause between repeats) and cut to ``length``."""
    pause = np.zeros(max(1, len(signal) // 40))
    period = np.concatenate([signal, pause])
    repeats = int(np.ceil((length + offset) / len(period))) + 1
    return np.tile(period, repeats)[offset: offset + length]


def speech_shaped_noise(speech: np.ndarray, length: int, rng: np.random.Generator,
                        rate: int) -> np.ndarray:
    """Noise with the long-term spectrum of ``speech``, RMS 1 (``hltk.synth`` when present,
    else the speech's magnitude spectrum with random phases)."""
    try:
        from hltk.synth.noise import speech_shaped_noise as synth_ssn  # type: ignore[import-not-found]

        noise = np.asarray(synth_ssn(length, rng, rate, speech), dtype=np.float64)
    except ImportError:
        magnitude = np.abs(np.fft.rfft(loop_to(speech, length)))
        phases = np.exp(2j * np.pi * rng.uniform(size=magnitude.shape))
        noise = np.fft.irfft(magnitude * phases, n=length)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """(mixture, speech) with the noise scaled to ``snr_db`` over the whole item; both lowered
    together if the mixture would pass 0.99 (the SNR is unchanged). ``hltk.synth``'s mixer
    when present."""
    try:
        from hltk.synth.noise import mix_at_snr as synth_mix  # type: ignore[import-not-found]

        mixture32, speech32, _ = synth_mix(speech, noise, snr_db)
        return np.asarray(mixture32, dtype=np.float64), np.asarray(speech32, dtype=np.float64)
    except ImportError:
        pass
    speech_power = float(np.mean(speech**2))
    noise = noise * np.sqrt(speech_power / float(np.mean(noise**2)) / 10.0 ** (snr_db / 10.0))
    mixture = speech + noise
    peak = float(np.max(np.abs(mixture)))
    scale = 0.99 / peak if peak > 0.99 else 1.0
    return mixture * scale, speech * scale


def _write_csv(path: Path, rows: Sequence[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_corpus(folder: Path, items: int = 8, seconds: float = 2.0,
                listeners: Sequence[str] = BENCH_LISTENERS, seed: int = 0) -> BenchCorpus:
    """Write the benchmark corpus to ``folder`` (``audio/``, ``speech.csv``, ``noisy.csv``)."""
    if items < 1 or seconds <= 0:
        raise ValueError("the benchmark corpus needs at least one item of positive length")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    rate = CORPUS_RATE
    length = int(round(seconds * rate))
    sentences = _demo_sentences(rate) if DEMO_AUDIO.is_dir() else []
    source = f"demo set ({DEMO_AUDIO})"
    if not sentences:
        sentences, source = _synth_speech(rate, items), "hltk.synth (espeak-ng)"
    if not sentences:
        source = "speech-like harmonic complex (no demo set, no espeak-ng)"
    speech_rows: list[dict[str, object]] = []
    noisy_rows: list[dict[str, object]] = []
    for index in range(items):
        item_id = f"bench{index:03d}"
        rng = np.random.default_rng(item_seed(seed, item_id))
        if sentences:
            sentence = sentences[index % len(sentences)]
            offset = int(rng.integers(0, max(1, len(sentence) // 2)))
            clean = loop_to(sentence, length, offset)
        else:
            clean = speech_like(seconds, rate, item_seed(seed, item_id))
        snr = BENCH_SNRS_DB[index % len(BENCH_SNRS_DB)]
        noisy, reference = mix_at_snr(clean, speech_shaped_noise(clean, length, rng, rate), snr)
        listener = listeners[index % len(listeners)]
        sf.write(folder / "audio" / f"{item_id}.wav", clean.astype(np.float32), rate, subtype="FLOAT")
        sf.write(folder / "audio" / f"{item_id}_noisy.wav", noisy.astype(np.float32), rate,
                 subtype="FLOAT")
        sf.write(folder / "audio" / f"{item_id}_clean.wav", reference.astype(np.float32), rate,
                 subtype="FLOAT")
        speech_rows.append({"id": item_id, "audio": f"audio/{item_id}.wav", "listener": listener})
        noisy_rows.append({"id": item_id, "audio": f"audio/{item_id}_noisy.wav",
                           "reference": f"audio/{item_id}_clean.wav", "listener": listener,
                           "snr_db": snr})
    return BenchCorpus(_write_csv(folder / "speech.csv", speech_rows),
                       _write_csv(folder / "noisy.csv", noisy_rows), items, seconds, source)


#: Vocal gains (dB) cycled over the remixed songs of :func:`make_music`.
REMIX_VOCAL_GAINS_DB: tuple[float, ...] = (6.0, -6.0, 10.0, -3.0)


def music_available() -> bool:
    """Whether :mod:`hltk.synth` can render songs here (fluidsynth and a GM soundfont)."""
    try:
        from hltk.synth.signals import has_fluidsynth  # type: ignore[import-not-found]

        return bool(has_fluidsynth())
    except Exception:
        return False


def make_music(folder: Path, items: int = 8, seconds: float = 2.0,
               listeners: Sequence[str] = BENCH_LISTENERS, seed: int = 0) -> Path:
    """Write ``music.csv``: songs rendered per stem by :mod:`hltk.synth` (fluidsynth), the
    ``reference`` the original stereo mixture and ``audio`` a remix with the vocals moved by
    :data:`REMIX_VOCAL_GAINS_DB` (the Cadenza task: HAAQI of a remix against the mixture)."""
    from hltk.synth.signals import song_stems  # type: ignore[import-not-found]

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audio").mkdir(exist_ok=True)
    rows: list[dict[str, object]] = []
    for index in range(items):
        item_id = f"song{index:03d}"
        stems, mixture = song_stems(seed=item_seed(seed, item_id), seconds=seconds,
                                    sample_rate=CORPUS_RATE)
        gain_db = REMIX_VOCAL_GAINS_DB[index % len(REMIX_VOCAL_GAINS_DB)]
        remix = sum((stem.numpy().astype(np.float64)
                     * (10.0 ** (gain_db / 20.0) if name == "vocals" else 1.0)
                     for name, stem in stems.items()), np.zeros(mixture.shape))
        reference = mixture.numpy().astype(np.float64)
        peak = max(float(np.max(np.abs(remix))), float(np.max(np.abs(reference))), 1e-12)
        scale = 0.99 / peak if peak > 0.99 else 1.0
        sf.write(folder / "audio" / f"{item_id}_remix.wav", (remix * scale).T.astype(np.float32),
                 CORPUS_RATE, subtype="FLOAT")
        sf.write(folder / "audio" / f"{item_id}_mixture.wav",
                 (reference * scale).T.astype(np.float32), CORPUS_RATE, subtype="FLOAT")
        rows.append({"id": item_id, "audio": f"audio/{item_id}_remix.wav",
                     "reference": f"audio/{item_id}_mixture.wav",
                     "listener": listeners[index % len(listeners)], "vocal_gain_db": gain_db})
    return _write_csv(folder / "music.csv", rows)
