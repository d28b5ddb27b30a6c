"""The backend contract of :mod:`hltk.registry`: a backend is one module.

``test_a_backend_from_this_module_alone_runs_through_the_cli`` follows the recipe for adding a
backend (docs/architecture.md): a processor, a frozen options dataclass and one ``register``
call, here in this test module and nowhere else; ``hltk amplify --backend test-x
--scale-db V`` must then offer the option, refuse it for other backends and hand it to the
backend. The other tests hold every registered backend to the contract (factories take
``device``, declared defaults equal the factories' own, options of one name mean one thing)
and load a third-party backend through the ``hltk.backends`` entry point group."""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk import registry
from hltk.io.listeners import ListenerBatch
from hltk.processor import ProcessorDefaults, optional
from hltk.registry import OptionError, option
from hltk_cli.app import app
from tests.helpers import make_speech_manifest

runner = CliRunner()


class ScaleProcessor:
    """A test backend: every ear scaled by ``scale_db``."""

    name = "test-x"
    sample_rate = 16000
    batched = True

    def __init__(self, scale_db: float = 0.0, device: str | None = None) -> None:
        self.scale_db = float(scale_db)

    def describe(self) -> dict[str, float]:
        return {"scale_db": self.scale_db}

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, *, lengths: torch.Tensor,
                 level_db_spl: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        return audio * 10.0 ** (self.scale_db / 20.0)


@dataclass(frozen=True)
class ScaleOptions:
    scale_db: float = option(0.0, "Gain of every ear, dB.")

    def __post_init__(self) -> None:
        if self.scale_db > 40:
            raise ValueError(f"scale_db {self.scale_db} above 40 dB")


@pytest.fixture
def test_x() -> Iterator[str]:
    registry.register("amplify", "test-x", ScaleProcessor, "test: a gain", options=ScaleOptions)
    yield "test-x"
    registry.unregister("amplify", "test-x")


