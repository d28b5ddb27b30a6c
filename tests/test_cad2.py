"""CAD2 (second Cadenza challenge): ``hltk manifest cad2``, ``hltk remix --chain cad2-task2|
cad2-task1`` and ``hltk evaluate --preset cad2-task2|cad2-task1`` on the fake layout of
``tests/data/cad2/make_fake.py``, against the recipes' rules restated from
``recipes/cad2/task{1,2}/baseline/{enhance,evaluate}.py`` (pyclarity v0.6) with pyclarity's
own primitives; and the Cadenza ICASSP 2024 remix's output unchanged by the generalisation."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk.io.manifest import ManifestError
from hltk.remix.cad2 import write_cad2_manifest
from hltk.remix.chain import (
    CompressorParams,
    adjust_level,
    average_repeated_gains,
    downmix_alpha,
)
from hltk_cli.app import app

MAKE_FAKE = Path(__file__).parent / "data" / "cad2" / "make_fake.py"
CROSSOVERS = [353.55, 707.11, 1414.21, 2828.43, 5656.85]  # task2/baseline/config.yaml:29
runner = CliRunner()


def _make_fake():
    spec = importlib.util.spec_from_file_location("cad2_make_fake", MAKE_FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_fake().make(tmp_path_factory.mktemp("cad2"))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _invoke(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------------- manifests


def test_task2_manifest_rows_stems_and_side_files(fake: Path, tmp_path: Path) -> None:
    result = write_cad2_manifest(fake / "task2", 2, "valid", tmp_path / "m")
    rows = _rows(result.manifest)
    # make_scene_listener_list: scenes in file order, each scene's listeners in order
    assert [r["id"] for r in rows] == ["S50001_L5001", "S50001_L5002", "S50002_L5002", "S50003_L5001"]
    header = result.manifest.read_text().splitlines()[0].split(",")
    assert header[:7] == ["id", "audio", "stems", "instruments", "stem_source_1", "stem_source_2",
                          "stem_source_3"]
    duo, trio = rows[0], rows[2]
    assert duo["stems"] == "source_1;source_2" and duo["stem_source_3"] == ""
    assert trio["stems"] == "source_1;source_2;source_3"
    assert trio["instruments"] == "Violin_1;Violin_2;Bassoon_1"
    assert (result.manifest.parent / trio["stem_source_3"]).resolve() == (
        fake / "task2/audio/valid/Fake Trio - Allegro/Bassoon_1.flac").resolve()
    assert (duo["gain"], duo["start_time"], duo["end_time"], duo["task"]) == (
        "gain_2_0001", "0.0", "1.0", "2")
    assert result.gains is not None and "gain_3_0002" in json.loads(result.gains.read_text())
    assert json.loads(result.compressor_params.read_text())["L5002"]["cr_l"][0] == 1.5
    assert (result.rows, result.scenes, result.stems) == (4, 3, 3)


def test_task1_manifest_alpha_segment_and_stems(fake: Path, tmp_path: Path) -> None:
    result = write_cad2_manifest(fake / "task1", 1, "valid", tmp_path / "m")
    rows = _rows(result.manifest)
    assert [r["id"] for r in rows] == ["S50001_L5001", "S50002_L5002", "S50002_L5001"]
    # the recipe's name f"{scene}_{listener}_A{alpha}_remix.flac" formats the JSON value
    assert [r["alpha"] for r in rows] == ["0.5", "1", "1"]
    assert (rows[0]["start_time"], rows[0]["end_time"]) == ("0.2", "1.3")
    assert rows[0]["vocals"].endswith("Song One/vocals.flac") and rows[0]["lyrics"] == "la la la love"
    assert result.gains is None and result.with_stems


def test_manifest_problems_are_named(fake: Path, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    shutil.copytree(fake / "task2" / "metadata", root / "metadata")
    (root / "audio").symlink_to(fake / "task2" / "audio")
    params = json.loads((root / "metadata/compressor_params.valid.json").read_text())
    del params["L5002"]
    (root / "metadata/compressor_params.valid.json").write_text(json.dumps(params))
    gains = json.loads((root / "metadata/gains.json").read_text())
    gains["gain_2_0001"] = {"source_1": 0}  # the duo has two sources
    (root / "metadata/gains.json").write_text(json.dumps(gains))
    with pytest.raises(ManifestError) as error:
        write_cad2_manifest(root, 2, "valid", tmp_path / "m")
    assert "L5002" in str(error.value) and "gain_2_0001" in str(error.value)
    with pytest.raises(ValueError, match="task"):
        write_cad2_manifest(root, 3, "valid", tmp_path / "m")


# --------------------------------------------------------------------------- the recipes' rules


def test_adjust_level_is_the_recipe_rule() -> None:
    signal = np.ones((4, 2))
    # evaluate.py:128-135: dbn = -10 log10(sum(10^(g/10)) / n)
    expected = 10 ** (-10 * np.log10((10 ** 0.6 + 10 ** -0.3) / 2) / 20)
    assert np.allclose(adjust_level(signal, {"source_1": 6, "source_2": -3}), expected)
    assert np.allclose(adjust_level(signal, {"a": 0, "b": 0, "c": 0}), 1.0)


def test_repeated_instruments_share_the_mean_gain() -> None:
    # enhance.py:33-55 check_repeated_source: same instrument family -> mean of their gains
    gains = {"source_1": 0.0, "source_2": 6.0, "source_3": -6.0}
    instruments = {"source_1": "Violin", "source_2": "Violin", "source_3": "Bassoon"}
    assert average_repeated_gains(gains, instruments) == {"source_1": 3.0, "source_2": 3.0, "source_3": -6.0}


def test_downmix_alpha_is_the_recipe_rule() -> None:
    vocals, accompaniment = np.full((3, 2), 0.1), np.full((3, 2), 0.2)
    # task1 enhance.py:145-169: vamp = alpha^2 + 1, aamp = 2 - vamp
    assert np.allclose(downmix_alpha(vocals, accompaniment, 0.0), 0.3)
    assert np.allclose(downmix_alpha(vocals, accompaniment, 0.5), 0.1 * 1.25 + 0.2 * 0.75)
    assert np.allclose(downmix_alpha(vocals, accompaniment, 1.0), 0.2)


def test_compressor_params_are_checked() -> None:
    entry = {"cr_l": [1.0] * 6, "cr_r": 2.0, "gain_l": [0.0] * 6, "gain_r": [3.0] * 6}
    params = CompressorParams.from_json(entry)
    assert params.ear("right")["ratio"] == [2.0] * 6 and params.ear("left")["threshold"] == [-30] * 6
    with pytest.raises(ValueError, match="cr_l"):
        CompressorParams.from_json({**entry, "cr_l": [1.0] * 5})


# ------------------------------------------------------------------------- remix vs the recipe


def _recipe_compress(signal: np.ndarray, params: dict, sample_rate: int = 44100) -> np.ndarray:
    """enhance.py:211-227 process_remix_for_listener with the config's attack/release/threshold."""
    from clarity.enhancer.multiband_compressor import MultibandCompressor

    enhancer = MultibandCompressor(crossover_frequencies=CROSSOVERS, sample_rate=sample_rate)
    out = []
    for side, ear in enumerate("lr"):
        enhancer.set_compressors(attack=[11, 11, 14, 13, 11, 11], release=[80, 80, 80, 80, 100, 100],
                                 threshold=[-30] * 6, ratio=params[f"cr_{ear}"],
                                 makeup_gain=params[f"gain_{ear}"])
        out.append(enhancer(signal[:, side].copy()))
    return np.vstack(out).T


