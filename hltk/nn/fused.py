"""Inference-only forms of the CPU layers of the magnitude-and-phase STFT networks (Neuro-MSBG):
the same weights and the same result to rounding as the modules in :mod:`hltk.nn.heads`,
:mod:`hltk.nn.sequence` and :mod:`hltk.dsp.stft`, in fewer and cheaper passes over memory.

On a CPU their layers are a few channels wide (12 and 24) over large grids (ears x frames x
bins): the convolutions and matrix products run near the core's arithmetic rate, and every
other eager operation is one pass over a few megabytes, so the rest of the time is the number
of such passes and how each reads its layout. What differs from the modules (each checked
against them in ``tests/test_neuro_msbg_fused.py``):

- **Instance norm** on a channels-last tensor: ``F.instance_norm`` reshapes it to
  ``[1, N * C, H, W]``, which copies a channels-last tensor to contiguous memory and back;
  :func:`instance_norm_prelu` takes the statistics over the rows of the ``[N, H * W, C]``
  view (mean, then the mean square of the deviations: the same two-pass biased variance) and
  applies the affine as one ``addcmul``, PReLU on the ``[rows, C]`` result (its channel
  dimension the contiguous one).
- **Layer norm over the channels** of a channels-last grid (rows of 12 values):
  ``F.layer_norm`` reduces each short row on its own; :func:`layer_norm_rows` takes the row
  means and variances as matrix-vector products with a ``1 / C`` vector (two-pass again),
  several rows per vector instruction.
- **The 1x1 convolutions** of the ``cnn`` sequence layer on channels-last tensors fall to
  PyTorch's generic ``_slow_conv2d_forward`` (with copies around it): here they
  are matrix products over the ``[rows, C]`` view (``F.linear``, bias fused), and the last
  one adds the residual in the same ``addmm``.
- **The inverse STFT** at a hop of half the window (:class:`HalfOverlapIstft`): each output
  sample is the sum of two windowed frames, so the overlap-add is one addition of two
  strided views, and the window envelope (the same for every call of one length) is
  computed once and kept; ``torch.istft`` overlap-adds frames and envelope by its generic
  ``unfold_backward`` on every call. The sums are the same two terms, so the result is the
  same to the bit.

- **Passes side by side** (:func:`passes_in_threads`): a batch's CPU passes on
  single-threaded workers, one per torch thread, instead of one after another with each
  operation split over the threads.

Training keeps the modules (they are what the gradients were taken through); these functions
are for ``torch.no_grad`` / ``torch.inference_mode`` on tensors that do not require
gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from hltk.nn.heads import DenseBlock
from hltk.nn.sequence import ConvLayer, depthwise_along

CHANNELS_LAST = torch.channels_last
Part = TypeVar("Part")


def passes_in_threads(function: Callable[[Part], torch.Tensor], parts: Sequence[Part],
                      threads: int) -> list[torch.Tensor]:
    """``[function(part) for part in parts]`` without gradients, on up to ``threads``
    threads, each running its passes on one torch thread.

    A CPU forward pass of these networks is some hundred operations on a few megabytes each;
    split over torch's threads (intra-op), every operation pays a fork and join of the thread
    team and is divided into pieces too small to keep both cores busy. Whole passes side by
    side, one per core (inter-op; torch releases the GIL inside each operation), keep each
    core on its own pass. Each worker sets ``torch.set_num_threads(1)`` for itself (OpenMP's
    thread count is a per-thread setting) and the caller's count is set back afterwards (torch
    also keeps it as a process-wide default for threads it has not seen). A pass computes the
    same operations whichever thread runs it, single-threaded: the outputs are those of
    ``torch.set_num_threads(1)``, to the bit, in any order of completion. With one thread or
    one part the passes run here, in order."""
    if threads < 2 or len(parts) < 2:
        with torch.no_grad():
            return [function(part) for part in parts]

    def work(part: Part) -> torch.Tensor:
        torch.set_num_threads(1)
        with torch.no_grad():
            return function(part)

    try:
        with ThreadPoolExecutor(min(threads, len(parts))) as pool:
            return list(pool.map(work, parts))
    finally:
        torch.set_num_threads(threads)


def instance_norm_prelu(features: torch.Tensor, norm: nn.InstanceNorm2d, prelu: nn.PReLU
                        ) -> torch.Tensor:
    """``prelu(norm(features))`` for a ``[N, C, H, W]`` tensor (channels-last in memory, or
    made so); channels-last out. Biased variance over ``H * W`` and ``eps`` inside the root,
    as ``InstanceNorm2d`` (affine, no running statistics)."""
    batch, channels, height, width = features.shape
    rows = features.contiguous(memory_format=CHANNELS_LAST).permute(0, 2, 3, 1)
    rows = rows.reshape(batch, height * width, channels)  # a view of channels-last memory
    mean = rows.mean(1, keepdim=True)
    centred = rows - mean
    variance = (centred * centred).mean(1, keepdim=True)
    assert norm.weight is not None and norm.bias is not None
    scale = norm.weight * torch.rsqrt(variance + norm.eps)
    # PReLU over [rows, C] (channel dimension 1 = the contiguous one): on the 4-D
    # channels-last view it is several times slower and returns contiguous memory
    normed = F.prelu(torch.addcmul(norm.bias, centred, scale).view(-1, channels), prelu.weight)
    return normed.view(batch, height, width, channels).permute(0, 3, 1, 2)


def layer_norm_rows(rows: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """``norm(rows)`` for ``[R, C]`` rows normalised over ``C`` (two-pass statistics as
    matrix-vector products)."""
    channels = rows.shape[-1]
    average = torch.full((channels,), 1.0 / channels, dtype=rows.dtype, device=rows.device)
    centred = rows - (rows @ average)[:, None]
    variance = (centred * centred) @ average
    assert norm.weight is not None and norm.bias is not None
    return torch.addcmul(norm.bias, centred * torch.rsqrt(variance + norm.eps)[:, None],
                         norm.weight)


def conv_layer_grid(layer: ConvLayer, features: torch.Tensor, axis: int) -> torch.Tensor:
    """:meth:`hltk.nn.sequence.ConvLayer.forward_grid` (the ``cnn`` sequence layer on
    ``[N, C, frames, bins]`` along ``axis``, 2: time, 3: frequency), channels-last in and
    out, with the layer norm by :func:`layer_norm_rows`, the pointwise convolutions as
    matrix products over the rows and the residual added by the last one."""
    batch, channels, height, width = features.shape
    features = features.contiguous(memory_format=CHANNELS_LAST)
    rows = features.permute(0, 2, 3, 1).reshape(-1, channels)  # a view
    output = layer_norm_rows(rows, layer.norm)
    width_now = channels
    modules = list(layer.layers)
    for index, module in enumerate(modules):
        if isinstance(module, nn.Conv1d) and module.groups > 1:
            grid = output.view(batch, height, width, width_now).permute(0, 3, 1, 2)
            grid = depthwise_along(grid, module, axis, CHANNELS_LAST)
            output = grid.permute(0, 2, 3, 1).reshape(-1, width_now)
        elif isinstance(module, nn.Conv1d):
            weight = module.weight[:, :, 0]
            if index == len(modules) - 1:  # the residual, bias and product in one addmm
                assert module.bias is not None
                output = torch.addmm(rows + module.bias, output, weight.t())
            else:
                output = F.linear(output, weight, module.bias)
            width_now = weight.shape[0]
        else:
            assert isinstance(module, nn.PReLU)
            output = F.prelu(output, module.weight)  # over [rows, C]
    if not isinstance(modules[-1], nn.Conv1d):
        output = rows + output
    return output.view(batch, height, width, channels).permute(0, 3, 1, 2)


def conv_norm_prelu(layer: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """A ``Sequential(conv, InstanceNorm2d, PReLU)`` of :mod:`hltk.nn.heads` with
    :func:`instance_norm_prelu` (channels-last)."""
    conv, norm, prelu = cast(nn.Sequential, layer)
    return instance_norm_prelu(conv(features), cast(nn.InstanceNorm2d, norm),
                               cast(nn.PReLU, prelu))


def dense_block(block: DenseBlock, features: torch.Tensor) -> torch.Tensor:
    """:class:`hltk.nn.heads.DenseBlock` by :func:`conv_norm_prelu` (channels-last)."""
    stacked = features
    output = features
    layers = list(block.layers)
    for index, layer in enumerate(layers):
        output = conv_norm_prelu(layer, stacked)
        if index < len(layers) - 1:  # (the module also stacks after its last layer, unused)
            stacked = torch.cat([output, stacked], dim=1)
    return output


class HalfOverlapIstft:
    """``torch.istft`` (Hann window, ``center=True``, hop ``n_fft / 2``) of
    ``[N, frames, bins]`` spectra, with the window envelope of each signal length kept (see
    the module docstring). The same bits as ``torch.istft``."""

    def __init__(self, window: torch.Tensor) -> None:
        self.window = window
        self.n_fft = window.shape[0]
        self.hop = self.n_fft // 2
        self._envelopes: dict[tuple[int, int, torch.dtype, torch.device], torch.Tensor] = {}

    def envelope(self, frames: int, length: int, dtype: torch.dtype, device: torch.device
                 ) -> torch.Tensor:
        """The summed squared windows over the output samples kept (``[length]``)."""
        key = (frames, length, dtype, device)
        envelope = self._envelopes.get(key)  # (the passes' threads share it: no lock needed,
        if envelope is None:                 # at worst two threads compute the same envelope)
            square = self.window.to(dtype=dtype, device=device).square()
            total = torch.zeros(frames + 1, self.hop, dtype=dtype, device=device)
            total[:frames] += square[: self.hop]
            total[1:] += square[self.hop:]
            envelope = total.reshape(-1)[self.hop: self.hop + length]
            if bool((envelope.abs() < 1e-11).any()):
                raise RuntimeError("istft: the window overlap-adds to zero")
            if len(self._envelopes) > 16:
                self._envelopes.clear()
            self._envelopes[key] = envelope
        return envelope

    def __call__(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        batch, frames, _ = spectrum.shape
        if length > frames * self.hop:  # torch.istft zero-pads past the last frame
            raise ValueError("length beyond the frames")
        window = self.window.to(dtype=spectrum.real.dtype, device=spectrum.device)
        segments = torch.fft.irfft(spectrum, self.n_fft, dim=-1) * window
        halves = segments.view(batch, frames, 2, self.hop)
        signal = torch.empty(batch, frames + 1, self.hop, dtype=segments.dtype,
                             device=segments.device)
        signal[:, 0] = halves[:, 0, 0]
        torch.add(halves[:, 1:, 0], halves[:, :-1, 1], out=signal[:, 1:frames])
        signal[:, frames] = halves[:, -1, 1]
        kept = signal.view(batch, -1)[:, self.hop: self.hop + length]
        return kept / self.envelope(frames, length, segments.dtype, segments.device)
