"""Bad input is refused before any work, with exit 2 and the line and column named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from hltk.io.manifest import ManifestError, load_manifest
from hltk_cli.app import app
from tests.helpers import make_speech_manifest, write_manifest_csv

runner = CliRunner()


def refuse(args: list[str], *expected: str) -> str:
    """Run the CLI, assert exit 2 and that stderr names every expected fragment."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    message = " ".join(result.stderr.split())
    for fragment in expected:
        assert fragment in message, (fragment, message)
    return message


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_speech_manifest(tmp_path / "corpus", count=3).parent


def edit(manifest: Path, old: str, new: str) -> Path:
    manifest.write_text(manifest.read_text().replace(old, new, 1))
    return manifest


@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_missing_required_column(corpus: Path, command: str) -> None:
    manifest = edit(corpus / "manifest.csv", "id,audio", "name,audio")
    args = [command, str(manifest)] + (["-o", str(corpus / "out")] if command == "simulate" else [])
    refuse(args, "line 1", "column 'id'", "required column is missing")
    assert not (corpus / "out").exists()


def test_empty_and_duplicate_id(corpus: Path) -> None:
    manifest = edit(corpus / "manifest.csv", "item01,", ",")
    refuse(["validate", str(manifest)], "line 3, column 'id': empty id")
    manifest = edit(corpus / "manifest.csv", ",audio/item01", "item00,audio/item01")
    refuse(["validate", str(manifest)], "line 3, column 'id'", "duplicate id 'item00' (first on line 2)")


def test_missing_audio_file(corpus: Path) -> None:
    (corpus / "audio/item02.wav").unlink()
    refuse(["simulate", str(corpus / "manifest.csv"), "-o", str(corpus / "out")],
           "line 4, column 'audio'", "audio file not found")
    assert not (corpus / "out").exists()


def test_unreadable_zero_length_and_nan_audio(corpus: Path) -> None:
    (corpus / "audio/item00.wav").write_bytes(b"this is not audio at all" * 10)
    sf.write(corpus / "audio/item01.wav", np.zeros((0, 1)), 16000)
    samples = np.full(1000, 0.1, dtype=np.float32)
    samples[500] = np.nan
    sf.write(corpus / "audio/item02.wav", samples, 16000, subtype="FLOAT")
    message = refuse(["validate", str(corpus / "manifest.csv")],
                     "line 2, column 'audio': unreadable audio file",
                     "line 3, column 'audio'", "line 4, column 'audio'")
    assert "zero-length" in message or "unreadable" in message
    assert "1 NaN or infinite samples" in message


def test_inline_hearing_levels(tmp_path: Path) -> None:
    corpus = make_speech_manifest(tmp_path / "corpus", count=2).parent
    rows = [{"id": "a", "audio": "audio/item00.wav", "hl_250": 10, "hl_1000": 20, "hl_4000": 40},
            {"id": "b", "audio": "audio/item01.wav", "hl_250": "abc", "hl_1000": 20, "hl_4000": 40}]
    manifest = write_manifest_csv(corpus / "inline.csv", rows)
    refuse(["validate", str(manifest)], "line 3, column 'hl_250'", "not a number: 'abc'")
    rows[1]["hl_250"] = 130
    write_manifest_csv(manifest, rows)
    refuse(["validate", str(manifest)], "line 3, column 'hl_250'", "outside -10..120")
    rows[1]["hl_250"] = -10
    write_manifest_csv(manifest, rows)
    loaded = load_manifest(manifest)
    assert loaded.items[1].listener.left.levels == (-10.0, 20.0, 40.0)
    per_ear = [{"id": "a", "audio": "audio/item00.wav", "hl_left_500": 10, "hl_right_500": 50}]
    loaded = load_manifest(write_manifest_csv(corpus / "ears.csv", per_ear))
    assert loaded.items[0].listener.right.levels == (50.0,)


def test_unknown_listener_and_malformed_listeners_json(corpus: Path) -> None:
    manifest = edit(corpus / "manifest.csv", ",N2,", ",L9999,")
    refuse(["validate", str(manifest)], "line 3, column 'listener'", "unknown listener 'L9999'")
    listeners = corpus / "listeners.json"
    listeners.write_text("{not json")
    refuse(["validate", str(manifest)], "column 'listener'", "not valid JSON")
    listeners.write_text(json.dumps({"L9999": {"name": "L9999", "audiogram_cfs": [250, 500],
                                               "audiogram_levels_l": [10]}}))
    refuse(["validate", str(manifest)], "listener 'L9999'", "missing key 'audiogram_levels_r'")
    listeners.write_text(json.dumps({"L9999": {"name": "L9999", "audiogram_cfs": [250, 500],
                                               "audiogram_levels_l": [10, 20],
                                               "audiogram_levels_r": [10, 200]}}))
    refuse(["validate", str(manifest)], "listener 'L9999'", "200 dB HL at 500 Hz is outside")


