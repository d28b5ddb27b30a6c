"""Personalised remix gains: both ears' audiograms (and the scene's requested gains) -> one
gain in dB per stem.

The Cadenza ICASSP 2024 system this follows (the paper in the seeds, "personalised remix
gains from the audiogram") replaces the baseline's fixed per-stem gains by a small CNN over
the two ears' audiograms (8 + 8 thresholds) that outputs four stem gains, trained to maximise
HAAQI (there through HAAQI-Net, a learned proxy; here on the exact metric, see
:mod:`hltk.pipelines.train_remix_gains`).

The network (:class:`GainPredictor`): the audiograms as a ``[2 ears, 8 frequencies]`` image
(dB HL / 100), two 1-D convolutions along frequency (kernel 3, 16 channels, ReLU) with the
ears as input channels, flattened, concatenated with the requested gains (dB / 10), a hidden
layer of 32 and a linear output of 4. Outputs are *offsets* from the requested gains, bounded
by ``B tanh(.)``: ``gain = requested + B tanh(net)``, ``B`` = :data:`BOUND_DB` = 12 dB — the
largest change the Cadenza gains themselves request (+-10 dB) plus a little; beyond it a
stem is mostly removed or dominates, and the loudness match after the remix turns large
boosts into clipping (NAL-R adds up to ~40 dB at high frequencies for severe losses). The
offsets are centred (their mean subtracted): a common offset changes nothing after the
loudness match, so the output has the three degrees of freedom the chain has. A zero network
output is the baseline (the requested gains). :data:`PARAMETERS` parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.listeners import CLARITY_FREQUENCIES, Listener
from hltk.remix.chain import STEMS

MODEL_KIND = "remix_gain_predictor"
BOUND_DB = 12.0
HL_SCALE, GAIN_SCALE = 100.0, 10.0
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "remix_gains.pt"


class GainPredictor(nn.Module):
    """``[B, 2, 8]`` dB HL + ``[B, 4]`` requested dB -> ``[B, 4]`` gains dB (module docstring)."""

    def __init__(self, channels: int = 16, hidden: int = 32, bound_db: float = BOUND_DB) -> None:
        super().__init__()
        self.bound_db = float(bound_db)
        frequencies = len(CLARITY_FREQUENCIES)
        self.conv = nn.Sequential(
            nn.Conv1d(2, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(channels * frequencies + len(STEMS), hidden), nn.ReLU(),
                                  nn.Linear(hidden, len(STEMS)))

    def offsets(self, audiograms: torch.Tensor, requested: torch.Tensor) -> torch.Tensor:
        """The centred, bounded offsets from the requested gains, dB ``[B, 4]``."""
        features = self.conv(audiograms / HL_SCALE).flatten(1)
        raw = self.head(torch.cat((features, requested / GAIN_SCALE), dim=1))
        bounded = self.bound_db * torch.tanh(raw)
        return bounded - bounded.mean(dim=1, keepdim=True)

    def forward(self, audiograms: torch.Tensor, requested: torch.Tensor) -> torch.Tensor:
        return requested + self.offsets(audiograms, requested)


PARAMETERS = sum(p.numel() for p in GainPredictor().parameters())


def audiogram_image(listener: Listener) -> np.ndarray:
    """``[2, 8]`` dB HL (left, right) on the Clarity frequencies."""
    return np.stack([np.asarray(ear.on_grid(CLARITY_FREQUENCIES), dtype=np.float64)
                     for ear in (listener.left, listener.right)])


def requested_vector(gains: Mapping[str, float]) -> np.ndarray:
    return np.array([float(gains.get(name, 0.0)) for name in STEMS])


def load_predictor(path: str | Path | None = None) -> tuple[GainPredictor, dict[str, Any]]:
    """The predictor of a checkpoint (default: the shipped ``remix_gains.pt``), in eval mode."""
    from hltk.nn.checkpoint import load_checkpoint

    content = load_checkpoint(path or DEFAULT_CHECKPOINT, expect_model=MODEL_KIND)
    model = GainPredictor(**content["config"])
    model.load_state_dict(content["state_dict"])
    return model.eval(), content


def predict_gains(model: GainPredictor, listeners: Sequence[Listener],
                  requested: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """The gains (dB per stem) for each (listener, requested gains)."""
    images = torch.from_numpy(np.stack([audiogram_image(lis) for lis in listeners])).float()
    wanted = torch.from_numpy(np.stack([requested_vector(g) for g in requested])).float()
    with torch.no_grad():
        gains = model(images, wanted).double().numpy()
    return [{name: float(round(row[i], 4)) for i, name in enumerate(STEMS)} for row in gains]
