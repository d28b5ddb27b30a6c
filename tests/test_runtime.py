"""hltk.runtime: the process-wide CPU settings the batched torch backends rely on for speed.

Importing the library changes nothing process-wide; :func:`hltk.runtime.configure_process`
and the ``hltk`` command apply the settings. Each check runs in a fresh interpreter, since the
settings are process-wide and this test process may have applied them already. glibc's
``mallopt`` state is observed through ``mallinfo2``: a 64 MiB block is served by ``mmap``
(``hblks`` counts it) under glibc's defaults, and from the heap once ``M_MMAP_MAX`` is 0.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# prints OMP_WAIT_POLICY and how many mmapped blocks a fresh 64 MiB malloc makes
PROBE = """
import ctypes, ctypes.util, os

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2().hblks
block = libc.malloc(64 << 20)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(os.environ.get("OMP_WAIT_POLICY", "unset"), mapped)
"""

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None
    or tuple(map(int, (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0.0").split()[1].split(".")[:2]))
    < (2, 33), reason="mallinfo2 needs glibc 2.33")


def probe(setup: str, **environment: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "HLTK_KEEP_FREED_MEMORY")}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", setup + "\n" + PROBE], env=env,
                            capture_output=True, text=True, check=True)
    policy, mapped = result.stdout.split()
    return policy, int(mapped)


@needs_glibc
def test_importing_the_library_changes_no_process_setting() -> None:
    # the library's packages, torch included: the environment and glibc's malloc untouched
    setup = "import hltk, hltk.runtime, hltk.runner, hltk.pipelines.simulate, hltk.metrics"
    assert probe(setup) == ("unset", 1)


@needs_glibc
def test_configure_process_sets_passive_omp_wait_and_keeps_freed_memory() -> None:
    setup = "import hltk.runtime; done = hltk.runtime.configure_process(); assert all(done.values())"
    assert probe(setup) == ("PASSIVE", 0)
    # a policy the user set is kept; HLTK_KEEP_FREED_MEMORY=0 leaves malloc alone
    setup = ("import hltk.runtime\n"
             "assert hltk.runtime.configure_process() == "
             "{'omp_wait_policy': True, 'keep_freed_memory': False}")
    assert probe(setup, OMP_WAIT_POLICY="ACTIVE", HLTK_KEEP_FREED_MEMORY="0") == ("ACTIVE", 1)


def test_configure_process_after_torch_reports_the_wait_policy_late() -> None:
    setup = ("import torch, hltk.runtime\n"
             "assert not hltk.runtime.configure_process()['omp_wait_policy']")
    assert probe(setup)[0] == "PASSIVE"  # still exported for the processes started later


@needs_glibc
def test_the_command_applies_the_settings_before_torch_loads() -> None:
    setup = "import sys, hltk_cli.app; assert 'torch' in sys.modules"
    assert probe(setup) == ("PASSIVE", 0)
    assert probe(setup, OMP_WAIT_POLICY="ACTIVE")[0] == "ACTIVE"
    setup = ("import sys, hltk_cli\n"
             "assert 'torch' not in sys.modules  # the settings come before torch")
    assert probe(setup)[0] == "PASSIVE"
