"""The Clarity CEC2 and CEC3 baseline hearing aids: NAL-R then pyclarity's broadband ``Compressor``.

The recipe (``recipes/cec2/baseline/enhance.py`` in pyclarity 0.9.0, config ``nalr: {nfir: 220,
sample_rate: 44100}``, ``compressor: {threshold: 0.35, attenuation: 0.1, attack: 50,
release: 1000, rms_buffer_size: 0.064}``, ``soft_clip: True``) does per ear::

    fir, _ = NALR(220, 44100).build(audiogram)
    out = NALR.apply(fir, signal)              # np.convolve, T + 220 samples, delay 110
    out, _, _ = Compressor(...).process(out)   # per-sample Python loop over the whole output
    out = np.tanh(out)                         # soft clip

:class:`NalrCompressorProcessor` runs exactly that chain (pyclarity's own code, float64) and
returns samples ``[110, 110 + T)`` of the result: the recipe's output with its delay removed, the
same length as the input. The compressor's state over the 110 leading samples is kept, so the
aligned output equals the recipe's to float32 rounding (tests/test_amplify_compressor.py).

The compressor is not a ratio compressor (its gain follows a running RMS with a fixed
attenuation above a threshold, independent of the audiogram) and runs a Python loop per
sample (about 0.1 s per second of audio per ear): it is a per-item backend (``batched=False``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from hltk.amplify.nalr import NalrOptions, NalrProcessor
from hltk.io.listeners import ListenerBatch
from hltk.registry import option, register

PRESETS: tuple[str, ...] = ("cec2", "cec3")
#: CEC3: the manifest columns of the middle and back microphone pairs (CH2, CH3); CH1 is ``audio``
MIC_COLUMNS: tuple[str, ...] = ("audio_ch2", "audio_ch3")
#: CEC3 ``config.yaml``: ``nalr: {nfir: 220, sample_rate: 48000}`` for every task
CEC3_NALR_NFIR = 220
CEC3_NALR_DESIGN_RATE = 48000
#: CEC3: ``Compressor(**cfg.compressor)`` gets no ``fs``: pyclarity's default
CEC3_COMPRESSOR_RATE = 44100


@dataclass(frozen=True)
class CompressorSettings:
    """pyclarity ``Compressor`` arguments; the defaults are the CEC2 recipe's."""

    threshold: float = 0.35
    attenuation: float = 0.1
    attack: float = 50.0  # ms
    release: float = 1000.0  # ms
    rms_buffer_size: float = 0.064  # s
    makeup_gain: float = 1.0


