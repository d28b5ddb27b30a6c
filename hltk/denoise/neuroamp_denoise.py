"""Denoising NeuroAMP (Ahmed et al.): noisy speech in, denoised and amplified speech out.

The NeuroAMP network (:mod:`hltk.amplify.neuroamp`; the paper's core is the LSTM, 2 layers)
trained with noisy speech as its input and NAL-R + WDRC of the *clean* speech as its target
(``hltk train neuroamp-denoise``). Its gain head may attenuate (down to
``min_gain_db``), which is how it removes noise. 16 kHz, each ear with its audiogram, zero
delay; checkpoints ``hltk/checkpoints/neuroamp_denoise.pt`` (model kind ``neuroamp-denoise``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    def default_checkpoint(self, arch: str | None) -> Path:
        if arch is not None:
            raise ValueError("neuroamp-denoise ships one checkpoint; give --checkpoint for another core")
        return DEFAULT_CHECKPOINT


@dataclass(frozen=True)
class NeuroAmpDenoiseOptions:
    """Options of ``denoise-amplify --backend neuroamp-denoise``."""

    checkpoint: Path | None = option(None, "A trained checkpoint instead of the shipped one.")


register(
    "denoise-amplify",
    "neuroamp-denoise",
    NeuroAmpDenoiseProcessor,
    "Denoising NeuroAMP: noisy speech -> denoised, amplified speech (LSTM core, trained to "
    "nalr-wdrc of the clean speech; shipped checkpoint)",
    options=NeuroAmpDenoiseOptions,
)
