"""hltk — the hearing-loss toolkit.

Batch hearing-loss simulation, hearing-aid amplification, denoising and evaluation over
corpora described by CSV manifests. The command line (``hltk``) only wraps this library.

Importing hltk changes no process-wide setting; the CPU settings the ``hltk`` command applies
on start are one call for library users: :func:`hltk.runtime.configure_process`.
"""

from __future__ import annotations

__version__ = "0.1.0"
