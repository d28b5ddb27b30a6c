"""STFT helpers shared by the neural models: magnitude/phase analysis with power-law
compression, and the inverse (``torch.stft`` / ``torch.istft`` with a Hann window).

Compressed magnitude ``|X| ** c`` (``c = 0.3`` as in MP-SENet and Neuro-MSBG) keeps quiet
bins in a range a network can regress; the inverse undoes it before the iSTFT.
"""

from __future__ import annotations

import torch
from torch import nn


class Stft(nn.Module):
    """``[N, T]`` waveforms <-> compressed magnitude and phase ``[N, frames, bins]``.

    Args:
        n_fft: FFT size (= window length); ``bins = n_fft // 2 + 1``.
        hop: hop in samples.
        compress: magnitude exponent ``c`` (1 = linear magnitude).
    """

    def __init__(self, n_fft: int = 512, hop: int = 128, compress: float = 0.3) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.compress = compress
        self.window: torch.Tensor
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def complex(self, waveform: torch.Tensor) -> torch.Tensor:
        """``[N, T]`` -> complex ``[N, frames, bins]`` (centred frames, reflect padding)."""
        spectrum = torch.stft(
            waveform, self.n_fft, self.hop, window=self.window.to(waveform.dtype),
            center=True, pad_mode="reflect", return_complex=True,
        )
        return spectrum.transpose(1, 2)

    def analyse(self, waveform: torch.Tensor, eps: float = 1e-9
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[N, T]`` -> (compressed magnitude, phase, complex spectrum), ``[N, frames, bins]``.

        The magnitude is taken as ``sqrt(re^2 + im^2 + eps)`` so its gradient is finite at 0.
        """
        spectrum = self.complex(waveform)
        magnitude = torch.sqrt(spectrum.real**2 + spectrum.imag**2 + eps)
        phase = torch.atan2(spectrum.imag + 0.0, spectrum.real + 0.0)
        return magnitude**self.compress, phase, spectrum

    def compressed_complex(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """Compressed magnitude and phase -> complex spectrum in the compressed domain."""
        return torch.polar(magnitude, phase)

    def synthesise(self, magnitude: torch.Tensor, phase: torch.Tensor, length: int) -> torch.Tensor:
        """Compressed magnitude and phase ``[N, frames, bins]`` -> waveform ``[N, length]``."""
        linear = magnitude.clamp_min(0.0) ** (1.0 / self.compress)
        spectrum = torch.complex(linear * torch.cos(phase), linear * torch.sin(phase))
        return torch.istft(
            spectrum.transpose(1, 2), self.n_fft, self.hop,
            window=self.window.to(magnitude.dtype), center=True, length=length,
        )
