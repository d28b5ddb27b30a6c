"""The Cadenza remix chain, ``hltk remix`` through the runner, and ``evaluate --preset``.

Signals are short (2 s) real renders of synthetic songs with exact stems (``song_stems``:
fluidsynth, stems sum to the mixture in float32).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hltk.io.listeners import standard_listener
from hltk.remix import chain
from hltk.remix.gains import GainsError, load_gains, row_gains
from hltk.runner import EXIT_OK, RunSettings
from hltk.synth import signals
from tests.helpers import write_manifest_csv

needs_fluidsynth = pytest.mark.skipif(
    not signals.has_fluidsynth(), reason="fluidsynth or the GM soundfont not installed"
)
RATE = chain.MODEL_SAMPLE_RATE


@pytest.fixture(scope="module")
def song() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Stems ``{stem: (time, 2)}`` float64 and their mixture, 2 s at 44.1 kHz."""
    if not signals.has_fluidsynth():
        pytest.skip("fluidsynth or the GM soundfont not installed")
    stems, mixture = signals.song_stems(seed=3, seconds=2.0, sample_rate=RATE)
    return ({name: audio.numpy().T.astype(np.float64) for name, audio in stems.items()},
            mixture.numpy().T.astype(np.float64))


# ------------------------------------------------------------------------------------ chain


def test_zero_gains_remix_is_the_mixture(song) -> None:
    stems, mixture = song
    adjusted = chain.apply_gains(stems, RATE, {s: 0.0 for s in chain.STEMS})
    summed = chain.sum_stems(adjusted)
    # stems sum to the mixture in float32; 0 dB gains are an exact factor of 1
    assert np.max(np.abs(summed - mixture)) < 1e-5
    remix = chain.remix_stems(adjusted, mixture, RATE)
    assert np.max(np.abs(remix - mixture)) < 1e-5
    assert abs(chain.integrated_loudness(remix, RATE) - chain.integrated_loudness(mixture, RATE)) < 0.1


def test_six_db_on_one_stem(song) -> None:
    stems, mixture = song
    gains = {"vocals": 6.0, "drums": 0.0, "bass": 0.0, "other": 0.0}
    adjusted = chain.apply_gains(stems, RATE, gains)
    before = chain.integrated_loudness(stems["vocals"], RATE)
    after = chain.integrated_loudness(adjusted["vocals"], RATE)
    assert after - before == pytest.approx(6.0, abs=0.1)
    # in the remix before the final match: the vocals' part of the sum is 6 dB louder, the rest untouched
    summed = chain.sum_stems(adjusted)
    vocals_in_remix = summed - sum(stems[s] for s in ("drums", "bass", "other"))
    assert chain.integrated_loudness(vocals_in_remix, RATE) - before == pytest.approx(6.0, abs=0.1)
    # the final match brings the remix back to the mixture's loudness
    remix = chain.remix_stems(adjusted, mixture, RATE)
    assert chain.integrated_loudness(remix, RATE) == pytest.approx(
        chain.integrated_loudness(mixture, RATE), abs=0.1)


def test_silent_stem_counts_as_minus_80_lufs(song) -> None:
    stems, _ = song
    silent = np.zeros_like(stems["bass"])
    assert chain.integrated_loudness(silent, RATE) == chain.SILENT_LUFS
    adjusted = chain.apply_gains({"bass": silent}, RATE, {"bass": 10.0})
    assert not np.any(adjusted["bass"])


def test_nalr_per_ear_is_pyclarity_full_convolution(song) -> None:
    from clarity.enhancer.nalr import NALR

    _, mixture = song
    listener = standard_listener("N3")
    amplified = chain.nalr_per_ear(mixture, listener, RATE)
    assert amplified.shape == (mixture.shape[0] + chain.NALR_NFIR, 2)
    enhancer = NALR(nfir=chain.NALR_NFIR, sample_rate=RATE)
    for channel, audiogram in enumerate((listener.left, listener.right)):
        fir, _ = enhancer.build(audiogram.to_clarity())
        np.testing.assert_array_equal(amplified[:, channel], enhancer.apply(fir, mixture[:, channel]))