def _recipe_task2(root: Path, scene_id: str, listener_id: str) -> tuple[np.ndarray, np.ndarray]:
    """evaluate.py:29-74,128-135 with the true stems: (compressed remix, remix before it)."""
    import pyloudnorm as pyln
    from clarity.utils.flac_encoder import read_flac_signal

    metadata = root / "metadata"
    scene = json.loads((metadata / "scenes.valid.json").read_text())[scene_id]
    song = json.loads((metadata / "music.valid.json").read_text())[scene["music"]]
    gains = json.loads((metadata / "gains.json").read_text())[scene["gain"]]
    params = json.loads((metadata / "compressor_params.valid.json").read_text())[listener_id]
    meter = pyln.Meter(44100)
    remix = None
    for source, entry in song.items():
        if source == "mixture":
            continue
        stem, _ = read_flac_signal(root / "audio" / entry["track"])
        lufs = meter.integrated_loudness(stem)
        stem = pyln.normalize.loudness(stem, lufs, lufs + gains[source])
        remix = stem if remix is None else remix + stem
    assert remix is not None
    dbi = np.array(list(gains.values()))
    remix = remix * 10 ** (-10 * np.log10(np.sum(10 ** (dbi / 10)) / dbi.shape[0]) / 20)
    return _recipe_compress(remix, params), remix


