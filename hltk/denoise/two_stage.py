"""Denoise-and-amplify baselines (``hltk denoise-amplify``).

- ``nalr-wdrc``: no denoising, the noisy input amplified by NAL-R + WDRC (the "NAL-R+WDRC on
  noisy" row of the Denoising NeuroAMP comparison).
- ``two-stage``: RNNoise (pretrained, 48 kHz; :mod:`hltk.denoise.rnnoise`) then NAL-R + WDRC
  (:mod:`hltk.amplify.wdrc`), the two-stage baseline the Denoising NeuroAMP is compared with.

Both work at 44.1 kHz (the runner resamples), return the input's length, time-aligned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hltk.amplify.wdrc import NalrWdrcProcessor, WdrcOptions, WdrcSettings
from hltk.denoise.rnnoise import rnnoise_denoise
from hltk.io.listeners import ListenerBatch
from hltk.registry import option, register


class NoisyNalrWdrcProcessor(NalrWdrcProcessor):
    """``denoise-amplify --backend nalr-wdrc``: NAL-R + WDRC of the noisy input."""

    name = "nalr-wdrc"


class TwoStageProcessor:
    """``denoise-amplify --backend two-stage``: RNNoise per item and ear, then NAL-R + WDRC.

    ``[B, C, T] -> [B, C, T]``. RNNoise runs on each item's true length with a fresh state, so
    batched equals item by item.
    """

    name = "two-stage"
    batched = True

    def __init__(
        self,
        sample_rate: int = 44100,
        settings: WdrcSettings | None = None,
        denoise_threads: int = 1,
        device: str | torch.device | None = None,
        **options: float,
    ) -> None:
        del device  # RNNoise runs on the CPU; the WDRC follows the input's device
        self.amplifier = NalrWdrcProcessor(sample_rate=sample_rate, settings=settings, device=None,
                                           **options)
        self.sample_rate = self.amplifier.sample_rate
        self.warnings = self.amplifier.warnings
        if denoise_threads < 1:
            raise ValueError(f"denoise_threads must be >= 1, got {denoise_threads}")
        self.denoise_threads = int(denoise_threads)

    def denoise(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The first stage alone: ``[B, C, T] -> [B, C, T]``, zero past each item's length.

        With ``denoise_threads > 1`` items run on a thread pool (RNNoise runs in C through
        ctypes, which releases the GIL); results do not depend on the thread count.
        """
        denoised = torch.zeros_like(audio)

        def one(item: int) -> None:
            length = int(lengths[item]) if lengths is not None else audio.shape[-1]
            if length > 0:
                denoised[item, :, :length] = rnnoise_denoise(
                    audio[item, :, :length], self.sample_rate
                )

        if self.denoise_threads == 1:
            for item in range(audio.shape[0]):
                one(item)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.denoise_threads) as pool:
                list(pool.map(one, range(audio.shape[0])))
        return denoised

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | float | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        denoised = self.denoise(audio, lengths)
        return self.amplifier(denoised, listeners, lengths=lengths, level_db_spl=level_db_spl)

    def describe(self) -> dict[str, object]:
        return {"denoiser": "rnnoise (pyrnnoise, 48 kHz)", **self.amplifier.describe()}


@dataclass(frozen=True)
class TwoStageOptions(WdrcOptions):
    """Options of ``denoise-amplify --backend two-stage``: the WDRC's, and RNNoise's threads."""

    denoise_threads: int = option(1, "Threads for RNNoise.", min=1)


register(
    "denoise-amplify",
    "nalr-wdrc",
    NoisyNalrWdrcProcessor,
    "no denoising: NAL-R + WDRC of the noisy input",
    default=True,
    reference=True,
    options=WdrcOptions,
)
register(
    "denoise-amplify",
    "two-stage",
    TwoStageProcessor,
    "RNNoise (pretrained, pyrnnoise, 48 kHz) then NAL-R + WDRC",
    reference=True,
    options=TwoStageOptions,
)