def test_optional_compressor_follows_nalr(song) -> None:
    from clarity.enhancer.compressor import Compressor

    _, mixture = song
    short = mixture[: int(0.3 * RATE)]  # the CEC compressor is a per-sample Python loop
    listener = standard_listener("N2")
    plain = chain.nalr_per_ear(short, listener, RATE)
    compressed = chain.nalr_per_ear(short, listener, RATE, compressor=True)
    expected, _, _ = Compressor(fs=RATE, **chain.COMPRESSOR_SETTINGS).process(plain[:, 0])
    np.testing.assert_allclose(compressed[:, 0], expected)
    assert not np.allclose(compressed, plain)


def test_gains_sources() -> None:
    table = {"gain_1": {"vocals": 10.0, "drums": -3.0}}
    assert row_gains({"gain": "gain_1"}, table) == {"vocals": 10.0, "drums": -3.0, "bass": 0.0, "other": 0.0}
    assert row_gains({"gain_vocals": "6", "gain": "gain_1"}, table)["vocals"] == 6.0  # inline wins
    assert row_gains({}, None) == {s: 0.0 for s in chain.STEMS}
    with pytest.raises(GainsError, match="not in the gains file"):
        row_gains({"gain": "gain_2"}, table)
    with pytest.raises(GainsError, match="no gains.json"):
        row_gains({"gain": "gain_1"}, None)
    with pytest.raises(GainsError, match="not a number"):
        row_gains({"gain_bass": "loud"}, None)


def test_load_gains_checks(tmp_path: Path) -> None:
    path = tmp_path / "gains.json"
    path.write_text(json.dumps({"g": {"vocals": 1, "drums": 0, "bass": 0, "other": 0}}))
    assert load_gains(path)["g"]["vocals"] == 1.0
    path.write_text(json.dumps({"g": {"piano": 3}}))
    with pytest.raises(GainsError, match="unknown stem"):
        load_gains(path)
    path.write_text(json.dumps({"g": {"vocals": "3"}}))
    with pytest.raises(GainsError, match="finite number"):
        load_gains(path)


# --------------------------------------------------------------------------------- pipeline


def write_corpus(folder: Path, stems: dict[str, np.ndarray], mixture: np.ndarray,
                 rows: list[dict[str, str]], gains: dict[str, dict[str, float]] | None) -> Path:
    """One song (float WAV stems + mixture) and a manifest of ``rows`` that all use it."""
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "mixture.wav", mixture, RATE, subtype="FLOAT")
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio, RATE, subtype="FLOAT")
    full = [{"audio": "mixture.wav", **{s: f"{s}.wav" for s in chain.STEMS}, **row} for row in rows]
    if gains is not None:
        (folder / "gains.json").write_text(json.dumps(gains))
    return write_manifest_csv(folder / "manifest.csv", full)


@needs_fluidsynth
def test_remix_pipeline_writes_cadenza_flac(tmp_path: Path, song) -> None:
    from hltk.pipelines.remix import remix

    stems, mixture = song
    gains = {"gain_a": {"vocals": 6, "drums": 0, "bass": -3, "other": 0}}
    rows = [{"id": "i1", "scene": "S0001", "listener": "N2", "gain": "gain_a"},
            {"id": "i2", "scene": "S0002", "listener": "S2", "gain": "gain_a"}]
    manifest = write_corpus(tmp_path / "corpus", stems, mixture, rows, gains)
    out = tmp_path / "out"
    summary = remix(manifest, RunSettings(out=out, audio_format="flac16", filename=""))
    assert summary.exit_code == EXIT_OK, summary.results
    produced = out / "audio" / "S0001_N2_remix.flac"
    info = sf.info(produced)
    assert (info.samplerate, info.channels, info.subtype, info.format) == (32000, 2, "PCM_16", "FLAC")
    expected = chain.remix_for_listener(stems, mixture, gains["gain_a"], standard_listener("N2"))
    assert info.frames == expected.shape[0] == round((mixture.shape[0] + chain.NALR_NFIR) * 32000 / RATE)
    written, _ = sf.read(produced, dtype="float64")
    # the file is the chain's output, hard-clipped and quantised to 16 bits
    assert np.max(np.abs(written - np.clip(expected, -1, 1))) < 1.5 / 32768
    written_gains = json.loads((out / "gains.json").read_text())
    assert written_gains == {"gain_a": {k: float(v) for k, v in gains["gain_a"].items()}}
    rows_out = list(csv.DictReader((out / "manifest.csv").open()))
    assert rows_out[0]["audio"] == "audio/S0001_N2_remix.flac"
    assert (out / rows_out[0]["input"]).resolve() == (tmp_path / "corpus/mixture.wav").resolve()
    record = json.loads((out / "run.json").read_text())
    assert record["processor"]["separator"] == "oracle" and record["processor"]["output_sample_rate"] == 32000
    # resumable: a rerun skips both items
    again = remix(manifest, RunSettings(out=out, audio_format="flac16", filename=""))
    assert again.counts["skipped"] == 2 and again.counts["processed"] == 0


