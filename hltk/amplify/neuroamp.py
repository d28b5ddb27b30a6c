"""NeuroAMP (Ahmed et al.): one network in place of the prescription + compression chain.

The network takes the STFT magnitude of one ear's signal and that ear's audiogram and returns
the amplified spectrum; it is trained to follow ``amplify --backend nalr-wdrc``
(:mod:`hltk.amplify.wdrc`). As published: 16 kHz audio, 512-point STFT with a 32 ms Hann
window and a 16 ms hop (257 bins), the audiogram through a dense layer
(:class:`hltk.nn.audiogram.AudiogramDense`) concatenated to the spectral features of every
frame, one of four cores, a 257-unit output layer, MSE on spectra, reconstruction with the
input phase. Cores (``arch``):

- ``cnn``: 1-D convolutions over frames, channels 32/64/128/256 (ReLU);
- ``lstm``: 2 stacked LSTM layers (unidirectional, causal);
- ``crnn``: convolutions 16/32/64/128, then 2 LSTM layers;
- ``transformer``: a linear projection, a convolutional position code, 4 encoder blocks with
  16 heads (pre-norm), each frame attending to frames within 0.5 s (so that 1-2 s training
  crops teach what a whole file needs: the WDRC's memory is its 100 ms release).

Sizes (:func:`preset`): ``published`` uses the paper's widths (LSTM 256, Transformer model
width 256 with 1024-unit feed-forward: 1.1-3.2 M parameters); ``basic`` keeps each core's
shape (layer count, conv channels, 16 heads) with narrower recurrent/attention widths so that
every core has about 0.3-0.6 M parameters — what a 2-core CPU can train in minutes. The
shipped checkpoints are ``basic``.

What the output layer predicts: a **gain in dB per bin and frame** (a gain mask), not the
amplified magnitude itself. The reference is by construction a time-frequency gain on the
input spectrum (NAL-R's response plus the WDRC's level-dependent departure, input phase kept),
so a gain (a) cannot invent content that is not in the input (silence stays silent, noise is not
hallucinated), (b) is piecewise linear in the log-magnitude input the network sees (the WDRC
rule is linear in dB above its knee), and (c) spans the 0-60 dB of prescription gain instead of
the 100+ dB dynamic range of the spectrum itself. The 257 units of the output layer are the
published output layer; the loss is still MSE between output and target spectra (power-law
compressed ``|X| ** 0.3``, so quiet high-frequency bins count), as the paper's MSE on spectra.

Output stage: the network is followed by nalr-wdrc's look-ahead peak limiter (ceiling 0.95 of
digital full scale); a network cannot promise a peak bound, and without it loud peaks would be
clipped when written. The prescription and the compression are the network's alone.

Level: the WDRC's gain depends on the input level in dB SPL. Models are trained at
``level_db_spl`` = 100 (dB SPL of a digital RMS of 1, the toolkit default, with +-6 dB of level
jitter); another calibration is applied by scaling the input by the level difference before the
network and the output back after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hltk.amplify.nalr import NALR_FREQUENCIES, clamped_hearing_levels, nalr_gains_db, nalr_response_db
from hltk.amplify.wdrc import WdrcSettings, peak_limit
from hltk.dsp.stft import Stft
from hltk.io.listeners import ListenerBatch
from hltk.nn.audiogram import AudiogramDense
from hltk.nn.checkpoint import file_sha256, parameter_count
from hltk.nn.inputs import pad_short, shortest_input
from hltk.registry import option, register

SAMPLE_RATE = 16000
N_FFT = 512  # 32 ms at 16 kHz
HOP = 256  # 16 ms
ARCHS: tuple[str, ...] = ("cnn", "lstm", "crnn", "transformer")
SIZES: tuple[str, ...] = ("basic", "published")
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
#: The core ``amplify --backend neuroamp`` uses without ``--arch`` (the best on held-out data;
#: see the model cards).
DEFAULT_ARCH = "lstm"
TRAINED_LEVEL_DB_SPL = 100.0
#: the output limiter of nalr-wdrc (its default ceiling), applied after the network
LIMITER_CEILING = WdrcSettings().limiter_ceiling
#: log-magnitude floor of the input features (about -100 dB re a unit bin magnitude)
LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class NeuroAmpConfig:
    """Everything that shapes the network (stored in each checkpoint)."""

    arch: str = DEFAULT_ARCH
    conv_channels: tuple[int, ...] = ()
    kernel: int = 5
    hidden: int = 128
    layers: int = 2
    heads: int = 16
    feedforward: int = 256
    audiogram_units: int = 32
    #: Transformer: frames each frame attends to on either side (32 = 0.5 s; 0 = all)
    attention_reach: int = 32
    dropout: float = 0.0
    max_gain_db: float = 80.0
    min_gain_db: float = -60.0
    n_fft: int = N_FFT
    hop: int = HOP
    compress: float = 0.3
    sample_rate: int = SAMPLE_RATE
    size: str = "basic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        if self.arch not in ARCHS:
            raise ValueError(f"unknown NeuroAMP core {self.arch!r}; choose from {', '.join(ARCHS)}")
        if self.arch in ("cnn", "crnn") and not self.conv_channels:
            raise ValueError(f"a {self.arch} core needs conv_channels")
        if self.arch == "transformer" and self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} must be a multiple of heads {self.heads}")


def preset(arch: str, size: str = "basic") -> NeuroAmpConfig:
    """The ``basic`` (~0.5 M parameters) or ``published`` configuration of a core."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    published = size == "published"
    if arch == "cnn":
        # the published widths are already small: basic = published
        return NeuroAmpConfig(arch="cnn", conv_channels=(32, 64, 128, 256), kernel=5, size=size)
    if arch == "lstm":
        return NeuroAmpConfig(arch="lstm", hidden=256 if published else 160, layers=2, size=size)
    if arch == "crnn":
        return NeuroAmpConfig(arch="crnn", conv_channels=(16, 32, 64, 128), kernel=3,
                              hidden=256 if published else 160, layers=2, size=size)
    if arch == "transformer":
        return NeuroAmpConfig(arch="transformer", hidden=256 if published else 128, layers=4,
                              heads=16, feedforward=1024 if published else 256, size=size)
    raise ValueError(f"unknown NeuroAMP core {arch!r}; choose from {', '.join(ARCHS)}")