def test_task2_remix_and_haaqi_match_the_recipe(fake: Path, tmp_path: Path) -> None:
    from clarity.evaluator.haaqi import compute_haaqi
    from clarity.utils.audiogram import Listener
    from clarity.utils.flac_encoder import read_flac_signal, save_flac_signal
    from clarity.utils.signal_processing import compute_rms, resample

    _invoke("manifest", "cad2", "--root", str(fake / "task2"), "--task", "2", "-o", str(tmp_path / "m"))
    _invoke("remix", str(tmp_path / "m/manifest.csv"), "--chain", "cad2-task2", "-o", str(tmp_path / "r"),
            "--limit", "3")
    written = sorted(p.name for p in (tmp_path / "r/audio").iterdir())
    assert written == ["S50001_L5001_remix.flac", "S50001_L5002_remix.flac", "S50002_L5002_remix.flac"]
    info = sf.info(tmp_path / "r/audio/S50002_L5002_remix.flac")
    assert (info.samplerate, info.channels, info.subtype, info.format) == (32000, 2, "PCM_16", "FLAC")
    assert {"gains.json", "compressor_params.json", "listeners.json"} <= {
        p.name for p in (tmp_path / "r").iterdir()}
    # enhance.py:393-400: save_flac_signal(44.1 -> 32 kHz, clip); the three-stem trio scene
    compressed, remix = _recipe_task2(fake / "task2", "S50002", "L5002")
    save_flac_signal(compressed, tmp_path / "recipe.flac", 44100, 32000, do_clip_signal=True)
    recipe, _ = read_flac_signal(tmp_path / "recipe.flac")
    ours, _ = read_flac_signal(tmp_path / "r/audio/S50002_L5002_remix.flac")
    assert ours.shape == recipe.shape
    # one LSB: pyclarity's to_16bit truncates, hltk's writer rounds
    assert np.max(np.abs(ours - recipe)) <= 1 / 32768 + 1e-9
    assert np.mean(np.abs(ours - recipe)) < 0.6 / 32768

    _invoke("evaluate", str(tmp_path / "r/manifest.csv"), "--preset", "cad2-task2", "-o",
            str(tmp_path / "e"), "--limit", "1")
    score = _rows(tmp_path / "e/scores.csv")[0]
    assert score["id"] == "S50001_L5001"
    # evaluate.py:206-302 on hltk's file, the seed md5(scene) once before the left ear
    compressed, remix = _recipe_task2(fake / "task2", "S50001", "L5001")
    enhanced, _ = read_flac_signal(tmp_path / "r/audio/S50001_L5001_remix.flac")
    listener = Listener.load_listener_dict(fake / "task2/metadata/listeners.valid.json")["L5001"]
    np.random.seed(int(hashlib.md5(b"S50001").hexdigest(), 16) % 10**8)
    expected = [compute_haaqi(
        processed_signal=resample(enhanced[:, ch], 32000, 24000),
        reference_signal=resample(compressed[:, ch], 44100, 24000),
        processed_sample_rate=24000, reference_sample_rate=24000,
        audiogram=[listener.audiogram_left, listener.audiogram_right][ch], equalisation=2,
        level1=65 - 20 * np.log10(compute_rms(remix[:, ch]))) for ch in (0, 1)]
    assert float(score["haaqi_left"]) == pytest.approx(expected[0], abs=1e-9)
    assert float(score["haaqi_right"]) == pytest.approx(expected[1], abs=1e-9)
    assert float(score["haaqi"]) == pytest.approx(np.mean(expected), abs=1e-9)


