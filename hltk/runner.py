"""Runs a Processor over manifest items: batching, devices, joblib / dask, resume, failures.

The runner owns everything between a validated manifest and files on disk:

- **Selection**: ``--limit`` (first N rows), then ``--shard I/N`` (rows ``i`` with
  ``i % N == I - 1``), then resume: items whose last ledger line is ``ok`` (and whose output
  exists) are skipped, as are ``failed`` ones unless ``--retry-failed``; ``--overwrite`` redoes
  everything.
- **Execution**: per-item backends (``batched = False``) run in a joblib process pool of
  ``--jobs`` workers with one torch thread each (in-process when ``--jobs 1``); batched
  backends get padded batches of ``--batch-size`` on one device in the main process. With
  ``--executor dask`` the same work units go to a dask.distributed cluster (``--scheduler``
  joins one, else a LocalCluster of ``--jobs`` single-threaded worker processes is started).
- **Records** (in ``OUT``, or ``OUT/shards/I-of-N`` for a shard): ``ledger.jsonl`` (one flushed
  line per finished item), ``failures.csv``, ``manifest.csv`` (produced items, input columns
  carried through, paths made relative to ``OUT``), ``run.json``. Audio goes to
  ``OUT/audio/<--filename>`` through atomic writes.

Each item's random draws use ``item_seed(seed, id)`` so results do not depend on order,
batching, sharding or worker count.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from hltk import __version__
from hltk.io.audio import (
    AUDIO_FORMATS,
    apply_clip,
    atomic_path,
    format_extension,
    read_audio,
    resample,
    select_ears,
    write_audio,
)
from hltk.io.listeners import EARS, Listener, ListenerBatch, save_listeners
from hltk.io.manifest import Manifest, ManifestError, ManifestItem, Problem, write_manifest
from hltk.io.paths import OutputPathError, fill_template
from hltk.processor import Processor

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
LEDGER, FAILURES, MANIFEST, RUN_RECORD = "ledger.jsonl", "failures.csv", "manifest.csv", "run.json"
FAILURE_COLUMNS = ("id", "line", "stage", "message")


class RunError(RuntimeError):
    """A run that cannot start (exit 2): bad options, or an OUT made with other settings."""


def item_seed(seed: int, item_id: str) -> int:
    """The per-item seed: ``md5("{seed}:{id}")`` reduced to 32 bits."""
    digest = hashlib.md5(f"{seed}:{item_id}".encode()).hexdigest()
    return int(digest[:8], 16)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``; None stays None."""
    if text is None:
        return None
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise RunError(f"--shard {text!r}: expected I/N, for example 2/8") from None
    if not 1 <= index <= count:
        raise RunError(f"--shard {text!r}: I must be between 1 and N")
    return index, count


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda[:N]`` must be available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"--device {device}: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise RunError(f"--device {device!r}: {error}") from None


