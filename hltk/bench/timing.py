"""Timers and memory probes for the benchmark.

- Wall time with ``time.perf_counter`` around a callable, with ``torch.cuda.synchronize``
  before and after on a CUDA device (kernels are asynchronous: an unsynchronised timer
  measures the launch, not the work).
- CPU time of this process plus its live children (joblib / loky workers), from psutil:
  on a shared machine the CPU seconds are a fairer measure of a backend's cost than the wall.
- Peak resident memory (RSS), sampled by a background thread every ``interval`` seconds:
  this process alone for in-process (batched) backends, this process plus the sum of its
  children for worker pools. On CUDA, ``torch.cuda.max_memory_allocated`` after a reset.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_by_process(children: bool) -> dict[int, float]:
    """User + system CPU seconds of this process (and of each live child), by pid."""
    me = psutil.Process()
    times = me.cpu_times()
    found = {me.pid: times.user + times.system}
    if children:
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                found[child.pid] = child_times.user + child_times.system
    return found


def total_cpu_seconds() -> float:
    """CPU seconds used so far by this process, its finished children and its live ones."""
    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return float(total)


def _rss(children: bool) -> int:
    me = psutil.Process()
    total = me.memory_info().rss
    if children:
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
    return int(total)


class PeakMemory:
    """Samples RSS in a thread while active; ``peak_bytes`` is the highest sample."""

    def __init__(self, children: bool, interval: float = 0.02) -> None:
        self.children = children
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak_bytes = max(self.peak_bytes, _rss(self.children))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak_bytes = _rss(self.children)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(psutil.Error):
            self.peak_bytes = max(self.peak_bytes, _rss(self.children))


@dataclass
class Timing:
    """Wall and CPU seconds of a warm-up and of each timed repeat."""

    warmup_s: float = 0.0
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    cuda_peak_bytes: int | None = None

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.wall_s))

    @property
    def p90_s(self) -> float:
        return float(np.percentile(self.wall_s, 90))

    @property
    def cpu_median_s(self) -> float:
        return float(statistics.median(self.cpu_s))


def timed(function: Callable[[], Any], device: torch.device, children: bool) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one call, synchronised on CUDA."""
    synchronize(device)
    before = _cpu_by_process(children)
    started = time.perf_counter()
    result = function()
    synchronize(device)
    wall = time.perf_counter() - started
    after = _cpu_by_process(children)
    cpu = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return wall, max(cpu, 0.0), result


def measure(function: Callable[[], Any], *, repeats: int, device: torch.device, children: bool,
            warmup: bool = True, budget_s: float | None = None) -> tuple[Timing, Any]:
    """Warm up once (untimed for the statistics, its wall kept), then time ``repeats`` calls,
    stopping early once the timed calls add up to ``budget_s`` seconds (at least one call:
    ``Timing.wall_s`` says how many were made).

    Returns the timing and the result of the last call.
    """
    timing = Timing()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    result: Any = None
    with PeakMemory(children) as memory:
        if warmup:
            timing.warmup_s, _, result = timed(function, device, children)
        for _ in range(max(1, repeats)):
            wall, cpu, result = timed(function, device, children)
            timing.wall_s.append(wall)
            timing.cpu_s.append(cpu)
            if budget_s is not None and sum(timing.wall_s) >= budget_s:
                break
    timing.peak_rss_bytes = memory.peak_bytes
    if cuda:
        timing.cuda_peak_bytes = int(torch.cuda.max_memory_allocated(device))
    return timing, result
