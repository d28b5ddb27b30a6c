"""CEC3 on the fake layout of ``tests/data/cec3/make_fake.py``: ``hltk manifest cec3`` ->
``hltk amplify --backend nalr-compressor --preset cec3`` -> ``hltk evaluate --preset cec3`` ->
``hltk package``, each compared with what the recipe (claritychallenge/clarity
``recipes/cec3/baseline``) computes, written here with pyclarity's own functions:

- ``enhance.py``: ``wavfile.read`` the three pairs, ``(x / 32768.0).astype(float32)``, their mean,
  ``NALR(nfir=220, sample_rate=48000)`` build + apply per ear, ``Compressor(threshold=0.35,
  attenuation=0.1, attack=50, release=1000, rms_buffer_size=0.064)`` (no ``fs``), ``np.tanh``,
  written as float32 (``config.yaml`` for the settings);
- ``evaluate.py``: ``set_scene_seed`` (``np.random.seed(md5(scene) % 10**8)``) then
  ``haspi_v2_be(..., level=100)`` with the reference ``/ 32768.0``;
- ``report_score.py``: ``results.groupby(pd.cut(SNR, bins=range(-12, 7, 3)))[["SNR",
  "haspi"]].mean()``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.io import wavfile
from typer.testing import CliRunner

from hltk.challenges.cec3 import snr_report, write_cec3_manifest
from hltk.io.manifest import ManifestError
from hltk_cli.app import app

MAKE_FAKE = Path(__file__).parent / "data" / "cec3" / "make_fake.py"
RUNNER = CliRunner()


def _make_fake(root: Path) -> Path:
    spec = importlib.util.spec_from_file_location("cec3_make_fake", MAKE_FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.make_fake(root))


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_fake(tmp_path_factory.mktemp("cec3") / "clarity_CEC3_data")


def _hltk(*args: str) -> None:
    result = RUNNER.invoke(app, [*args, "-q", "--format", "csv"])
    assert result.exit_code == 0, result.output


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def recipe_enhance(scenes: Path, scene: str, listener: dict) -> tuple[int, np.ndarray]:
    """The CEC3 baseline of one scene-listener pair, as ``enhance.py`` computes it."""
    from clarity.enhancer.compressor import Compressor
    from clarity.enhancer.nalr import NALR
    from clarity.utils.audiogram import Audiogram

    enhancer = NALR(nfir=220, sample_rate=48000)
    compressor = Compressor(threshold=0.35, attenuation=0.1, attack=50, release=1000,
                            rms_buffer_size=0.064)
    pairs = []
    for channel in (1, 2, 3):
        rate, samples = wavfile.read(scenes / f"{scene}_mix_CH{channel}.wav")
        pairs.append((samples / 32768.0).astype(np.float32))
    signal = (pairs[0] + pairs[1] + pairs[2]) / 3
    out = []
    for channel, key in ((0, "audiogram_levels_l"), (1, "audiogram_levels_r")):
        audiogram = Audiogram(levels=np.array(listener[key]),
                              frequencies=np.array(listener["audiogram_cfs"]))
        fir, _ = enhancer.build(audiogram)
        amplified, _, _ = compressor.process(enhancer.apply(fir, signal[:, channel]))
        out.append(amplified)
    return rate, np.tanh(np.stack(out, axis=1)).astype(np.float32)


def test_manifest_rows_follow_the_recipe(fake: Path, tmp_path: Path) -> None:
    result = write_cec3_manifest(fake, 1, "dev", tmp_path / "m")
    rows = _rows(result.manifest)
    # make_scene_listener_list: scenes in file order, each scene's listeners in order
    pairs = json.loads((fake / "task1/clarity_data/metadata/scenes_listeners.dev.json").read_text())
    assert [(r["scene"], r["listener"]) for r in rows] == [(s, who) for s in pairs for who in pairs[s]]
    assert [r["id"] for r in rows] == ["S06001_L0001", "S06002_L0002", "S06002_L0003",
                                       "S06003_L0003"]
    scenes = fake / "task1/clarity_data/dev/scenes"
    for column, name in (("audio", "mix_CH1"), ("audio_ch2", "mix_CH2"), ("audio_ch3", "mix_CH3"),
                         ("reference", "reference")):
        assert (result.manifest.parent / rows[1][column]).resolve() == (
            scenes / f"S06002_{name}.wav").resolve()
    assert [float(r["snr"]) for r in rows] == [-10.2, -1.5, -1.5, 4.0]
    assert {r["sample_rate"] for r in rows} == {"44100"} and result.sample_rates == (44100,)
    assert json.loads(result.listeners.read_text()).keys() == {"L0001", "L0002", "L0003"}
    task2 = write_cec3_manifest(fake, 2, "dev", tmp_path / "m2")
    assert task2.sample_rates == (48000,) and task2.rows == 1
    # the evaluation split: mixtures only, no scenes.eval.json: no reference, no SNR
    evaluation = write_cec3_manifest(fake, 1, "eval", tmp_path / "m3")
    rows = _rows(evaluation.manifest)
    assert not evaluation.with_reference and "reference" not in rows[0]
    assert [r["id"] for r in rows] == ["S09001_L0001", "S09002_L0002"] and rows[0]["snr"] == ""


def test_manifest_refuses_missing_files_and_listeners(fake: Path, tmp_path: Path) -> None:
    root = tmp_path / "broken"
    _make_fake(root)
    metadata = root / "task1/clarity_data/metadata"
    (root / "task1/clarity_data/dev/scenes/S06003_mix_CH2.wav").unlink()
    pairs = json.loads((metadata / "scenes_listeners.dev.json").read_text())
    pairs["S06001"].append("L9999")
    (metadata / "scenes_listeners.dev.json").write_text(json.dumps(pairs))
    with pytest.raises(ManifestError) as refused:
        write_cec3_manifest(root, 1, "dev", tmp_path / "m")
    message = str(refused.value)
    assert "S06003_mix_CH2.wav" in message and "L9999" in message
    assert not (tmp_path / "m" / "manifest.csv").exists()
    result = RUNNER.invoke(app, ["manifest", "cec3", "--root", str(root), "--task", "3",
                                 "-o", str(tmp_path / "t3")])
    assert result.exit_code == 2 and "scenes_listeners.dev.json" in result.output


@pytest.fixture(scope="module")
def runs(fake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Task 1 dev and task 2 dev through manifest and amplify (16-bit and float outputs)."""
    work = tmp_path_factory.mktemp("runs")
    _hltk("manifest", "cec3", "--root", str(fake), "--task", "1", "-o", str(work / "t1"))
    _hltk("manifest", "cec3", "--root", str(fake), "--task", "2", "-o", str(work / "t2"))
    name = "{scene}_{listener}_HA-output.{ext}"
    _hltk("amplify", str(work / "t1/manifest.csv"), "--backend", "nalr-compressor", "--preset",
          "cec3", "--filename", name, "-o", str(work / "t1/amp"))
    _hltk("amplify", str(work / "t1/manifest.csv"), "--backend", "nalr-compressor", "--preset",
          "cec3", "--filename", name, "--audio-format", "wav32f", "--limit", "2",
          "-o", str(work / "t1/amp32"))
    _hltk("amplify", str(work / "t2/manifest.csv"), "--backend", "nalr-compressor", "--preset",
          "cec3", "--sample-rate", "48000", "--audio-format", "wav32f", "-o", str(work / "t2/amp32"))
    return {"t1": work / "t1", "t2": work / "t2"}


