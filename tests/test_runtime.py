"""hltk.runtime: the process-wide CPU settings the batched torch backends rely on for speed."""

from __future__ import annotations

import os
import subprocess
import sys

from hltk import runtime


def test_keep_freed_memory_is_idempotent_and_harmless() -> None:
    first = runtime.keep_freed_memory()
    assert runtime.keep_freed_memory() == first
    assert bytearray(64 << 20)[-1] == 0  # large allocations still work afterwards


def test_import_sets_passive_omp_wait_unless_set() -> None:
    code = "import os, hltk; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "ACTIVE"
