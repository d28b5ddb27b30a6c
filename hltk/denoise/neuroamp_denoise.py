"""Denoising NeuroAMP (Ahmed et al.): noisy speech in, denoised and amplified speech out.

The NeuroAMP network (:mod:`hltk.amplify.neuroamp`; the paper's core is the LSTM, 2 layers)
trained with noisy speech as its input and NAL-R + WDRC of the *clean* speech as its target
(``hltk train neuroamp-denoise``). Its gain head may attenuate (down to
``min_gain_db``), which is how it removes noise. 16 kHz, each ear with its audiogram, zero
delay; checkpoints ``hltk/checkpoints/neuroamp_denoise.pt`` (model kind ``neuroamp-denoise``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hltk.amplify.neuroamp import CHECKPOINT_DIR, NeuroAmpProcessor
from hltk.registry import option, register

DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "neuroamp_denoise.pt"
#: The core of the shipped checkpoint and of ``hltk train neuroamp-denoise`` (the paper's LSTM).
DEFAULT_ARCH = "lstm"


class NeuroAmpDenoiseProcessor(NeuroAmpProcessor):
    """``denoise-amplify --backend neuroamp-denoise``: ``[B, C, T] -> [B, C, T]`` at 16 kHz."""

    name = "neuroamp-denoise"
    model_kind = "neuroamp-denoise"
    train_command = "hltk train neuroamp-denoise"

    def __init__(self, arch: str | None = None, checkpoint: str | Path | None = None,
                 device: str | torch.device | None = None, max_batch: int = 64,
                 max_attenuation: float | None = None) -> None:
        super().__init__(arch, checkpoint, device, max_batch)
        if max_attenuation is not None and not max_attenuation >= 0.0:
            raise ValueError(f"--max-attenuation must be a number of dB >= 0 (inf: no bound), "
                             f"not {max_attenuation}")
        unbounded = max_attenuation is None or math.isinf(max_attenuation)
        self.runner.max_attenuation_db = None if unbounded else max_attenuation

    def default_checkpoint(self, arch: str | None) -> Path:
        if arch is not None:
            raise ValueError("neuroamp-denoise ships one checkpoint; give --checkpoint for another core")
        return DEFAULT_CHECKPOINT

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_attenuation_db": self.runner.max_attenuation_db}


@dataclass(frozen=True)
class NeuroAmpDenoiseOptions:
    """Options of ``denoise-amplify --backend neuroamp-denoise``."""

    checkpoint: Path | None = option(None, "A trained checkpoint instead of the shipped one.")
    max_attenuation: float | None = option(
        None, "Noise-reduction depth: the most (dB) any bin may be attenuated below NAL-R's linear "
        "gain for the ear (default: no bound, the network's gains as trained).")


register(
    "denoise-amplify",
    "neuroamp-denoise",
    NeuroAmpDenoiseProcessor,
    "Denoising NeuroAMP: noisy speech -> denoised, amplified speech (LSTM core, trained to "
    "nalr-wdrc of the clean speech; shipped checkpoint)",
    options=NeuroAmpDenoiseOptions,
)
