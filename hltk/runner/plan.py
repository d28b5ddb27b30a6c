"""The plan of a run: every check that can refuse it, and the selection of its items.

Planning reads (the manifest is already loaded; the ledger and ``run.json`` of ``OUT``) but
writes nothing: a run refused here, for a bad option, an output name outside ``OUT``, a row
without the column a backend needs, or an ``OUT`` made with other settings, leaves ``OUT``
exactly as it was, ``--overwrite`` included (the old ledger is removed only when the run
starts, :meth:`hltk.runner.records.RunRecords.open`).

**Selection**: the rows of the manifest in file order (with ``--skip-invalid``, the rows set
aside included, so a shard holds the same rows either way), ``--limit`` (the first N), then
``--shard I/N`` (rows at positions ``p`` with ``p % N == I - 1``), then resume: a row whose last
ledger entry is ``ok`` (and, for the processing commands, whose output exists) is skipped, as is
a ``failed`` one unless ``--retry-failed``; ``--overwrite`` redoes everything.

:func:`plan_run` is the part every ledger-keeping command shares (processing, ``evaluate``);
:func:`plan_processing` adds the processing commands' checks and their work items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hltk.io.audio import AUDIO_FORMATS, RESAMPLERS, format_extension
from hltk.io.manifest import InvalidRow, Manifest, ManifestItem, Problem, refuse_or_set_aside
from hltk.io.paths import OutputPathError, fill_template
from hltk.processor import Processor, optional
from hltk.runner.records import LEDGER, Entry, previous_config_hash, read_ledger, record_dir_for
from hltk.runner.settings import (
    RunError,
    RunSettings,
    check_workers,
    config_hash,
    item_seed,
    resolve_device,
)
from hltk.runner.work import WorkItem


@dataclass
class RunPlan:
    """What a run will do, decided before it writes anything."""

    record_dir: Path
    config_hash: str
    overwrite: bool
    #: the previous run's last entry per id (empty under ``--overwrite``)
    ledger: dict[str, Entry]
    #: ids of the selected rows (items and rows set aside), in manifest order
    selected: list[str]
    #: the selected items to run (not yet done)
    to_run: list[ManifestItem]
    #: the selected rows set aside by ``--skip-invalid`` to record as failures
    invalid: list[InvalidRow]
    #: selected rows already done (or failed, without ``--retry-failed``)
    skipped: int
    #: rows of the manifest (items and rows set aside)
    rows: int


def select_positions(count: int, limit: int | None, shard: tuple[int, int] | None) -> list[int]:
    """Positions of the rows a run is responsible for: ``limit`` first, then ``shard``."""
    positions = list(range(count))
    if limit is not None:
        positions = positions[: max(0, limit)]
    if shard is not None:
        index, total = shard
        positions = [p for order, p in enumerate(positions) if order % total == index - 1]
    return positions


def plan_run(
    manifest: Manifest,
    *,
    out: Path,
    config: dict[str, Any],
    shard: tuple[int, int] | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    retry_failed: bool = False,
    done: Callable[[str, Entry], bool] | None = None,
    what: str = "a run made with other settings (backend or output options differ)",
) -> RunPlan:
    """The records check (``OUT`` holds no run of another ``config``) and the selection.

    ``done(id, entry)``: whether an ``ok`` entry's work still stands (e.g. its output file
    exists); always, when None. ``what``: what ``OUT`` holds, in the refusal.
    """
    record_dir = record_dir_for(out, shard)
    digest = config_hash(config)
    ledger = read_ledger(record_dir / LEDGER)
    if ledger and not overwrite:
        recorded = previous_config_hash(record_dir)
        if recorded and recorded != digest:
            raise RunError(f"{out} holds {what}; use --overwrite to redo it, or another -o")
    if overwrite:
        ledger = {}
    rows: list[ManifestItem | InvalidRow] = sorted([*manifest.items, *manifest.invalid],
                                                   key=lambda row: row.line)
    selected: list[str] = []
    to_run: list[ManifestItem] = []
    invalid: list[InvalidRow] = []
    skipped = 0
    for position in select_positions(len(rows), limit, shard):
        row = rows[position]
        selected.append(row.id)
        previous = ledger.get(row.id)
        if previous is not None:
            status = previous.get("status")
            if status == "ok" and (done is None or done(row.id, previous)):
                skipped += 1
                continue
            if status == "failed" and not retry_failed:
                skipped += 1
                continue
        if isinstance(row, InvalidRow):
            invalid.append(row)
        else:
            to_run.append(row)
    return RunPlan(record_dir, digest, overwrite, ledger, selected, to_run, invalid, skipped,
                   len(rows))


# --------------------------------------------------------------------------------------------
# The processing commands (simulate, amplify, denoise-amplify, remix)
# --------------------------------------------------------------------------------------------


@dataclass
class ProcessingPlan:
    """A processing run's plan: the records plan, its work items (output paths, levels and
    seeds fixed), the device, and the manifest as run (rows set aside moved out)."""

    run: RunPlan
    manifest: Manifest
    work: list[WorkItem]
    device: torch.device
    outputs: dict[str, str] = field(default_factory=dict)


def output_names(manifest: Manifest, template: str, audio_format: str
                 ) -> tuple[dict[str, str], list[Problem]]:
    """Output path (relative to OUT) of every item by ``--filename``, and the problems of the
    rows whose name is unsafe (outside OUT, a path from a value) or clashes with another's."""
    if audio_format not in AUDIO_FORMATS:
        raise RunError(f"--audio-format {audio_format!r}: choose one of {list(AUDIO_FORMATS)}")
    extension = format_extension(audio_format)
    outputs: dict[str, str] = {}
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for item in manifest.items:
        values = {**item.row, "ext": extension}
        if item.listener is not None and "listener" not in values:
            values["listener"] = item.listener.id
        try:
            relative = "audio/" + fill_template(template, values)
        except OutputPathError as error:
            problems.append(Problem(item.line, None, str(error)))
            continue
        if relative in seen:
            problems.append(Problem(item.line, None, f"output {relative!r} is also the output of "
                                    f"line {seen[relative]}: make --filename unique"))
        seen[relative] = item.line
        outputs[item.id] = relative
    return outputs, problems