class ConvStack(nn.Module):
    """1-D convolutions over frames (``same`` padding, ReLU): ``[N, F, D] -> [N, F, C_last]``."""

    def __init__(self, features: int, channels: Sequence[int], kernel: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv1d(features, width, kernel, padding=kernel // 2), nn.ReLU()]
            features = width
        self.layers = nn.Sequential(*layers)
        self.out_features = features

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        return self.layers(sequence.transpose(1, 2)).transpose(1, 2)


class RecurrentStack(nn.Module):
    """Stacked unidirectional LSTM: ``[N, F, D] -> [N, F, hidden]``."""

    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True)
        self.out_features = hidden

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        return self.lstm(sequence)[0]


def band_mask(frames: int, reach: int, device: torch.device) -> torch.Tensor | None:
    """Attention mask ``[frames, frames]`` (True = not attended) that lets each frame attend to
    frames at most ``reach`` away; ``None`` when every frame is within reach."""
    if reach <= 0 or frames <= reach + 1:
        return None
    index = torch.arange(frames, device=device)
    return (index[:, None] - index[None, :]).abs() > reach


class TransformerStack(nn.Module):
    """Projection, a convolutional position code and pre-norm encoder blocks:
    ``[N, F, D] -> [N, F, hidden]``.

    Positions enter through a depthwise convolution over frames added to the projection (as in
    wav2vec 2.0) and attention reaches ``reach`` frames either side (0: the whole signal), so
    the model behaves alike on signals of any length, longer than its training crops included.
    """

    def __init__(self, features: int, hidden: int, layers: int, heads: int, feedforward: int,
                 dropout: float, reach: int, position_kernel: int = 15) -> None:
        super().__init__()
        self.project = nn.Linear(features, hidden)
        self.position = nn.Conv1d(hidden, hidden, position_kernel, padding=position_kernel // 2,
                                  groups=hidden)
        block = nn.TransformerEncoderLayer(hidden, heads, feedforward, dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.reach = reach
        self.out_features = hidden

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        projected = self.project(sequence)
        projected = projected + self.position(projected.transpose(1, 2)).transpose(1, 2)
        mask = band_mask(projected.shape[1], self.reach, projected.device)
        return self.norm(self.encoder(projected, mask=mask))


class NeuroAmpNet(nn.Module):
    """``waveform [N, T]`` (16 kHz, one ear each) and ``hearing_levels [N, 8]`` (dB HL on the
    Clarity grid) -> amplified waveform ``[N, T]``."""

    def __init__(self, config: NeuroAmpConfig) -> None:
        super().__init__()
        self.config = config
        self.stft = Stft(config.n_fft, config.hop, config.compress)
        bins = self.stft.bins
        self.audiogram = AudiogramDense(config.audiogram_units)
        features = bins + config.audiogram_units
        core: nn.Module
        if config.arch == "cnn":
            core = ConvStack(features, config.conv_channels, config.kernel)
        elif config.arch == "lstm":
            core = RecurrentStack(features, config.hidden, config.layers)
        elif config.arch == "crnn":
            convs = ConvStack(features, config.conv_channels, config.kernel)
            core = nn.Sequential(convs, RecurrentStack(convs.out_features, config.hidden, config.layers))
        else:
            core = TransformerStack(features, config.hidden, config.layers, config.heads,
                                    config.feedforward, config.dropout, config.attention_reach)
        self.core = core
        width = config.hidden if config.arch in ("lstm", "crnn", "transformer") else config.conv_channels[-1]
        self.output = nn.Linear(width, bins)  # the 257-unit output layer: gain (dB / 10) per bin
        nn.init.zeros_(self.output.bias)
        nn.init.normal_(self.output.weight, std=1e-3)

    def gains_db(self, magnitude: torch.Tensor, hearing_levels: torch.Tensor) -> torch.Tensor:
        """Linear magnitudes ``[N, F, bins]`` and hearing levels ``[N, 8]`` -> gains in dB
        ``[N, F, bins]``."""
        features = torch.log10(magnitude + LOG_FLOOR)  # dB / 20
        audiogram = self.audiogram(hearing_levels)[:, None, :].expand(-1, features.shape[1], -1)
        hidden = self.core(torch.cat([features, audiogram], dim=-1))
        gains = 10.0 * self.output(hidden)
        return gains.clamp(self.config.min_gain_db, self.config.max_gain_db)

    def spectra(self, waveform: torch.Tensor, hearing_levels: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compressed output magnitude ``|Y| ** c`` and the input phase, ``[N, F, bins]`` each."""
        compressed, phase, spectrum = self.stft.analyse(waveform)
        gains = self.gains_db(spectrum.abs(), hearing_levels)
        return compressed * 10.0 ** (self.config.compress * gains / 20.0), phase

    def synthesise(self, spectrum: torch.Tensor, gains_db: torch.Tensor, length: int) -> torch.Tensor:
        """The complex input spectrum ``[N, F, bins]`` times the gains (input phase), inverse
        STFT to ``[N, length]``."""
        amplified = spectrum * 10.0 ** (gains_db / 20.0)
        return torch.istft(amplified.transpose(1, 2), self.config.n_fft, self.config.hop,
                           window=self.stft.window.to(spectrum.real.dtype), center=True,
                           length=length)

    def forward(self, waveform: torch.Tensor, hearing_levels: torch.Tensor,
                gain_floor_db: torch.Tensor | None = None) -> torch.Tensor:
        """The input's complex spectrum times the gain (input phase), inverse STFT.

        ``gain_floor_db`` ``[N, bins]``: a lower bound on each ear's gain per bin (dB), applied
        after the network (``None``: the network's gains as they are)."""
        spectrum = self.stft.complex(waveform)
        gains = self.gains_db(spectrum.abs(), hearing_levels)
        if gain_floor_db is not None:
            gains = torch.maximum(gains, gain_floor_db[:, None, :].to(gains.dtype))
        return self.synthesise(spectrum, gains, waveform.shape[-1])


def default_checkpoint(arch: str = DEFAULT_ARCH) -> Path:
    return CHECKPOINT_DIR / f"neuroamp_{arch}.pt"


def load_model(checkpoint: str | Path, model_kind: str = "neuroamp",
               device: str | torch.device = "cpu") -> NeuroAmpNet:
    """A NeuroAMP network from an hltk checkpoint (``hltk train neuroamp``); float16-stored
    weights are read back as float32."""
    from hltk.nn.checkpoint import load_checkpoint

    content = load_checkpoint(checkpoint, expect_model=model_kind)
    model = NeuroAmpNet(NeuroAmpConfig(**content["config"]))
    model.load_state_dict({k: v.float() for k, v in content["state_dict"].items()})
    return model.to(device).eval()


@dataclass
class NeuroAmpRunner:
    """Runs a :class:`NeuroAmpNet` on a ``[B, C, T]`` batch, each ear with its audiogram, then
    the same look-ahead peak limiter as nalr-wdrc (:func:`hltk.amplify.wdrc.peak_limit`,
    ceiling 0.95): a network cannot promise a peak bound, a hearing aid's output stage must.

    Items are grouped by their true length and each group runs as one batch of ears cut to that
    length, so an item's output does not depend on the other items of the batch (the STFT
    pads each signal at its own ends; the Transformer attends over the item only). An item
    of half an STFT window or less is zero-padded at its end to
    :func:`hltk.nn.inputs.shortest_input` samples and its output cut back: the same length,
    time-aligned, as if silence followed the item."""

    model: NeuroAmpNet
    device: torch.device | None = None
    max_batch: int = 64
    level_reference_db_spl: float = TRAINED_LEVEL_DB_SPL
    #: output peak limiter ceiling (digital peak; None: no limiter), blocks of ``limiter_ms``
    limiter_ceiling: float | None = LIMITER_CEILING
    limiter_ms: float = 5.0
    #: the most any bin is attenuated below NAL-R's linear gain for the ear (dB; ``None``: no
    #: bound): the network's gain per bin is floored at NAL-R's response there minus this
    max_attenuation_db: float | None = None

    def gain_floors(self, listeners: ListenerBatch, device: torch.device) -> torch.Tensor | None:
        """Per-ear gain floors ``[B, C, bins]`` (dB) from :attr:`max_attenuation_db`: NAL-R's
        prescribed response at each STFT bin (the formula of ``amplify --backend nalr``, hearing
        levels clamped to the prescription range) minus the allowed attenuation."""
        if self.max_attenuation_db is None:
            return None
        config = self.model.config
        levels = clamped_hearing_levels(listeners, NALR_FREQUENCIES, device=device)
        frequencies = torch.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate, device=device)
        response = nalr_response_db(nalr_gains_db(levels), frequencies, config.sample_rate)
        return (response - self.max_attenuation_db).float()

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, *,
                 lengths: torch.Tensor | None = None,
                 level_db_spl: torch.Tensor | float | None = None) -> torch.Tensor:
        device = self.device or audio.device
        batch, channels, length = audio.shape
        model = self.model.to(device)
        signal = audio.to(device=device, dtype=torch.float32)
        hearing_levels = listeners.audiograms(device=device).float()  # [B, C, 8]
        floors = self.gain_floors(listeners, device)  # [B, C, bins] or None
        if level_db_spl is None:
            levels = torch.full((batch,), self.level_reference_db_spl, device=device)
        else:
            levels = torch.as_tensor(level_db_spl, dtype=torch.float32, device=device).reshape(-1)
            levels = levels.expand(batch) if levels.numel() == 1 else levels
        scale = 10.0 ** ((levels - self.level_reference_db_spl) / 20.0)  # [B]
        item_lengths = [length] * batch if lengths is None else [min(length, int(v)) for v in lengths]
        output = torch.zeros(batch, channels, length, device=device)
        for group_length in sorted(set(item_lengths)):
            if group_length == 0:
                continue
            items = [i for i, n in enumerate(item_lengths) if n == group_length]
            index = torch.tensor(items, device=device)
            ears = (signal[index, :, :group_length] * scale[index, None, None]).reshape(-1, group_length)
            ears = pad_short(ears, shortest_input(model.stft))
            ear_levels = hearing_levels[index].reshape(-1, hearing_levels.shape[-1])
            ear_floors = None if floors is None else floors[index].reshape(-1, floors.shape[-1])
            pieces = [model(ears[first : first + self.max_batch], ear_levels[first : first + self.max_batch],
                            None if ear_floors is None else ear_floors[first : first + self.max_batch])
                      for first in range(0, ears.shape[0], self.max_batch)]
            amplified = torch.cat(pieces)[:, :group_length].reshape(len(items), channels, group_length)
            amplified = amplified / scale[index, None, None]
            if self.limiter_ceiling is not None:
                block = max(1, round(self.limiter_ms * 1e-3 * model.config.sample_rate))
                amplified = peak_limit(amplified.reshape(-1, group_length), self.limiter_ceiling,
                                       block).reshape(amplified.shape)
            output[index, :, :group_length] = amplified
        return output.to(audio.dtype)


class NeuroAmpProcessor:
    """``amplify --backend neuroamp``: NeuroAMP, each ear with its audiogram, 16 kHz.

    Args:
        arch: which shipped core (``hltk/checkpoints/neuroamp_<arch>.pt``) when no
            ``checkpoint`` is given; default :data:`DEFAULT_ARCH`.
        checkpoint: an hltk NeuroAMP checkpoint (``hltk train neuroamp``).
        device: ``None`` follows the input's device.
        max_batch: most ear-signals per forward pass.
    """

    name = "neuroamp"
    sample_rate = SAMPLE_RATE
    batched = True
    model_kind = "neuroamp"
    train_command = "hltk train neuroamp"

    def __init__(self, arch: str | None = None, checkpoint: str | Path | None = None,
                 device: str | torch.device | None = None, max_batch: int = 64) -> None:
        path = Path(checkpoint) if checkpoint else self.default_checkpoint(arch)
        if not path.is_file():
            raise FileNotFoundError(f"no {self.model_kind} checkpoint at {path}; train one with "
                                    f"`{self.train_command}` or pass --checkpoint")
        self.checkpoint = path
        self.device = torch.device(device) if device is not None else None
        self.model = load_model(path, self.model_kind, self.device or "cpu")
        if arch is not None and self.model.config.arch != arch:
            raise ValueError(f"{path} holds a {self.model.config.arch} core, not {arch}")
        self.runner = NeuroAmpRunner(self.model, self.device, max_batch)

    def default_checkpoint(self, arch: str | None) -> Path:
        if arch is not None and arch not in ARCHS:
            raise ValueError(f"unknown NeuroAMP core {arch!r}; choose from {', '.join(ARCHS)}")
        return default_checkpoint(arch or DEFAULT_ARCH)

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "checkpoint_sha256": file_sha256(self.checkpoint),
                "config": asdict(self.model.config), "parameters": parameter_count(self.model)}

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, *,
                 lengths: torch.Tensor | None = None,
                 level_db_spl: torch.Tensor | float | None = None,
                 seeds: list[int] | None = None) -> torch.Tensor:
        """``audio [B, C, T]`` at 16 kHz (channel ``c`` is ear ``listeners.ears[c]``) ->
        ``[B, C, T]``, time-aligned (zero delay: input phase, centred frames)."""
        del seeds
        with torch.inference_mode():
            return self.runner(audio, listeners, lengths=lengths, level_db_spl=level_db_spl)


@dataclass(frozen=True)
class NeuroAmpOptions:
    """Options of ``amplify --backend neuroamp``."""

    arch: str | None = option(
        None, f"NeuroAMP core (default {DEFAULT_ARCH}: the best measured, see "
        "hltk/checkpoints/neuroamp_*.md).", choices=ARCHS)
    checkpoint: Path | None = option(None, "A trained checkpoint instead of the shipped one.")


register(
    "amplify",
    "neuroamp",
    NeuroAmpProcessor,
    "NeuroAMP: one network (spectrum + audiogram -> gain) trained to follow nalr-wdrc; "
    "--arch transformer|lstm|crnn|cnn (shipped checkpoints)",
    options=NeuroAmpOptions,
)