def test_task1_remix_name_rate_segment_and_haaqi(fake: Path, tmp_path: Path) -> None:
    import pyloudnorm as pyln
    from clarity.utils.flac_encoder import read_flac_signal, save_flac_signal

    _invoke("manifest", "cad2", "--root", str(fake / "task1"), "--task", "1", "-o", str(tmp_path / "m"))
    _invoke("remix", str(tmp_path / "m/manifest.csv"), "--chain", "cad2-task1", "-o", str(tmp_path / "r"),
            "--limit", "1")
    name = "S50001_L5001_A0.5_remix.flac"
    info = sf.info(tmp_path / "r/audio" / name)
    start, end = int(0.2 * 44100), int(1.3 * 44100)
    assert (info.samplerate, info.frames, info.subtype) == (44100, end - start, "PCM_16")
    # task1 enhance.py:255-323 with the true stems standing for the separation of the
    # -40 LUFS segment
    folder = fake / "task1/audio/valid/Fake Band - Song One"
    mixture = read_flac_signal(folder / "mixture.flac")[0][start:end]
    scale = 10 ** ((-40 - pyln.Meter(44100).integrated_loudness(mixture)) / 20)
    vocals = read_flac_signal(folder / "vocals.flac")[0][start:end] * scale
    accompaniment = sum(read_flac_signal(folder / f"{n}.flac")[0][start:end]
                        for n in ("bass", "drums", "other"))
    mixed = vocals * 1.25 + accompaniment * scale * 0.75
    params = json.loads((fake / "task1/metadata/compressor_params.valid.json").read_text())["L5001"]
    save_flac_signal(_recipe_compress(mixed, params), tmp_path / "recipe.flac", 44100, 44100,
                     do_clip_signal=True)
    recipe, _ = read_flac_signal(tmp_path / "recipe.flac")
    ours, _ = read_flac_signal(tmp_path / "r/audio" / name)
    assert np.max(np.abs(ours - recipe)) <= 1 / 32768 + 1e-9

    _invoke("evaluate", str(tmp_path / "r/manifest.csv"), "--preset", "cad2-task1", "-o", str(tmp_path / "e"))
    score = _rows(tmp_path / "e/scores.csv")[0]
    assert 0.5 < float(score["haaqi"]) <= 1.0  # the oracle remix at alpha 0.5 is close to its reference


def test_cad2_chain_refuses_a_separator_it_does_not_have(fake: Path, tmp_path: Path) -> None:
    _invoke("manifest", "cad2", "--root", str(fake / "task2"), "--task", "2", "-o", str(tmp_path / "m"))
    result = runner.invoke(app, ["remix", str(tmp_path / "m/manifest.csv"), "--chain", "cad2-task2",
                                 "--separator", "hdemucs", "--checkpoint", str(MAKE_FAKE), "-o",
                                 str(tmp_path / "r")])
    assert result.exit_code != 0 and not (tmp_path / "r").exists()


# ---------------------------------------------------------- Cadenza ICASSP 2024 path unchanged

#: sha256 of the int16 samples of `hltk remix` on the tone stems below, computed with the
#: remix chain before the CAD2 generalisation (main at 9895909)
CADENZA_GOLDEN = {
    "song0": "34a00bf731854f1cfca4a5ab626fd1a58ae366b3faf1d73f5f16d5d8d085f7e3",
    "song1": "468f07977393df65cbf3793f1811302b2856d80c6b1eecac9bdf51ea4c769879",
}


