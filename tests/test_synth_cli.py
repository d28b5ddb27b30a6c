"""``hltk synth`` end to end: every kind's manifest passes ``hltk validate``; ``hltk simulate``
runs on one; same seed -> byte-identical corpus; usage errors and missing tools exit cleanly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hltk.synth import signals

typer_testing = pytest.importorskip("typer.testing")
app_module = pytest.importorskip("hltk_cli.app")

needs_tools = pytest.mark.skipif(
    not (signals.has_espeak() and signals.has_fluidsynth()),
    reason="espeak-ng, fluidsynth or the GM soundfont not installed",
)


def _invoke(*args: str, env: dict[str, str] | None = None) -> typer_testing.Result:
    runner = typer_testing.CliRunner()
    return runner.invoke(app_module.app, list(args), env=env)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "run.json"  # the run record holds times
    }


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny corpus of each kind, made through the CLI."""
    if not (signals.has_espeak() and signals.has_fluidsynth()):
        pytest.skip("espeak-ng, fluidsynth or the GM soundfont not installed")
    base = tmp_path_factory.mktemp("synth-cli")
    options = {
        "listeners": ["--n", "2"],
        "speech": ["--n", "2", "--jobs", "2"],
        "noisy": ["--n", "3", "--noise", "ssn,pink,transient", "--snr", "-5:15"],
        "music": ["--n", "1", "--seconds", "2"],
    }
    made = {}
    for kind, extra in options.items():
        result = _invoke("synth", kind, "-o", str(base / kind), "--seed", "3", "--format",
                         "json", *extra)
        assert result.exit_code == 0, result.output
        made[kind] = base / kind
    return made


@needs_tools
@pytest.mark.parametrize("kind", ["speech", "noisy", "music", "listeners"])
def test_every_kind_passes_validate(corpora: dict[str, Path], kind: str) -> None:
    manifest = corpora[kind] / "manifest.csv"
    result = _invoke("validate", str(manifest), "--format", "json")
    assert result.exit_code == 0, result.output
    assert (corpora[kind] / "listeners.json").is_file()
    record = json.loads((corpora[kind] / "run.json").read_text())
    assert record["task"] == "synth" and record["kind"] == kind


@needs_tools
def test_simulate_runs_on_a_synth_manifest(corpora: dict[str, Path], tmp_path: Path) -> None:
    """MSBG on the listeners corpus's first row (L0001, normal hearing: the cheapest)."""
    out = tmp_path / "simulated"
    result = _invoke("simulate", str(corpora["listeners"] / "manifest.csv"), "-o", str(out),
                     "--limit", "1", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert (out / "audio" / "L0001.wav").is_file()


@needs_tools
def test_cli_same_seed_identical(corpora: dict[str, Path], tmp_path: Path) -> None:
    result = _invoke("synth", "speech", "-o", str(tmp_path / "again"), "--n", "2", "--seed",
                     "3")
    assert result.exit_code == 0, result.output
    assert _digests(tmp_path / "again") == _digests(corpora["speech"])
    result = _invoke("synth", "speech", "-o", str(tmp_path / "other"), "--n", "2", "--seed",
                     "4")
    assert _digests(tmp_path / "other")["audio/speech_00000.wav"] != _digests(
        corpora["speech"])["audio/speech_00000.wav"]


@pytest.mark.parametrize("tools", ["as installed", "hidden"])
def test_usage_errors_exit_2(tmp_path: Path, tools: str) -> None:
    """Usage errors exit 2 whatever the machine has: with espeak-ng, fluidsynth and the
    soundfont hidden (an empty PATH, a missing HLTK_SOUNDFONT) they are still reported before
    the missing tools (exit 1), and OUT is not created."""
    env = None
    if tools == "hidden":
        (tmp_path / "no-tools").mkdir()
        env = {"PATH": str(tmp_path / "no-tools"),
               "HLTK_SOUNDFONT": str(tmp_path / "missing.sf2")}
    result = _invoke("synth", "speech", "-o", str(tmp_path), "--n", "2", "--hours", "1", env=env)
    assert result.exit_code == 2 and "not both" in result.output
    result = _invoke("synth", "noisy", "-o", str(tmp_path), "--snr", "loud", env=env)
    assert result.exit_code == 2
    result = _invoke("synth", "noisy", "-o", str(tmp_path), "--noise", "rain", env=env)
    assert result.exit_code == 2
    (tmp_path / "bad.json").write_text("{not json")
    result = _invoke("synth", "speech", "-o", str(tmp_path / "s"), "--n", "1", "--listeners",
                     str(tmp_path / "bad.json"), env=env)
    assert result.exit_code == 2 and "JSON" in result.output
    assert not (tmp_path / "s").exists()
    if tools == "hidden":  # a good command line meets the missing tool: exit 1, its package
        result = _invoke("synth", "speech", "-o", str(tmp_path / "s"), "--n", "1", env=env)
        assert result.exit_code == 1 and "espeak-ng" in result.output


def test_missing_soundfont_names_the_package(tmp_path: Path) -> None:
    result = _invoke("synth", "music", "-o", str(tmp_path), "--n", "1",
                     env={"HLTK_SOUNDFONT": str(tmp_path / "missing.sf2")})
    assert result.exit_code == 1
    assert "fluid-soundfont-gm" in result.output and "make system-deps" in result.output


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["speech", "noisy", "music"])
def test_simulate_runs_on_every_kind(corpora: dict[str, Path], tmp_path: Path, kind: str) -> None:
    """MSBG on the first row of each kind (16 kHz speech is resampled by the runner)."""
    out = tmp_path / f"simulated-{kind}"
    result = _invoke("simulate", str(corpora[kind] / "manifest.csv"), "-o", str(out),
                     "--limit", "1", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert len(list((out / "audio").iterdir())) == 1
