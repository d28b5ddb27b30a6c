"""Inputs shorter than the STFT networks take (NeuroAMP, Denoising NeuroAMP, Neuro-MSBG).

Their STFT (:class:`hltk.dsp.stft.Stft`) centres its frames and reflect-pads the signal by half
a window, which ``torch.stft`` allows only on a longer signal. A shorter input is zero-padded
at its end to :func:`shortest_input` samples and the output cut back to the input's length:
the Processor contract (same length, time-aligned) holds, and the item is processed as if
silence followed it. Inputs of a normal length pass through untouched (same tensor, so the
same output bytes).
"""

from __future__ import annotations

import torch

from hltk.dsp.stft import Stft


def shortest_input(stft: Stft) -> int:
    """The fewest samples a network on ``stft`` takes: half its window, plus one."""
    return stft.n_fft // 2 + 1


def pad_short(waveform: torch.Tensor, length: int) -> torch.Tensor:
    """``[N, T]`` zero-padded at the end to ``length`` samples when ``T`` is shorter; the same
    tensor otherwise."""
    if waveform.shape[-1] >= length:
        return waveform
    return torch.nn.functional.pad(waveform, (0, length - waveform.shape[-1]))
