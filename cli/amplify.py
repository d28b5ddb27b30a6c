"""``hltk amplify`` (hearing-aid amplification) and ``hltk gain-plot`` (the fitting figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hltk import registry
from hltk.io.manifest import ManifestError
from hltk.pipelines.amplify import TASK, backend_options, gain_plot, plot_manifest_listeners
from hltk_cli import common as c
from hltk_cli.output import info, print_rows

PlotOpt = Annotated[bool, typer.Option(
    "--plot", help="Also draw each listener's fitting figure (NAL-R and NAL-R + WDRC gain by "
    "frequency) as OUT/plots/{listener}.png.")]


@c.processing_command(TASK)
def amplify(manifest: c.ManifestArg, out: c.OutOpt, backend: str | None,
            backend_options: dict[str, Any], shared: c.Shared, plot: PlotOpt = False) -> None:
    """Amplify each item for its listener's audiogram (default backend: NAL-R + WDRC)."""
    if plot:
        with c.exit_codes():  # a refused option: exit 2 before any figure is drawn
            options = registry.check_options(TASK, backend or registry.default_backend(TASK),
                                             backend_options)
        try:
            figures = plot_manifest_listeners(manifest, out / "plots", root=shared["root"],
                                              listeners_path=shared["listeners"], options=options)
            info(f"wrote {len(figures)} fitting figures in {out / 'plots'}", shared.quiet)
        except ManifestError:
            pass  # reported (exit 2) by the run below, which validates the manifest first
    c.run_processing(TASK, manifest, out, backend, backend_options, shared)


#: gain-plot's WDRC options: those of ``amplify --backend nalr-wdrc`` but the limiter ceiling
#: (the figure shows the static rule, before the output limiter).
_WDRC_OPTIONS = {name: c.option_type(spec, [])
                 for name, (spec, takers) in registry.cli_options(TASK).items()
                 if "nalr-wdrc" in takers and name != "limiter_ceiling"}
AttackOpt = _WDRC_OPTIONS["attack_ms"]
ReleaseOpt = _WDRC_OPTIONS["release_ms"]
BandsOpt = _WDRC_OPTIONS["bands"]
RatioMinOpt = _WDRC_OPTIONS["ratio_min"]
RatioMaxOpt = _WDRC_OPTIONS["ratio_max"]
MaxOutputOpt = _WDRC_OPTIONS["max_output_db_spl"]


def gain_plot_command(
    listener: Annotated[str, typer.Argument(
        help="Listener id (in --listeners) or standard audiogram (NH, N1-N7, S1-S3, ...).",
        show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG file to write.", show_default=False)],
    listeners: c.ListenersOpt = None,
    levels: Annotated[str, typer.Option(
        "--levels", help="Speech input levels, dB SPL, comma-separated.")] = "50,65,80",
    attack_ms: AttackOpt = None,
    release_ms: ReleaseOpt = None,
    bands: BandsOpt = None,
    ratio_min: RatioMinOpt = None,
    ratio_max: RatioMaxOpt = None,
    max_output_db_spl: MaxOutputOpt = None,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Draw a listener's prescribed gain by frequency: NAL-R, and NAL-R + WDRC for speech at
    50/65/80 dB SPL (PNG); print the gains at the audiometric frequencies."""
    with c.exit_codes(usage=(ValueError,)):
        input_levels = [float(v) for v in levels.split(",") if v.strip()]
        options = backend_options("nalr-wdrc", attack_ms=attack_ms, release_ms=release_ms,
                                  bands=bands, ratio_min=ratio_min, ratio_max=ratio_max,
                                  max_output_db_spl=max_output_db_spl)
        result = gain_plot(listener, out, listeners_path=listeners,
                           input_levels_db_spl=input_levels, options=options)
    rows = result["rows"]
    print_rows(rows, list(rows[0]), output_format, title=f"gain (dB), {result['listener']}")
    info(f"wrote {result['path']}", c.is_quiet(quiet))
