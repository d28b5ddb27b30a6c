"""Process-wide CPU runtime settings that the batched torch backends depend on for speed.

Two costs dominate torch on a small, shared CPU machine and neither is DSP:

- **Fresh large allocations.** glibc serves blocks above ``M_MMAP_THRESHOLD`` (at most 32 MiB)
  with ``mmap`` and unmaps them on free, so every full-length ``[channels, signals, time]``
  intermediate of torch-msbg or the ear model is page-faulted (and zeroed by the kernel) anew.
  Measured on the 2-core VM: a ``[22, 56320, 32] x [32, 32]`` batched product takes 0.27 s into
  a fresh tensor and 0.045 s into a reused one. :func:`keep_freed_memory` makes glibc serve
  every block from its heap and never return freed memory, so the next chunk reuses it (the
  process's resident size stays at its peak instead). It also keeps every thread on the one
  main heap: glibc gives worker threads heaps of their own, and shrinks those (the trim
  threshold notwithstanding) as blocks are freed, so each chunk faulted its buffers in
  again. Measured with the ear-model metrics on 2 chunk threads (HASQI, 16 pairs x 4 s):
  7 800-17 000 page faults and 0.55-1.1 s of kernel time per run, against 18 faults and
  0.09 s on the one heap, and 2.96 s against 3.25-3.75 s in all.
- **Spinning OpenMP threads.** libgomp's default active wait spins for a while at the end of
  every parallel region; when another process holds the other core, the spinning thread and
  the descheduled one cost 2-10x (measured: 8 items x 4 s of torch-msbg on 2 threads took
  10-21 s spinning and 2.5 s with ``OMP_WAIT_POLICY=PASSIVE``). The policy is read when the
  OpenMP runtime loads, i.e. when torch is imported, so :mod:`hltk` sets it (if unset) on
  import; set ``OMP_WAIT_POLICY`` yourself to override, or import torch first to opt out.
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


__all__ = ["default_omp_wait_policy", "keep_freed_memory"]