class NalrCompressorProcessor:
    """``amplify --backend nalr-compressor``: the CEC2 baseline chain, aligned.

    ``[B, C, T] -> [B, C, T]``. ``soft_clip`` applies ``tanh`` as the recipe does (default on).
    ``preset="cec3"``: the CEC3 baseline (module docstring), ``[B, 2, T]`` and the other two
    microphone pairs (``inputs``) ``-> [B, 2, T + nfir]``.
    """

    name = "nalr-compressor"
    batched = False

    def __init__(
        self,
        sample_rate: int = 44100,
        nfir: int | None = None,
        soft_clip: bool = True,
        settings: CompressorSettings | None = None,
        preset: str = "cec2",
        device: str | torch.device | None = None,
    ) -> None:
        del device  # pyclarity numpy code, on the CPU
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset = preset
        self.sample_rate = int(sample_rate)
        self.compressor_rate = self.sample_rate
        if preset == "cec3":
            # the FIR is designed at the recipe's 48 kHz and applied at the audio's own rate
            self.nalr = NalrProcessor(sample_rate=CEC3_NALR_DESIGN_RATE,
                                      nfir=CEC3_NALR_NFIR if nfir is None else nfir)
            self.compressor_rate = CEC3_COMPRESSOR_RATE
            self.input_columns = MIC_COLUMNS
            self.keeps_length = False
        else:
            self.nalr = NalrProcessor(sample_rate=sample_rate, nfir=nfir)
            self.sample_rate = self.nalr.sample_rate
        self.soft_clip = soft_clip
        self.settings = settings or CompressorSettings()
        self.warnings = self.nalr.warnings

    def describe(self) -> dict[str, object]:
        """Settings for the run record."""
        described = {**self.nalr.describe(), "soft_clip": self.soft_clip, **asdict(self.settings)}
        if self.preset == "cec3":
            described.update(
                preset="cec3", sample_rate=self.sample_rate,
                nalr_design_rate=self.nalr.sample_rate, compressor_rate=self.compressor_rate,
                microphones="(CH1 + CH2 + CH3) / 3 in float32: audio, " + ", ".join(MIC_COLUMNS),
                delay_removed_samples=0, output="full convolution: T + nfir samples")
        return described

    def process_channel(self, fir: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """One ear, numpy float64 ``(T,) -> (T,)``: the recipe's computation, aligned."""
        from clarity.enhancer.compressor import Compressor
        from clarity.enhancer.nalr import NALR

        nalr = NALR(nfir=self.nalr.nfir, sample_rate=self.nalr.sample_rate)
        compressor = Compressor(fs=self.compressor_rate, **asdict(self.settings))
        amplified = nalr.apply(fir, signal)
        compressed, _, _ = compressor.process(amplified)
        if self.soft_clip:
            compressed = np.tanh(compressed)
        if self.preset == "cec3":
            return np.asarray(compressed)  # the recipe's output: full length, delay kept
        delay = self.nalr.delay
        return np.asarray(compressed[delay : delay + signal.shape[0]])

    def average_microphones(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        lengths: torch.Tensor | None,
        inputs: Sequence[Mapping[str, torch.Tensor]],
        rows: Sequence[Mapping[str, str]],
    ) -> list[np.ndarray]:
        """CEC3: per item, ``(CH1 + CH2 + CH3) / 3`` in float32 as the recipe computes it,
        ``(2, T)``; the row's ``sample_rate`` (when given) must be the processing rate."""
        if tuple(listeners.ears) != ("left", "right") or audio.shape[1] != 2:
            raise ValueError("the CEC3 baseline processes both ears (--ear both)")
        if len(inputs) != audio.shape[0]:
            raise ValueError(f"the CEC3 baseline averages three microphone pairs: it needs the "
                             f"columns audio, {', '.join(MIC_COLUMNS)}")
        averaged = []
        for item in range(audio.shape[0]):
            row = rows[item] if rows else {}
            if row.get("sample_rate") and int(float(row["sample_rate"])) != self.sample_rate:
                raise ValueError(f"the scene's audio is {row['sample_rate']} Hz but the chain "
                                 f"runs at {self.sample_rate} Hz: give --sample-rate "
                                 f"{row['sample_rate']} (the recipe processes at the file's rate)")
            length = int(lengths[item]) if lengths is not None else audio.shape[-1]
            pairs = [audio[item, :, :length].detach().cpu().float()]
            for column in MIC_COLUMNS:
                pair = inputs[item][column].detach().cpu().float()
                if pair.shape != pairs[0].shape:
                    raise ValueError(f"{column}: shape {tuple(pair.shape)} differs from the "
                                     f"CH1 pair's {tuple(pairs[0].shape)}")
                pairs.append(pair)
            averaged.append(((pairs[0] + pairs[1] + pairs[2]) / 3).numpy())
        return averaged

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
        inputs: Sequence[Mapping[str, torch.Tensor]] = (),
        rows: Sequence[Mapping[str, str]] = (),
    ) -> torch.Tensor:
        firs = self.nalr.firs(listeners).numpy()
        if self.preset == "cec3":
            signals = self.average_microphones(audio, listeners, lengths, inputs, rows)
            outputs = [np.stack([self.process_channel(firs[item, channel],
                                                      signal[channel].astype(np.float64))
                                 for channel in range(signal.shape[0])])
                       for item, signal in enumerate(signals)]
            longest = max(output.shape[-1] for output in outputs)
            padded = np.zeros((len(outputs), audio.shape[1], longest))
            for item, output in enumerate(outputs):
                padded[item, :, : output.shape[-1]] = output
            return torch.from_numpy(padded).to(device=audio.device, dtype=audio.dtype)
        samples = audio.detach().cpu().to(torch.float64).numpy()
        output = np.zeros_like(samples)
        for item in range(samples.shape[0]):
            length = int(lengths[item]) if lengths is not None else samples.shape[-1]
            for channel in range(samples.shape[1]):
                output[item, channel, :length] = self.process_channel(
                    firs[item, channel], samples[item, channel, :length]
                )
        return torch.from_numpy(output).to(device=audio.device, dtype=audio.dtype)


@dataclass(frozen=True)
class NalrCompressorOptions(NalrOptions):
    """Options of ``amplify --backend nalr-compressor``: NAL-R's, the soft clip, the recipe
    (``preset``) and the processing rate."""

    soft_clip: bool = option(True, "tanh soft clip as in the CEC2 recipe.")
    preset: str = option("cec2", "Which Clarity baseline: cec2 (the processed ear, NAL-R at the "
                         "processing rate, output aligned) or cec3 (the three microphone pairs "
                         "audio, audio_ch2, audio_ch3 averaged, NAL-R nfir 220 designed at 48 kHz, "
                         "compressor at 44.1 kHz, full-length output as the recipe writes; "
                         "manifests from `hltk manifest cec3`).", choices=PRESETS)
    sample_rate: int = option(44100, "Processing rate (Hz): the audio is resampled to it and "
                              "back. CEC3 processes at the file's rate: 44100 for task 1, 48000 "
                              "for tasks 2 and 3.", min=16000)


register(
    "amplify",
    "nalr-compressor",
    NalrCompressorProcessor,
    "Clarity CEC2 baseline: NAL-R then pyclarity Compressor (0.35/0.1/50/1000/0.064), tanh; "
    "--preset cec3: the CEC3 baseline (three microphone pairs averaged)",
    reference=True,
    options=NalrCompressorOptions,
)