def test_non_numeric_level(corpus: Path) -> None:
    manifest = corpus / "manifest.csv"
    lines = manifest.read_text().splitlines()
    lines[0] += ",level_db_spl"
    lines[1] += ",95"
    lines[2] += ",loud"
    lines[3] += ","
    manifest.write_text("\n".join(lines) + "\n")
    refuse(["validate", str(manifest)], "line 3, column 'level_db_spl'", "not a finite number: 'loud'")
    lines[2] = lines[2].replace(",loud", ",80")
    manifest.write_text("\n".join(lines) + "\n")
    assert [i.level_db_spl for i in load_manifest(manifest).items] == [95.0, 80.0, None]


def test_no_listener_source(corpus: Path) -> None:
    manifest = corpus / "manifest.csv"
    rows = [line.split(",") for line in manifest.read_text().splitlines()]
    manifest.write_text("\n".join(",".join(r[:2]) for r in rows) + "\n")
    refuse(["simulate", str(manifest), "-o", str(corpus / "out")], "no listener")


def test_unsafe_filename_template_refused(corpus: Path) -> None:
    refuse(["simulate", str(corpus / "manifest.csv"), "-o", str(corpus / "out"),
            "--filename", "../{id}.{ext}"], "outside the output folder")
    refuse(["simulate", str(corpus / "manifest.csv"), "-o", str(corpus / "out"),
            "--filename", "{id.__class__}.{ext}"], "plain column name")


def test_validate_ok_prints_summary(corpus: Path) -> None:
    result = runner.invoke(app, ["validate", str(corpus / "manifest.csv"), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)[0]
    assert summary["items"] == 3 and summary["audio_hours"] > 0


def test_manifest_error_lists_every_problem(corpus: Path) -> None:
    (corpus / "audio/item00.wav").unlink()
    (corpus / "audio/item01.wav").unlink()
    with pytest.raises(ManifestError) as caught:
        load_manifest(corpus / "manifest.csv")
    assert [p.line for p in caught.value.problems] == [2, 3]


@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_id_writing_outside_out_refused_by_validate_as_by_simulate(corpus: Path, command: str) -> None:
    manifest = edit(corpus / "manifest.csv", "item01,", "../../escape,")
    args = [command, str(manifest)] + (["-o", str(corpus / "out")] if command == "simulate" else [])
    refuse(args, "line 3", "'../../escape'", "would make a path")
    assert not (corpus / "out").exists()


def test_validate_checks_the_given_filename_template(corpus: Path) -> None:
    manifest = corpus / "manifest.csv"
    result = runner.invoke(app, ["validate", str(manifest), "--filename", "{listener}_{id}.{ext}"])
    assert result.exit_code == 0, result.output
    # every item of one listener would be written to one file
    make_speech_manifest(corpus / "same", count=2, listeners=("N1",))
    refuse(["validate", str(corpus / "same/manifest.csv"), "--filename", "{listener}.{ext}"],
           "line 3", "also the output of line 2")
    refuse(["validate", str(manifest), "--filename", "{scene}.{ext}"],
           "line 2", "{scene} is not a manifest column")


def test_skip_invalid_sets_rows_aside_with_their_messages(corpus: Path) -> None:
    (corpus / "audio/item01.wav").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(ManifestError) as refused:
        load_manifest(corpus / "manifest.csv")
    manifest = load_manifest(corpus / "manifest.csv", skip_invalid=True)
    assert [item.id for item in manifest.items] == ["item00", "item02"]
    assert [(row.id, row.line) for row in manifest.invalid] == [("item01", 3)]
    assert manifest.invalid[0].message("manifest.csv") == str(refused.value)
    assert manifest.rows == 3


def test_skip_invalid_still_refuses_untrusted_ids(corpus: Path) -> None:
    manifest = edit(corpus / "manifest.csv", "item01,audio", "item00,audio")
    (corpus / "audio/item02.wav").unlink()
    with pytest.raises(ManifestError, match="duplicate id"):
        load_manifest(manifest, skip_invalid=True)
