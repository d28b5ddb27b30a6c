"""Synthetic corpora (hltk.synth): determinism, exact sums, SNRs, splits, listeners."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hltk.io.listeners import CLARITY_FREQUENCIES, load_listeners
from hltk.synth import signals
from hltk.synth.corpus import COLUMNS, make_corpus, write_wav
from hltk.synth.listeners import make_listeners, profile_levels
from hltk.synth.music import STEMS, compose_song, draw_gains, song_midi
from hltk.synth.noise import NOISE_TYPES, make_noise, mix_at_snr, snr_db
from hltk.synth.seeding import item_rng, item_seed
from hltk.synth.speech import TEST_VARIANTS, VALID_VARIANTS, variant_split, voices
from hltk.synth.text import make_sentence, plural

needs_espeak = pytest.mark.skipif(not signals.has_espeak(), reason="espeak-ng not installed")
needs_fluidsynth = pytest.mark.skipif(
    not signals.has_fluidsynth(), reason="fluidsynth or the GM soundfont not installed"
)


def _digests(folder: Path) -> dict[str, str]:
    """md5 of every file under ``folder`` by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _read(path: Path) -> np.ndarray:
    samples, _ = sf.read(str(path), dtype="float32", always_2d=True)
    return samples


# ---------------------------------------------------------------- pure Python parts


def test_item_seed_depends_on_seed_id_and_purpose() -> None:
    assert item_seed(0, "a") == item_seed(0, "a")
    assert len({item_seed(0, "a"), item_seed(1, "a"), item_seed(0, "b"),
                item_seed(0, "a", "noise")}) == 4
    assert item_rng(3, "x").random() == item_rng(3, "x").random()


def test_sentences_are_varied_and_well_formed() -> None:
    rng = np.random.default_rng(0)
    sentences = [make_sentence(rng) for _ in range(200)]
    assert len(set(sentences)) > 190
    for sentence in sentences:
        assert sentence[0].isupper() and sentence[-1] in ".?"
        assert 4 <= len(sentence.split()) <= 25
        assert " a a" not in sentence and " a e" not in sentence.lower()
    assert plural("loaf of bread") == "loaves of bread"
    assert plural("box") == "boxes" and plural("child") == "children"


def test_voice_splits_hold_out_variants() -> None:
    train = {voice.variant for voice in voices("train")}
    assert not train & set(TEST_VARIANTS) and not train & set(VALID_VARIANTS)
    assert {voice.split for voice in voices("test")} == {"test"}
    assert variant_split("f3") == "train"
    assert len(voices()) >= 200  # accents x variants


def test_listeners_jitter_is_bounded_and_asymmetric() -> None:
    listeners = make_listeners(44, seed=0)
    assert [listener.id for listener in listeners[:2]] == ["L0001", "L0002"]
    asymmetric = 0
    for index, listener in enumerate(listeners):
        base = profile_levels(("NH", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "S1", "S2",
                               "S3")[index % 11])
        for audiogram in (listener.left, listener.right):
            assert audiogram.frequencies == tuple(float(f) for f in CLARITY_FREQUENCIES)
            levels = np.asarray(audiogram.levels)
            assert levels.min() >= 0 and levels.max() <= 105
            # +-10 dB jitter, +0.5 for rounding to whole dB, except where clipped
            unclipped = (levels > 0) & (levels < 105)
            assert np.all(np.abs(levels - base)[unclipped] <= 10.5)
        asymmetric += listener.left.levels != listener.right.levels
    assert asymmetric > 30
    assert make_listeners(5, seed=0) == listeners[:5]
    assert make_listeners(5, seed=1) != listeners[:5]


def test_mix_at_snr_is_exact() -> None:
    rng = np.random.default_rng(1)
    reference = signals.speech_like(2.0, 16000, seed=1)[0].numpy()
    for noise_type in ("pink", "brown", "ssn", "transient"):
        noise = make_noise(noise_type, reference.size, rng, 16000, speech=reference)
        for target in (-5.0, 0.0, 7.3, 15.0):
            mixture, clean, scaled = mix_at_snr(reference, noise, target)
            assert mixture.dtype == np.float32
            np.testing.assert_array_equal(mixture, clean + scaled)
            assert abs(snr_db(clean, scaled) - target) < 0.01
            assert np.max(np.abs(mixture)) <= 0.99 + 1e-6


