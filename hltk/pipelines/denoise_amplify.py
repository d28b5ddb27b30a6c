"""``hltk denoise-amplify``: denoising plus hearing-aid amplification of every item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hltk.pipelines.process import process_manifest
from hltk.runner import RunSettings, RunSummary

TASK = "denoise-amplify"


def denoise_amplify(
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
    """Denoise and amplify each item for its listener (default backend: NAL-R + WDRC of the
    noisy input, i.e. no denoising; ``two-stage``: RNNoise then NAL-R + WDRC)."""
    return process_manifest(
        TASK,
        manifest_path,
        settings,
        backend=backend,
        backend_options=backend_options,
        root=root,
        listeners_path=listeners_path,
        command=command,
        progress=progress,
    )
