"""The Processor contract that every backend of every task follows (see DESIGN.md)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from hltk.io.listeners import ListenerBatch


@runtime_checkable
class Processor(Protocol):
    """One backend of one task (``simulate``, ``amplify``, ...).

    ``__call__(audio, listeners, lengths=..., level_db_spl=..., seeds=...)``:

    - ``audio``: float32 ``[batch, channels, time]`` at :attr:`sample_rate`, channel ``c`` is
      ear ``listeners.ears[c]``; items shorter than ``time`` are zero-padded at the end.
    - ``lengths``: int64 ``[batch]``, each item's true length in samples.
    - ``level_db_spl``: float ``[batch]``, dB SPL of a digital RMS of 1 for each item.
    - ``seeds``: one integer per item (``md5(seed, id)``) for any random draw.

    Returns ``[batch, channels, time]``: the same length as the input, time-aligned with it
    (the backend's own delay removed). Samples past an item's length are ignored.
    """

    name: str
    sample_rate: int
    batched: bool

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor,
        level_db_spl: torch.Tensor,
        seeds: list[int],
    ) -> torch.Tensor: ...
