"""The CLI's global options and stream discipline."""

from __future__ import annotations

from typer.testing import CliRunner

from hltk import __version__
from hltk_cli.app import app
from tests.helpers import DEMO

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"hltk {__version__}"


def test_global_and_command_quiet_keep_stderr_empty() -> None:
    manifest = str(DEMO / "speech.csv")
    loud = runner.invoke(app, ["validate", manifest, "--format", "csv"])
    assert loud.exit_code == 0 and "ok (6 items)" in loud.stderr
    assert loud.stdout.splitlines()[0] == "items,columns,listeners,audio_hours"
    for args in (["-q", "validate", manifest, "--format", "csv"],
                 ["validate", manifest, "-q", "--format", "csv"]):
        quiet = runner.invoke(app, args)
        assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout


def test_every_subcommand_has_help() -> None:
    for command in ("simulate", "validate", "merge", "evaluate", "compare", "synth"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, command
