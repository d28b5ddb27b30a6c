"""Neuro-MSBG's CNN dual-path layer on the grid (:meth:`hltk.nn.sequence.ConvLayer.forward_grid`):
its pointwise convolutions as matrix products over the channels give the 1x1 convolutions'
result they replaced (the same bits, measured with torch's MKL build) and the sequence path's
to rounding, along both axes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hltk.nn.sequence import ConvLayer


def _grid_with_1x1_convolutions(layer: ConvLayer, features: torch.Tensor, axis: int) -> torch.Tensor:
    """The former :meth:`ConvLayer.forward_grid` (pointwise layers as 1x1 ``conv2d``)."""
    last = torch.channels_last
    features = features.contiguous(memory_format=last)
    grid = features.permute(0, 2, 3, 1)
    normed = F.layer_norm(grid, (grid.shape[-1],), layer.norm.weight, layer.norm.bias,
                          layer.norm.eps)
    output = normed.permute(0, 3, 1, 2)
    for module in layer.layers:
        if isinstance(module, nn.Conv1d) and module.groups > 1:
            side, dilation = int(module.padding[0]), module.dilation[0]  # type: ignore[call-overload]
            output = F.conv2d(
                output, module.weight.unsqueeze(5 - axis), module.bias,
                padding=(side, 0) if axis == 2 else (0, side),
                dilation=(dilation, 1) if axis == 2 else (1, dilation), groups=module.groups,
            ).contiguous(memory_format=last)
        elif isinstance(module, nn.Conv1d):
            output = F.conv2d(output, module.weight.unsqueeze(-1), module.bias)
        else:
            output = module(output)
    return features + output


@pytest.mark.parametrize("axis", [2, 3])
def test_pointwise_matrix_products_match_the_1x1_convolutions(axis: int) -> None:
    torch.manual_seed(0)
    layer = ConvLayer(12, 24).eval()
    features = torch.randn(3, 12, 40, 33)
    with torch.no_grad():
        grid = layer.forward_grid(features, axis)
        former = _grid_with_1x1_convolutions(layer, features, axis)
        # the sequence path: every row along ``axis`` as one sequence [rows, length, C]
        moved = features.movedim(axis, -1).movedim(1, -1)  # [N, other, length, C]
        sequences = layer(moved.reshape(-1, moved.shape[-2], moved.shape[-1]))
        sequence = sequences.reshape(moved.shape).movedim(-1, 1).movedim(-1, axis)
    # the same bits here (MKL); to rounding wherever another BLAS computes the products
    torch.testing.assert_close(grid, former, rtol=0, atol=1e-6)
    torch.testing.assert_close(grid, sequence, rtol=1e-5, atol=1e-5)
    assert not torch.equal(grid, features)  # the layer did something
