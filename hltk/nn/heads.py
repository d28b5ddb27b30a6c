"""Convolutional encoder / decoder pieces of the magnitude-and-phase models (MP-SENet style,
as Neuro-MSBG uses): a dense block of dilated 2-D convolutions, the encoder that narrows the
frequency axis, the magnitude-mask decoder (learnable sigmoid) and the phase decoder (atan2 of
two parallel outputs). Tensors are ``[N, C, frames, bins]``.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class DenseBlock(nn.Module):
    """``depth`` 3x3 convolutions dilated 1, 2, 4, ... along time, each fed the concatenation
    of all earlier outputs (DenseNet). ``[N, C, M, F] -> [N, C, M, F]``."""

    def __init__(self, channels: int, depth: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for index in range(depth):
            dilation = 2**index
            self.layers.append(nn.Sequential(
                nn.Conv2d(channels * (index + 1), channels, (3, 3), dilation=(dilation, 1),
                          padding=(dilation, 1)),
                nn.InstanceNorm2d(channels, affine=True),
                nn.PReLU(channels),
            ))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        stacked = features
        output = features
        for layer in self.layers:
            output = layer(stacked)
            stacked = torch.cat([output, stacked], dim=1)
        return output


def _frequency_conv(inputs: int, outputs: int, stride: int, transposed: bool) -> nn.Module:
    kernel = (1, 2 * stride - 1)
    padding = (0, stride - 1)
    if transposed:
        return nn.ConvTranspose2d(inputs, outputs, kernel, stride=(1, stride), padding=padding)
    return nn.Conv2d(inputs, outputs, kernel, stride=(1, stride), padding=padding)


def widen(conv: nn.ConvTranspose2d, features: torch.Tensor) -> torch.Tensor:
    """``conv(features)`` for a transposed convolution along frequency (kernel ``(1, K)``,
    stride ``(1, s)``), computed in polyphase form: an ordinary convolution with ``ceil(K / s)``
    taps and ``s`` output phases per channel, interleaved. Same weights and result (to
    rounding), but it runs on oneDNN's convolution instead of PyTorch's generic transposed
    one: about 5x faster on a CPU, where the two widening layers were a sixth of Neuro-MSBG's
    time."""
    stride, kernel, padding = conv.stride[1], conv.kernel_size[1], int(conv.padding[1])
    taps = -(-kernel // stride)
    weight = conv.weight[:, :, 0, :]  # [in, out, K]
    inputs, outputs = weight.shape[:2]
    phases = F.pad(weight, (0, taps * stride - kernel)).reshape(inputs, outputs, taps, stride)
    # output bin s*q + r takes input bin q - j through tap k = s*j + r
    polyphase = phases.flip(2).permute(1, 3, 0, 2).reshape(outputs * stride, inputs, 1, taps)
    phased = F.conv2d(features, polyphase, padding=(0, taps - 1))
    batch, _, frames, positions = phased.shape
    interleaved = phased.reshape(batch, outputs, stride, frames, positions).permute(0, 1, 3, 4, 2)
    interleaved = interleaved.reshape(batch, outputs, frames, positions * stride)
    length = (features.shape[-1] - 1) * stride - 2 * padding + kernel + conv.output_padding[1]
    output = interleaved[..., padding:padding + length]
    if conv.bias is not None:
        output = output + conv.bias[None, :, None, None]
    return output


def reduced_bins(bins: int, stride: int) -> int:
    """Bins after the encoder's frequency stride (the decoder maps them back exactly when
    ``bins - 1`` is a multiple of ``stride``)."""
    return (bins - 1) // stride + 1


class DenseEncoder(nn.Module):
    """Input channels -> ``channels`` by a strided convolution along frequency that narrows
    ``bins`` to ``(bins - 1) / stride + 1``, then a dense block at the narrow resolution (the
    full-resolution work is one thin layer: this is what keeps the model fast on a CPU)."""

    def __init__(self, inputs: int, channels: int, depth: int, stride: int) -> None:
        super().__init__()
        self.narrow = nn.Sequential(_frequency_conv(inputs, channels, stride, transposed=False),
                                    nn.InstanceNorm2d(channels, affine=True), nn.PReLU(channels))
        self.dense = DenseBlock(channels, depth)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.dense(self.narrow(features))


class LearnableSigmoid(nn.Module):
    """``beta * sigmoid(slope_f * x)`` with one learnable slope per bin (beta 2: a mask may
    also double a bin)."""

    def __init__(self, bins: int, beta: float = 2.0) -> None:
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(bins))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.beta * torch.sigmoid(self.slope * values)


class MaskDecoder(nn.Module):
    """``[N, C, M, F']`` -> magnitude mask ``[N, M, F]`` in ``(0, beta)``."""

    def __init__(self, channels: int, depth: int, stride: int, bins: int, beta: float = 2.0) -> None:
        super().__init__()
        self.dense = DenseBlock(channels, depth)
        self.widen = cast(nn.ConvTranspose2d, _frequency_conv(channels, 1, stride, transposed=True))
        self.sigmoid = LearnableSigmoid(bins, beta)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(widen(self.widen, self.dense(features))[:, 0])


class PhaseDecoder(nn.Module):
    """``[N, C, M, F']`` -> phase ``[N, M, F]`` as ``atan2`` of two parallel outputs (a pseudo
    real and imaginary part, so the phase is never wrapped by the network)."""

    def __init__(self, channels: int, depth: int, stride: int) -> None:
        super().__init__()
        self.dense = DenseBlock(channels, depth)
        self.widen = cast(nn.ConvTranspose2d, _frequency_conv(channels, 2, stride, transposed=True))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(real, imaginary)`` ``[N, M, F]``; the phase is their ``atan2``."""
        widened = widen(self.widen, self.dense(features))
        return widened[:, 0], widened[:, 1]