def test_coloured_noise_slopes() -> None:
    """Pink falls ~3 dB/octave and brown ~6 dB/octave (power per FFT bin)."""
    sample_rate = 16000
    for colour, slope in (("pink", -3.0), ("brown", -6.0)):
        audio = signals.noise(colour, 8.0, sample_rate, seed=2)[0].numpy().astype(np.float64)
        power = np.abs(np.fft.rfft(audio)) ** 2
        frequencies = np.fft.rfftfreq(audio.size, 1 / sample_rate)

        def band(low: float, power: np.ndarray = power, frequencies: np.ndarray = frequencies
                 ) -> float:
            return float(np.mean(power[(frequencies >= low) & (frequencies < low * 1.2)]))

        measured = 10 * np.log10(band(2000.0) / band(250.0)) / 3.0  # per octave
        assert abs(measured - slope) < 0.5, (colour, measured)


def test_float_wav_is_byte_reproducible(tmp_path: Path) -> None:
    """libsndfile's PEAK chunk holds a timestamp; write_wav leaves it out."""
    audio = signals.noise("white", 0.1, 16000, seed=0).numpy()
    write_wav(tmp_path / "a.wav", audio, 16000, "FLOAT")
    write_wav(tmp_path / "b.wav", audio, 16000, "FLOAT")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert b"PEAK" not in (tmp_path / "a.wav").read_bytes()[:200]
    np.testing.assert_array_equal(_read(tmp_path / "a.wav").T, audio)


def test_signal_factories_shapes() -> None:
    assert signals.tone(1000, 0.5, 16000, channels=2).shape == (2, 8000)
    assert signals.impulse(0.1, 1000).sum() == 1
    complex_tone = signals.harmonic_complex(200, 0.25, 16000)
    assert abs(float(complex_tone.pow(2).mean().sqrt()) - 0.1) < 1e-3
    assert signals.speech_like(0.5, 16000, seed=3).shape == (1, 8000)
    assert not np.array_equal(signals.noise("pink", 0.1, seed=1), signals.noise("pink", 0.1,
                                                                                 seed=2))


def test_compose_song_parts_and_gains() -> None:
    song = compose_song(np.random.default_rng(4), duration=6.0)
    assert song.duration >= 6.0 and set(song.parts) == set(STEMS)
    assert song.parts["drums"][0].channel == 9  # GM percussion channel 10
    assert song.parts["vocals"][0].program in (52, 53, 54, 85)
    assert all(part.notes for parts in song.parts.values() for part in parts)
    midi = song_midi(song)
    assert len(midi.tracks) == 5
    for seed in range(20):
        gains = draw_gains(np.random.default_rng(seed))
        changed = [value for value in gains.values() if value != 0]
        assert set(gains) == set(STEMS) and 1 <= len(changed) <= 3
        assert set(changed) <= {-10, -6, -3, 3, 6, 10}


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        make_corpus("video", tmp_path)
    with pytest.raises(ValueError, match="not both"):
        make_corpus("speech", tmp_path, n=2, hours=1.0)
    with pytest.raises(ValueError, match="noise types"):
        make_corpus("noisy", tmp_path, n=2, noise_types=("rain",))


# ---------------------------------------------------------------- corpora (external tools)


@needs_espeak
def test_speech_corpus_deterministic(tmp_path: Path) -> None:
    first = make_corpus("speech", tmp_path / "a", n=4, seed=7)
    again = make_corpus("speech", tmp_path / "b", n=4, seed=7, jobs=2)
    other = make_corpus("speech", tmp_path / "c", n=4, seed=8)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    digests_a, digests_c = _digests(tmp_path / "a"), _digests(tmp_path / "c")
    assert all(digests_a[name] != digests_c[name] for name in digests_a if name.startswith("audio"))
    assert [row["text"] for row in first.rows] != [row["text"] for row in other.rows]
    assert first.items == again.items == 4
    header = (tmp_path / "a" / "manifest.csv").read_text().splitlines()[0]
    assert header == ",".join(COLUMNS["speech"])
    listeners = load_listeners(tmp_path / "a" / "listeners.json")
    for row in first.rows:
        assert row["listener"] in listeners
        audio = _read(tmp_path / "a" / row["audio"])
        info = sf.info(str(tmp_path / "a" / row["audio"]))
        assert info.samplerate == 16000 and info.subtype == "PCM_16"
        assert abs(audio.shape[0] / 16000 - float(row["duration_s"])) < 1e-3
        assert np.max(np.abs(audio)) < 1.0


