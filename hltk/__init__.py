"""hltk — the hearing-loss toolkit.

Batch hearing-loss simulation, hearing-aid amplification, denoising and evaluation over
corpora described by CSV manifests. The command line (``hltk``) only wraps this library.
"""

from __future__ import annotations

__version__ = "0.1.0"

from hltk.runtime import default_omp_wait_policy as _default_omp_wait_policy
from hltk.runtime import keep_freed_memory as _keep_freed_memory

_default_omp_wait_policy()  # before torch loads OpenMP: see hltk.runtime
_keep_freed_memory()  # before worker threads take heaps of their own: see hltk.runtime