def test_refused_remix_run_writes_nothing(tmp_path: Path) -> None:
    """gains.json is written with the records, after every check: a remix run refused by the
    plan (here an output name that would leave OUT) creates no OUT at all."""
    from hltk.io.manifest import ManifestError
    from hltk.pipelines.remix import remix

    rate = RATE
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(rate // 4) / rate)
    stems = {name: tone for name in chain.STEMS}
    rows = [{"id": "i1", "scene": "S0001", "listener": "N2", "gain": "gain_a"}]
    manifest = write_corpus(tmp_path / "corpus", stems, 4 * tone, rows,
                            {"gain_a": {"vocals": 0, "drums": 0, "bass": 0, "other": 0}})
    out = tmp_path / "out"
    with pytest.raises(ManifestError, match="outside the output folder"):
        remix(manifest, RunSettings(out=out, audio_format="flac16", filename="../{id}.{ext}"))
    assert not out.exists()


@needs_fluidsynth
def test_remix_refuses_unknown_gain_before_work(tmp_path: Path, song) -> None:
    from hltk.io.manifest import ManifestError
    from hltk.pipelines.remix import remix

    stems, mixture = song
    manifest = write_corpus(tmp_path / "corpus", stems, mixture,
                            [{"id": "i1", "listener": "N2", "gain": "gain_zz"}], {"gain_a": {"vocals": 1}})
    with pytest.raises(ManifestError, match="gain_zz"):
        remix(manifest, RunSettings(out=tmp_path / "out", filename=""))
    assert not (tmp_path / "out" / "audio").exists()


@needs_fluidsynth
def test_remix_cli_default_name_and_failures(tmp_path: Path, song) -> None:
    from typer.testing import CliRunner

    from hltk_cli.app import app

    stems, mixture = song
    manifest = write_corpus(tmp_path / "corpus", stems, mixture,
                            [{"id": "i1", "listener": "N1", "gain_vocals": "3"},
                             {"id": "i2", "listener": "N4", "gain_vocals": "-3"}], None)
    # a stem one sample short: that item fails at "process", the other is written
    sf.write(tmp_path / "corpus" / "short.wav", stems["bass"][:-1], RATE, subtype="FLOAT")
    text = manifest.read_text().splitlines()
    text[2] = text[2].replace("bass.wav", "short.wav")
    manifest.write_text("\n".join(text) + "\n")
    result = CliRunner().invoke(app, ["remix", str(manifest), "-o", str(tmp_path / "out"), "-q",
                                      "--format", "csv"])
    assert result.exit_code == 3, result.output
    assert (tmp_path / "out/audio/i1.flac").exists() and not (tmp_path / "out/audio/i2.flac").exists()
    failures = list(csv.DictReader((tmp_path / "out/failures.csv").open()))
    assert failures[0]["id"] == "i2" and failures[0]["stage"] == "process"


# ---------------------------------------------------------------------------------- scoring


@needs_fluidsynth
def test_evaluate_preset_equals_direct_pyclarity(tmp_path: Path, song) -> None:
    """The preset's HAAQI equals pyclarity's compute_haaqi called as the recipe calls it."""
    from clarity.enhancer.nalr import NALR
    from clarity.evaluator.haaqi import compute_haaqi
    from clarity.utils.signal_processing import resample

    from hltk.pipelines.evaluate import EvaluateSettings, preset_scoring, score_manifest
    from hltk.pipelines.remix import remix
    from hltk.remix.scoring import song_seed

    stems, mixture = song
    cut = int(1.0 * RATE)  # 1 s keeps HAAQI cheap
    stems = {name: audio[:cut] for name, audio in stems.items()}
    mixture = mixture[:cut]
    gains = {"gain_a": {"vocals": 6, "drums": -3, "bass": 0, "other": 0}}
    manifest = write_corpus(tmp_path / "corpus", stems, mixture,
                            [{"id": "i1", "scene": "S0001", "listener": "N2", "gain": "gain_a"}], gains)
    out = tmp_path / "remix"
    assert remix(manifest, RunSettings(out=out, audio_format="flac16", filename="")).exit_code == EXIT_OK
    settings = EvaluateSettings(out=tmp_path / "eval", scoring=preset_scoring("cadenza-icassp2024"),
                                preset="cadenza-icassp2024")
    result = score_manifest(out / "manifest.csv", settings)
    assert result.exit_code == EXIT_OK
    row = result.scores.iloc[0]

    # the recipe, written out with pyclarity only (evaluate.py: run_calculate_aq)
    import pyloudnorm as pyln

    meter = pyln.Meter(RATE)
    adjusted = {}
    for name, stem in stems.items():
        lufs = meter.integrated_loudness(stem)
        adjusted[name] = pyln.normalize.loudness(stem, lufs, lufs + gains["gain_a"][name])
    summed = sum(adjusted.values())
    lufs_sum, lufs_mix = meter.integrated_loudness(summed), meter.integrated_loudness(mixture)
    reference_mixture = pyln.normalize.loudness(summed, lufs_sum, lufs_mix)
    processed, processed_rate = sf.read(out / "audio/S0001_N2_remix.flac")
    listener = standard_listener("N2").to_clarity()
    enhancer = NALR(nfir=220, sample_rate=RATE)
    np.random.seed(song_seed("S0001"))
    direct = []
    for channel, audiogram in enumerate((listener.audiogram_left, listener.audiogram_right)):
        fir, _ = enhancer.build(audiogram)
        reference = enhancer.apply(fir, reference_mixture[:, channel])
        direct.append(compute_haaqi(
            processed_signal=resample(processed[:, channel], processed_rate, 24000),
            reference_signal=resample(reference, RATE, 24000),
            processed_sample_rate=24000, reference_sample_rate=24000, audiogram=audiogram,
            equalisation=2,
            level1=65 - 20 * np.log10(np.sqrt(np.mean(reference_mixture[:, channel] ** 2)))))
    assert row["haaqi_left"] == pytest.approx(direct[0], abs=1e-9)
    assert row["haaqi_right"] == pytest.approx(direct[1], abs=1e-9)
    assert row["haaqi"] == pytest.approx(np.mean(direct), abs=1e-9)
    assert 0.0 < row["haaqi"] <= 1.0


# ---------------------------------------------------------------- the runner's opt-in extension


class _SumProcessor:
    """Per item: the audio plus its ``reference`` column, times the row's ``scale``, returned
    at 8 kHz and 10 samples longer than the input (exercises input_columns, rows,
    output_sample_rate and keeps_length)."""

    name = "sum"
    sample_rate = 16000
    batched = False
    input_columns = ("reference",)
    output_sample_rate = 8000
    keeps_length = False

    def __call__(self, audio, listeners, *, lengths, level_db_spl, seeds, inputs, rows):
        import torch

        summed = (audio[0] + inputs[0]["reference"]) * float(rows[0]["scale"])
        decimated = summed[..., ::2]
        return torch.nn.functional.pad(decimated, (0, 10)).unsqueeze(0)


def test_runner_gives_input_columns_and_rows(tmp_path: Path) -> None:
    from hltk.io.manifest import load_manifest
    from hltk.runner import run_processor

    rng = np.random.default_rng(0)
    audio, reference = 0.1 * rng.standard_normal(1600), 0.1 * rng.standard_normal(1600)
    sf.write(tmp_path / "a.wav", audio, 16000, subtype="FLOAT")
    sf.write(tmp_path / "r.wav", reference, 16000, subtype="FLOAT")
    manifest_path = write_manifest_csv(tmp_path / "m.csv", [
        {"id": "x", "audio": "a.wav", "reference": "r.wav", "listener": "N1", "scale": "2"}])
    manifest = load_manifest(manifest_path)
    summary = run_processor(manifest, _SumProcessor(), RunSettings(out=tmp_path / "out",
                            audio_format="wav32f", clip="none"), task="test", backend="sum")
    assert summary.exit_code == EXIT_OK, summary.results
    written, rate = sf.read(tmp_path / "out/audio/x.wav", dtype="float64")
    assert rate == 8000 and written.shape == (800 + 10, 2)
    np.testing.assert_allclose(written[:800, 0], 2 * (audio + reference)[::2], atol=1e-6)
    assert summary.results[0].sample_rate == 8000
