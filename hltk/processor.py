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

    Optional attributes, read by the runner with ``getattr`` (absent = the behaviour above),
    for backends whose work is more than one signal in, one signal out (``remix``):

    - ``input_columns: tuple[str, ...]``: further audio columns of the manifest row (e.g. the
      stems ``vocals``, ``drums``, ``bass``, ``other``). The runner reads them, selects ears and
      resamples them like the main audio, and calls the processor with two more keywords:
      ``inputs`` (one ``{column: [channels, time]}`` per item) and ``rows`` (one manifest row
      ``{column: value}`` per item). Declaring it, even empty, asks for ``rows``. Per-item
      (``batched = False``) processors only.
    - ``output_sample_rate: int``: the processor returns audio at this rate and the runner
      writes it at this rate (default: resampled back to the input's rate).
    - ``keeps_length: bool`` (default True): False keeps the returned length (e.g. a full
      convolution, as the Cadenza recipe writes) instead of cutting to the input's length.
      Per-item processors only.
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
