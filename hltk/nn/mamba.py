"""Mamba (Gu & Dao 2023): a selective state-space sequence layer, in pure torch.

``selective_scan`` runs the recurrence ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t``,
``y_t = C_t h_t + D x_t`` step by step, so it runs on any device; on CUDA with the
``mamba_ssm`` package installed its fused kernel is used instead (same arguments, same
result to rounding). :class:`Mamba` is the block around it (input projection, causal depthwise
convolution, SiLU gate, data-dependent ``dt``, ``B``, ``C``; Neuro-MSBG: ``d_state 16``,
``d_conv 4``, ``expand 4``), and :class:`BiMamba` runs one forward and one on the reversed
sequence.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def _fused_scan() -> Any:
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # not installed, or no CUDA build: the torch scan runs
        return None
    return selective_scan_fn


def selective_scan(x: torch.Tensor, dt: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                   c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The selective scan.

    Args:
        x: ``[B, D, L]`` input; dt: ``[B, D, L]`` positive step sizes; a: ``[D, S]`` (negative
        real); b, c: ``[B, S, L]``; d: ``[D]`` skip.

    Returns:
        ``[B, D, L]``.
    """
    if x.is_cuda:
        fused = _fused_scan()
        if fused is not None:
            return fused(x, dt, a, b, c, d.float(), delta_softplus=False)
    decay = torch.exp(dt.unsqueeze(2) * a[None, :, :, None])  # [B, D, S, L]
    drive = (dt * x).unsqueeze(2) * b.unsqueeze(1)  # [B, D, S, L]
    state = x.new_zeros(x.shape[0], x.shape[1], a.shape[1])
    outputs = []
    for step in range(x.shape[-1]):
        state = decay[..., step] * state + drive[..., step]
        outputs.append(torch.einsum("bds,bs->bd", state, c[:, :, step]))
    return torch.stack(outputs, dim=-1) + x * d[None, :, None]


class Mamba(nn.Module):
    """One Mamba layer: ``[B, L, d_model] -> [B, L, d_model]`` (causal along ``L``)."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 4,
                 dt_min: float = 1e-3, dt_max: float = 0.1) -> None:
        super().__init__()
        inner = expand * d_model
        self.inner = inner
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * inner, bias=False)
        self.conv1d = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        # dt initialised log-uniformly in [dt_min, dt_max] through the inverse softplus
        dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, d_model, bias=False)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        length = sequence.shape[1]
        x, gate = self.in_proj(sequence).chunk(2, dim=-1)
        x = F.silu(self.conv1d(x.transpose(1, 2))[..., :length])  # [B, inner, L]
        projected = self.x_proj(x.transpose(1, 2))  # [B, L, rank + 2S]
        dt, b, c = projected.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(self.dt_proj(dt)).transpose(1, 2)  # [B, inner, L]
        a = -torch.exp(self.A_log.float())
        y = selective_scan(x, dt, a, b.transpose(1, 2).contiguous(), c.transpose(1, 2).contiguous(),
                           self.D)
        return self.out_proj(y.transpose(1, 2) * F.silu(gate))


class BiMamba(nn.Module):
    """Bidirectional Mamba: a forward layer and one over the reversed sequence, summed and
    projected. ``[B, L, d_model] -> [B, L, d_model]``."""

    def __init__(self, d_model: int, **options: Any) -> None:
        super().__init__()
        self.forward_layer = Mamba(d_model, **options)
        self.backward_layer = Mamba(d_model, **options)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        ahead = self.forward_layer(sequence)
        behind = self.backward_layer(sequence.flip(1)).flip(1)
        return ahead + behind