def test_cadenza_icassp2024_output_is_unchanged(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(44100) / 44100
    rows = []
    for item in range(2):
        stems = {}
        for k, name in enumerate(("vocals", "drums", "bass", "other")):
            f0 = [330, 90, 55, 260][k] * (1 + 0.05 * item)
            tone = (0.2 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6))
                    * (0.6 + 0.4 * np.sin(2 * np.pi * (k + 1) * t)))
            stems[name] = np.stack([tone * 0.9, tone * 1.1], axis=1)
            sf.write(tmp_path / f"{name}{item}.wav", stems[name], 44100, subtype="FLOAT")
        sf.write(tmp_path / f"mix{item}.wav", sum(stems.values()), 44100, subtype="FLOAT")
        rows.append({"id": f"song{item}", "audio": f"mix{item}.wav", **{n: f"{n}{item}.wav" for n in stems},
                     "listener": ["N3", "S2"][item], "gain_vocals": [6, -3][item], "gain_drums": 0,
                     "gain_bass": [-6, 3][item], "gain_other": 2})
    with (tmp_path / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _invoke("remix", str(tmp_path / "manifest.csv"), "-o", str(tmp_path / "run"))
    for item_id, digest in CADENZA_GOLDEN.items():
        data, rate = sf.read(tmp_path / "run/audio" / f"{item_id}.flac", dtype="int16")
        assert rate == 32000 and data.shape == (32160, 2)
        assert hashlib.sha256(data.tobytes()).hexdigest() == digest
    # the same stems named by a stems column (two as stem_<name> columns): the same output
    with (tmp_path / "stems.csv").open("w", newline="") as handle:
        columns = ["id", "audio", "stems", "vocals", "drums", "stem_low", "stem_rest", "listener",
                   "gain_vocals", "gain_drums", "gain_low", "gain_rest"]
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "stems": "vocals;drums;low;rest", "stem_low": row["bass"],
                             "stem_rest": row["other"], "gain_low": row["gain_bass"],
                             "gain_rest": row["gain_other"]})
    _invoke("remix", str(tmp_path / "stems.csv"), "-o", str(tmp_path / "named"))
    for item_id, digest in CADENZA_GOLDEN.items():
        data, _ = sf.read(tmp_path / "named/audio" / f"{item_id}.flac", dtype="int16")
        assert hashlib.sha256(data.tobytes()).hexdigest() == digest
    # and the preset scores the stems-column manifest as the MUSDB-column one
    for run in ("run", "named"):
        _invoke("evaluate", str(tmp_path / run / "manifest.csv"), "--preset", "cadenza-icassp2024",
                "-o", str(tmp_path / f"score-{run}"), "--limit", "1")
    plain, named = (_rows(tmp_path / f"score-{run}/scores.csv")[0] for run in ("run", "named"))
    assert plain["status"] == named["status"] == "ok"
    assert (plain["haaqi_left"], plain["haaqi_right"]) == (named["haaqi_left"], named["haaqi_right"])


