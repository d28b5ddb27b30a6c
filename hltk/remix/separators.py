"""Separators: mixture -> ``{vocals, drums, bass, other}`` stems for the remix chain.

- ``oracle``: the ground-truth stems named in the manifest (the upper bound of any separator,
  and what a gain predictor trains on). It separates nothing: the stems come with the item.

A Hybrid Demucs separator (the Cadenza baseline's ``hdemucs_high`` from a local checkpoint,
segment-wise with cross-fades) is not here yet: it has to be written for hltk, not vendored.

Stems are returned as numpy ``(time, channels)`` float64 (the chain's layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from hltk.remix.chain import STEMS

SEPARATORS: tuple[str, ...] = ("oracle",)


class OracleSeparator:
    """The ground-truth stems of the item (manifest columns ``vocals, drums, bass, other``)."""

    name = "oracle"
    input_columns: tuple[str, ...] = STEMS

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None
                 ) -> dict[str, np.ndarray]:
        if stems is None or any(stem not in stems for stem in STEMS):
            raise ValueError(f"the oracle separator needs the stems {', '.join(STEMS)}")
        separated = {}
        for stem in STEMS:
            audio = stems[stem]
            if audio.shape[-1] != mixture.shape[-1]:
                raise ValueError(f"stem {stem} has {audio.shape[-1]} samples, the mixture "
                                 f"{mixture.shape[-1]}")
            separated[stem] = audio.detach().cpu().to(torch.float64).numpy().T.copy()
        return separated

    def describe(self) -> dict[str, Any]:
        return {"separator": "oracle"}
