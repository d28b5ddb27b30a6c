"""Reverberant noisy scenes (``hltk synth noisy --room reverberant``, hltk.synth.room): RT60 of
the generated RIRs, SNR at the listener, seeded determinism, the default path unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hltk.synth import signals
from hltk.synth.corpus import COLUMNS, make_corpus
from hltk.synth.noise import pink_noise, snr_db
from hltk.synth.room import (
    ROOM_COLUMNS,
    RoomOptions,
    draw_scene,
    render_scene,
    room_impulse_responses,
    schroeder_rt60,
)
from hltk.synth.seeding import item_rng
from hltk.synth.tools import tool_version

needs_espeak = pytest.mark.skipif(not signals.has_espeak(), reason="espeak-ng not installed")
FS = 16000


def _read(path: Path) -> np.ndarray:
    samples, _ = sf.read(str(path), dtype="float32")
    return samples


def _digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_schroeder_rt60_of_an_exponential_decay() -> None:
    rt60 = 0.45
    t = np.arange(int(1.5 * FS)) / FS
    decay = np.random.default_rng(0).standard_normal(t.size) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
    assert schroeder_rt60(decay, FS) == pytest.approx(rt60, rel=0.03)


def test_generated_rir_has_the_drawn_rt60() -> None:
    import pyroomacoustics as pra

    options = RoomOptions(rt60_range_s=(0.15, 0.45), noise_sources=(1, 2))
    for index in range(3):
        scene = draw_scene(item_rng(1, f"noisy_{index:05d}", "room"), options)
        assert 0.15 <= scene.rt60_s <= 0.45 and 1 <= len(scene.noises) <= 2
        target, direct, noises, measured = room_impulse_responses(scene, FS)
        assert measured == pytest.approx(scene.rt60_s, rel=0.05)
        # an independent measurement: pyroomacoustics' own Schroeder T20
        independent = pra.experimental.rt60.measure_rt60(target, fs=FS, decay_db=20)
        assert independent == pytest.approx(scene.rt60_s, rel=0.1)
        assert len(noises) == len(scene.noises)
        # the direct path is the first arrival of the full RIR, at the same delay and gain
        peak = int(np.argmax(np.abs(direct)))
        assert int(np.argmax(np.abs(target))) == peak
        assert target[peak] == pytest.approx(direct[peak], rel=0.05)
        assert np.sum(direct**2) < np.sum(target**2)


def test_scene_is_seeded_by_item_and_snr_is_at_the_listener() -> None:
    options = RoomOptions(rt60_range_s=(0.2, 0.3), noise_sources=(2, 3))
    speech = np.random.default_rng(5).standard_normal(8000) * 0.05

    def render(item: str) -> tuple[np.ndarray, ...]:
        scene = draw_scene(item_rng(0, item, "room"), options)
        noise_rng = item_rng(0, item, "noise")
        rendered = render_scene(speech, scene, FS, 2.5, lambda n: pink_noise(n, noise_rng))
        return rendered.mixture, rendered.reference, rendered.reverberant, rendered.noise

    first, again, other = render("noisy_00007"), render("noisy_00007"), render("noisy_00008")
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    mixture, reference, reverberant, noise = first
    assert mixture.dtype == np.float32 and mixture.shape == reference.shape == (8000,)
    np.testing.assert_array_equal(mixture, reverberant + noise)
    assert snr_db(reverberant, noise) == pytest.approx(2.5, abs=0.01)
    # level: the reverberant target keeps the dry signal's RMS
    assert np.sqrt(np.mean(reverberant.astype(np.float64) ** 2)) == pytest.approx(
        np.sqrt(np.mean(speech**2)), rel=1e-3)


def test_room_options_are_checked() -> None:
    for bad in ({"rt60_range_s": (0.5, 0.2)}, {"rt60_range_s": (0.0, 0.3)},
                {"noise_sources": (0, 2)}, {"noise_sources": (3, 1)}):
        with pytest.raises(ValueError):
            RoomOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="noisy"):
        make_corpus("speech", "/nonexistent/never-made", n=1, room=RoomOptions())


@needs_espeak
def test_reverberant_corpus_is_deterministic_and_recorded(tmp_path: Path) -> None:
    options = RoomOptions(rt60_range_s=(0.1, 0.3), noise_sources=(1, 3))
    result = make_corpus("noisy", tmp_path / "a", n=2, seed=4, noise_types=("pink", "ssn"),
                         room=options)
    make_corpus("noisy", tmp_path / "b", n=2, seed=4, noise_types=("pink", "ssn"), room=options,
                jobs=2)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    header = (tmp_path / "a" / "manifest.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == COLUMNS["noisy"] + ROOM_COLUMNS
    record = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert record["room"] == {"kind": "reverberant", "rt60_range_s": [0.1, 0.3],
                              "noise_sources": [1, 3]}
    anechoic = make_corpus("noisy", tmp_path / "c", n=2, seed=4, noise_types=("pink", "ssn"))
    for row, plain in zip(result.rows, anechoic.rows, strict=True):
        # the same utterance, noise type and SNR as the anechoic item of that id
        assert (row["text"], row["noise_type"], row["snr_db"]) == (
            plain["text"], plain["noise_type"], plain["snr_db"])
        assert 0.1 <= float(row["rt60_s"]) <= 0.3
        assert float(row["rt60_measured_s"]) == pytest.approx(float(row["rt60_s"]), rel=0.05)
        assert 1 <= int(row["noise_sources"]) <= 3
        assert len(row["room_size_m"].split("x")) == 3
        mixture = _read(tmp_path / "a" / row["audio"])
        noise = _read(tmp_path / "a" / row["noise"])
        reference = _read(tmp_path / "a" / row["reference"])
        assert mixture.shape == noise.shape == reference.shape
        assert snr_db(mixture - noise, noise) == pytest.approx(float(row["snr_db"]), abs=0.05)
        # the direct-path reference is not the reverberant speech in the mixture
        assert np.sum(reference.astype(np.float64) ** 2) < np.sum((mixture - noise).astype(np.float64) ** 2)


@needs_espeak
def test_default_anechoic_corpus_is_unchanged(tmp_path: Path) -> None:
    """Digests of a corpus made before reverberant scenes existed (commit c19e320, espeak-ng
    1.51): the default path keeps every byte (espeak-ng decides the audio, and synth.json
    records the tool versions, so other versions skip)."""
    if "1.51 " not in tool_version("espeak-ng") or "2.3.1" not in tool_version("fluidsynth"):
        pytest.skip("digests recorded with espeak-ng 1.51 and fluidsynth 2.3.1 (synth.json)")
    make_corpus("noisy", tmp_path, n=3, seed=5, noise_types=("pink", "ssn", "transient"))
    expected = {
        "audio/noisy_00000.wav": "5a4eba55d1f0f8f79f76d8bea5152f68",
        "audio/noisy_00001.wav": "1ba9dfff82f1f1f60b401ee200c78b4d",
        "audio/noisy_00002.wav": "bc5696231183297e590b3028e8726412",
        "manifest.csv": "65b72b0bbf1334c8f5e05ee54408d863",
        "reference/noisy_00000.wav": "d90e12e051460a252b5da7356e0ae4c4",
        "noise/noisy_00002.wav": "375d8177d6ecc50779992b9f62675c7f",
        "synth.json": "11c2730dfa1c47591b8436689628ca44",
    }
    digests = _digests(tmp_path)
    assert {name: digests[name] for name in expected} == expected


def _recorded_installed() -> bool:
    import shutil

    from hltk.synth.asterisk import LANGUAGES
    from hltk.synth.recorded import require_recorded
    from hltk.synth.tools import ToolMissingError

    if shutil.which("ffmpeg") is None:
        return False
    try:
        require_recorded(LANGUAGES)
    except ToolMissingError:
        return False
    return True


@pytest.mark.skipif(not _recorded_installed(), reason="Asterisk prompts or ffmpeg not installed")
def test_reverberant_recorded_babble(tmp_path: Path) -> None:
    from hltk.synth.recorded import COLUMNS as RECORDED_COLUMNS
    from hltk.synth.recorded import make_recorded_corpus

    options = RoomOptions(rt60_range_s=(0.1, 0.3), noise_sources=(2, 2))
    result = make_recorded_corpus("noisy", tmp_path, ["es"], n=1, seed=11,
                                  noise_types=("babble",), room=options)
    header = (tmp_path / "manifest.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == RECORDED_COLUMNS["noisy"] + ROOM_COLUMNS
    for row in result.rows:
        assert row["noise_type"] == "babble" and row["noise_sources"] == "2"
        assert row["babble_voices"] and row["voice"] not in row["babble_voices"].split("+")
        mixture, noise = _read(tmp_path / row["audio"]), _read(tmp_path / row["noise"])
        assert snr_db(mixture - noise, noise) == pytest.approx(float(row["snr_db"]), abs=0.05)