def test_amplify_preset_equals_the_recipe(fake: Path, runs: dict[str, Path]) -> None:
    listeners = json.loads((fake / "task1/clarity_data/metadata/listeners.json").read_text())
    for task, folder, ids in (("task1", runs["t1"] / "amp32", ["S06001_L0001", "S06002_L0002"]),
                              ("task2", runs["t2"] / "amp32", ["S10001_L0002"])):
        produced = {r["id"]: folder / r["audio"] for r in _rows(folder / "manifest.csv")}
        assert sorted(produced) == ids
        for item, path in produced.items():
            scene, listener = item.split("_")
            rate, expected = recipe_enhance(fake / task / "clarity_data/dev/scenes", scene,
                                            listeners[listener])
            info = sf.info(path)
            assert (info.samplerate, info.subtype) == (rate, "FLOAT")
            output, _ = sf.read(path, dtype="float32")
            assert output.shape == expected.shape  # T + 220: the recipe's full convolution
            assert np.array_equal(output, expected), float(np.abs(output - expected).max())
    # the 16-bit submission files: the same signal to 16-bit quantisation
    rate, expected = recipe_enhance(fake / "task1/clarity_data/dev/scenes", "S06002",
                                    listeners["L0003"])
    path = runs["t1"] / "amp/audio/S06002_L0003_HA-output.wav"
    assert sf.info(path).subtype == "PCM_16" and sf.info(path).channels == 2
    output, _ = sf.read(path, dtype="float64")
    assert np.abs(output - expected).max() < 1.5 / 32768
    assert np.abs(expected).max() > 0.05  # not silence: the comparison means something