@needs_espeak
def test_speech_corpus_hours_and_prefix(tmp_path: Path) -> None:
    """--hours stops at the first item reaching the total; items are the same as with --n."""
    small = make_corpus("speech", tmp_path / "h", hours=12.0 / 3600, seed=1)
    assert small.audio_seconds >= 12.0
    assert small.audio_seconds - float(small.rows[-1]["duration_s"]) < 12.0
    assert len(list((tmp_path / "h" / "audio").iterdir())) == small.items
    counted = make_corpus("speech", tmp_path / "n", n=small.items, seed=1)
    assert _digests(tmp_path / "h" / "audio") == _digests(tmp_path / "n" / "audio")
    assert counted.rows == small.rows


@needs_espeak
@needs_fluidsynth
def test_noisy_corpus_sum_and_snr(tmp_path: Path) -> None:
    result = make_corpus("noisy", tmp_path / "a", n=len(NOISE_TYPES), seed=3,
                         noise_types=NOISE_TYPES)
    make_corpus("noisy", tmp_path / "b", n=len(NOISE_TYPES), seed=3)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    for row in result.rows:
        mixture = _read(tmp_path / "a" / row["audio"])
        reference = _read(tmp_path / "a" / row["reference"])
        noise = _read(tmp_path / "a" / row["noise"])
        assert mixture.shape == reference.shape == noise.shape
        np.testing.assert_array_equal(mixture, reference + noise)  # float32 sum, exact
        assert abs(snr_db(reference, noise) - float(row["snr_db"])) < 0.1
        assert -5.0 <= float(row["snr_db"]) <= 15.0
        assert row["noise_type"] in NOISE_TYPES


@needs_fluidsynth
def test_music_corpus_stems_sum_to_mixture(tmp_path: Path) -> None:
    result = make_corpus("music", tmp_path / "a", n=2, seed=5, music_seconds=3.0, jobs=2)
    make_corpus("music", tmp_path / "b", n=2, seed=5, music_seconds=3.0)
    other = make_corpus("music", tmp_path / "c", n=1, seed=6, music_seconds=3.0)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a")["audio/music_00000.wav"] != _digests(tmp_path / "c")[
        "audio/music_00000.wav"]
    assert other.items == 1
    gains = json.loads((tmp_path / "a" / "gains.json").read_text())
    for row in result.rows:
        mixture = _read(tmp_path / "a" / row["audio"]).astype(np.float64)
        stems = [_read(tmp_path / "a" / row[stem]).astype(np.float64) for stem in STEMS]
        info = sf.info(str(tmp_path / "a" / row["audio"]))
        assert info.samplerate == 44100 and info.channels == 2 and info.subtype == "FLOAT"
        assert mixture.shape == (3 * 44100, 2)
        assert np.max(np.abs(sum(stems) - mixture)) < 1e-6
        for stem in stems:
            assert np.sqrt(np.mean(stem**2)) > 1e-3  # every stem sounds
        assert row["gain"] in gains and set(gains[row["gain"]]) == set(STEMS)


@needs_espeak
def test_listeners_corpus_and_reuse(tmp_path: Path) -> None:
    result = make_corpus("listeners", tmp_path / "l", n=12, seed=2)
    listeners = load_listeners(tmp_path / "l" / "listeners.json")
    assert result.items == 12 and sorted(listeners) == [row["id"] for row in result.rows]
    assert [row["profile"] for row in result.rows[:3]] == ["NH", "N1", "N2"]
    reused = make_corpus("speech", tmp_path / "s", n=3, seed=2,
                         listeners_file=tmp_path / "l" / "listeners.json")
    assert (tmp_path / "s" / "listeners.json").read_bytes() == (
        tmp_path / "l" / "listeners.json").read_bytes()
    assert all(row["listener"] in listeners for row in reused.rows)


@needs_espeak
@pytest.mark.slow
def test_speech_throughput_goal(tmp_path: Path) -> None:
    """One hour of speech in under 10 minutes on 2 cores = at least 6x real time (measured on
    3 minutes of speech; about 200x on an idle 2-core machine)."""
    result = make_corpus("speech", tmp_path, hours=0.05, seed=0, jobs=2)
    assert result.audio_seconds / result.elapsed_seconds > 6.0
