"""The remix chain as a runner Processor.

How remix fits the Processor contract: remix needs more than one signal per item (the stems,
for the oracle separator) and per-item values (the gains), and it writes audio at 32 kHz that
is ``nfir`` samples longer than the mixture (the recipe's full NAL-R convolution). The runner
has a small, generic, opt-in extension for this (see :mod:`hltk.processor`): a processor that
declares ``input_columns`` gets those audio columns (read, ears selected, resampled to its rate
like the main audio) as ``inputs`` and the manifest rows as ``rows``; ``output_sample_rate``
and ``keeps_length = False`` make the runner write its output as returned. So everything else
(selection, sharding, resume ledger, failures table, atomic writes, the clip policy, run
records) is the runner's, unchanged.

The processor is per item (``batched = False``): the chain's loudness steps and NAL-R are
pyclarity / pyloudnorm numpy code; with ``-j N`` items run in N worker processes. The
``hdemucs`` separator batches the segments of an item instead: with ``-j 1`` it runs in the
main process on ``--device`` (a GPU when there is one); ``-j N`` workers run it on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from hltk.io.listeners import ListenerBatch
from hltk.remix.chain import (
    MODEL_SAMPLE_RATE,
    NALR_NFIR,
    REMIX_SAMPLE_RATE,
    STEMS,
    remix_for_listener,
)
from hltk.remix.gains import GainTable, row_gains
from hltk.remix.separators import make_separator


class RemixProcessor:
    """Cadenza ICASSP 2024 remix: separate -> gains -> remix -> loudness match -> NAL-R per ear
    -> 32 kHz. ``audio [1, 2, time]`` (the mixture at 44.1 kHz) -> ``[1, 2, time']`` at 32 kHz,
    ``time' = round((time + nfir) * 32000 / 44100)``."""

    sample_rate = MODEL_SAMPLE_RATE
    output_sample_rate = REMIX_SAMPLE_RATE
    keeps_length = False
    batched = False

    def __init__(self, separator: str = "oracle", *, gains: GainTable | None = None,
                 compressor: bool = False, device: str = "cpu",
                 output_sample_rate: int = REMIX_SAMPLE_RATE,
                 checkpoint: str | Path | None = None,
                 separator_options: Mapping[str, Any] | None = None) -> None:
        # the separator follows the audio's device (the runner's --device, or a CPU worker)
        self.separator = make_separator(separator, checkpoint=checkpoint,
                                        **dict(separator_options or {}))
        self.name = f"remix-{separator}"
        self.input_columns: tuple[str, ...] = self.separator.input_columns
        self.gains = gains
        self.compressor = compressor
        self.output_sample_rate = output_sample_rate

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor,
        level_db_spl: torch.Tensor,
        seeds: list[int],
        inputs: Sequence[Mapping[str, torch.Tensor]] = (),
        rows: Sequence[Mapping[str, str]] = (),
    ) -> torch.Tensor:
        if tuple(listeners.ears) != ("left", "right") or audio.shape[1] != 2:
            raise ValueError("remix needs two-ear audio (--ear both)")
        outputs = []
        for index in range(audio.shape[0]):
            mixture = audio[index, :, : int(lengths[index])]
            stems = self.separator(mixture, inputs[index] if inputs else None)
            gains = row_gains(rows[index] if rows else {}, self.gains)
            remixed = remix_for_listener(
                stems, mixture.detach().cpu().to(torch.float64).numpy().T, gains,
                listeners.listeners[index], MODEL_SAMPLE_RATE, compressor=self.compressor,
                output_rate=self.output_sample_rate,
            )
            outputs.append(torch.from_numpy(remixed.T.astype("float32")))
        longest = max(output.shape[-1] for output in outputs)
        return torch.stack([torch.nn.functional.pad(o, (0, longest - o.shape[-1])) for o in outputs])

    def describe(self) -> dict[str, Any]:
        return {**self.separator.describe(), "stems": list(STEMS), "nalr_nfir": NALR_NFIR,
                "compressor": self.compressor, "output_sample_rate": self.output_sample_rate,
                "gains": "gain_<stem> columns, else gain column in gains.json, else 0 dB"}