def test_the_three_pairs_are_averaged(fake: Path, runs: dict[str, Path], tmp_path: Path) -> None:
    """Front pair only (what the recipe's README says) gives another output: the code's mean
    of the three pairs is what the backend does."""
    from hltk.amplify.compressor import NalrCompressorProcessor

    scenes = fake / "task1/clarity_data/dev/scenes"
    listeners = json.loads((fake / "task1/clarity_data/metadata/listeners.json").read_text())
    _, expected = recipe_enhance(scenes, "S06001", listeners["L0001"])
    processor = NalrCompressorProcessor(preset="cec3")
    assert processor.input_columns == ("audio_ch2", "audio_ch3") and not processor.keeps_length
    assert (processor.nalr.sample_rate, processor.nalr.nfir, processor.compressor_rate) == (
        48000, 220, 44100)
    import torch

    from hltk.io.listeners import ListenerBatch, load_listeners

    listener = load_listeners(fake / "task1/clarity_data/metadata/listeners.json")["L0001"]
    front = torch.from_numpy(sf.read(scenes / "S06001_mix_CH1.wav", dtype="float32")[0].T.copy())
    with pytest.raises(ValueError, match="audio_ch2"):
        processor(front[None], ListenerBatch((listener,)))
    same = processor(front[None], ListenerBatch((listener,)),
                     inputs=[{"audio_ch2": front, "audio_ch3": front}])[0].numpy().T
    assert np.abs(same - expected).max() > 1e-3


def test_evaluate_preset_equals_haspi_v2_be(fake: Path, runs: dict[str, Path],
                                            tmp_path: Path) -> None:
    from clarity.evaluator.haspi import haspi_v2_be
    from clarity.utils.audiogram import Listener

    out = tmp_path / "eval"
    _hltk("evaluate", str(runs["t1"] / "amp32/manifest.csv"), "--preset", "cec3", "-o", str(out))
    scores = pd.read_csv(out / "scores.csv", dtype={"id": str})
    listeners = Listener.load_listener_dict(fake / "task1/clarity_data/metadata/listeners.json")
    scenes = fake / "task1/clarity_data/dev/scenes"
    for row in scores.itertuples():
        scene, listener = row.id.split("_")
        np.random.seed(int(hashlib.md5(scene.encode("utf-8")).hexdigest(), 16) % (10**8))
        rate, signal = wavfile.read(runs["t1"] / f"amp32/audio/{scene}_{listener}_HA-output.wav")
        _, reference = wavfile.read(scenes / f"{scene}_reference.wav")
        reference = reference / 32768.0
        expected = haspi_v2_be(reference_left=reference[:, 0], reference_right=reference[:, 1],
                               processed_left=signal[:, 0], processed_right=signal[:, 1],
                               sample_rate=rate, listener=listeners[listener])
        assert row.haspi == pytest.approx(expected, abs=1e-9)
        assert row.haspi == max(row.haspi_left, row.haspi_right)
    assert 0.05 < scores["haspi"].min() and scores["haspi"].max() < 1.0
    run = json.loads((out / "run.json").read_text())
    assert run["preset"] == "cec3" and "md5(scene" in run["seeding"]
    report = pd.read_csv(out / "report.csv")
    assert list(report["snr_bin"]) == ["(-12, -9]", "(-9, -6]", "(-6, -3]", "(-3, 0]", "(0, 3]",
                                       "(3, 6]", "all"]


