"""Options shared by every processing subcommand, defined once and reused.

Each processing command (``simulate``, ``amplify``, ``denoise-amplify``) declares its
parameters with these aliases and hands them to :func:`run_processing`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from hltk import registry
from hltk.io.audio import AUDIO_FORMATS, CLIP_POLICIES
from hltk.io.listeners import ListenerError
from hltk.io.manifest import ManifestError
from hltk.io.paths import OutputPathError
from hltk.pipelines.process import process_manifest
from hltk.runner import EXIT_FATAL, EXIT_USAGE, RunError, RunSettings, RunSummary, parse_shard
from hltk_cli.output import OUTPUT_FORMATS, error, info, print_rows, progress_bar, warn


def _choices(values: Any) -> Any:
    """A ``Literal`` of the given strings: typer shows and checks them as choices."""
    return Literal.__getitem__(tuple(values))


ManifestArg = Annotated[Path, typer.Argument(help="CSV manifest: id, audio, listener or hl_<Hz> columns.",
                                              show_default=False)]
OutOpt = Annotated[Path, typer.Option("-o", "--out", help="Output folder.", show_default=False)]
ListenersOpt = Annotated[Path | None, typer.Option(
    "--listeners", help="Clarity listeners.json (default: listeners.json beside the manifest).")]
RootOpt = Annotated[Path | None, typer.Option(
    "--root", help="Folder that manifest paths are relative to (default: the manifest's).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
JobsOpt = Annotated[int, typer.Option("-j", "--jobs", min=1, help="Worker processes (per-item backends).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Items per batch (batched backends).")]
ExecutorOpt = Annotated[Literal["local", "dask"], typer.Option(
    "--executor",
    help="local (joblib / in-process) or dask (dask.distributed).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="dask scheduler address to join (default: start a LocalCluster).")]
ShardOpt = Annotated[str | None, typer.Option(
    "--shard", help="Process shard I of N (I/N); see `hltk merge`.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Redo items already done.")]
RetryOpt = Annotated[bool, typer.Option("--retry-failed", help="Retry items that failed before.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=0, help="Only the first N manifest rows.")]
SkipInvalidOpt = Annotated[bool, typer.Option(
    "--skip-invalid", help="Rows that fail validation become failures.csv rows (stage validate) "
    "and the others run (exit 3); default: a bad manifest is refused whole (exit 2).")]
EarOpt = Annotated[Literal["both", "left", "right"], typer.Option(
    "--ear",
    help="both: two-ear output (mono input is duplicated); left/right: that ear only.")]
LevelOpt = Annotated[float | None, typer.Option(
    "--level-db-spl", help="dB SPL of a digital RMS of 1 (default: the backend's; "
    "a level_db_spl column overrides per row).")]
FormatOpt = Annotated[_choices(AUDIO_FORMATS), typer.Option(
    "--audio-format", help="Output audio format.")]
FilenameOpt = Annotated[str, typer.Option(
    "--filename", help="Output name template under OUT/audio, fields from manifest columns and {ext}.")]
ClipOpt = Annotated[_choices(CLIP_POLICIES), typer.Option(
    "--clip", help="Clipping policy before writing.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Global seed; items use md5(seed, id).")]
OutputFormatOpt = Annotated[_choices(OUTPUT_FORMATS), typer.Option(
    "--format", help="What goes to stdout.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or logs on stderr.")]


def backend_type(task: str) -> Any:
    """The ``--backend`` option type of ``task``: the registry's choices, or None."""
    choices = registry.names(task)
    return Annotated[_choices(choices) | None, typer.Option(  # type: ignore[valid-type]
        "--backend", help=f"Backend (default {choices[0]}).")]


#: Global options of the ``hltk`` callback (``hltk -q COMMAND``), set before the command runs.
GLOBAL_OPTIONS: dict[str, Any] = {"quiet": False, "verbose": 0}


def is_quiet(quiet: bool) -> bool:
    """The command's ``-q`` or the global ``hltk -q``."""
    return bool(quiet or GLOBAL_OPTIONS["quiet"])


RESULT_COLUMNS = ["id", "status", "output", "duration", "seconds", "clipped", "stage", "message"]


def shared_options(values: dict[str, Any]) -> dict[str, Any]:
    """The shared processing options out of a command's ``locals()``: every parameter of
    :func:`run_processing` after ``task`` (``backend_options`` excepted, each command builds
    its own), so a command forwards them without listing them again."""
    import inspect

    names = [name for name in inspect.signature(run_processing).parameters
             if name not in ("task", "backend_options")]
    return {name: values[name] for name in names}


def run_processing(
    task: str,
    manifest: Path,
    out: Path,
    *,
    backend: str | None,
    backend_options: dict[str, Any] | None = None,
    listeners: Path | None,
    root: Path | None,
    device: str,
    jobs: int,
    batch_size: int,
    executor: str,
    scheduler: str | None,
    shard: str | None,
    overwrite: bool,
    retry_failed: bool,
    limit: int | None,
    skip_invalid: bool,
    ear: str,
    level_db_spl: float | None,
    audio_format: str,
    filename: str,
    clip: str,
    seed: int,
    output_format: str,
    quiet: bool,
) -> None:
    """Run one processing command and exit with the runner's code (0, 1, 2, 3 or 130)."""
    quiet = is_quiet(quiet)
    with exit_codes():
        settings = RunSettings(
            out=out, audio_format=audio_format, filename=filename, clip=clip, ear=ear,
            level_db_spl=level_db_spl, seed=seed, jobs=jobs, batch_size=batch_size, device=device,
            executor=executor, scheduler=scheduler, shard=parse_shard(shard), overwrite=overwrite,
            retry_failed=retry_failed, limit=limit, quiet=quiet, skip_invalid=skip_invalid,
        )
        with progress_bar(f"{task} ({backend or registry.default_backend(task)})", quiet) as update:
            summary = process_manifest(
                task, manifest, settings, backend=backend, backend_options=backend_options,
                root=root, listeners_path=listeners, command=sys.argv, progress=update,
            )
    report_run(task, summary, output_format, quiet)


@contextmanager
def exit_codes() -> Iterator[None]:
    """The toolkit's exit codes for a command's work: bad input or options 2 (the message on
    stderr), interrupted 130, anything unexpected 1 (what went wrong on stderr)."""
    try:
        yield
    except (ManifestError, RunError, OutputPathError, ListenerError) as problem:
        error(str(problem))
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        error("interrupted")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as problem:  # a fatal error: say what, exit 1
        error(f"{type(problem).__name__}: {problem}")
        raise typer.Exit(EXIT_FATAL) from None


def report_run(task: str, summary: RunSummary, output_format: str, quiet: bool) -> None:
    """Print an audio run's per-item table (stdout) and summary (stderr); exit with its code."""
    print_rows([vars(result) for result in summary.results], RESULT_COLUMNS, output_format,
               title=f"hltk {task}")
    counts = summary.counts
    info(f"{task}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped "
         f"(already done) of {counts['selected']} selected; records in {summary.record_dir}",
         quiet)
    for entry in summary.run_record.get("warnings", []):
        warn(f"{entry['message']} ({entry['items']} items)")
    if counts["total_failed"]:
        warn(f"{counts['total_failed']} items failed: see {summary.record_dir / 'failures.csv'}")
    raise typer.Exit(summary.exit_code)