def test_cadenza_chain_with_three_stems(tmp_path: Path) -> None:
    from hltk.io.listeners import standard_listener
    from hltk.remix.chain import remix_for_listener

    t = np.arange(44100) / 44100
    stems = {name: np.stack([0.2 * np.sin(2 * np.pi * f * t)] * 2, axis=1)
             for name, f in (("piano", 262.0), ("cello", 131.0), ("flute", 523.0))}
    for name, audio in stems.items():
        sf.write(tmp_path / f"{name}.wav", audio, 44100, subtype="FLOAT")
    sf.write(tmp_path / "mix.wav", sum(stems.values()), 44100, subtype="FLOAT")
    (tmp_path / "manifest.csv").write_text(
        "id,audio,stems,stem_piano,stem_cello,stem_flute,listener,gain_piano,gain_cello,gain_flute\n"
        "trio,mix.wav,piano;cello;flute,piano.wav,cello.wav,flute.wav,N2,6,-3,0\n")
    _invoke("remix", str(tmp_path / "manifest.csv"), "-o", str(tmp_path / "run"))
    ours, rate = sf.read(tmp_path / "run/audio/trio.flac", dtype="float64")
    mixture = sf.read(tmp_path / "mix.wav", dtype="float32")[0].astype(np.float64)
    read = {name: sf.read(tmp_path / f"{name}.wav", dtype="float32")[0].astype(np.float64) for name in stems}
    expected = remix_for_listener(read, mixture, {"piano": 6, "cello": -3, "flute": 0},
                                  standard_listener("N2"))
    assert rate == 32000 and ours.shape == expected.shape
    assert np.max(np.abs(ours - np.clip(expected, -1, 1))) <= 1 / 32768


# ------------------------------------------------------------- CAD2 task 1 with a separator


class _Split(torch.nn.Module):
    """A stand-in separator: the mixture split 30 % "vocals", 70 % "accompaniment"."""

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.stack([0.3 * mixture, 0.7 * mixture], dim=1)


def test_recipe_segments_add_up_to_the_model_output() -> None:
    from hltk.remix.separators import separate_recipe_segments

    mixture = torch.randn(1, 2, 14_000, dtype=torch.float64)
    calls = []

    def model(piece: torch.Tensor) -> torch.Tensor:
        calls.append(piece.shape[-1])
        return _Split()(piece)

    # 1 kHz: segments of 6.6 s = 6600 samples, fades over 100 (enhance.py:70-91)
    out = separate_recipe_segments(model, mixture, 1000)
    assert calls == [6600, 6700, 900]  # [0, 6600), [6500, 13200), [13100, 14000)
    assert torch.allclose(out[0, 0], 0.3 * mixture[0]) and torch.allclose(out[0, 1], 0.7 * mixture[0])


def test_task1_with_a_torchscript_separator(fake: Path, tmp_path: Path) -> None:
    from hltk.remix.chain import compress_per_ear, normalise_lufs

    torch.jit.script(_Split()).save(str(tmp_path / "split.pt"))
    _invoke("manifest", "cad2", "--root", str(fake / "task1"), "--task", "1", "-o", str(tmp_path / "m"))
    _invoke("remix", str(tmp_path / "m/manifest.csv"), "--chain", "cad2-task1", "--vocal-separator",
            str(tmp_path / "split.pt"), "-o", str(tmp_path / "r"), "--limit", "1")
    ours, _ = sf.read(tmp_path / "r/audio/S50001_L5001_A0.5_remix.flac", dtype="float64")
    mixture = sf.read(fake / "task1/audio/valid/Fake Band - Song One/mixture.flac", dtype="float32")[0]
    segment = normalise_lufs(mixture[int(0.2 * 44100):int(1.3 * 44100)].astype(np.float64), 44100)
    params = CompressorParams.from_json(
        json.loads((fake / "task1/metadata/compressor_params.valid.json").read_text())["L5001"])
    # a segment shorter than 6.6 s is one chunk, faded out over its last 0.1 s (the recipe's
    # fade_out_len is only set to 0 for the chunk after the first)
    fade = np.ones(segment.shape[0])
    fade[-4410:] = 1 - np.linspace(0, 1, 4410)
    expected = compress_per_ear(segment * fade[:, None] * (0.3 * 1.25 + 0.7 * 0.75), params)
    assert np.max(np.abs(ours - np.clip(expected, -1, 1))) <= 1 / 32768 + 1e-6
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    result = runner.invoke(app, ["remix", str(tmp_path / "m/manifest.csv"), "--chain", "cad2-task1",
                                 "--vocal-separator", str(bad), "-o", str(tmp_path / "r2")])
    assert result.exit_code != 0 and "TorchScript" in result.output