def test_snr_report_is_report_score() -> None:
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"snr": rng.uniform(-12, 6, 60), "haspi": rng.uniform(0, 1, 60)})
    table.loc[0, "snr"] = -12.0  # outside every bin (left-open): only in the overall mean
    report = snr_report(table).set_index("snr_bin")
    results = table.rename(columns={"snr": "SNR"})
    expected = results.groupby(pd.cut(results["SNR"], bins=range(-12, 7, 3)),
                               observed=False)[["SNR", "haspi"]].mean()
    assert list(report.index[:-1]) == [str(b) for b in expected.index]
    assert np.allclose(report["snr"].iloc[:-1], expected["SNR"])
    assert np.allclose(report["haspi"].iloc[:-1], expected["haspi"])
    assert report.loc["all", "n"] == 60 and report["n"].iloc[:-1].sum() == 59
    assert report.loc["all", "haspi"] == pytest.approx(results["haspi"].mean())


def test_package_lays_out_the_submission(runs: dict[str, Path], tmp_path: Path) -> None:
    _hltk("package", str(tmp_path / "sub"), "--team", "E001", "--task", "1",
          "--from", str(runs["t1"] / "amp"))
    folder = tmp_path / "sub/E001_task1/E001"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["S06001_L0001_HA-output.wav", "S06002_L0002_HA-output.wav",
                     "S06002_L0003_HA-output.wav", "S06003_L0003_HA-output.wav"]
    with tarfile.open(tmp_path / "sub/E001_task1.tar.gz") as archive:
        members = archive.getnames()
        assert members[0] == "E001" and sorted(members[1:]) == [f"E001/{n}" for n in names]
        packed = archive.extractfile("E001/S06001_L0001_HA-output.wav")
        assert packed is not None
        assert packed.read() == (runs["t1"] / "amp/audio/S06001_L0001_HA-output.wav").read_bytes()
    # byte-reproducible archive; zip too
    first = (tmp_path / "sub/E001_task1.tar.gz").read_bytes()
    _hltk("package", str(tmp_path / "sub"), "--team", "E001", "--task", "1", "--overwrite",
          "--from", str(runs["t1"] / "amp"))
    assert (tmp_path / "sub/E001_task1.tar.gz").read_bytes() == first
    _hltk("package", str(tmp_path / "zip"), "--team", "E001", "--task", "1", "--archive", "zip",
          "--from", str(runs["t1"] / "amp"), "--manifest", str(runs["t1"] / "manifest.csv"))
    with zipfile.ZipFile(tmp_path / "zip/E001_task1.zip") as archive:
        assert sorted(archive.namelist()) == ["E001/", *[f"E001/{n}" for n in names]]


def test_package_refuses_missing_and_malformed_files(runs: dict[str, Path], tmp_path: Path) -> None:
    def refused(*args: str) -> str:
        result = RUNNER.invoke(app, ["package", str(tmp_path / "sub"), "--team", "E001", *args])
        assert result.exit_code == 2, result.output
        assert not (tmp_path / "sub").exists()  # nothing written
        return result.output

    # --limit 2: two pairs have no output; each is named
    text = refused("--task", "1", "--from", str(runs["t1"] / "amp32"))
    assert "S06002_L0003_HA-output.wav" in text and "S06003_L0003_HA-output.wav" in text
    assert "not a 16-bit WAV" in text  # the float outputs
    assert "not task 2" in refused("--task", "2", "--from", str(runs["t1"] / "amp"))
    assert "--team" in refused("--task", "1", "--team", "E 001", "--from", str(runs["t1"] / "amp"))


def test_amplify_refuses_the_wrong_rate(runs: dict[str, Path], tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["amplify", str(runs["t2"] / "manifest.csv"), "--backend",
                                 "nalr-compressor", "--preset", "cec3", "-o", str(tmp_path / "a"),
                                 "-q", "--format", "csv"])
    assert result.exit_code == 3
    failures = _rows(tmp_path / "a/failures.csv")
    assert "--sample-rate 48000" in failures[0]["message"]
