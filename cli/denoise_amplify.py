"""``hltk denoise-amplify``: denoising plus hearing-aid amplification over a manifest."""

from __future__ import annotations

from typing import Any

from hltk.pipelines.denoise_amplify import TASK
from hltk_cli import common as c


@c.processing_command(TASK)
def denoise_amplify(manifest: c.ManifestArg, out: c.OutOpt, backend: str | None,
                    backend_options: dict[str, Any], shared: c.Shared) -> None:
    """Denoise and amplify each noisy item for its listener (default backend: NAL-R + WDRC
    without denoising; two-stage: RNNoise then NAL-R + WDRC)."""
    c.run_processing(TASK, manifest, out, backend, backend_options, shared)
