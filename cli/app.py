"""The ``hltk`` Typer application: global options and the subcommands."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from hltk import __version__
from hltk_cli import train_cnrhlc as _train_cnrhlc  # noqa: F401  (registers its command)
from hltk_cli import train_neuroamp as _train_neuroamp  # noqa: F401  (registers its commands)
from hltk_cli import train_psi as _train_psi  # noqa: F401  (registers its commands)
from hltk_cli import train_remix_gains as _train_remix_gains  # noqa: F401  (registers its command)
from hltk_cli.amplify import amplify, gain_plot_command
from hltk_cli.backends import backends
from hltk_cli.benchmark import benchmark
from hltk_cli.common import GLOBAL_OPTIONS
from hltk_cli.denoise_amplify import denoise_amplify
from hltk_cli.evaluate import compare, evaluate
from hltk_cli.fit_listener import fit_listener
from hltk_cli.manifest import manifest_app
from hltk_cli.merge import merge
from hltk_cli.package import package
from hltk_cli.predict import predict
from hltk_cli.remix import remix
from hltk_cli.simulate import simulate
from hltk_cli.synth import synth
from hltk_cli.train import train_app
from hltk_cli.validate import validate

app = typer.Typer(
    name="hltk",
    help="hltk — the hearing-loss toolkit: batch simulation, amplification and evaluation "
    "over CSV manifests. Data goes to stdout, progress and logs to stderr.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hltk {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    context: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[int, typer.Option("-v", "--verbose", count=True,
                                         help="More logs on stderr (-vv for debug).")] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or logs.")] = False,
) -> None:
    level = logging.WARNING - 10 * verbose if not quiet else logging.ERROR
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    if verbose == 0:
        logging.getLogger("root").setLevel(logging.ERROR)  # pyclarity logs warnings to root
    GLOBAL_OPTIONS.update(quiet=quiet, verbose=verbose)


app.command("simulate")(simulate)
app.command("amplify")(amplify)
app.command("denoise-amplify")(denoise_amplify)
app.command("gain-plot")(gain_plot_command)
app.command("validate")(validate)
app.command("merge")(merge)
app.command("evaluate")(evaluate)
app.command("compare")(compare)
app.command("benchmark")(benchmark)
app.command("synth")(synth)
app.command("remix")(remix)
app.command("backends")(backends)
app.command("package")(package)
app.command("predict")(predict)
app.command("fit-listener")(fit_listener)
app.add_typer(manifest_app, name="manifest")
app.add_typer(train_app, name="train")


def main() -> None:
    app()
