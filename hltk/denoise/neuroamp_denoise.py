"""Denoising NeuroAMP (Ahmed et al.): noisy speech in, denoised and amplified speech out.

The NeuroAMP network (:mod:`hltk.amplify.neuroamp`; the paper's core is the LSTM, 2 layers)
trained with noisy speech as its input and NAL-R + WDRC of the *clean* speech as its target
(``hltk train neuroamp-denoise``). Its gain head may attenuate (down to
``min_gain_db``), which is how it removes noise. 16 kHz, each ear with its audiogram, zero
delay; checkpoints ``hltk/checkpoints/neuroamp_denoise.pt`` (model kind ``neuroamp-denoise``).

Noise-reduction depth (``--max-attenuation A``, default :data:`DEFAULT_MAX_ATTENUATION_DB`):
the network's gain in each STFT bin is floored at the ear's NAL-R response at that bin minus
``A`` dB (:meth:`hltk.amplify.neuroamp.NeuroAmpRunner.gain_floors`), as a hearing aid bounds
its noise reduction's attenuation. A network trained on six recorded talkers suppresses an
unheard talker's speech with the babble; the bound gives that speech back while the network
still shapes and amplifies (``inf``: the gains as trained).
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
#: ``--max-attenuation``'s default (dB below NAL-R's gain), chosen on validation items of a
#: talker no model trains on (``hltk/checkpoints/neuroamp_denoise.md``); ``inf``: no bound.
DEFAULT_MAX_ATTENUATION_DB = 6.0


class NeuroAmpDenoiseProcessor(NeuroAmpProcessor):
    """``denoise-amplify --backend neuroamp-denoise``: ``[B, C, T] -> [B, C, T]`` at 16 kHz."""

    name = "neuroamp-denoise"
    model_kind = "neuroamp-denoise"
    train_command = "hltk train neuroamp-denoise"

    def __init__(self, arch: str | None = None, checkpoint: str | Path | None = None,
                 device: str | torch.device | None = None, max_batch: int = 64,
                 max_attenuation: float | None = DEFAULT_MAX_ATTENUATION_DB) -> None:
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
    max_attenuation: float = option(
        DEFAULT_MAX_ATTENUATION_DB, "Noise-reduction depth: the most (dB) any bin may be "
        "attenuated below NAL-R's linear gain for the ear; inf: no bound, the network's gains as "
        "trained.")


register(
    "denoise-amplify",
    "neuroamp-denoise",
    NeuroAmpDenoiseProcessor,
    "Denoising NeuroAMP: noisy speech -> denoised, amplified speech (LSTM core, trained to "
    "nalr-wdrc of the clean speech; shipped checkpoint)",
    options=NeuroAmpDenoiseOptions,
)
