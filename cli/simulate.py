"""``hltk simulate``: hearing-loss simulation over a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.simulate import TASK, backend_options
from hltk_cli import common as c

CheckpointOpt = Annotated[Path | None, typer.Option(
    "--checkpoint", help="neuro-msbg: an hltk Neuro-MSBG checkpoint (default: the shipped one).")]
BlockOpt = Annotated[Literal["lstm", "transformer", "cnn", "mamba"] | None, typer.Option(
    "--block", help="neuro-msbg: which shipped checkpoint, by dual-path block (default cnn).")]


def simulate(
    manifest: c.ManifestArg,
    out: c.OutOpt,
    backend: c.backend_type(TASK) = None,  # type: ignore[valid-type]
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
    checkpoint: CheckpointOpt = None,
    block: BlockOpt = None,
) -> None:
    """Simulate each listener's hearing loss on each item (default backend: MSBG)."""
    with c.exit_codes():
        options = backend_options(backend, checkpoint=checkpoint, block=block)
    c.run_processing(TASK, backend_options=options, **c.shared_options(locals()))
