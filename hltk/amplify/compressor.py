"""The Clarity CEC2 baseline hearing aid: NAL-R then pyclarity's broadband ``Compressor``.

The recipe (``recipes/cec2/baseline/enhance.py`` in pyclarity 0.9.0, config ``nalr: {nfir: 220,
sample_rate: 44100}``, ``compressor: {threshold: 0.35, attenuation: 0.1, attack: 50,
release: 1000, rms_buffer_size: 0.064}``, ``soft_clip: True``) does per ear::

    fir, _ = NALR(220, 44100).build(audiogram)
    out = NALR.apply(fir, signal)              # np.convolve, T + 220 samples, delay 110
    out, _, _ = Compressor(...).process(out)   # per-sample Python loop over the whole output
    out = np.tanh(out)                         # soft clip

:class:`NalrCompressorProcessor` runs exactly that chain (pyclarity's own code, float64) and
returns samples ``[110, 110 + T)`` of the result: the recipe's output with its delay removed, the
same length as the input. The compressor's state over the 110 leading samples is kept, so the
aligned output equals the recipe's to float32 rounding (tests/test_amplify_compressor.py).

The compressor is not a ratio compressor (its gain follows a running RMS with a fixed
attenuation above a threshold, independent of the audiogram) and runs a Python loop per
sample (about 0.1 s per second of audio per ear): it is a per-item backend (``batched=False``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from hltk.amplify.nalr import NalrOptions, NalrProcessor
from hltk.io.listeners import ListenerBatch
from hltk.registry import option, register


@dataclass(frozen=True)
class CompressorSettings:
    """pyclarity ``Compressor`` arguments; the defaults are the CEC2 recipe's."""

    threshold: float = 0.35
    attenuation: float = 0.1
    attack: float = 50.0  # ms
    release: float = 1000.0  # ms
    rms_buffer_size: float = 0.064  # s
    makeup_gain: float = 1.0


class NalrCompressorProcessor:
    """``amplify --backend nalr-compressor``: the CEC2 baseline chain, aligned.

    ``[B, C, T] -> [B, C, T]``. ``soft_clip`` applies ``tanh`` as the recipe does (default on).
    """

    name = "nalr-compressor"
    batched = False

    def __init__(
        self,
        sample_rate: int = 44100,
        nfir: int | None = None,
        soft_clip: bool = True,
        settings: CompressorSettings | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        del device  # pyclarity numpy code, on the CPU
        self.nalr = NalrProcessor(sample_rate=sample_rate, nfir=nfir)
        self.sample_rate = self.nalr.sample_rate
        self.soft_clip = soft_clip
        self.settings = settings or CompressorSettings()
        self.warnings = self.nalr.warnings

    def describe(self) -> dict[str, object]:
        """Settings for the run record."""
        return {**self.nalr.describe(), "soft_clip": self.soft_clip, **asdict(self.settings)}

    def process_channel(self, fir: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """One ear, numpy float64 ``(T,) -> (T,)``: the recipe's computation, aligned."""
        from clarity.enhancer.compressor import Compressor
        from clarity.enhancer.nalr import NALR

        nalr = NALR(nfir=self.nalr.nfir, sample_rate=self.sample_rate)
        compressor = Compressor(fs=self.sample_rate, **asdict(self.settings))
        amplified = nalr.apply(fir, signal)
        compressed, _, _ = compressor.process(amplified)
        if self.soft_clip:
            compressed = np.tanh(compressed)
        delay = self.nalr.delay
        return np.asarray(compressed[delay : delay + signal.shape[0]])

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        firs = self.nalr.firs(listeners).numpy()
        samples = audio.detach().cpu().to(torch.float64).numpy()
        output = np.zeros_like(samples)
        for item in range(samples.shape[0]):
            length = int(lengths[item]) if lengths is not None else samples.shape[-1]
            for channel in range(samples.shape[1]):
                output[item, channel, :length] = self.process_channel(
                    firs[item, channel], samples[item, channel, :length]
                )
        return torch.from_numpy(output).to(device=audio.device, dtype=audio.dtype)


@dataclass(frozen=True)
class NalrCompressorOptions(NalrOptions):
    """Options of ``amplify --backend nalr-compressor``: NAL-R's, and the soft clip."""

    soft_clip: bool = option(True, "tanh soft clip as in the CEC2 recipe.")


register(
    "amplify",
    "nalr-compressor",
    NalrCompressorProcessor,
    "Clarity CEC2 baseline: NAL-R then pyclarity Compressor (0.35/0.1/50/1000/0.064), tanh",
    reference=True,
    options=NalrCompressorOptions,
)
