"""Process-wide CPU runtime settings that the batched torch backends depend on for speed.

Nothing here runs on ``import hltk``: a library does not change process-wide settings behind
its user's back. The ``hltk`` command applies them first thing (``hltk_cli/__init__.py``, before
any module loads torch); a program that uses the library calls :func:`configure_process` once,
before it imports torch. Two costs dominate torch on a small, shared CPU machine and neither is
DSP (``bench/torch_msbg_speed.py`` and ``bench/torch_metrics_speed.py`` measure both):

- **Fresh large allocations.** glibc serves blocks above ``M_MMAP_THRESHOLD`` (at most 32 MiB)
  with ``mmap`` and unmaps them on free, so every full-length ``[channels, signals, time]``
  intermediate of torch-msbg or the ear model is page-faulted (and zeroed by the kernel) anew,
  several times slower than writing into a reused block. :func:`keep_freed_memory` makes glibc
  serve every block from its heap and never return freed memory, so the next chunk reuses it
  (the process's resident size stays at its peak instead). It also keeps every thread on the
  one main heap: glibc gives worker threads heaps of their own, and shrinks those (the trim
  threshold notwithstanding) as blocks are freed, so each chunk faulted its buffers in again.
  The torch-msbg processor and the ear model also call it when they run (it is idempotent),
  so their speed does not depend on the caller; ``HLTK_KEEP_FREED_MEMORY=0`` turns it off.
- **Spinning OpenMP threads.** libgomp's default active wait spins for a while at the end of
  every parallel region; when another process holds the other core, the spinning thread and
  the descheduled one cost several times the work. The policy is read when the OpenMP runtime
  loads, i.e. when torch is imported, so :func:`default_omp_wait_policy` (``PASSIVE`` unless
  ``OMP_WAIT_POLICY`` is set) only takes effect in this process before torch is imported;
  processes started afterwards (joblib / loky and dask local workers) inherit it through the
  environment either way.

Invariant: none of these settings changes a computed value, only time and resident memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_kept = False


def default_omp_wait_policy() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the environment says otherwise (before torch loads)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def keep_freed_memory() -> bool:
    """Keep freed memory in the process (glibc ``mallopt``: no ``mmap`` blocks, no trimming,
    one heap for all threads) so that large tensors reuse pages instead of faulting in new
    ones. Idempotent; returns
    whether it took effect (False off glibc, or with ``HLTK_KEEP_FREED_MEMORY=0``)."""
    global _kept
    if _kept:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("HLTK_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _kept = (bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
             and bool(mallopt(_M_ARENA_MAX, 1)))
    return _kept


def configure_process() -> dict[str, bool]:
    """Apply every setting of this module to the current process: the one call for programs
    that use hltk as a library (the ``hltk`` command makes it on start). Call it before
    importing torch, or the OpenMP wait policy only reaches the processes started afterwards.
    Idempotent; settings the environment already gives are kept.

    The runner's worker processes call it first (joblib / loky and dask workers): they inherit
    ``OMP_WAIT_POLICY`` from the command's environment, but the glibc settings do not cross
    ``exec``. On a remote dask cluster, set ``OMP_WAIT_POLICY`` in the workers' environment:
    torch is loaded before any task runs.

    Returns what took effect: ``{"omp_wait_policy": ..., "keep_freed_memory": ...}``
    (``omp_wait_policy`` is False when torch was already imported in this process).
    """
    default_omp_wait_policy()
    return {"omp_wait_policy": "torch" not in sys.modules,
            "keep_freed_memory": keep_freed_memory()}


__all__ = ["configure_process", "default_omp_wait_policy", "keep_freed_memory"]
