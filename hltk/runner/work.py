"""The work of one unit (one item, or one padded batch of a batched processor), run in a
worker or in this process: read, process, write the output atomically, report an
:class:`ItemResult`. One item's failure never stops the run: it becomes a ``failed`` result
naming its stage (``read``, ``process``, ``write``).

A batched unit that fails is redone item by item, so the other items of the batch are still
produced, and a batch gives the same bytes as its items one by one (every item's draws use
its own seed, :func:`hltk.runner.settings.item_seed`).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hltk.io.audio import (
    apply_clip,
    read_audio,
    resample,
    resample_many,
    select_ears,
    write_audio,
)
from hltk.io.listeners import EARS, Listener, ListenerBatch
from hltk.processor import Processor, optional
from hltk.runner.settings import RunSettings
from hltk.runtime import configure_process


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


def _ears_for(ear: str, channels: int) -> tuple[str, ...]:
    if ear == "both":
        return EARS
    return (ear,)


def _read_item(item: WorkItem, ear: str) -> tuple[torch.Tensor, int, int]:
    """The item's ears at its own rate, that rate, and its length in samples."""
    audio, sample_rate = read_audio(item.audio_path)
    return select_ears(audio, ear), sample_rate, audio.shape[-1]


def _load_item(item: WorkItem, ear: str, processor: Processor) -> tuple[torch.Tensor, int, int]:
    ears_audio, sample_rate, length = _read_item(item, ear)
    method = optional(processor, "resampler")
    return resample(ears_audio, sample_rate, processor.sample_rate, method), sample_rate, length


def _output_audio(processed: torch.Tensor, processor: Processor,
                  input_rate: int) -> tuple[torch.Tensor, int]:
    """The processor's output, resampled back to the input's rate unless it declares an
    ``output_sample_rate``, and the rate it is at."""
    output_rate = optional(processor, "output_sample_rate")
    if output_rate is None:
        method = optional(processor, "resampler")
        return resample(processed.detach().float().cpu(), processor.sample_rate, input_rate,
                        method), input_rate
    return processed.detach().float().cpu(), output_rate


def _finish_item(
    item: WorkItem,
    processed: torch.Tensor,
    processor: Processor,
    input_rate: int,
    input_length: int,
    settings: RunSettings,
    output_rate: int | None = None,
) -> tuple[int, int]:
    """Resample back, cut to the input length, clip, write atomically. Returns (clipped, rate).

    A processor with an ``output_sample_rate`` returns audio at that rate, written as it is
    (no resampling); with ``keeps_length = False`` its output length is kept as returned.
    Given ``output_rate``, ``processed`` is already the output at that rate (a batch resampled
    back at once, :func:`_run_batch`).
    """
    if output_rate is None:
        output, output_rate = _output_audio(processed, processor, input_rate)
    else:
        output = processed
    if optional(processor, "keeps_length"):
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
        inputs[column] = resample(select_ears(audio, ear), rate, processor.sample_rate,
                                  optional(processor, "resampler"))
    return {"inputs": [inputs], "rows": [item.row]}


def _run_single(processor: Processor, item: WorkItem, settings: RunSettings,
                device: torch.device) -> ItemResult:
    started, cpu_started = time.perf_counter(), time.process_time()
    stage = "read"
    result = ItemResult(item.id, item.line, "failed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            audio, input_rate, input_length = _load_item(item, settings.ear, processor)
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
            # the batch's signals are resampled together: the fft resampler transforms rows of
            # the same size side by side (resample_many: the same bits as one by one)
            method = optional(processor, "resampler")
            read = [_read_item(item, settings.ear) for item in items]
            narrow = resample_many([audio for audio, _, _ in read], [rate for _, rate, _ in read],
                                   [processor.sample_rate] * len(items), method)
            loaded = [(audio, rate, length)
                      for audio, (_, rate, length) in zip(narrow, read, strict=True)]
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
            outputs = [processed[index, :, : int(lengths[index])].detach().float().cpu()
                       for index in range(len(items))]
            output_rate = optional(processor, "output_sample_rate")
            if output_rate is None:
                rates = [rate for _, rate, _ in loaded]
                outputs = resample_many(outputs, [processor.sample_rate] * len(items), rates,
                                        method)
            results = []
            for index, item in enumerate(items):
                _, input_rate, input_length = loaded[index]
                clipped, rate = _finish_item(
                    item, outputs[index], processor, input_rate, input_length, settings,
                    output_rate=output_rate or input_rate,
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


def process_unit(shared: tuple[Processor, RunSettings, str, int], unit: Sequence[WorkItem],
                 worker: bool) -> list[ItemResult]:
    """:func:`run_unit` as :func:`hltk.runner.executors.map_work` calls it: ``shared`` is
    (processor, settings, device, the root logger's level)."""
    processor, settings, device, root_level = shared
    if worker:
        configure_process()  # the command's CPU settings (hltk.runtime), in a fresh process
        # the workers log as the command does: pyclarity warns on the root logger (e.g. MSBG's
        # "Impairment too severe" for every audiogram above 80 dB HL), which the CLI keeps at
        # ERROR unless -v; a fresh worker process would print them all
        logging.getLogger().setLevel(root_level)
    return run_unit(processor, unit, settings, device if not worker else "cpu", worker)

