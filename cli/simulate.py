"""``hltk simulate``: hearing-loss simulation over a manifest."""

from __future__ import annotations

from typing import Any

from hltk.pipelines.simulate import TASK
from hltk_cli import common as c


@c.processing_command(TASK)
def simulate(manifest: c.ManifestArg, out: c.OutOpt, backend: str | None,
             backend_options: dict[str, Any], shared: c.Shared) -> None:
    """Simulate each listener's hearing loss on each item (default backend: MSBG)."""
    c.run_processing(TASK, manifest, out, backend, backend_options, shared)
