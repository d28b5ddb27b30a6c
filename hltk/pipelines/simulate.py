"""``hltk simulate``: hearing-loss simulation of every item of a manifest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hltk.pipelines.process import process_manifest
from hltk.runner import RunSettings, RunSummary

TASK = "simulate"


def simulate(
    manifest_path: str | Path,
    settings: RunSettings,
    *,
    backend: str | None = None,
    backend_options: dict[str, Any] | None = None,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> RunSummary:
    """Simulate each item's hearing loss (default backend: pyclarity MSBG)."""
    return process_manifest(
        TASK, manifest_path, settings, backend=backend, backend_options=backend_options,
        root=root, listeners_path=listeners_path, command=command, progress=progress,
    )
