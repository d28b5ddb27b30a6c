"""``hltk simulate``: hearing-loss simulation over a manifest."""

from __future__ import annotations

from hltk.pipelines.simulate import TASK
from hltk_cli import common as c


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
    ear: c.EarOpt = "both",
    level_db_spl: c.LevelOpt = None,
    audio_format: c.FormatOpt = "wav16",
    filename: c.FilenameOpt = "{id}.{ext}",
    clip: c.ClipOpt = "hard",
    seed: c.SeedOpt = 0,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Simulate each listener's hearing loss on each item (default backend: MSBG)."""
    c.run_processing(TASK, **c.shared_options(locals()))
