"""``hltk denoise-amplify``: denoising plus hearing-aid amplification of every item."""

from __future__ import annotations

from hltk.pipelines.process import task_pipeline

TASK = "denoise-amplify"

denoise_amplify = task_pipeline(
    TASK,
    "Denoise and amplify each item for its listener (default backend: NAL-R + WDRC of the noisy "
    "input, i.e. no denoising; ``two-stage``: RNNoise then NAL-R + WDRC).",
)
