"""``hltk denoise-amplify``: denoising plus hearing-aid amplification over a manifest."""

from __future__ import annotations

from typing import Annotated

import typer

from hltk import registry
from hltk.pipelines.amplify import backend_options
from hltk.pipelines.denoise_amplify import TASK
from hltk.runner import EXIT_USAGE
from hltk_cli import common as c
from hltk_cli.amplify import (
    AttackOpt,
    BandsOpt,
    CeilingOpt,
    CheckpointOpt,
    MaxOutputOpt,
    RatioMaxOpt,
    RatioMinOpt,
    ReleaseOpt,
)
from hltk_cli.output import error


def denoise_amplify(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    backend: c.backend_type(TASK) = None,  # type: ignore[valid-type]
    attack_ms: AttackOpt = None,
    release_ms: ReleaseOpt = None,
    bands: BandsOpt = None,
    ratio_min: RatioMinOpt = None,
    ratio_max: RatioMaxOpt = None,
    max_output_db_spl: MaxOutputOpt = None,
    limiter_ceiling: CeilingOpt = None,
    denoise_threads: Annotated[
        int | None,
        typer.Option("--denoise-threads", min=1, help="Threads for RNNoise (default 1). two-stage."),
    ] = None,
    checkpoint: CheckpointOpt = None,
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
    """Denoise and amplify each noisy item for its listener (default backend: NAL-R + WDRC
    without denoising; two-stage: RNNoise then NAL-R + WDRC)."""
    name = backend or registry.default_backend(TASK)
    try:
        options = backend_options(
            name,
            attack_ms=attack_ms,
            release_ms=release_ms,
            bands=bands,
            ratio_min=ratio_min,
            ratio_max=ratio_max,
            max_output_db_spl=max_output_db_spl,
            limiter_ceiling=limiter_ceiling,
            denoise_threads=denoise_threads,
            checkpoint=None if checkpoint is None else str(checkpoint),
        )
    except ValueError as problem:
        error(str(problem))
        raise typer.Exit(EXIT_USAGE) from None
    c.run_processing(TASK, backend_options=options, **c.shared_options(locals()))