def check_processor(processor: Processor) -> None:
    """What the runner needs of a processor's optional attributes (:mod:`hltk.processor`)."""
    if hasattr(processor, "input_columns") and processor.batched:
        raise RunError(f"backend {processor.name!r}: a batched processor cannot declare input_columns")
    if not optional(processor, "keeps_length") and processor.batched:
        raise RunError(f"backend {processor.name!r}: a batched processor must keep the input length")
    if optional(processor, "resampler") not in RESAMPLERS:
        raise RunError(f"backend {processor.name!r}: unknown resampler "
                       f"{optional(processor, 'resampler')!r}; one of {', '.join(RESAMPLERS)}")


def plan_processing(
    manifest: Manifest,
    processor: Processor,
    settings: RunSettings,
    *,
    task: str,
    backend: str,
    backend_options: dict[str, Any] | None = None,
    default_level_db_spl: float = 100.0,
) -> ProcessingPlan:
    """Every check of a processing run, then its selection and work items; writes nothing.

    Raises :class:`RunError` (options, other settings in OUT) or
    :class:`hltk.io.manifest.ManifestError` (rows: output names, a column the backend needs);
    with ``settings.skip_invalid`` such rows are set aside instead.
    """
    device = resolve_device(settings.device)
    check_workers(settings.executor, settings.jobs, settings.batch_size)
    check_processor(processor)
    outputs, problems = output_names(manifest, settings.filename, settings.audio_format)
    input_columns = tuple(getattr(processor, "input_columns", ()))
    problems += [Problem(item.line, column, f"backend {backend!r} needs this audio column")
                 for item in manifest.items for column in input_columns
                 if column not in item.paths]
    manifest = refuse_or_set_aside(manifest, problems, settings.skip_invalid)
    out = settings.out
    config = {"task": task, "backend": backend, "backend_options": backend_options or {},
              **settings.output_affecting()}
    run = plan_run(
        manifest, out=out, config=config, shard=settings.shard, limit=settings.limit,
        overwrite=settings.overwrite, retry_failed=settings.retry_failed,
        done=lambda item_id, _: item_id in outputs and (out / outputs[item_id]).exists(),
    )
    wants_row = hasattr(processor, "input_columns")
    work = []
    for item in run.to_run:
        assert item.listener is not None
        level = item.level_db_spl
        if level is None:
            level = settings.level_db_spl if settings.level_db_spl is not None else default_level_db_spl
        work.append(WorkItem(
            item.id, item.line, str(item.audio), item.listener, float(level),
            item_seed(settings.seed, item.id), str(out / outputs[item.id]), outputs[item.id],
            inputs={column: str(item.paths[column]) for column in input_columns},
            row=dict(item.row) if wants_row else {},
        ))
    return ProcessingPlan(run, manifest, work, device, outputs)


def work_units(items: Sequence[WorkItem], size: int) -> list[list[WorkItem]]:
    """Items in units of ``size`` (one batch each for a batched processor)."""
    return [list(items[start:start + size]) for start in range(0, len(items), size)]