@dataclass(frozen=True)
class RunSettings:
    """Everything about a run that is not the manifest or the backend."""

    out: Path
    audio_format: str = "wav16"
    filename: str = "{id}.{ext}"
    clip: str = "hard"
    ear: str = "both"
    level_db_spl: float | None = None
    seed: int = 0
    jobs: int = 1
    batch_size: int = 1
    device: str = "auto"
    executor: str = "local"
    scheduler: str | None = None
    shard: tuple[int, int] | None = None
    overwrite: bool = False
    retry_failed: bool = False
    limit: int | None = None
    quiet: bool = False

    def output_affecting(self) -> dict[str, Any]:
        """Settings that change what is written (resume refuses to mix them)."""
        return {
            "audio_format": self.audio_format,
            "filename": self.filename,
            "clip": self.clip,
            "ear": self.ear,
            "level_db_spl": self.level_db_spl,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class WorkItem:
    """One item as a worker needs it (picklable)."""

    id: str
    line: int
    audio_path: str
    listener: Listener
    level_db_spl: float
    seed: int
    output_path: str
    output_rel: str
    #: the processor's ``input_columns``: column -> audio path (see :mod:`hltk.processor`)
    inputs: dict[str, str] = field(default_factory=dict)
    #: the manifest row, given only to processors that declare ``input_columns``
    row: dict[str, str] = field(default_factory=dict)


@dataclass
class ItemResult:
    """What became of one item."""

    id: str
    line: int
    status: str  # "ok" | "failed"
    output: str = ""
    stage: str = ""
    message: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the process that ran it (this thread and its pools)
    duration: float = 0.0
    sample_rate: int = 0
    clipped: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    """The outcome of :func:`run_processor`."""

    exit_code: int
    results: list[ItemResult]
    record_dir: Path
    counts: dict[str, int]
    run_record: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Work done in workers (and in-process)
# --------------------------------------------------------------------------------------------


def _ears_for(ear: str, channels: int) -> tuple[str, ...]:
    if ear == "both":
        return EARS
    return (ear,)


def _load_item(item: WorkItem, ear: str, rate: int) -> tuple[torch.Tensor, int, int]:
    audio, sample_rate = read_audio(item.audio_path)
    ears_audio = select_ears(audio, ear)
    return resample(ears_audio, sample_rate, rate), sample_rate, audio.shape[-1]


def _finish_item(
    item: WorkItem,
    processed: torch.Tensor,
    processor: Processor,
    input_rate: int,
    input_length: int,
    settings: RunSettings,
) -> tuple[int, int]:
    """Resample back, cut to the input length, clip, write atomically. Returns (clipped, rate).

    A processor with an ``output_sample_rate`` returns audio at that rate, written as it is
    (no resampling); with ``keeps_length = False`` its output length is kept as returned.
    """
    output_rate = getattr(processor, "output_sample_rate", None)
    if output_rate is None:
        output = resample(processed.detach().float().cpu(), processor.sample_rate, input_rate)
        output_rate = input_rate
    else:
        output = processed.detach().float().cpu()
    if getattr(processor, "keeps_length", True):
        length = round(input_length * output_rate / input_rate)
        if output.shape[-1] < length:
            output = torch.nn.functional.pad(output, (0, length - output.shape[-1]))
        output = output[..., :length]
    if not torch.isfinite(output).all():
        raise FloatingPointError("the backend produced NaN or infinite samples")
    output, clipped = apply_clip(output, settings.clip)
    write_audio(item.output_path, output, output_rate, settings.audio_format)
    return clipped, output_rate


def _collect_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return sorted({str(w.message) for w in caught})


def _item_inputs(processor: Processor, item: WorkItem, ear: str) -> dict[str, Any]:
    """Keyword arguments for a processor that declares ``input_columns``: its further audio
    columns (ears selected, resampled to its rate) and the item's manifest row."""
    if not hasattr(processor, "input_columns"):
        return {}
    inputs = {}
    for column, path in item.inputs.items():
        audio, rate = read_audio(path)
        inputs[column] = resample(select_ears(audio, ear), rate, processor.sample_rate)
    return {"inputs": [inputs], "rows": [item.row]}


def _run_single(processor: Processor, item: WorkItem, settings: RunSettings,
                device: torch.device) -> ItemResult:
    started, cpu_started = time.perf_counter(), time.process_time()
    stage = "read"
    result = ItemResult(item.id, item.line, "failed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            audio, input_rate, input_length = _load_item(item, settings.ear, processor.sample_rate)
            extra = _item_inputs(processor, item, settings.ear)
            stage = "process"
            ears = _ears_for(settings.ear, audio.shape[0])
            with torch.no_grad():
                processed = processor(
                    audio.unsqueeze(0).to(device),
                    ListenerBatch((item.listener,), ears),
                    lengths=torch.tensor([audio.shape[-1]]),
                    level_db_spl=torch.tensor([item.level_db_spl], dtype=torch.float64),
                    seeds=[item.seed],
                    **extra,
                )[0]
            stage = "write"
            clipped, rate = _finish_item(
                item, processed, processor, input_rate, input_length, settings
            )
            result = ItemResult(
                item.id, item.line, "ok", output=item.output_rel, duration=input_length / input_rate,
                sample_rate=rate, clipped=clipped,
            )
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one item's failure never stops the run
            result = ItemResult(item.id, item.line, "failed", stage=stage,
                                message=f"{type(error).__name__}: {error}")
    result.warnings = _collect_warnings(caught)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


def _run_batch(processor: Processor, items: Sequence[WorkItem], settings: RunSettings,
               device: torch.device) -> list[ItemResult]:
    """A padded batch through a batched processor; falls back to one by one on failure."""
    if len(items) == 1:
        return [_run_single(processor, items[0], settings, device)]
    started, cpu_started = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = [_load_item(item, settings.ear, processor.sample_rate) for item in items]
            ears = _ears_for(settings.ear, loaded[0][0].shape[0])
            lengths = torch.tensor([audio.shape[-1] for audio, _, _ in loaded])
            longest = int(lengths.max())
            batch = torch.stack([
                torch.nn.functional.pad(audio, (0, longest - audio.shape[-1]))
                for audio, _, _ in loaded
            ])
            with torch.no_grad():
                processed = processor(
                    batch.to(device),
                    ListenerBatch(tuple(item.listener for item in items), ears),
                    lengths=lengths,
                    level_db_spl=torch.tensor([i.level_db_spl for i in items], dtype=torch.float64),
                    seeds=[item.seed for item in items],
                )
            results = []
            for index, item in enumerate(items):
                _, input_rate, input_length = loaded[index]
                clipped, rate = _finish_item(
                    item, processed[index, :, : int(lengths[index])], processor,
                    input_rate, input_length, settings,
                )
                results.append(ItemResult(
                    item.id, item.line, "ok", output=item.output_rel,
                    duration=input_length / input_rate, sample_rate=rate, clipped=clipped,
                ))
        except KeyboardInterrupt:
            raise
        except Exception:
            # isolate the failing item(s): the others still get processed
            return [_run_single(processor, item, settings, device) for item in items]
    elapsed = (time.perf_counter() - started) / len(items)
    cpu_elapsed = (time.process_time() - cpu_started) / len(items)
    shared_warnings = _collect_warnings(caught)
    for result in results:
        result.seconds = elapsed
        result.cpu_seconds = cpu_elapsed
        result.warnings = shared_warnings
    return results


def run_unit(processor: Processor, unit: Sequence[WorkItem], settings: RunSettings,
             device: str = "cpu", worker: bool = False) -> list[ItemResult]:
    """Process one work unit (one item, or one batch for a batched processor)."""
    if worker:
        torch.set_num_threads(1)  # loky also limits the workers' BLAS/OpenMP pools
    target = torch.device(device)
    if processor.batched:
        return _run_batch(processor, unit, settings, target)
    return [_run_single(processor, item, settings, target) for item in unit]


# --------------------------------------------------------------------------------------------
# Records: ledger, failures, output manifest, run.json
# --------------------------------------------------------------------------------------------


def record_dir_for(out: Path, shard: tuple[int, int] | None) -> Path:
    return out if shard is None else out / "shards" / f"{shard[0]}-of-{shard[1]}"


def read_ledger(path: Path) -> dict[str, dict[str, Any]]:
    """The last ledger entry of each id (a torn last line from a crash is ignored)."""
    entries: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return entries
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "id" in entry:
                entries[str(entry["id"])] = entry
    return entries


def _relative_to(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def output_row(item: ManifestItem, output_rel: str, out: Path,
               extra: dict[str, Any]) -> dict[str, Any]:
    """The output manifest row: input columns carried, paths relative to ``out``."""
    row: dict[str, Any] = dict(item.row)
    for column, path in item.paths.items():
        row[column] = _relative_to(path, out)
    row["input"] = _relative_to(item.paths["audio"], out)
    row["audio"] = output_rel
    if item.listener is not None and "listener" not in row:
        row["listener"] = item.listener.id
    row.update(extra)
    return row


def output_columns(manifest: Manifest, extra: Sequence[str]) -> list[str]:
    columns = list(manifest.columns)
    for column in ("input", "listener", *extra):
        if column not in columns:
            columns.append(column)
    return columns


def write_failures(path: Path, entries: Iterable[dict[str, Any]]) -> None:
    rows = sorted(entries, key=lambda e: int(e.get("line", 0)))
    with atomic_path(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FAILURE_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for entry in rows:
            writer.writerow({c: entry.get(c, "") for c in FAILURE_COLUMNS})


def write_json(path: Path, content: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2, default=str) + "\n", encoding="utf-8")


def versions() -> dict[str, str]:
    found = {"hltk": __version__, "python": platform.python_version(), "torch": torch.__version__}
    for package in ("numpy", "pyclarity", "soundfile", "soxr"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            found[package] = version(package)
    return found


def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "platform": platform.platform(), "device": str(device)}
    with contextlib.suppress(Exception):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _clean_partial_files(folder: Path) -> None:
    """Remove temporary files a killed worker may have left (never final outputs)."""
    if folder.exists():
        for stale in folder.rglob(".*.part"):
            stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Planning and execution
# --------------------------------------------------------------------------------------------


def plan_outputs(manifest: Manifest, settings: RunSettings) -> dict[str, str]:
    """Output path (relative to OUT) of every item; refuses unsafe or clashing names."""
    if settings.audio_format not in AUDIO_FORMATS:
        raise RunError(f"--audio-format {settings.audio_format!r}: choose one of {list(AUDIO_FORMATS)}")
    extension = format_extension(settings.audio_format)
    outputs: dict[str, str] = {}
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for item in manifest.items:
        values = {**item.row, "ext": extension}
        if item.listener is not None and "listener" not in values:
            values["listener"] = item.listener.id
        try:
            relative = "audio/" + fill_template(settings.filename, values)
        except OutputPathError as error:
            problems.append(Problem(item.line, None, str(error)))
            continue
        if relative in seen:
            problems.append(Problem(item.line, None, f"output {relative!r} is also the output of "
                                    f"line {seen[relative]}: make --filename unique"))
        seen[relative] = item.line
        outputs[item.id] = relative
    if problems:
        raise ManifestError(manifest.path.name, problems)
    return outputs


def select_items(manifest: Manifest, settings: RunSettings) -> list[int]:
    """Indices of the manifest items this run is responsible for (limit, then shard)."""
    indices = list(range(len(manifest.items)))
    if settings.limit is not None:
        indices = indices[: max(0, settings.limit)]
    if settings.shard is not None:
        index, count = settings.shard
        indices = [i for position, i in enumerate(indices) if position % count == index - 1]
    return indices


def _units(items: Sequence[WorkItem], size: int) -> list[list[WorkItem]]:
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


def map_work(
    function: Callable[..., Any],
    shared: Any,
    payloads: Sequence[Any],
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    in_process: bool = False,
    single_thread: bool = False,
) -> Iterator[Any]:
    """Yield ``function(shared, payload, worker)`` for every payload, as each finishes.

    ``local``: in this process when ``in_process`` or ``jobs == 1``, else a joblib (loky)
    pool of ``jobs`` workers (``worker=True``: they set one torch thread). ``dask``: a
    dask.distributed cluster (``scheduler`` address, or a LocalCluster of ``jobs``
    single-threaded worker processes), ``shared`` scattered once to every worker.

    ``single_thread``: in-process work is numpy/Python (pyclarity), so the native thread pools
    run one thread meanwhile, as in the pool workers. Otherwise idle BLAS/OpenMP threads
    spin-wait after every small call and take the cores from the Python loops (measured:
    MSBG 6x more CPU time on 2 cores).
    """
    if executor == "dask":
        yield from _map_dask(function, shared, payloads, jobs, scheduler)
    elif in_process or jobs <= 1:
        with torch_threads(1 if single_thread else None):
            for payload in payloads:
                yield function(shared, payload, False)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
        yield from parallel(delayed(function)(shared, payload, True) for payload in payloads)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` threads in torch and in the native thread pools (OpenMP,
    OpenBLAS, MKL through threadpoolctl); None leaves them as they are. Restored after."""
    if count is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(previous)


def _map_dask(function: Callable[..., Any], shared: Any, payloads: Sequence[Any], jobs: int,
              scheduler: str | None) -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        scattered = client.scatter(shared, broadcast=True)
        futures = [client.submit(function, scattered, payload, True, pure=False)
                   for payload in payloads]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _process_unit(shared: tuple[Processor, RunSettings, str, int], unit: Sequence[WorkItem],
                  worker: bool) -> list[ItemResult]:
    processor, settings, device, root_level = shared
    if worker:
        # the workers log as the command does: pyclarity warns on the root logger (e.g. MSBG's
        # "Impairment too severe" for every audiogram above 80 dB HL), which the CLI keeps at
        # ERROR unless -v; a fresh worker process would print them all
        logging.getLogger().setLevel(root_level)
    return run_unit(processor, unit, settings, device if not worker else "cpu", worker)


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
) -> RunSummary:
    """Run ``processor`` over the manifest items selected by ``settings``; write the records.

    ``progress(done, total)`` is called after every finished item. Raises :class:`RunError`
    or :class:`ManifestError` (exit 2) before any work when the run cannot start.
    """
    out = settings.out
    record_dir = record_dir_for(out, settings.shard)
    outputs = plan_outputs(manifest, settings)
    device = resolve_device(settings.device)
    if settings.executor not in ("local", "dask"):
        raise RunError(f"--executor {settings.executor!r}: choose local or dask")
    if settings.jobs < 1 or settings.batch_size < 1:
        raise RunError("--jobs and --batch-size must be at least 1")
    config = {"task": task, "backend": backend, "backend_options": backend_options or {},
              **settings.output_affecting()}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]

    ledger_path = record_dir / LEDGER
    previous_record = record_dir / RUN_RECORD
    ledger = read_ledger(ledger_path)
    if ledger and not settings.overwrite and previous_record.exists():
        with contextlib.suppress(json.JSONDecodeError, OSError):
            old_hash = json.loads(previous_record.read_text()).get("config_hash")
            if old_hash and old_hash != config_hash:
                raise RunError(
                    f"{out} holds a run made with other settings (backend or output options "
                    "differ); use --overwrite to redo it, or another -o"
                )
    record_dir.mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    _clean_partial_files(out / "audio")
    if settings.overwrite and ledger_path.exists():
        ledger_path.unlink()
        ledger = {}

    input_columns = tuple(getattr(processor, "input_columns", ()))
    if hasattr(processor, "input_columns") and processor.batched:
        raise RunError(f"backend {processor.name!r}: a batched processor cannot declare input_columns")
    if not getattr(processor, "keeps_length", True) and processor.batched:
        raise RunError(f"backend {processor.name!r}: a batched processor must keep the input length")
    selected = select_items(manifest, settings)
    items_by_id = {item.id: item for item in manifest.items}
    to_run: list[WorkItem] = []
    skipped = 0
    for index in selected:
        item = manifest.items[index]
        previous = ledger.get(item.id)
        if previous is not None and not settings.overwrite:
            done = previous.get("status") == "ok" and (out / outputs[item.id]).exists()
            if done or (previous.get("status") == "failed" and not settings.retry_failed):
                skipped += 1
                continue
        assert item.listener is not None
        level = item.level_db_spl
        if level is None:
            level = settings.level_db_spl if settings.level_db_spl is not None else default_level_db_spl
        missing = [column for column in input_columns if column not in item.paths]
        if missing:
            raise ManifestError(manifest.path.name, [
                Problem(item.line, column, f"backend {backend!r} needs this audio column")
                for column in missing])
        to_run.append(WorkItem(
            item.id, item.line, str(item.audio), item.listener, float(level),
            item_seed(settings.seed, item.id), str(out / outputs[item.id]), outputs[item.id],
            inputs={column: str(item.paths[column]) for column in input_columns},
            row=dict(item.row) if hasattr(processor, "input_columns") else {},
        ))
    unit_size = settings.batch_size if processor.batched else 1
    units = _units(to_run, unit_size)

    started_at = datetime.now(UTC)
    started = time.perf_counter()
    results: list[ItemResult] = []
    status = "completed"
    exit_code = EXIT_OK
    if manifest.listeners:
        save_listeners(manifest.listeners.values(), out / "listeners.json")
    try:
        with ledger_path.open("a", encoding="utf-8") as ledger_handle:
            stream = map_work(
                _process_unit, (processor, settings, str(device), logging.getLogger().level),
                units, jobs=settings.jobs,
                executor=settings.executor, scheduler=settings.scheduler,
                in_process=processor.batched, single_thread=not processor.batched,
            )
            for unit_results in stream:
                for result in unit_results:
                    entry = asdict(result)
                    if result.status == "ok":
                        entry["row"] = output_row(items_by_id[result.id], result.output, out, {})
                    ledger_handle.write(json.dumps(entry) + "\n")
                    ledger_handle.flush()
                    ledger[result.id] = entry
                    results.append(result)
                    if progress is not None:
                        progress(len(results), len(to_run))
    except KeyboardInterrupt:
        status = "interrupted"
        exit_code = EXIT_INTERRUPTED
    wall = time.perf_counter() - started

    selected_ids = [manifest.items[i].id for i in selected]
    final = [ledger[i] for i in selected_ids if i in ledger]
    ok_entries = [e for e in final if e.get("status") == "ok"]
    failed_entries = [e for e in final if e.get("status") == "failed"]
    write_manifest(record_dir / MANIFEST, [e["row"] for e in ok_entries],
                   output_columns(manifest, []))
    write_failures(record_dir / FAILURES, failed_entries)
    if exit_code == EXIT_OK and failed_entries:
        exit_code = EXIT_FAILED

    processed_audio = sum(r.duration for r in results if r.status == "ok")
    warning_counts: dict[str, int] = {}
    for result in results:
        for message in result.warnings:
            warning_counts[message] = warning_counts.get(message, 0) + 1
    clipped_items = sum(1 for r in results if r.clipped)
    counts = {
        "manifest": len(manifest.items), "selected": len(selected), "skipped": skipped,
        "processed": len(results), "ok": sum(r.status == "ok" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "total_ok": len(ok_entries), "total_failed": len(failed_entries),
    }
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
                      **(getattr(processor, "describe", lambda: {})())},
        "versions": versions(),
        "hardware": hardware(device),
        "executor": settings.executor,
        "config_hash": config_hash,
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
        "clipping": {"policy": settings.clip, "items_with_clipped_samples": clipped_items,
                     "clipped_samples": sum(r.clipped for r in results)},
        "warnings": [{"message": m, "items": n} for m, n in sorted(warning_counts.items())],
    }
    write_json(record_dir / RUN_RECORD, record)
    return RunSummary(exit_code, results, record_dir, counts, record)


# --------------------------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------------------------


def _record_dirs(source: Path) -> list[Path]:
    found = []
    if (source / LEDGER).exists():
        found.append(source)
    shards = source / "shards"
    if shards.is_dir():
        found.extend(sorted(p for p in shards.iterdir() if (p / LEDGER).exists()))
    return found


def merge_runs(sources: Sequence[Path], destination: Path) -> dict[str, Any]:
    """Combine the records of shard runs (in ``SRC/shards/*`` or ``SRC`` itself) into one run
    in ``destination``; audio from other folders is copied in. Returns the merged counts."""
    entries: dict[str, dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    columns: list[str] = []
    hashes: set[str] = set()
    destination.mkdir(parents=True, exist_ok=True)
    for source in sources:
        dirs = _record_dirs(source)
        if not dirs:
            raise RunError(f"{source}: no run records (ledger.jsonl) found")
        for folder in dirs:
            record_path = folder / RUN_RECORD
            if record_path.exists():
                record = json.loads(record_path.read_text())
                records.append(record)
                hashes.add(str(record.get("config_hash")))
            manifest_path = folder / MANIFEST
            if manifest_path.exists():
                with manifest_path.open(newline="", encoding="utf-8") as handle:
                    for column in next(csv.reader(handle), []):
                        if column not in columns:
                            columns.append(column)
            for item_id, entry in read_ledger(folder / LEDGER).items():
                if entry.get("status") == "ok" and source.resolve() != destination.resolve():
                    target = destination / entry["output"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(target) as temporary:
                        shutil.copyfile(source / entry["output"], temporary)
                previous = entries.get(item_id)
                if previous is None or previous.get("status") != "ok":
                    entries[item_id] = entry
        listeners_file = source / "listeners.json"
        if listeners_file.exists() and source.resolve() != destination.resolve():
            shutil.copyfile(listeners_file, destination / "listeners.json")
    if len(hashes) > 1:
        raise RunError("the runs to merge were made with different settings (config_hash differs)")
    ordered = sorted(entries.values(), key=lambda e: int(e.get("line", 0)))
    with atomic_path(destination / LEDGER) as temporary:
        temporary.write_text("".join(json.dumps(e) + "\n" for e in ordered), encoding="utf-8")
    ok_entries = [e for e in ordered if e.get("status") == "ok"]
    failed = [e for e in ordered if e.get("status") == "failed"]
    write_manifest(destination / MANIFEST, [e["row"] for e in ok_entries], columns)
    write_failures(destination / FAILURES, failed)
    counts = {"ok": len(ok_entries), "failed": len(failed), "runs": len(records)}
    merged = dict(records[0]) if records else {}
    merged.update({
        "merged_from": [str(s) for s in sources],
        "shards": [{"settings": r.get("settings"), "counts": r.get("counts"),
                    "timing": r.get("timing"), "status": r.get("status")} for r in records],
        "counts": counts,
        "status": "merged",
        "finished": datetime.now(UTC).isoformat(),
    })
    write_json(destination / RUN_RECORD, merged)
    return counts
