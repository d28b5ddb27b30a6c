"""Recorded speech corpora (``hltk synth speech|noisy --source recorded``): decoding, trimming,
fixed splits (no prompt crosses splits, English and held-out talkers only in test),
determinism, and babble that never holds the target's talker or prompts.

Most tests run on a fake Asterisk sounds folder made on the fly: short synthetic vowel-like
signals encoded by ffmpeg into the packages' layout and codecs (G.722 at 16 kHz, GSM and PCM
WAV at 8 kHz), so no real prompt audio is shipped. One test decodes a handful of the really
installed prompts (``make system-deps``) and checks they are wideband speech-like audio.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import welch

from hltk.synth import recorded
from hltk.synth.asterisk import (
    DEFAULT_SOUNDS_ROOT,
    HELD_OUT_SPEAKERS,
    VOICE_SETS,
    parse_source,
    voice_sets,
)
from hltk.synth.tools import ToolMissingError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg not installed (make system-deps)")
#: Fake voice sets: all of them (a corpus needs every set of its languages, so that what it
#: holds does not depend on which packages happen to be installed).
FAKE_VOICES = list(VOICE_SETS)
ENCODE = {".g722": ["-acodec", "g722", "-f", "g722"], ".gsm": ["-acodec", "libgsm", "-f", "gsm"],
          ".wav": ["-acodec", "pcm_s16le", "-f", "wav"]}


def _names_by_split() -> dict[str, list[str]]:
    """Prompt names with a known split: 6 train, 3 valid, 6 test (a beep is added)."""
    wanted = {"train": 6, "valid": 3, "test": 6}
    found: dict[str, list[str]] = {split: [] for split in wanted}
    index = 0
    while any(len(found[split]) < count for split, count in wanted.items()):
        name = f"vm-p{index:03d}" if index % 3 else f"digits/{index}"
        split = recorded.prompt_split(name)
        if len(found[split]) < wanted[split]:
            found[split].append(name)
        index += 1
    return found


def _vowel(rng: np.random.Generator, rate: int, seconds: float, lead: float) -> np.ndarray:
    """A speech-like test signal: a gliding harmonic complex with syllable-rate amplitude
    modulation, ``lead`` seconds of near silence before and after."""
    time = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(110, 220) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * time))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12) if k * f0.max() < 0.45 * rate)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * time)
    body = 0.3 * voiced * envelope / np.max(np.abs(voiced))
    quiet = 1e-4 * rng.standard_normal(int(lead * rate))
    return np.concatenate([quiet, body, quiet]).astype(np.float32)


def _encode(samples: np.ndarray, rate: int, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate),
               "-ac", "1", "-i", "-", *ENCODE[destination.suffix], "-y", str(destination)]
    subprocess.run(command, input=pcm, check=True, capture_output=True)


#: Samples per block and bytes per block of the headerless codecs, to cut one encoded stream
#: into files: G.722 codes two 16 kHz samples per byte, GSM 160 samples per 33-byte frame.
BLOCKS = {".g722": (320, 160), ".gsm": (160, 33)}


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake sounds folder: every voice set has the same prompt names, plus a beep. Each set
    is encoded by one ffmpeg call and cut into files at codec block boundaries."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed (make system-deps)")
    root = tmp_path_factory.mktemp("asterisk-sounds")
    rng = np.random.default_rng(5)
    names = [name for group in _names_by_split().values() for name in group]
    for voice in FAKE_VOICES:
        rate, folder = voice.sample_rate, voice.path(root)
        signals = []
        for name in [*names, "beep"]:
            seconds = 0.15 if name == "beep" else float(rng.uniform(0.5, 1.2))
            signal = _vowel(rng, rate, seconds, lead=0.3)
            signals.append(np.pad(signal, (0, -signal.size % 320)))
        for name in ("beep", *names):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if voice.extension == ".wav":
            for name, signal in zip([*names, "beep"], signals, strict=True):
                sf.write(folder / f"{name}.wav", signal, rate, subtype="PCM_16")
            continue
        stream = folder / f"all{voice.extension}"
        _encode(np.concatenate(signals), rate, stream)
        data = stream.read_bytes()
        stream.unlink()
        samples, size = BLOCKS[voice.extension]
        position = 0
        for name, signal in zip([*names, "beep"], signals, strict=True):
            length = signal.size // samples * size
            (folder / f"{name}{voice.extension}").write_bytes(data[position:position + length])
            position += length
    return root


def _rows(manifest: Path) -> list[dict[str, str]]:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_parse_source() -> None:
    assert parse_source("espeak") == ("espeak", ())
    assert parse_source("recorded") == ("recorded", ("es", "fr", "it", "ru"))
    assert parse_source("recorded:en,fr,en") == ("recorded", ("en", "fr"))
    for bad in ("recorded:de", "festival", "espeak:en"):
        with pytest.raises(ValueError):
            parse_source(bad)


def test_prompt_split_is_fixed_and_held_out_rules() -> None:
    names = [f"vm-p{index:03d}" for index in range(400)]
    splits = [recorded.prompt_split(name) for name in names]
    assert splits == [recorded.prompt_split(name) for name in names]
    fractions = [splits.count(split) / len(splits) for split in ("train", "valid", "test")]
    assert fractions[0] == pytest.approx(0.8, abs=0.06)
    assert min(fractions[1:]) > 0.05
    english = voice_sets(["en"])[0]
    allison_es = next(voice for voice in VOICE_SETS if voice.name == "es-mx-allison")
    june = next(voice for voice in VOICE_SETS if voice.name == "fr-ca-june")
    for name, split in zip(names, splits, strict=True):
        assert recorded.row_split(english, name)[0] == "test"
        assert recorded.row_split(allison_es, name)[0] == ("test" if split == "test" else None)
        assert recorded.row_split(june, name)[0] == split


@needs_ffmpeg
def test_decode_g722_gives_16k_and_the_signal(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    signal = _vowel(rng, 16000, 0.8, lead=0.0)
    _encode(signal, 16000, tmp_path / "x.g722")
    decoded = recorded.decode(tmp_path / "x.g722", 16000)
    assert decoded.dtype == np.float32
    assert abs(decoded.size - signal.size) <= 16  # G.722 is 8 kB/s: length in samples kept
    correlation = np.correlate(decoded, signal, "full")
    lag = int(np.argmax(correlation)) - (signal.size - 1)
    assert 0 <= lag < 64  # the codec's QMF delay
    aligned = decoded[lag:lag + signal.size - 64]
    error = aligned - signal[: aligned.size]
    assert 10 * np.log10(np.sum(signal[: aligned.size] ** 2) / np.sum(error**2)) > 15
    (tmp_path / "bad.gsm").write_bytes(b"not gsm at all")
    for bad in ("bad.gsm", "absent.g722"):
        with pytest.raises(recorded.RecordedSpeechError):
            recorded.decode(tmp_path / bad, 8000)


def test_trim_silence_keeps_speech_and_margins() -> None:
    rate = 16000
    signal = _vowel(np.random.default_rng(2), rate, 1.0, lead=0.5)
    trimmed = recorded.trim_silence(signal, rate)
    expected = 1.0 + sum(recorded.TRIM_MARGIN_S)
    assert trimmed.size / rate == pytest.approx(expected, abs=0.03)
    assert abs(float(trimmed[0])) < 1e-3 and abs(float(trimmed[-1])) < 1e-3  # faded edges
    assert recorded.trim_silence(np.zeros(1000, dtype=np.float32), rate).size == 0


def test_missing_packages_are_named(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError) as raised:
        recorded.require_recorded(["fr", "en"], tmp_path)
    message = str(raised.value)
    assert "asterisk-core-sounds-fr-g722" in message
    assert "asterisk-prompt-fr-armelle" in message
    assert "asterisk-core-sounds-en-g722" in message
    assert "apt-get install" in message
    assert "asterisk-prompt-es-co" not in message


def test_catalogue_splits(fake_root: Path) -> None:
    prompts = recorded.catalogue(None, fake_root)
    assert prompts and not any(prompt.name == "beep" for prompt in prompts)
    splits_of: dict[str, set[str]] = {}
    for prompt in prompts:
        if prompt.voice.language != "en":
            splits_of.setdefault(prompt.name, set()).add(prompt.split)
        if prompt.voice.language == "en" or prompt.voice.speaker in HELD_OUT_SPEAKERS:
            assert prompt.split == "test"
    assert all(len(splits) == 1 for splits in splits_of.values())
    assert {split for splits in splits_of.values() for split in splits} == {
        "train", "valid", "test"}


def test_speech_corpus_splits_and_columns(fake_root: Path, tmp_path: Path) -> None:
    result = recorded.make_recorded_corpus(
        "speech", tmp_path / "c", ["es", "fr", "it", "ru", "en"], n=24, seed=4,
        sample_rate=16000, n_listeners=3, root=fake_root)
    rows = _rows(result.manifest)
    assert len(rows) == 24 and {row["split"] for row in rows} == {"train", "valid", "test"}
    prompt_splits: dict[str, set[str]] = {}
    for row in rows:
        assert row["voice"] in {voice.name for voice in FAKE_VOICES}
        assert row["source_rate"] in ("16000", "8000") and row["package"].startswith("asterisk")
        if row["language"] == "en" or row["speaker"] in HELD_OUT_SPEAKERS:
            assert row["split"] == "test" and row["holdout"].startswith("speaker")
        else:
            for name in row["prompt"].split("+"):
                prompt_splits.setdefault(name, set()).add(row["split"])
        audio, rate = sf.read(tmp_path / "c" / row["audio"])
        assert rate == 16000 and audio.size / rate == pytest.approx(float(row["duration_s"]),
                                                                    abs=1e-3)
        assert len(row["prompt"].split("+")) <= recorded.MAX_PROMPTS
    assert all(len(splits) == 1 for splits in prompt_splits.values())
    english = recorded.make_recorded_corpus("speech", tmp_path / "en", ["en"], n=5,
                                            n_listeners=2, root=fake_root)
    assert {row["split"] for row in _rows(english.manifest)} == {"test"}


def test_corpus_is_deterministic_and_jobs_free(fake_root: Path, tmp_path: Path) -> None:
    options = {"n": 6, "seed": 9, "sample_rate": 22050, "n_listeners": 2, "root": fake_root,
               "noise_types": ["babble", "pink"]}
    recorded.make_recorded_corpus("noisy", tmp_path / "a", ["fr", "es"], jobs=1, **options)
    recorded.make_recorded_corpus("noisy", tmp_path / "b", ["fr", "es"], jobs=2, **options)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    recorded.make_recorded_corpus("noisy", tmp_path / "c", ["fr", "es"], jobs=1,
                                  **{**options, "seed": 10})
    assert _digests(tmp_path / "a")["manifest.csv"] != _digests(tmp_path / "c")["manifest.csv"]


def test_babble_is_other_talkers_only(
    fake_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = recorded.make_recorded_corpus(
        "noisy", tmp_path / "n", ["es", "fr", "en"], n=8, seed=2, n_listeners=2,
        noise_types=["babble"], snr_range_db=(0.0, 5.0), root=fake_root)
    speaker_of = {voice.name: voice.speaker for voice in VOICE_SETS}
    for row in _rows(result.manifest):
        voices = row["babble_voices"].split("+")
        assert len(voices) >= 2 and row["voice"] not in voices
        assert all(speaker_of[voice] != row["speaker"] for voice in voices)
        assert 0.0 <= float(row["snr_db"]) <= 5.0
    # The prompts that go into the babble: other talkers, other names, same split.
    prompts = recorded.catalogue(None, fake_root)
    target_pool = [p for p in prompts if p.voice.name == "fr-ca-june" and p.split == "train"]
    target = recorded.RecordedUtterance(np.ones(8000, dtype=np.float32), 16000,
                                        tuple(target_pool[:2]))
    fetched: list[Path] = []
    original = recorded.prompt_audio

    def spy(path: Path, rate: int) -> np.ndarray:
        fetched.append(path)
        return original(path, rate)

    monkeypatch.setattr(recorded, "prompt_audio", spy)
    babble, used = recorded.recorded_babble(32000, np.random.default_rng(0), 16000, prompts,
                                            "train", target)
    by_path = {prompt.path: prompt for prompt in prompts}
    assert fetched and "fr-ca-june" not in used
    assert float(np.sqrt(np.mean(babble**2))) == pytest.approx(1.0, rel=1e-6)
    for path in fetched:
        prompt = by_path[path]
        assert prompt.voice.speaker != "june-wallack" and prompt.split == "train"
        assert prompt.voice.language != "en"
        assert prompt.name not in {p.name for p in target.prompts}


def test_speed_perturbs_the_talker_only(fake_root: Path, tmp_path: Path) -> None:
    """``--speed``: the same items (talkers, prompts, SNRs, listeners) with each talker resampled
    by its drawn factor: length 1 / factor, pitch x factor; the factor in the ``speed`` column."""
    options = {"n": 6, "seed": 4, "n_listeners": 2, "root": fake_root, "noise_types": ["babble"]}
    plain = recorded.make_recorded_corpus("noisy", tmp_path / "plain", ["fr", "es"], **options)
    fast = recorded.make_recorded_corpus("noisy", tmp_path / "fast", ["fr", "es"],
                                         speed_range=(1.2, 1.3), **options)
    slow = recorded.make_recorded_corpus("noisy", tmp_path / "slow", ["fr", "es"],
                                         speed_range=(0.8, 0.9), **options)
    rows = {name: _rows(result.manifest) for name, result in
            (("plain", plain), ("fast", fast), ("slow", slow))}
    assert "speed" not in rows["plain"][0]
    for before, faster, slower in zip(rows["plain"], rows["fast"], rows["slow"], strict=True):
        for column in ("voice", "prompt", "snr_db", "listener", "split"):
            assert before[column] == faster[column] == slower[column]
        assert 1.2 <= float(faster["speed"]) <= 1.3 and 0.8 <= float(slower["speed"]) <= 0.9
        for row, bounds in ((faster, (1.2, 1.3)), (slower, (0.8, 0.9))):
            ratio = float(before["duration_s"]) / float(row["duration_s"])
            assert ratio == pytest.approx(float(row["speed"]), abs=2e-3)
            assert bounds[0] - 2e-3 <= ratio <= bounds[1] + 2e-3
    # pitch: the fake prompts are vowels; the spectral centroid of the clean reference moves up
    # with the factor
    def centroid(folder: Path, row: dict[str, str]) -> float:
        import soundfile as sf

        audio, rate = sf.read(folder / row["reference"])
        spectrum = np.abs(np.fft.rfft(audio))
        return float((np.fft.rfftfreq(audio.size, 1 / rate) * spectrum).sum() / spectrum.sum())

    for before, faster in zip(rows["plain"], rows["fast"], strict=True):
        ratio = centroid(tmp_path / "fast", faster) / centroid(tmp_path / "plain", before)
        assert ratio == pytest.approx(float(faster["speed"]), rel=0.08)
    with pytest.raises(ValueError, match="--speed"):
        recorded.make_recorded_corpus("speech", tmp_path / "s", ["fr"], speed_range=(0.9, 1.1),
                                      **{k: v for k, v in options.items() if k != "noise_types"})
    with pytest.raises(ValueError, match="--speed"):
        recorded.make_recorded_corpus("noisy", tmp_path / "w", ["fr"], speed_range=(1.1, 0.9),
                                      **options)


def test_cli_source_recorded(fake_root: Path, tmp_path: Path) -> None:
    testing = pytest.importorskip("typer.testing")
    app = pytest.importorskip("hltk_cli.app").app
    runner = testing.CliRunner()
    env = {"HLTK_ASTERISK_SOUNDS": str(fake_root)}
    result = runner.invoke(app, ["synth", "speech", "--source", "recorded:it,fr", "-o",
                                 str(tmp_path / "s"), "--n", "3", "--n-listeners", "2", "-q"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert {row["language"] for row in _rows(tmp_path / "s" / "manifest.csv")} <= {"it", "fr"}
    refused = runner.invoke(app, ["synth", "music", "--source", "recorded", "-o",
                                  str(tmp_path / "m"), "-q"], env=env)
    assert refused.exit_code != 0


WIDEBAND = [voice for voice in VOICE_SETS if voice.sample_rate == 16000]


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None
    or not all((DEFAULT_SOUNDS_ROOT / voice.folder).is_dir() for voice in WIDEBAND),
    reason="ffmpeg or the asterisk-core-sounds-*-g722 packages are not installed "
    "(make system-deps)")
def test_installed_prompts_are_wideband_speech() -> None:
    for voice in WIDEBAND:
        for name in ("vm-goodbye", "auth-thankyou", "vm-intro"):
            audio = recorded.decode(voice.path(DEFAULT_SOUNDS_ROOT) / f"{name}.g722", 16000)
            audio = recorded.trim_silence(audio, 16000)
            assert 0.4 < audio.size / 16000 < 15.0, (voice.name, name)
            rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
            assert 0.02 < rms < 0.4 and np.max(np.abs(audio)) < 1.0
            frames = audio[: audio.size // 320 * 320].reshape(-1, 320)
            levels = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
            assert 8.0 < np.std(levels) < 30.0  # syllabic level changes: not a tone, not noise
            frequencies, power = welch(audio, 16000, nperseg=512)
            strong = frequencies[power > power.max() * 10 ** (-60 / 10)]
            assert strong.max() > 5000.0, (voice.name, name)  # more than telephone band
            assert 80 < frequencies[np.argmax(power)] < 1500  # voice fundamental / formants


def test_empty_prompt_file_is_skipped_not_fatal(fake_root: Path, tmp_path: Path) -> None:
    """Debian's ru set ships a zero-byte prompt: a draw that meets it takes the next prompt."""
    root = tmp_path / "root"
    shutil.copytree(fake_root, root)
    pool = [p for p in recorded.catalogue(["ru"], root) if p.split == "train"]
    assert len(pool) >= 3
    pool[0].path.write_bytes(b"")
    assert not recorded.usable(pool[0]) and recorded.usable(pool[1])
    for seed in range(6):
        _, chosen = recorded._join(np.random.default_rng(seed), pool, 30.0, len(pool))
        assert pool[0] not in chosen and len(chosen) == len(pool) - 1
    for prompt in pool:
        prompt.path.write_bytes(b"")
    with pytest.raises(recorded.RecordedSpeechError, match="no usable prompt"):
        recorded._join(np.random.default_rng(0), pool, 2.0, 4)
