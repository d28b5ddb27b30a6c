"""What every command shares: option types, the processing block, backend options from the
registry, one exit-code mapping, and the report of a run.

A processing command (``simulate``, ``amplify``, ``denoise-amplify``, ``remix``) is a function
decorated with :func:`processing_command`: it declares only what is its own (the manifest,
``-o``, a flag such as ``--plot``) and receives ``backend_options`` (the backend options given,
by name) and ``shared`` (the shared options, :class:`Shared`). The decorator adds, to what
typer sees, ``--backend`` with the registry's choices, one flag per option declared by the
task's backends (:func:`hltk.registry.cli_options`), and the shared block :data:`PROCESSING`.
Adding a shared option is one line in :data:`PROCESSING` (its value reaches
:class:`~hltk.runner.RunSettings` by name when that has a field of the same name).
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from hltk import registry
from hltk.io.audio import AUDIO_FORMATS, CLIP_POLICIES
from hltk.io.listeners import ListenerError
from hltk.io.manifest import ManifestError
from hltk.io.paths import OutputPathError
from hltk.pipelines.process import process_manifest
from hltk.registry import OptionError, OptionSpec
from hltk.runner import EXIT_FATAL, EXIT_USAGE, RunError, RunSettings, RunSummary, parse_shard
from hltk_cli.output import OUTPUT_FORMATS, error, info, print_rows, progress_bar, warn


def choices(values: Any) -> Any:
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
FormatOpt = Annotated[choices(AUDIO_FORMATS), typer.Option(
    "--audio-format", help="Output audio format.")]
FilenameOpt = Annotated[str, typer.Option(
    "--filename", help="Output name template under OUT/audio, fields from manifest columns and {ext}.")]
ClipOpt = Annotated[choices(CLIP_POLICIES), typer.Option(
    "--clip", help="Clipping policy before writing.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Global seed; items use md5(seed, id).")]
OutputFormatOpt = Annotated[choices(OUTPUT_FORMATS), typer.Option(
    "--format", help="What goes to stdout.")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress or logs on stderr.")]


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=default)


#: The shared processing block, in ``--help`` order: (parameter name, option type, default).
PROCESSING: tuple[inspect.Parameter, ...] = (
    _param("listeners", ListenersOpt, None),
    _param("root", RootOpt, None),
    _param("device", DeviceOpt, "auto"),
    _param("jobs", JobsOpt, 1),
    _param("batch_size", BatchOpt, 8),
    _param("executor", ExecutorOpt, "local"),
    _param("scheduler", SchedulerOpt, None),
    _param("shard", ShardOpt, None),
    _param("overwrite", OverwriteOpt, False),
    _param("retry_failed", RetryOpt, False),
    _param("limit", LimitOpt, None),
    _param("skip_invalid", SkipInvalidOpt, False),
    _param("ear", EarOpt, "both"),
    _param("level_db_spl", LevelOpt, None),
    _param("audio_format", FormatOpt, "wav16"),
    _param("filename", FilenameOpt, "{id}.{ext}"),
    _param("clip", ClipOpt, "hard"),
    _param("seed", SeedOpt, 0),
    _param("output_format", OutputFormatOpt, "table"),
    _param("quiet", QuietOpt, False),
)

PROCESSING_BY_NAME: dict[str, inspect.Parameter] = {p.name: p for p in PROCESSING}

#: Global options of the ``hltk`` callback (``hltk -q COMMAND``), set before the command runs.
GLOBAL_OPTIONS: dict[str, Any] = {"quiet": False, "verbose": 0}


def is_quiet(quiet: bool) -> bool:
    """The command's ``-q`` or the global ``hltk -q``."""
    return bool(quiet or GLOBAL_OPTIONS["quiet"])


class Shared(dict[str, Any]):
    """The values of the shared options a command was given, by parameter name."""

    @property
    def quiet(self) -> bool:
        return is_quiet(self.get("quiet", False))

    @property
    def output_format(self) -> str:
        return str(self.get("output_format", "table"))

    def settings(self, out: Path, **fixed: Any) -> RunSettings:
        """The run settings: every shared option that names a :class:`RunSettings` field,
        ``--shard`` parsed, ``-q`` or ``hltk -q``, and the ``fixed`` values of the command."""
        names = {field.name for field in fields(RunSettings)}
        values = {name: value for name, value in self.items() if name in names}
        values.update(shard=parse_shard(self.get("shard")), quiet=self.quiet, **fixed)
        return RunSettings(out=out, **values)


def backend_type(task: str, flag: str = "--backend", describe: bool = False) -> Any:
    """The ``--backend`` option type of ``task``: the registry's choices, or None; with
    ``describe`` the help says what each backend is (``hltk backends`` does for all)."""
    known = registry.names(task)
    help_text = f"{flag[2:].capitalize()} (default {known[0]})."
    if describe:
        help_text += " " + "; ".join(f"{spec.name}: {spec.description}"
                                     for spec in registry.backends(task)) + "."
    return Annotated[choices(known) | None, typer.Option(  # type: ignore[valid-type]
        flag, help=help_text)]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    return str(value)


