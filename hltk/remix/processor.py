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

``chain`` picks the recipe (:data:`CHAINS`): ``cadenza-icassp2024`` (the default: NAL-R,
32 kHz), ``cad2-task2`` (any number of stems per row, :func:`hltk.remix.chain.cad2_task2_remix`,
32 kHz) or ``cad2-task1`` (vocals/accompaniment downmix by the row's ``alpha``, 44.1 kHz); the
CAD2 chains end with the listener's multiband compressor (``compressor_params``). A CAD2 row
has its own stems (two to five instruments in task 2), which the runner's fixed
``input_columns`` cannot express: the pipeline resolves each row's stem paths
(``stem_paths``, id -> stem -> file) and the processor reads them. The same holds for a
Cadenza ICASSP 2024 manifest with a ``stems`` column (any stems, oracle separation); without
one, the four MUSDB stem columns go through the separator as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk.io.audio import read_audio
from hltk.io.listeners import ListenerBatch
from hltk.remix.chain import (
    MODEL_SAMPLE_RATE,
    NALR_NFIR,
    REMIX_SAMPLE_RATE,
    STEMS,
    CompressorParams,
    cad2_task2_remix,
    compress_per_ear,
    downmix_alpha,
    integrated_loudness,
    normalise_lufs,
    remix_for_listener,
)
from hltk.remix.chain import to_output_rate as to_rate
from hltk.remix.gains import GainTable, row_gains
from hltk.remix.separators import ScriptedSeparator, make_separator

CADENZA_ICASSP2024, CAD2_TASK1, CAD2_TASK2 = "cadenza-icassp2024", "cad2-task1", "cad2-task2"
CHAINS: tuple[str, ...] = (CADENZA_ICASSP2024, CAD2_TASK2, CAD2_TASK1)
#: each chain's output rate (the recipes' ``remix_sample_rate``)
CHAIN_OUTPUT_RATE = {CADENZA_ICASSP2024: REMIX_SAMPLE_RATE, CAD2_TASK2: 32000, CAD2_TASK1: 44100}
#: CAD2 task 1: the accompaniment is the sum of these (``evaluate.load_reference_signal``)
ACCOMPANIMENT: tuple[str, ...] = ("bass", "drums", "other")


def row_stem_names(row: Mapping[str, str]) -> tuple[str, ...]:
    """The stems of a row: its ``stems`` column (``;``-separated), else the MUSDB four."""
    text = row.get("stems", "")
    return tuple(name for name in text.split(";") if name) if text else STEMS


def read_stem(path: str, length: int | None = None) -> np.ndarray:
    """A ground-truth stem as ``(time, 2)`` float64 at 44.1 kHz (checked)."""
    audio, rate = read_audio(path)
    if rate != MODEL_SAMPLE_RATE or audio.shape[0] != 2:
        raise ValueError(f"{path}: stems must be stereo {MODEL_SAMPLE_RATE} Hz, got "
                         f"{audio.shape[0]} channels at {rate} Hz")
    if length is not None and audio.shape[-1] != length:
        raise ValueError(f"{path}: {audio.shape[-1]} samples, expected {length}")
    return audio.numpy().T.astype(np.float64)


def segment_bounds(row: Mapping[str, str], length: int, sample_rate: int = MODEL_SAMPLE_RATE
                   ) -> tuple[int, int]:
    """``[int(start_time * rate), int(end_time * rate))`` of a CAD2 row (the recipes' cut),
    the whole signal without those columns."""
    start = int(float(row["start_time"]) * sample_rate) if row.get("start_time") else 0
    end = int(float(row["end_time"]) * sample_rate) if row.get("end_time") else length
    if not 0 <= start < end <= length:
        raise ValueError(f"segment [{start}, {end}) is outside the {length} samples of the mixture")
    return start, end


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
                 separator_options: Mapping[str, Any] | None = None,
                 chain: str = CADENZA_ICASSP2024,
                 compressor_params: Mapping[str, CompressorParams] | None = None,
                 stem_paths: Mapping[str, Mapping[str, str]] | None = None,
                 vocal_separator: str | Path | None = None,
                 gain_columns: str | None = None) -> None:
        if chain not in CHAINS:
            raise ValueError(f"unknown remix chain {chain!r}; choose one of {', '.join(CHAINS)}")
        # the separator follows the audio's device (the runner's --device, or a CPU worker)
        self.separator = make_separator(separator, checkpoint=checkpoint,
                                        **dict(separator_options or {}))
        self.chain = chain
        self.name = f"remix-{separator}" if chain == CADENZA_ICASSP2024 else f"remix-{chain}-{separator}"
        # CAD2 rows bring their own stems (stem_paths); the rows still come with each item
        self.input_columns: tuple[str, ...] = (self.separator.input_columns
                                               if chain == CADENZA_ICASSP2024 and not stem_paths
                                               else ())
        self.gains = gains
        #: ``predicted_gain_``: each row's ``<prefix><stem>`` columns are the gains applied
        #: (``--gains predictor``); the requested gains stay the scoring reference's
        self.gain_columns = gain_columns
        self.compressor = compressor
        self.output_sample_rate = (output_sample_rate if chain == CADENZA_ICASSP2024
                                   else CHAIN_OUTPUT_RATE[chain])
        self.compressor_params = dict(compressor_params or {})
        self.stem_paths = {key: dict(value) for key, value in (stem_paths or {}).items()}
        # CAD2 task 1: a TorchScript vocal separator instead of the true stems (loaded on first
        # use, in the process that runs the items)
        self.vocal_separator = str(vocal_separator) if vocal_separator is not None else None
        self._vocal_model: ScriptedSeparator | None = None
        if self.vocal_separator is not None:
            ScriptedSeparator(self.vocal_separator)  # refuse a bad file before any work

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
        if self.chain != CADENZA_ICASSP2024:
            return self._cad2(audio, listeners, lengths, rows)
        outputs = []
        for index in range(audio.shape[0]):
            mixture = audio[index, :, : int(lengths[index])]
            if self.stem_paths:  # a manifest with a stems column: each row's own stems
                row = rows[index]
                stems = {name: read_stem(path, mixture.shape[-1])
                         for name, path in self.stem_paths[row["id"]].items()}
                gains = row_gains(row, self.gains, row_stem_names(row))
            else:
                stem_inputs = inputs[index] if inputs else None
                if getattr(self.separator, "takes_seed", False):  # seeded per item
                    stems = self.separator(mixture, stem_inputs, seed=seeds[index])
                else:
                    stems = self.separator(mixture, stem_inputs)
                row = rows[index] if rows else {}
                gains = (row_gains(row, self.gains) if self.gain_columns is None else
                         {stem: float(row[f"{self.gain_columns}{stem}"]) for stem in STEMS})
            remixed = remix_for_listener(
                stems, mixture.detach().cpu().to(torch.float64).numpy().T, gains,
                listeners.listeners[index], MODEL_SAMPLE_RATE, compressor=self.compressor,
                output_rate=self.output_sample_rate,
            )
            outputs.append(torch.from_numpy(remixed.T.astype("float32")))
        longest = max(output.shape[-1] for output in outputs)
        return torch.stack([torch.nn.functional.pad(o, (0, longest - o.shape[-1])) for o in outputs])

    def _cad2(self, audio: torch.Tensor, listeners: ListenerBatch, lengths: torch.Tensor,
              rows: Sequence[Mapping[str, str]]) -> torch.Tensor:
        """The CAD2 chains, item by item (oracle stems from :attr:`stem_paths`)."""
        outputs = []
        for index in range(audio.shape[0]):
            row = rows[index]
            listener = listeners.listeners[index]
            params = self.compressor_params.get(listener.id)
            if params is None:
                raise ValueError(f"listener {listener.id!r} has no compressor parameters")
            stems = {name: read_stem(path) for name, path in self.stem_paths.get(row["id"], {}).items()}
            mixture = audio[index, :, : int(lengths[index])].detach().cpu().to(torch.float64).numpy().T
            if self.chain == CAD2_TASK2:
                gains = row_gains(row, self.gains, row_stem_names(row))
                remixed, _ = cad2_task2_remix(stems, gains, gains, params, MODEL_SAMPLE_RATE)
            else:
                remixed = self._cad2_task1(mixture, stems, float(row["alpha"]), params, row)
            if self.output_sample_rate != MODEL_SAMPLE_RATE:
                remixed = to_rate(remixed, MODEL_SAMPLE_RATE, self.output_sample_rate)
            outputs.append(torch.from_numpy(remixed.T.astype("float32")))
        longest = max(output.shape[-1] for output in outputs)
        return torch.stack([torch.nn.functional.pad(o, (0, longest - o.shape[-1])) for o in outputs])

    def _cad2_task1(self, mixture: np.ndarray, stems: Mapping[str, np.ndarray], alpha: float,
                    params: CompressorParams, row: Mapping[str, str]) -> np.ndarray:
        """Task 1: the segment of the mixture set to -40 LUFS (``enhance.py``), separated into
        vocals and accompaniment — by the TorchScript separator when given, else the true
        stems of the segment with the same scale factor (what a perfect separator of the
        normalised segment returns) — downmix by alpha, compressor per ear."""
        start, end = segment_bounds(row, mixture.shape[0])
        segment = mixture[start:end]
        if self.vocal_separator is not None:
            if self._vocal_model is None:
                self._vocal_model = ScriptedSeparator(self.vocal_separator)
            vocals, accompaniment = self._vocal_model(normalise_lufs(segment, MODEL_SAMPLE_RATE))
            return compress_per_ear(downmix_alpha(vocals, accompaniment, alpha), params, MODEL_SAMPLE_RATE)
        scale = 10 ** ((-40.0 - integrated_loudness(segment, MODEL_SAMPLE_RATE)) / 20)
        vocals = stems["vocals"][start:end] * scale
        accompaniment = np.zeros_like(vocals)
        for name in ACCOMPANIMENT:
            accompaniment += stems[name][start:end]
        accompaniment *= scale
        return compress_per_ear(downmix_alpha(vocals, accompaniment, alpha), params, MODEL_SAMPLE_RATE)

    def describe(self) -> dict[str, Any]:
        if self.chain != CADENZA_ICASSP2024:
            separator = (ScriptedSeparator(self.vocal_separator).describe() if self.vocal_separator
                         else self.separator.describe())
            return {**separator, "chain": self.chain,
                    "stems": "the row's stems column (CAD2 task 2) or vocals + bass/drums/other",
                    "compressor": "pyclarity MultibandCompressor, per-listener ratios and gains",
                    "output_sample_rate": self.output_sample_rate,
                    "gains": "gain column in gains.json" if self.chain == CAD2_TASK2 else "alpha column"}
        stems: Any = "the row's stems column" if self.stem_paths else list(STEMS)
        gains = ("gain_<stem> columns, else gain column in gains.json, else 0 dB"
                 if self.gain_columns is None else
                 f"{self.gain_columns}<stem> columns (the gain predictor's)")
        return {**self.separator.describe(), "stems": stems, "nalr_nfir": NALR_NFIR,
                "compressor": self.compressor, "output_sample_rate": self.output_sample_rate,
                "gains": gains}
