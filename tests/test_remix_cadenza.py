"""``hltk manifest cadenza`` on the fake Cadenza ICASSP 2024 layout in tests/data/cadenza_fake,
chained into ``hltk remix``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from hltk.io.manifest import ManifestError
from hltk.remix.cadenza import write_cadenza_manifest
from hltk.synth import signals
from hltk_cli.app import app

FAKE = Path(__file__).parent / "data" / "cadenza_fake"


@pytest.fixture(scope="module")
def song() -> tuple[dict, object]:
    if not signals.has_fluidsynth():
        pytest.skip("fluidsynth or the GM soundfont not installed")
    return signals.song_stems(seed=5, seconds=1.0, sample_rate=44100)


@pytest.fixture
def layout(tmp_path: Path, song) -> Path:
    """A copy of the fake metadata with short synthetic audio written where Cadenza keeps it
    (all songs share one 1 s render; the test split has only mixtures)."""
    root = tmp_path / "cadenza"
    shutil.copytree(FAKE / "metadata", root / "metadata")
    stems, mixture = song
    for split in ("train", "valid", "test"):
        songs = json.loads((root / "metadata" / f"at_mic_music.{split}.json").read_text())
        for song in songs.values():
            folder = root / "audio" / "at_mic_music" / song["Path"]
            folder.mkdir(parents=True)
            sf.write(folder / "mixture.wav", mixture.numpy().T, 44100, subtype="FLOAT")
            if split != "test":
                for name, audio in stems.items():
                    sf.write(folder / f"{name}.wav", audio.numpy().T, 44100, subtype="FLOAT")
    return root


def test_train_split_rows_in_recipe_order(layout: Path, tmp_path: Path) -> None:
    result = write_cadenza_manifest(layout, "train", tmp_path / "m")
    rows = list(csv.DictReader(result.manifest.open()))
    assert [r["id"] for r in rows] == ["scene_10001_L5001", "scene_10001_L5002",
                                       "scene_10002_L5002", "scene_10003_L5001"]
    first = rows[0]
    assert first["song"] == "Fake Artist - First Song-hlp_0001" and first["gain"] == "gain_0001"
    assert (result.manifest.parent / first["vocals"]).resolve() == (
        layout / "audio/at_mic_music/train/Fake Artist - First Song-hlp_0001/vocals.wav").resolve()
    assert result.with_stems and result.scenes == 3
    assert json.loads(result.listeners.read_text()).keys() == {"L5001", "L5002"}
    assert "gain_0002" in json.loads(result.gains.read_text())


def test_test_split_has_no_stems(layout: Path, tmp_path: Path) -> None:
    result = write_cadenza_manifest(layout, "test", tmp_path / "m")
    header = result.manifest.read_text().splitlines()[0].split(",")
    assert not result.with_stems and "vocals" not in header and "audio" in header


def test_missing_metadata_is_reported(layout: Path, tmp_path: Path) -> None:
    listeners = json.loads((layout / "metadata/listeners.valid.json").read_text())
    (layout / "metadata/listeners.valid.json").write_text(json.dumps({"L9999": listeners["L5101"]}))
    with pytest.raises(ManifestError, match="L5101"):
        write_cadenza_manifest(layout, "valid", tmp_path / "m")
    (layout / "metadata/scenes.train.json").unlink()
    with pytest.raises(ManifestError, match="scenes.train.json"):
        write_cadenza_manifest(layout, "train", tmp_path / "m")


def test_cli_manifest_then_remix(layout: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["manifest", "cadenza", "--root", str(layout), "--split", "valid",
                               "-o", str(tmp_path / "m"), "--format", "csv", "-q"])
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines()[1].startswith("valid,1,1,True")
    remixed = runner.invoke(app, ["remix", str(tmp_path / "m/manifest.csv"), "-o", str(tmp_path / "out"),
                                  "-q", "--format", "csv"])
    assert remixed.exit_code == 0, remixed.output
    produced = tmp_path / "out/audio/scene_20001_L5101_remix.flac"
    audio, rate = sf.read(produced)
    assert rate == 32000 and audio.shape[1] == 2 and np.all(np.isfinite(audio))
    # the test split has no stems: the oracle separator is refused before any work
    runner.invoke(app, ["manifest", "cadenza", "--root", str(layout), "--split", "test",
                        "-o", str(tmp_path / "t"), "-q"])
    refused = runner.invoke(app, ["remix", str(tmp_path / "t/manifest.csv"), "-o", str(tmp_path / "o2")])
    assert refused.exit_code == 2 and "vocals" in refused.output
