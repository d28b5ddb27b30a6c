"""Neuro-MSBG (Yuan et al. 2025): a neural emulator of MSBG conditioned on the audiogram.

The model works on mono 16 kHz audio (the runner resamples in and out; MSBG itself works at
44.1 kHz, and the metrics it is judged by, STOI and wide-band PESQ, look no higher than 8 kHz).
It declares ``resampler = "fft"`` (:mod:`hltk.processor`): the runner resamples with
:func:`hltk.io.audio.fft_resample`, which over a batch costs a fraction of soxr VHQ and differs
from it by about -60 dB, far below the emulator's own error against MSBG
(``recipes/neuro_msbg/resampler_fidelity.py``); from 16 kHz corpora nothing is resampled.
STFT: 512-point Hann window (32 ms), hop :data:`HOP` samples (16 ms), 257 bins, magnitude
compressed as ``|X| ** 0.3``. Per ear:

1. inputs stacked as three channels ``[3, frames, bins]``: compressed magnitude, phase, and the
   audiogram encoded to one value per bin (:class:`hltk.nn.audiogram.AudiogramToBins`);
2. dense encoder narrowing the bins by ``stride`` (:class:`hltk.nn.heads.DenseEncoder`);
3. ``blocks`` dual-path blocks (time, then frequency) of kind ``lstm | transformer | cnn |
   mamba`` (:mod:`hltk.nn.sequence`);
4. magnitude-mask decoder (learnable sigmoid, beta 2) and phase decoder (atan2);
5. inverse STFT.

Phase modes: ``absolute`` (the paper: the decoder's atan2 is the output phase), ``residual``
(hltk's default: the decoder's atan2 is added to the input phase; the targets are
delay-compensated, so MSBG's output phase is the input's plus a slowly varying per-bin
rotation) and ``none`` (magnitude only, the input phase is kept: the paper's ablation).

``identity_phase`` (new models; ``recipes/neuro_msbg/phase_diagnosis.py``): the phase head's
last layer starts at zero weights and the bias ``(1, 0)``, so ``atan2`` starts at exactly 0
and an untrained ``residual`` model passes the input phase through. Without it (the first
shipped checkpoint) the atan2 of two small random outputs is a random rotation of every bin
(mean ``|offset|`` 1.79 rad), which the model must first unlearn.

``audiogram_encoder`` False (the ablation "without the audiogram encoder"): the third input
channel is the hearing levels / 100 interpolated linearly over log frequency onto the bins,
with no learnt layer.

Checkpoints (``hltk/checkpoints/neuro_msbg_<block>.pt``) hold the model config, the weights
and the training record; ``hltk train neuro-msbg`` makes them.

Inference (the backend, whenever no gradient is asked for) runs :meth:`NeuroMsbgNet.infer`:
the same weights and the same output to rounding as :meth:`NeuroMsbgNet.forward` (within
1e-5 absolute on speech at real scale, ``tests/test_neuro_msbg_fused.py``; about 2e-7
measured) in fewer passes over memory (:mod:`hltk.nn.fused`), and on a CPU with several torch
threads the backend's passes (:attr:`NeuroMsbg.cpu_frames`) run side by side, one per thread,
each single-threaded (:func:`hltk.nn.fused.passes_in_threads`; the same bits as on one
thread). Training, and a backend call on audio that requires gradients, run the modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hltk.dsp.stft import Stft
from hltk.io.listeners import ListenerBatch
from hltk.nn import fused
from hltk.nn.audiogram import AudiogramInterpolated, AudiogramToBins
from hltk.nn.checkpoint import file_sha256
from hltk.nn.heads import DenseEncoder, MaskDecoder, PhaseDecoder, reduced_bins, widen
from hltk.nn.inputs import pad_short, shortest_input
from hltk.nn.sequence import BLOCKS, ConvLayer, DualPathBlock
from hltk.registry import option, register

SAMPLE_RATE = 16000
HOP = 256
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_BLOCK = "cnn"
PHASE_MODES: tuple[str, ...] = ("residual", "absolute", "none")
#: The MSBG calibration the model was trained at (dB SPL of a digital RMS of 1).
TRAINED_LEVEL_DB_SPL = 100.0


@dataclass(frozen=True)
class NeuroMsbgConfig:
    """Everything that shapes the network (stored in each checkpoint). The defaults are the
    shipped CPU model: small (28 k parameters), the bins narrowed 8x before the dual-path
    blocks, 16 ms hop, because the CPU speed goal is 40x msbg."""

    block: str = DEFAULT_BLOCK
    channels: int = 12
    hidden: int = 24
    blocks: int = 2
    dense_depth: int = 1
    stride: int = 8
    n_fft: int = 512
    hop: int = HOP
    compress: float = 0.3
    audiogram_channels: int = 16
    phase: str = "residual"
    sample_rate: int = SAMPLE_RATE
    #: start the phase head at atan2 = 0 (see the module docstring); False in old checkpoints
    identity_phase: bool = False
    #: the learnt audiogram encoder (False: the levels interpolated onto the bins)
    audiogram_encoder: bool = True

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"unknown block {self.block!r}; choose from {', '.join(BLOCKS)}")
        if self.phase not in PHASE_MODES:
            raise ValueError(f"unknown phase mode {self.phase!r}; choose from {PHASE_MODES}")
        if (self.n_fft // 2) % self.stride:
            raise ValueError(f"stride {self.stride} must divide n_fft / 2 = {self.n_fft // 2}")


class NeuroMsbgNet(nn.Module):
    """``waveform [N, T]`` (16 kHz) and ``hearing_levels [N, 8]`` (dB HL on the Clarity grid)
    -> simulated waveform ``[N, T]``."""

    def __init__(self, config: NeuroMsbgConfig) -> None:
        super().__init__()
        self.config = config
        self.stft = Stft(config.n_fft, config.hop, config.compress)
        bins = self.stft.bins
        self.audiogram: nn.Module = (AudiogramToBins(bins, config.audiogram_channels)
                                     if config.audiogram_encoder
                                     else AudiogramInterpolated(bins, config.sample_rate))
        self.encoder = DenseEncoder(3, config.channels, config.dense_depth, config.stride)
        self.blocks = nn.Sequential(*[
            DualPathBlock(config.block, config.channels, config.hidden) for _ in range(config.blocks)
        ])
        self.mask = MaskDecoder(config.channels, config.dense_depth, config.stride, bins)
        self.phase = (PhaseDecoder(config.channels, config.dense_depth, config.stride)
                      if config.phase != "none" else None)
        if self.phase is not None and config.identity_phase:
            with torch.no_grad():
                self.phase.widen.weight.zero_()
                assert self.phase.widen.bias is not None
                self.phase.widen.bias.copy_(torch.tensor([1.0, 0.0]))
        self.narrow_bins = reduced_bins(bins, config.stride)

    def spectra(self, waveform: torch.Tensor, hearing_levels: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compressed magnitude and phase of the output, ``[N, frames, bins]`` each."""
        magnitude, phase, _ = self.stft.analyse(waveform)
        frames = magnitude.shape[1]
        audiogram = self.audiogram(hearing_levels)[:, None, :].expand(-1, frames, -1)
        stacked = torch.stack([magnitude, phase, audiogram], dim=1)
        # channels-last: the convolutions and the channel-wise layers are several times
        # faster on a CPU with [N, frames, bins, C] in memory (same values)
        features = self.encoder(stacked.contiguous(memory_format=torch.channels_last))
        features = self.blocks(features)
        magnitude_out = magnitude * self.mask(features)
        if self.phase is None:
            return magnitude_out, phase
        real, imaginary = self.phase(features)
        phase_out = torch.atan2(imaginary, real + 0.0)
        if self.config.phase == "residual":
            phase_out = phase + phase_out
        return magnitude_out, phase_out

    def forward(self, waveform: torch.Tensor, hearing_levels: torch.Tensor) -> torch.Tensor:
        magnitude, phase = self.spectra(waveform, hearing_levels)
        return self.stft.synthesise(magnitude, phase, waveform.shape[-1])

    def infer(self, waveform: torch.Tensor, hearing_levels: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without gradients, in fewer passes over memory: the same weights and
        the same output to rounding (``tests/test_neuro_msbg_fused.py`` holds the bound), for
        inference only (the backend uses it whenever no gradient is asked for; training and
        :meth:`spectra` keep the modules). What it does differently (:mod:`hltk.nn.fused`):

        - the three input channels are written once into channels-last memory
          (``[N, frames, bins, 3]``) instead of stacked and then copied to channels-last;
          the compressed magnitude is ``(re^2 + im^2 + eps) ** (c / 2)`` in one power
          instead of a square root and a power;
        - instance norms (with their PReLU) over rows of the channels-last memory, and the
          ``cnn`` sequence layers with their layer norms and pointwise convolutions as
          matrix products (:func:`hltk.nn.fused.conv_layer_grid`); other blocks run their
          modules;
        - the inverse STFT by :class:`hltk.nn.fused.HalfOverlapIstft` when the hop is half the
          window (the shipped models): the same bits as ``torch.istft``.
        """
        if waveform.requires_grad and torch.is_grad_enabled():
            raise RuntimeError("NeuroMsbgNet.infer keeps no gradients: use forward to train "
                               "through it")
        with torch.no_grad():
            return self._infer(waveform, hearing_levels)

    def _infer(self, waveform: torch.Tensor, hearing_levels: torch.Tensor) -> torch.Tensor:
        stft = self.stft
        spectrum = stft.complex(waveform)  # [N, frames, bins]
        real, imaginary = spectrum.real, spectrum.imag
        # Stft.analyse's sqrt(re^2 + im^2 + eps) ** c, the root folded into the power
        magnitude = (real * real + imaginary * imaginary + 1e-9).pow_(stft.compress / 2)
        phase = torch.atan2(imaginary + 0.0, real + 0.0)
        batch, frames, bins = magnitude.shape
        audiogram = self.audiogram(hearing_levels)[:, None, :].expand(-1, frames, -1)
        # [N, frames, bins, 3]: the channels-last memory of [N, 3, frames, bins]
        features = torch.stack([magnitude, phase, audiogram], dim=-1).permute(0, 3, 1, 2)
        features = fused.conv_norm_prelu(self.encoder.narrow, features)
        features = fused.dense_block(self.encoder.dense, features)
        for block in self.blocks:
            if isinstance(block.time, ConvLayer) and isinstance(block.frequency, ConvLayer):
                features = fused.conv_layer_grid(block.time, features, 2)
                features = fused.conv_layer_grid(block.frequency, features, 3)
            else:
                features = block(features)
        mask = self.mask.sigmoid(widen(self.mask.widen, fused.dense_block(self.mask.dense,
                                                                          features))[:, 0])
        magnitude_out = magnitude * mask
        if self.phase is None:
            phase_out = phase
        else:
            widened = widen(self.phase.widen, fused.dense_block(self.phase.dense, features))
            phase_out = torch.atan2(widened[:, 1], widened[:, 0] + 0.0)
            if self.config.phase == "residual":
                phase_out = phase + phase_out
        linear = magnitude_out.clamp_min(0.0) ** (1.0 / stft.compress)
        # as Stft.synthesise (torch.polar is slower on a CPU)
        output = torch.complex(linear * torch.cos(phase_out), linear * torch.sin(phase_out))
        if 2 * stft.hop == stft.n_fft:
            return self._istft(output, waveform.shape[-1])
        return torch.istft(output.transpose(1, 2), stft.n_fft, stft.hop,
                           window=stft.window.to(linear.dtype), center=True,
                           length=waveform.shape[-1])

    def _istft(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        """:class:`hltk.nn.fused.HalfOverlapIstft` on this model's window (made on first use
        and kept with its envelopes; made anew when the window has moved to another device)."""
        istft: fused.HalfOverlapIstft | None = self.__dict__.get("_half_overlap_istft")
        if istft is None or istft.window is not self.stft.window:
            istft = fused.HalfOverlapIstft(self.stft.window)
            self.__dict__["_half_overlap_istft"] = istft
        return istft(spectrum, length)


def default_checkpoint(block: str = DEFAULT_BLOCK) -> Path:
    return CHECKPOINT_DIR / f"neuro_msbg_{block}.pt"


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> NeuroMsbgNet:
    """A Neuro-MSBG network from an hltk checkpoint (``hltk train neuro-msbg``)."""
    from hltk.nn.checkpoint import load_checkpoint

    content = load_checkpoint(checkpoint, expect_model="neuro-msbg")
    model = NeuroMsbgNet(NeuroMsbgConfig(**content["config"]))
    model.load_state_dict(content["state_dict"])
    return model.to(device).eval()


class NeuroMsbg:
    """The ``neuro-msbg`` simulate backend: each ear through the network with its audiogram.

    Args:
        checkpoint: an hltk Neuro-MSBG checkpoint; default the shipped
            ``hltk/checkpoints/neuro_msbg_<block>.pt``.
        block: which shipped checkpoint to use when ``checkpoint`` is not given.
        device: ``None`` follows the input's device.
        max_batch: most ear-signals per forward pass.
        cpu_frames: on a CPU, at most about this many STFT frames per forward pass (ear-signals
            x frames): the network is memory-bound there, and passes whose activations fit in
            the cache run about twice as fast as one pass over a whole batch
            (``bench/neuro_msbg_speed.py``); on a GPU the batch is ``max_batch``.
        fused: without gradients, run :meth:`NeuroMsbgNet.infer` and, on a CPU with several
            torch threads, the passes side by side on single-threaded workers
            (:func:`hltk.nn.fused.passes_in_threads`); False runs the modules one pass after
            another on torch's threads, as before (the reference the fused path is held to;
            the benchmark times both).
    """

    name = "neuro-msbg"
    sample_rate = SAMPLE_RATE
    batched = True
    #: the runner's resampler in and out (see the module docstring)
    resampler = "fft"

    def __init__(self, checkpoint: str | Path | None = None, block: str | None = None,
                 device: str | torch.device | None = None, max_batch: int = 64,
                 cpu_frames: int = 2048, fused: bool = True) -> None:
        path = Path(checkpoint) if checkpoint else default_checkpoint(block or DEFAULT_BLOCK)
        if not path.is_file():
            raise FileNotFoundError(
                f"no Neuro-MSBG checkpoint at {path}; train one with `hltk train neuro-msbg` "
                "or pass --checkpoint")
        self.checkpoint = path
        self.device = torch.device(device) if device is not None else None
        self.model = load_model(path, self.device or "cpu")
        if block is not None and self.model.config.block != block:
            raise ValueError(f"{path} holds a {self.model.config.block} model, not {block}")
        self.max_batch = max_batch
        self.cpu_frames = cpu_frames
        self.fused = fused

    def pass_size(self, device: torch.device, length: int) -> int:
        """Ear-signals per forward pass for signals of ``length`` samples on ``device``."""
        if device.type != "cpu":
            return self.max_batch
        frames = length // self.model.config.hop + 1
        return max(1, min(self.max_batch, self.cpu_frames // frames))

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "checkpoint_sha256": file_sha256(self.checkpoint),
                "config": asdict(self.model.config)}

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        """``audio [B, C, T]`` at 16 kHz (channel ``c`` is ear ``listeners.ears[c]``) ->
        ``[B, C, T]``, time-aligned with the input.

        A level other than the trained 100 dB SPL per digital unit is applied by scaling the
        input by the level difference and the output back (MSBG's level dependence enters
        through the input level the network sees). Gradients are kept only when ``audio``
        requires them (training a compensator through the simulator). A batch shorter than
        half an STFT window (:func:`hltk.nn.inputs.shortest_input`) is zero-padded at
        its end to that length and the output cut back to ``T``.

        ``lengths`` (each item's true length in a zero-padded batch): items of different
        lengths run as sub-batches at their own lengths, zeros past each length. The network's
        instance norms take their statistics over the whole signal, padding included, so a
        padded item would come out differently from the same item alone (by up to 1e-2);
        this keeps batched results equal to item-by-item ones (to rounding)."""
        del seeds
        if lengths is not None:
            sizes = [int(size) for size in torch.as_tensor(lengths).reshape(-1).tolist()]
            if any(size != audio.shape[-1] for size in sizes):
                return self._by_length(audio, listeners, sizes, level_db_spl)
        device = self.device or audio.device
        batch, channels, length = audio.shape
        model = self.model.to(device)
        signal = audio.to(device=device, dtype=torch.float32).reshape(batch * channels, length)
        hearing_levels = listeners.audiograms(device=device).reshape(batch * channels, -1)
        scale = torch.ones(batch * channels, 1, device=device)
        if level_db_spl is not None:
            levels = torch.as_tensor(level_db_spl, dtype=torch.float32, device=device).reshape(batch)
            scale = (10.0 ** ((levels - TRAINED_LEVEL_DB_SPL) / 20.0)).repeat_interleave(channels)[:, None]
        signal = pad_short(signal, shortest_input(model.stft))  # see the docstring
        step = self.pass_size(torch.device(device), signal.shape[-1])
        parts = [slice(first, first + step) for first in range(0, batch * channels, step)]
        grad = torch.is_grad_enabled() and audio.requires_grad
        if grad or not self.fused:  # the modules (gradients kept when asked for)
            with torch.set_grad_enabled(grad):
                pieces = [model(signal[part] * scale[part], hearing_levels[part]) / scale[part]
                          for part in parts]
        else:
            def run(part: slice) -> torch.Tensor:
                return model.infer(signal[part] * scale[part], hearing_levels[part]) / scale[part]

            threads = torch.get_num_threads() if torch.device(device).type == "cpu" else 1
            pieces = fused.passes_in_threads(run, parts, threads)
        return torch.cat(pieces)[:, :length].reshape(batch, channels, length).to(audio.dtype)

    def _by_length(self, audio: torch.Tensor, listeners: ListenerBatch, sizes: list[int],
                   level_db_spl: torch.Tensor | None) -> torch.Tensor:
        """Each group of items of one length through :meth:`__call__` at that length.

        Fused, on a CPU without gradients, the groups run side by side on single-threaded
        workers (:func:`hltk.nn.fused.passes_in_threads`; inside a worker each group's passes
        run in turn): a corpus of many lengths gives many groups of one or two passes, which
        the side-by-side passes of one group would not spread over the threads."""
        output = torch.zeros_like(audio)
        levels = (None if level_db_spl is None
                  else torch.as_tensor(level_db_spl).reshape(audio.shape[0]))
        groups = [[index for index, item_size in enumerate(sizes) if item_size == size]
                  for size in sorted(set(sizes))]

        def run(items: list[int]) -> torch.Tensor:
            return self(audio[items, :, :sizes[items[0]]], listeners.select(items),
                        level_db_spl=None if levels is None else levels[items])

        device = self.device or audio.device
        if (self.fused and torch.device(device).type == "cpu"
                and not (torch.is_grad_enabled() and audio.requires_grad)):
            results = fused.passes_in_threads(run, groups, torch.get_num_threads())
        else:
            results = [run(items) for items in groups]
        for items, result in zip(groups, results, strict=True):
            output[items, :, :sizes[items[0]]] = result
        return output


@dataclass(frozen=True)
class NeuroMsbgOptions:
    """Options of ``simulate --backend neuro-msbg``."""

    checkpoint: Path | None = option(
        None, "An hltk Neuro-MSBG checkpoint (default: the shipped one).")
    block: str | None = option(
        None, f"Which shipped checkpoint, by dual-path block (default {DEFAULT_BLOCK}).",
        choices=BLOCKS)


register(
    "simulate",
    "neuro-msbg",
    NeuroMsbg,
    "Neuro-MSBG: neural MSBG emulator conditioned on the audiogram (shipped checkpoint)",
    options=NeuroMsbgOptions,
)