def test_a_backend_from_this_module_alone_runs_through_the_cli(tmp_path: Path, test_x: str) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=2)
    assert "--scale-db" in command_flags("amplify")
    out = tmp_path / "out"
    result = runner.invoke(app, ["amplify", str(manifest), "-o", str(out), "--backend", test_x,
                                 "--scale-db", "-6.0206", "--audio-format", "wav32f", "-q",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [row["status"] for row in json.loads(result.stdout)] == ["ok", "ok"]
    record = json.loads((out / "run.json").read_text())
    assert record["processor"]["scale_db"] == pytest.approx(-6.0206)  # the option arrived
    assert record["backend_options"] == {"scale_db": -6.0206}
    source, _ = sf.read(tmp_path / "corpus" / "audio" / "item00.wav")
    output, _ = sf.read(out / "audio" / "item00.wav")
    gain_db = 20 * np.log10(np.sqrt(np.mean(output[:, 0] ** 2) / np.mean(source**2)))
    assert gain_db == pytest.approx(-6.02, abs=0.05)  # resampled to 16 kHz and back, halved
    # refused for a backend that does not take it, and a bad value refused: exit 2, nothing run
    for args in (["--backend", "nalr", "--scale-db", "3"], ["--backend", test_x, "--scale-db", "50"]):
        refused = runner.invoke(app, ["amplify", str(manifest), "-o", str(tmp_path / "no"), *args])
        assert refused.exit_code == 2 and "scale" in refused.output, refused.output
        assert not (tmp_path / "no").exists()
    listed = runner.invoke(app, ["backends", "amplify", "--format", "json"])
    rows = [row for row in json.loads(listed.stdout) if row["backend"] == test_x]
    assert [(row["option"], row["flag"], row["type"], row["option_default"]) for row in rows] == [
        ("scale_db", "--scale-db", "float", 0.0)]


def test_option_checks_name_the_flag_and_who_takes_it() -> None:
    with pytest.raises(OptionError, match=r"--attack-ms.*nalr-wdrc"):
        registry.check_options("amplify", "nalr", {"attack_ms": 5.0})
    assert registry.check_options("amplify", "nalr", {"nfir": None}) == {}
    assert registry.check_options("amplify", "nalr-wdrc", {"bands": "250, 1000"}) == {
        "bands": [250.0, 1000.0]}
    with pytest.raises(OptionError, match="--bands"):
        registry.check_options("amplify", "nalr-wdrc", {"bands": "250,loud"})
    with pytest.raises(OptionError, match="--arch: one of"):
        registry.check_options("amplify", "neuroamp", {"arch": "gru"})
    with pytest.raises(OptionError, match="no file"):
        registry.check_options("simulate", "neuro-msbg", {"checkpoint": Path("/nowhere.pt")})


def command_flags(command: str) -> set[str]:
    """The flags ``hltk COMMAND`` offers now (typer builds the command on every call)."""
    import typer

    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {flag for param in click_command.params for flag in param.opts + param.secondary_opts}


def every_backend() -> list[registry.BackendSpec]:
    return [spec for task in registry.tasks(components=True) for spec in registry.backends(task)]


@pytest.mark.parametrize("spec", every_backend(), ids=lambda spec: f"{spec.task}/{spec.name}")
def test_every_backend_follows_the_contract(spec: registry.BackendSpec) -> None:
    """Its factory takes ``device``; each declared option is a factory parameter (or reaches
    :class:`~hltk.amplify.wdrc.WdrcSettings` through ``**options``) with the declared default:
    the dataclass documents the defaults that apply when an option is not given."""
    from hltk.amplify.wdrc import WdrcSettings

    parameters = inspect.signature(spec.factory).parameters
    assert "device" in parameters, f"{spec.task}/{spec.name}: the factory must take device"
    for declared in spec.option_specs():
        if declared.name in parameters:
            assert parameters[declared.name].default == declared.default, declared.name
        else:
            assert any(p.kind is p.VAR_KEYWORD for p in parameters.values()), declared.name
            assert getattr(WdrcSettings(), declared.name) == declared.default, declared.name
        assert declared.help, declared.name
    if spec.options is not None:
        spec.options()  # the defaults pass the dataclass's own checks


def test_options_of_one_name_mean_one_thing_and_the_cli_offers_them_all() -> None:
    for task in registry.tasks(components=True):
        declared = registry.cli_options(task)  # raises TypeError on a conflict
        command = {"separate": "remix"}.get(task, task)
        offered = command_flags(command)
        for spec, takers in declared.values():
            assert spec.flag in offered, (task, spec.flag)
            assert all(taker in registry.names(task) for taker in takers)


def test_third_party_backend_through_the_entry_point_group(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hltk_plugin_demo.py").write_text(
        "from hltk.registry import register\n"
        "from tests.test_registry import ScaleOptions, ScaleProcessor\n"
        "register('amplify', 'plugin-demo', ScaleProcessor, 'from a plugin', options=ScaleOptions)\n")
    info = tmp_path / "hltk_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hltk-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\ndemo = hltk_plugin_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "plugin-demo" in registry.names("amplify")
        processor = registry.create("amplify", "plugin-demo", scale_db=-20.0)
        assert processor.scale_db == -20.0
    finally:
        registry.unregister("amplify", "plugin-demo")
        sys.modules.pop("hltk_plugin_demo", None)


def test_optional_attributes_have_one_documented_default() -> None:
    class Bare:
        name, sample_rate, batched = "bare", 16000, True

    assert optional(Bare(), "default_level_db_spl") == ProcessorDefaults.default_level_db_spl == 100.0
    assert optional(Bare(), "keeps_length") is True
    assert optional(Bare(), "output_sample_rate") is None
    assert optional(Bare(), "describe") == {}
    assert optional(ScaleProcessor(3.0), "describe") == {"scale_db": 3.0}
    with pytest.raises(AttributeError):
        optional(Bare(), "sample_rates")
    assert {f.name for f in dataclasses.fields(ScaleOptions)} == {"scale_db"}
