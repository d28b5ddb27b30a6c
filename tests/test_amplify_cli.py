"""``hltk amplify``, ``hltk denoise-amplify`` and ``hltk gain-plot`` end to end (small real
speech manifest, standard listeners by name)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from hltk.pipelines.amplify import backend_options
from tests.helpers import speech

hltk_cli_app = pytest.importorskip("hltk_cli.app")


def make_manifest(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (item, listener) in enumerate([("s01", "N3"), ("s02", "S2")]):
        name = f"item{index}.wav"
        sf.write(folder / name, speech(item, 0.4 + 0.1 * index, 22050).numpy(), 22050)
        rows.append({"id": f"item{index}", "audio": name, "listener": listener})
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def invoke(*args: str) -> object:
    return CliRunner().invoke(hltk_cli_app.app, list(args))


@pytest.mark.parametrize(
    "command,backend,extra",
    [
        ("amplify", "nalr-wdrc", ["--attack-ms", "5", "--bands", "250,1000,4000", "--plot"]),
        ("amplify", "nalr", []),
        ("amplify", "nalr-compressor", ["--no-soft-clip"]),
        ("denoise-amplify", "two-stage", ["--denoise-threads", "2"]),
        ("denoise-amplify", "nalr-wdrc", []),
    ],
)
def test_commands_write_aligned_outputs(tmp_path: Path, command: str, backend: str, extra: list[str]) -> None:
    manifest = make_manifest(tmp_path / "corpus")
    out = tmp_path / "out"
    result = invoke(
        command,
        str(manifest),
        "-o",
        str(out),
        "--backend",
        backend,
        "--format",
        "json",
        "-q",
        *extra,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["status"] for row in rows] == ["ok", "ok"]
    for index in range(2):
        source, rate = sf.read(tmp_path / "corpus" / f"item{index}.wav")
        output, output_rate = sf.read(out / "audio" / f"item{index}.wav")
        assert output_rate == rate and output.shape == (len(source), 2)
        assert np.isfinite(output).all() and np.abs(output).max() > 0
    record = json.loads((out / "run.json").read_text())
    assert record["processor"]["name"] == backend
    if "--plot" in extra:
        assert sorted(p.name for p in (out / "plots").iterdir()) == ["N3.png", "S2.png"]


def test_option_the_backend_does_not_take_is_refused(tmp_path: Path) -> None:
    manifest = make_manifest(tmp_path / "corpus")
    result = invoke(
        "amplify", str(manifest), "-o", str(tmp_path / "o"), "--backend", "nalr", "--attack-ms", "5"
    )
    assert result.exit_code == 2
    with pytest.raises(ValueError, match="--attack-ms"):
        backend_options("nalr", attack_ms=5.0)
    with pytest.raises(ValueError, match="ratio"):
        backend_options("nalr-wdrc", ratio_min=4.0, ratio_max=2.0)


def test_gain_plot_writes_png_and_prints_gains(tmp_path: Path) -> None:
    path = tmp_path / "fit.png"
    result = invoke("gain-plot", "N4", "-o", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads(result.stdout)
    curves = {(row["ear"], row["curve"]) for row in rows}
    assert ("left", "nalr") in curves and ("right", "nalr-wdrc 50 dB SPL") in curves
    soft = next(r for r in rows if r["curve"] == "nalr-wdrc 50 dB SPL" and r["ear"] == "left")
    loud = next(r for r in rows if r["curve"] == "nalr-wdrc 80 dB SPL" and r["ear"] == "left")
    assert all(soft[f] > loud[f] for f in ("1000", "2000", "4000"))  # compression
    assert invoke("gain-plot", "nobody", "-o", str(path)).exit_code == 2


def test_clamped_audiogram_is_recorded_in_run_json(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    sf.write(folder / "a.wav", speech("s01", 0.3, 22050).numpy(), 22050)
    levels = {"hl_250": 60, "hl_1000": 90, "hl_4000": 120}
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "audio", *levels])
        writer.writeheader()
        writer.writerow({"id": "a", "audio": "a.wav", **levels})
    out = tmp_path / "out"
    result = invoke("amplify", str(path), "-o", str(out), "-q", "--format", "csv")
    assert result.exit_code == 0, result.output
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    assert any("clamped to 110 dB HL" in entry["message"] for entry in warnings), warnings
