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


def every_command() -> list[list[str]]:
    """Every command of the app, subcommands of groups (``train neuroamp``) included."""
    import typer

    found: list[list[str]] = []

    def walk(group: typer.core.TyperGroup, path: list[str]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, typer.core.TyperGroup):
                walk(command, [*path, name])
            else:
                found.append([*path, name])

    walk(typer.main.get_command(app), [])  # type: ignore[arg-type]
    return found


def test_every_subcommand_has_help() -> None:
    commands = every_command()
    assert len(commands) >= 17 and ["train", "neuroamp"] in commands and ["backends"] in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.stdout and "--help" in result.stdout, command


def test_usage_errors_exit_2_from_every_processing_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One exit-code mapping: an option the backend does not take is exit 2, whichever
    command, before OUT is made."""
    manifest = str(DEMO / "speech.csv")
    for command, flag, value in (("simulate", "--block", "cnn"), ("amplify", "--nfir", "200"),
                                 ("denoise-amplify", "--denoise-threads", "2")):
        result = runner.invoke(app, [command, manifest, "-o", str(tmp_path / command), flag, value])
        assert result.exit_code == 2, (command, result.output)
        assert flag in result.output and not (tmp_path / command).exists()


def test_train_defaults_come_from_the_library() -> None:
    """``hltk train neuroamp --arch`` defaults to the library's core (the best measured)."""
    import typer

    from hltk.amplify.neuroamp import DEFAULT_ARCH

    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    arch = next(p for p in train.commands["neuroamp"].params if p.name == "arch")
    assert arch.default == DEFAULT_ARCH == "lstm"