def option_type(declared: OptionSpec, takers: Sequence[str], backend_flag: str = "--backend") -> Any:
    """The CLI option of a declared backend option: None means not given (the backend's own
    default applies), the help says the default and which backends take it."""
    default = "" if declared.default is None else f" Default {_shown(declared.default)}."
    used_by = f" For {backend_flag} {' / '.join(takers)}." if takers else ""
    help_text = f"{declared.help}{default}{used_by}"
    base = declared.base_type
    decls: tuple[str, ...] = (declared.flag,)
    extra: dict[str, Any] = {}
    if declared.choices:
        base = choices(declared.choices)
    elif base is bool:
        decls = (f"{declared.flag}/--no-{declared.flag[2:]}",)
    elif typing.get_origin(base) is tuple:
        base = str
    if declared.min is not None:
        extra["min"] = declared.min
    return Annotated[base | None, typer.Option(*decls, help=help_text, **extra)]


class ProcessingCommand:
    """A processing command as typer sees it (see :func:`processing_command`).

    Its signature is built each time typer reads it (typer builds the click command on every
    call of the app), so a backend registered after ``hltk_cli`` was imported (a plugin, a
    test) has its options on the command line as a built-in has.
    """

    def __init__(self, command: Callable[..., None], task: str, backend_flag: str,
                 shared: Sequence[str] | None, replace: Mapping[str, inspect.Parameter],
                 describe: bool = False) -> None:
        functools.update_wrapper(self, command)
        self.describe = describe
        self.__annotations__: dict[str, Any] = {}
        self.command, self.task, self.backend_flag = command, task, backend_flag
        self.backend_param = backend_flag.lstrip("-").replace("-", "_")
        self.block = [replace.get(p.name, p) for p in PROCESSING if shared is None or p.name in shared]
        self.own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                    for p in inspect.signature(command, eval_str=True).parameters.values()
                    if p.name not in (self.backend_param, "backend_options", "shared")]

    @property
    def __signature__(self) -> inspect.Signature:
        arguments = [p for p in self.own if p.default is inspect.Parameter.empty]
        extras = [p for p in self.own if p.default is not inspect.Parameter.empty]
        options = [_param(name, option_type(spec, takers, self.backend_flag), None)
                   for name, (spec, takers) in registry.cli_options(self.task).items()]
        backend = _param(self.backend_param, backend_type(self.task, self.backend_flag,
                                                           self.describe), None)
        return inspect.Signature([*arguments, backend, *options, *extras, *self.block])

    def __call__(self, **values: Any) -> None:
        given = {name: values.pop(name) for name in registry.cli_options(self.task)}
        shared = Shared({p.name: values.pop(p.name) for p in self.block})
        self.command(**values, backend_options=given, shared=shared)


def processing_command(
    task: str,
    *,
    backend_flag: str = "--backend",
    shared: Sequence[str] | None = None,
    replace: Mapping[str, inspect.Parameter] | None = None,
    describe: bool = False,
) -> Callable[[Callable[..., None]], ProcessingCommand]:
    """Make ``command(manifest, out, ..., backend, backend_options, shared)`` a typer command
    of ``task`` (see the module docstring). ``shared``: the names of :data:`PROCESSING` the
    command offers (default all); ``replace``: parameters that replace those of the same name
    (another default or help); ``backend_flag``: the flag of the backend choice (``remix``:
    ``--separator``, parameter ``separator``); ``describe``: the backend help lists what each
    backend is."""

    def decorate(command: Callable[..., None]) -> ProcessingCommand:
        return ProcessingCommand(command, task, backend_flag, shared, dict(replace or {}),
                                 describe)

    return decorate


#: Errors that are the user's to fix: exit 2, the message on stderr.
USAGE_ERRORS: tuple[type[BaseException], ...] = (
    ManifestError, RunError, OutputPathError, ListenerError, OptionError)


@contextmanager
def exit_codes(usage: tuple[type[BaseException], ...] = (),
               fatal: Mapping[type[BaseException], str] | None = None) -> Iterator[None]:
    """The toolkit's exit codes for a command's work, in one place: bad input or options 2
    (:data:`USAGE_ERRORS` and the command's ``usage`` errors; the message on stderr),
    interrupted 130, anything unexpected 1 (what went wrong on stderr; ``fatal`` maps an error
    type to the message template it is reported with, ``{}`` the error)."""
    fatal = dict(fatal or {})
    try:
        yield
    except typer.Exit:
        raise
    except tuple(fatal) as problem:
        template = next(text for kind, text in fatal.items() if isinstance(problem, kind))
        error(template.format(problem))
        raise typer.Exit(EXIT_FATAL) from None
    except (*USAGE_ERRORS, *usage) as problem:
        error(str(problem))
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        error("interrupted")
        raise typer.Exit(130) from None
    except Exception as problem:  # a fatal error: say what, exit 1
        error(f"{type(problem).__name__}: {problem}")
        raise typer.Exit(EXIT_FATAL) from None


RESULT_COLUMNS = ["id", "status", "output", "duration", "seconds", "clipped", "stage", "message"]


def run_processing(task: str, manifest: Path, out: Path, backend: str | None,
                   backend_options: dict[str, Any], shared: Shared) -> None:
    """Run one processing command (:func:`hltk.pipelines.process.process_manifest`) and exit
    with the runner's code (0, 1, 2, 3 or 130)."""
    with exit_codes():
        settings = shared.settings(out)
        with progress_bar(f"{task} ({backend or registry.default_backend(task)})",
                          shared.quiet) as update:
            summary = process_manifest(
                task, manifest, settings, backend=backend, backend_options=backend_options,
                root=shared["root"], listeners_path=shared["listeners"], command=sys.argv,
                progress=update,
            )
    report_run(task, summary, shared.output_format, shared.quiet)


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
