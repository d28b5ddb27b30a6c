"""Runs a Processor over manifest items: plan, execute, record.

A run has three parts, each its own module:

- :mod:`hltk.runner.plan`: every check that can refuse the run (options, device, output names,
  the backend's columns, an ``OUT`` made with other settings) and the selection of its items
  (``--limit``, ``--shard I/N``, resume from the ledger). Nothing is written: a refused run
  leaves ``OUT`` as it was.
- :mod:`hltk.runner.executors`: where the work units run (in this process, a joblib pool of
  ``--jobs`` single-threaded workers, or dask.distributed); :mod:`hltk.runner.work`: what a unit
  does (per-item backends one item per unit, batched backends a padded batch of
  ``--batch-size`` on one device in this process).
- :mod:`hltk.runner.records`: ``ledger.jsonl`` (one flushed line per finished item),
  ``failures.csv``, ``manifest.csv`` (produced items, input columns carried, paths relative to
  ``OUT``) and ``run.json``, in ``OUT`` or ``OUT/shards/I-of-N``; :mod:`hltk.runner.merge`
  combines shards. Audio goes to ``OUT/audio/<--filename>`` through atomic writes.

:func:`run_processor` (the processing commands) ties them together; ``evaluate`` uses the same
plan and records with its own work. Each item's random draws use ``item_seed(seed, id)``, so
results do not depend on order, batching, sharding or worker count.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hltk.io.listeners import save_listeners
from hltk.io.manifest import Manifest, write_manifest
from hltk.processor import Processor, optional
from hltk.runner.executors import map_work
from hltk.runner.merge import merge_runs
from hltk.runner.plan import plan_processing, work_units
from hltk.runner.records import (
    MANIFEST,
    RunRecords,
    clean_partial_files,
    hardware,
    output_columns,
    output_row,
    validation_failure,
    versions,
    warning_counts,
    write_json,
)
from hltk.runner.settings import (
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    RunError,
    RunSettings,
    item_seed,
    parse_shard,
    resolve_device,
)
from hltk.runner.work import ItemResult, process_unit

__all__ = [
    "EXIT_FAILED", "EXIT_FATAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "ItemResult",
    "RunError", "RunSettings", "RunSummary", "item_seed", "merge_runs", "parse_shard",
    "resolve_device", "run_processor",
]


@dataclass
class RunSummary:
    """The outcome of :func:`run_processor`."""

    exit_code: int
    results: list[ItemResult]
    record_dir: Path
    counts: dict[str, int]
    run_record: dict[str, Any]


def run_processor(
    manifest: Manifest,
    processor: Processor,
    settings: RunSettings,
    *,
    task: str,
    backend: str,
    backend_options: dict[str, Any] | None = None,
    default_level_db_spl: float = 100.0,
    calibration: dict[str, Any] | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
    side_files: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Run ``processor`` over the manifest items selected by ``settings``; write the records.

    ``progress(done, total)`` is called after every finished item. ``side_files``: JSON files
    that belong to the output (name in ``OUT`` -> content, e.g. remix's ``gains.json``),
    written with the records once the run is planned. Raises :class:`RunError`
    or :class:`hltk.io.manifest.ManifestError` (exit 2) before anything is written when the
    run cannot start; with ``settings.skip_invalid`` the rows that fail validation are
    recorded as failures (stage ``validate``) and the others run.
    """
    plan = plan_processing(manifest, processor, settings, task=task, backend=backend,
                           backend_options=backend_options,
                           default_level_db_spl=default_level_db_spl)
    manifest, run, out = plan.manifest, plan.run, settings.out
    # every check passed: from here on the run writes
    records = RunRecords.open(run.record_dir, run.ledger, settings.overwrite)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    clean_partial_files(out / "audio")
    items_by_id = {item.id: item for item in manifest.items}
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    results: list[ItemResult] = []
    invalid = [ItemResult(**validation_failure(row, manifest.path.name)) for row in run.invalid]
    status = "completed"
    exit_code = EXIT_OK
    if manifest.listeners:
        save_listeners(manifest.listeners.values(), out / "listeners.json")
    for name, content in (side_files or {}).items():
        write_json(out / name, content)
    try:
        with records.appending() as append:
            for result in invalid:
                append(asdict(result))
            stream = map_work(
                process_unit, (processor, settings, str(plan.device), logging.getLogger().level),
                work_units(plan.work, settings.batch_size if processor.batched else 1),
                jobs=settings.jobs, executor=settings.executor, scheduler=settings.scheduler,
                in_process=processor.batched, single_thread=not processor.batched,
            )
            for unit_results in stream:
                for result in unit_results:
                    entry = asdict(result)
                    if result.status == "ok":
                        entry["row"] = output_row(items_by_id[result.id], result.output, out, {})
                    append(entry)
                    results.append(result)
                    if progress is not None:
                        progress(len(results), len(plan.work))
    except KeyboardInterrupt:
        status = "interrupted"
        exit_code = EXIT_INTERRUPTED
    wall = time.perf_counter() - started

    final = records.final(run.selected)
    ok_entries = [e for e in final if e.get("status") == "ok"]
    failed_entries = [e for e in final if e.get("status") == "failed"]
    write_manifest(run.record_dir / MANIFEST, [e["row"] for e in ok_entries],
                   output_columns(manifest, []))
    records.write_failures(failed_entries)
    if exit_code == EXIT_OK and failed_entries:
        exit_code = EXIT_FAILED

    processed_audio = sum(r.duration for r in results if r.status == "ok")
    counts = {
        "manifest": run.rows, "selected": len(run.selected), "skipped": run.skipped,
        "processed": len(results), "ok": sum(r.status == "ok" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "total_ok": len(ok_entries), "total_failed": len(failed_entries),
    }
    if manifest.invalid:
        counts["invalid"] = len(invalid)
    record = {
        "command": list(command) if command is not None else sys.argv,
        "task": task,
        "backend": backend,
        "backend_options": backend_options or {},
        "manifest": str(manifest.path.resolve()),
        "listeners": str(manifest.listeners_path) if manifest.listeners_path else None,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "calibration": {
            "level_db_spl_default": settings.level_db_spl if settings.level_db_spl is not None
            else default_level_db_spl,
            "level_db_spl_column": "level_db_spl" in manifest.columns,
            "meaning": "dB SPL of a digital RMS of 1",
            **(calibration or {}),
        },
        "processor": {"name": processor.name, "sample_rate": processor.sample_rate,
                      "batched": processor.batched,
                      **optional(processor, "describe")},
        "versions": versions(),
        "hardware": hardware(plan.device),
        "executor": settings.executor,
        "config_hash": run.config_hash,
        "table": MANIFEST,
        "started": started_at.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "status": status,
        "counts": counts,
        "timing": {
            "wall_s": round(wall, 4),
            "item_cpu_s": round(sum(r.cpu_seconds for r in results), 4),
            "audio_s": round(processed_audio, 4),
            "real_time_factor": round(wall / processed_audio, 6) if processed_audio else None,
            "items_per_s": round(len(results) / wall, 4) if wall > 0 else None,
        },
        "clipping": {"policy": settings.clip,
                     "items_with_clipped_samples": sum(1 for r in results if r.clipped),
                     "clipped_samples": sum(r.clipped for r in results)},
        "warnings": warning_counts(results),
    }
    records.write_run_record(record)
    return RunSummary(exit_code, invalid + results, run.record_dir, counts, record)
