"""``hltk amplify`` (hearing-aid amplification) and ``hltk gain-plot`` (the fitting figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk import registry
from hltk.io.listeners import ListenerError
from hltk.io.manifest import ManifestError
from hltk.pipelines.amplify import TASK, backend_options, gain_plot, plot_manifest_listeners
from hltk.runner import EXIT_USAGE
from hltk_cli import common as c
from hltk_cli.output import error, info, print_rows

NfirOpt = Annotated[
    int | None,
    typer.Option("--nfir", min=2, help="NAL-R FIR order (default 220 at 44.1 kHz). nalr, nalr-compressor."),
]
SoftClipOpt = Annotated[
    bool | None,
    typer.Option(
        "--soft-clip/--no-soft-clip",
        help="tanh soft clip as in the CEC2 recipe (default on). nalr-compressor.",
    ),
]
AttackOpt = Annotated[
    float | None, typer.Option("--attack-ms", help="WDRC attack time constant, ms (default 10).")
]
ReleaseOpt = Annotated[
    float | None, typer.Option("--release-ms", help="WDRC release time constant, ms (default 100).")
]
BandsOpt = Annotated[
    str | None,
    typer.Option(
        "--bands",
        help="WDRC band centres in Hz, comma-separated (default 250,500,1000,2000,4000,8000).",
    ),
]
RatioMinOpt = Annotated[
    float | None, typer.Option("--ratio-min", help="Smallest compression ratio (default 1).")
]
RatioMaxOpt = Annotated[
    float | None, typer.Option("--ratio-max", help="Largest compression ratio (default 3).")
]
MaxOutputOpt = Annotated[
    float | None,
    typer.Option("--max-output-db-spl", help="Per-band maximum output level, dB SPL (default 100)."),
]
CeilingOpt = Annotated[
    float | None,
    typer.Option("--limiter-ceiling", help="Output limiter ceiling, digital peak (default 0.95)."),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch",
        help="NeuroAMP core: transformer, lstm, crnn or cnn (default: the best measured, see "
        "hltk/checkpoints/neuroamp_*.md). neuroamp.",
    ),
]
CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="A trained checkpoint instead of the shipped one. "
                 "neuroamp, neuroamp-denoise."),
]


def amplify(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    backend: c.backend_type(TASK) = None,  # type: ignore[valid-type]
    nfir: NfirOpt = None,
    soft_clip: SoftClipOpt = None,
    attack_ms: AttackOpt = None,
    release_ms: ReleaseOpt = None,
    bands: BandsOpt = None,
    ratio_min: RatioMinOpt = None,
    ratio_max: RatioMaxOpt = None,
    max_output_db_spl: MaxOutputOpt = None,
    limiter_ceiling: CeilingOpt = None,
    arch: ArchOpt = None,
    checkpoint: CheckpointOpt = None,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="Also draw each listener's fitting figure (NAL-R and NAL-R + WDRC gain by "
            "frequency) as OUT/plots/{listener}.png.",
        ),
    ] = False,
    listeners: c.ListenersOpt = None,
    root: c.RootOpt = None,
    device: c.DeviceOpt = "auto",
    jobs: c.JobsOpt = 1,
    batch_size: c.BatchOpt = 8,
    executor: c.ExecutorOpt = "local",
    scheduler: c.SchedulerOpt = None,
    shard: c.ShardOpt = None,
    overwrite: c.OverwriteOpt = False,
    retry_failed: c.RetryOpt = False,
    limit: c.LimitOpt = None,
    skip_invalid: c.SkipInvalidOpt = False,
    ear: c.EarOpt = "both",
    level_db_spl: c.LevelOpt = None,
    audio_format: c.FormatOpt = "wav16",
    filename: c.FilenameOpt = "{id}.{ext}",
    clip: c.ClipOpt = "hard",
    seed: c.SeedOpt = 0,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Amplify each item for its listener's audiogram (default backend: NAL-R + WDRC)."""
    name = backend or registry.default_backend(TASK)
    try:
        options = backend_options(
            name,
            nfir=nfir,
            soft_clip=soft_clip,
            attack_ms=attack_ms,
            release_ms=release_ms,
            bands=bands,
            ratio_min=ratio_min,
            ratio_max=ratio_max,
            max_output_db_spl=max_output_db_spl,
            limiter_ceiling=limiter_ceiling,
            arch=arch,
            checkpoint=None if checkpoint is None else str(checkpoint),
        )
    except ValueError as problem:
        error(str(problem))
        raise typer.Exit(EXIT_USAGE) from None
    if plot:
        try:
            figures = plot_manifest_listeners(
                manifest, out / "plots", root=root, listeners_path=listeners, options=options
            )
            info(f"wrote {len(figures)} fitting figures in {out / 'plots'}", c.is_quiet(quiet))
        except ManifestError:
            pass  # reported (exit 2) by the run below, which validates the manifest first
    c.run_processing(TASK, backend_options=options, **c.shared_options(locals()))


def gain_plot_command(
    listener: Annotated[
        str,
        typer.Argument(
            help="Listener id (in --listeners) or standard audiogram (NH, N1-N7, S1-S3, ...).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="PNG file to write.", show_default=False)],
    listeners: c.ListenersOpt = None,
    levels: Annotated[
        str, typer.Option("--levels", help="Speech input levels, dB SPL, comma-separated.")
    ] = "50,65,80",
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
    try:
        input_levels = [float(v) for v in levels.split(",") if v.strip()]
        options = backend_options(
            "nalr-wdrc",
            attack_ms=attack_ms,
            release_ms=release_ms,
            bands=bands,
            ratio_min=ratio_min,
            ratio_max=ratio_max,
            max_output_db_spl=max_output_db_spl,
        )
        result = gain_plot(
            listener,
            out,
            listeners_path=listeners,
            input_levels_db_spl=input_levels,
            options=options,
        )
    except (ValueError, ListenerError) as problem:
        error(str(problem))
        raise typer.Exit(EXIT_USAGE) from None
    rows = result["rows"]
    print_rows(rows, list(rows[0]), output_format, title=f"gain (dB), {result['listener']}")
    info(f"wrote {result['path']}", c.is_quiet(quiet))
