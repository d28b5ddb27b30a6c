"""Hybrid Demucs (Défossez 2021), written for hltk so that the Cadenza baseline's separator
runs from a local weights file on a CPU-only machine (torchaudio does not import there).

Défossez, "Hybrid Spectrogram and Waveform Source Separation", ISMIR 2021 MDX workshop
(arXiv:2111.03600). Two U-Nets share a bottleneck:

- a *spectral* branch on the complex STFT (``nfft`` 4096, hop ``nfft / 4``; real and
  imaginary parts as channels, the Nyquist bin dropped) whose encoder convolves along the
  frequency axis (kernel ``(8, 1)``, stride ``(4, 1)``) until one frequency row is left, then
  along time;
- a *waveform* branch (kernel 8, stride 4) whose last layer lands on the spectral branch's
  frame rate, where the two are summed ("injected"); the decoders split again at that layer.

Each encoder layer is conv -> [GroupNorm] -> GELU -> a residual branch of dilated convolutions
(with a bidirectional LSTM and a local attention from layer ``dconv_lstm`` / ``dconv_attn``
on) -> 1x1 conv -> [GroupNorm] -> GLU. Decoder layers add the skip, 3-tap conv -> GLU, then a
transposed conv. The spectral output is a complex spectrogram per source (no masking), the
waveform output a signal per source; the model returns their sum, ``[B, C, T] ->
[B, S, C, T]``. Both branches standardise their input (mean and std over everything but the
batch) and undo it at the output.

Parameter names follow torchaudio's ``HDemucs`` so a state dict saved from
``torchaudio.pipelines.HDEMUCS_HIGH_MUSDB`` (``hdemucs_high_musdbhq_only.pt``) loads with
``strict=True``: ``freq_encoder.{i}``, ``time_encoder.{i}``, ``freq_decoder.{i}`` (deepest
first), ``time_decoder.{i}``, ``freq_emb.embedding``; inside a layer ``conv``/``conv_tr``,
``norm1``, ``rewrite``, ``norm2``, ``dconv.layers.{d}.{k}`` (the residual branch as a
sequence: conv, norm, GELU, [BiLSTM], [attention], conv, norm, GLU, layer scale). The key
list of :data:`HDEMUCS_HIGH` is in ``tests/data/hdemucs_high_keys.json``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: The download location of the Cadenza baseline's weights (torchaudio's HDEMUCS_HIGH_MUSDB).
WEIGHTS_URL = "https://download.pytorch.org/torchaudio/models/hdemucs_high_musdbhq_only.pt"
WEIGHTS_FILE = "hdemucs_high_musdbhq_only.pt"


class CheckpointError(ValueError):
    """A weights file that cannot be read or does not fit the model configuration."""


@dataclass(frozen=True)
class HDemucsConfig:
    """Hyper-parameters of a Hybrid Demucs model (defaults: ``hdemucs_high``).

    ``sources`` order is the order of the model's output (the Cadenza weights: drums, bass,
    other, vocals). ``norm_starts``, ``dconv_lstm`` and ``dconv_attn`` are layer indices from
    which GroupNorm, the BiLSTM and the local attention are used.
    """

    sources: tuple[str, ...] = ("drums", "bass", "other", "vocals")
    audio_channels: int = 2
    channels: int = 48
    growth: int = 2
    nfft: int = 4096
    depth: int = 6
    freq_emb: float = 0.2
    emb_scale: float = 10.0
    emb_smooth: bool = True
    kernel_size: int = 8
    time_stride: int = 2
    stride: int = 4
    context: int = 1
    context_enc: int = 0
    norm_starts: int = 4
    norm_groups: int = 4
    dconv_depth: int = 2
    dconv_comp: int = 4
    dconv_attn: int = 4
    dconv_lstm: int = 4
    dconv_init: float = 1e-4
    sample_rate: int = 44100

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: ``hdemucs_high``: the configuration of the Cadenza ICASSP 2024 baseline weights (44.1 kHz).
HDEMUCS_HIGH = HDemucsConfig()


# ------------------------------------------------------------------------------ small blocks


class ScaledEmbedding(nn.Module):
    """Frequency-position embedding stored divided by ``scale`` and multiplied back on use
    (a larger effective learning rate); ``smooth`` starts it as a normalised random walk
    along the frequency axis. ``[n] -> [n, dim]``."""

    def __init__(self, positions: int, dim: int, scale: float = 10.0, smooth: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(positions, dim)
        self.scale = scale
        with torch.no_grad():
            table = self.embedding.weight
            if smooth:
                walk = table.cumsum(dim=0) / torch.arange(1, positions + 1).sqrt().unsqueeze(1)
                table.copy_(walk)
            table.div_(scale)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return self.embedding(positions) * self.scale


class LayerScale(nn.Module):
    """Per-channel learnt scale of a residual branch (Touvron et al. 2021, CaiT), started
    small. ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        return signal * self.scale.unsqueeze(-1)


class ChunkedBiLSTM(nn.Module):
    """Two-layer bidirectional LSTM + linear back to ``dim`` channels, plus the input.

    Sequences longer than ``max_steps`` frames are cut into windows of ``max_steps`` with
    hop ``max_steps / 2``; each output frame is taken from the window where it is most
    central (the first window also gives the first quarter, the last one the last quarter).
    ``[B, C, T] -> [B, C, T]``.
    """

    def __init__(self, dim: int, layers: int = 2, max_steps: int = 200) -> None:
        super().__init__()
        self.max_steps = max_steps
        self.lstm = nn.LSTM(input_size=dim, hidden_size=dim, num_layers=layers,
                            bidirectional=True, batch_first=True)
        self.linear = nn.Linear(2 * dim, dim)

    def _run(self, sequences: torch.Tensor) -> torch.Tensor:
        """``[N, C, T] -> [N, C, T]`` without the residual."""
        hidden, _ = self.lstm(sequences.transpose(1, 2))
        return self.linear(hidden).transpose(1, 2)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        batch, channels, frames = signal.shape
        width = self.max_steps
        if frames <= width:
            return signal + self._run(signal)
        hop = width // 2
        margin = hop // 2
        windows = math.ceil(frames / hop)
        padded = F.pad(signal, (0, (windows - 1) * hop + width - frames))
        stacked = padded.unfold(-1, width, hop)  # [B, C, windows, width]
        stacked = stacked.permute(0, 2, 1, 3).reshape(batch * windows, channels, width)
        processed = self._run(stacked).reshape(batch, windows, channels, width)
        centres = processed[..., margin:margin + hop].permute(0, 2, 1, 3).reshape(batch, channels, -1)
        joined = torch.cat(
            [processed[:, 0, :, :margin], centres, processed[:, -1, :, margin + hop:]], dim=-1
        )
        return signal + joined[..., :frames]


class LocalAttention(nn.Module):
    """Content-based attention over time without positional embedding, penalised by
    distance: each head learns, per query frame, how fast attention decays with ``|t - s|``
    (``ndecay`` decay rates mixed by a sigmoid gate); a frame does not attend to itself.
    Output added to the input. ``[B, C, T] -> [B, C, T]``."""

    def __init__(self, channels: int, heads: int = 4, ndecay: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"local attention: {channels} channels are not divisible by {heads} heads")
        self.heads, self.ndecay = heads, ndecay
        self.content, self.query, self.key = (nn.Conv1d(channels, channels, 1) for _ in range(3))
        decay = nn.Conv1d(channels, heads * ndecay, 1)
        if ndecay:
            with torch.no_grad():  # start near the widest window (sigmoid(-2) is small)
                decay.weight.mul_(0.01)
                decay.bias.fill_(-2.0)  # type: ignore[union-attr]  # Conv1d has a bias here
        self.query_decay = decay
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        batch, channels, frames = signal.shape
        per_head = (batch, self.heads, -1, frames)
        queries = self.query(signal).view(per_head)
        keys = self.key(signal).view(per_head)
        # scores[b, h, t, s]: key frame t for query frame s
        scores = keys.transpose(-1, -2) @ queries / math.sqrt(keys.shape[2])
        if self.ndecay:
            rates = torch.arange(1, self.ndecay + 1, device=signal.device, dtype=signal.dtype)
            gates = torch.sigmoid(self.query_decay(signal).view(per_head)) / 2
            slope = (gates * rates.view(-1, 1)).sum(dim=2, keepdim=True) / math.sqrt(self.ndecay)
            position = torch.arange(frames, device=signal.device, dtype=signal.dtype)
            distance = (position.view(-1, 1) - position.view(1, -1)).abs()
            scores = scores - distance * slope
        own_frame = torch.eye(frames, device=signal.device, dtype=torch.bool)
        scores = scores.masked_fill(own_frame, -100.0)
        weights = scores.softmax(dim=2)
        attended = (self.content(signal).view(per_head) @ weights).reshape(batch, channels, frames)
        return signal + self.proj(attended)


class ResidualBranch(nn.Module):
    """``depth`` residual layers on ``[B, C, T]``: dilated conv (kernel 3, dilation 2^d) to
    ``C / compress`` channels -> GroupNorm(1) -> GELU -> [BiLSTM] -> [local attention] ->
    1x1 conv to ``2 C`` -> GroupNorm(1) -> GLU -> layer scale; each added to its input."""

    def __init__(self, channels: int, *, compress: float = 4, depth: int = 2, init: float = 1e-4,
                 lstm: bool = False, attn: bool = False, kernel_size: int = 3) -> None:
        super().__init__()
        hidden = int(channels / compress)
        self.layers = nn.ModuleList()
        for level in range(depth):
            dilation = 2 ** level
            blocks: list[nn.Module] = [
                nn.Conv1d(channels, hidden, kernel_size, dilation=dilation,
                          padding=dilation * (kernel_size // 2)),
                nn.GroupNorm(1, hidden),
                nn.GELU(),
            ]
            if lstm:
                blocks.append(ChunkedBiLSTM(hidden))
            if attn:
                blocks.append(LocalAttention(hidden))
            blocks += [nn.Conv1d(hidden, 2 * channels, 1), nn.GroupNorm(1, 2 * channels),
                       nn.GLU(dim=1), LayerScale(channels, init)]
            self.layers.append(nn.Sequential(*blocks))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            signal = signal + layer(signal)
        return signal


# ------------------------------------------------------------------------------------ layers


@dataclass(frozen=True)
class LayerPlan:
    """One depth of the U-Nets: what the spectral layer is and whether a waveform layer
    runs beside it (``time_empty``: the waveform layer is only its conv, whose output is
    injected into the spectral layer: the merge)."""

    index: int
    freq: bool  # the spectral layer convolves along frequency (else: along time, merged)
    kernel: int
    stride: int
    pad: bool
    norm: bool
    lstm: bool
    attn: bool
    chin: int
    chout: int
    chin_z: int
    chout_z: int
    time_kernel: int
    time_stride: int
    time_empty: bool
    positions_after: int  # frequency rows after this layer


def layer_plans(config: HDemucsConfig) -> list[LayerPlan]:
    """Channel counts, kernels and strides of every depth (encoder order)."""
    plans = []
    chin, chin_z = config.audio_channels, 2 * config.audio_channels
    chout = chout_z = config.channels
    positions = config.nfft // 2
    for index in range(config.depth):
        freq = positions > 1
        kernel, stride, pad, last_freq = config.kernel_size, config.stride, True, False
        if not freq:
            kernel, stride = 2 * config.time_stride, config.time_stride
        elif positions <= config.kernel_size:
            kernel, pad, last_freq = positions, False, True
        if last_freq:
            chout = chout_z = max(chout, chout_z)
        time_kernel, time_stride = config.kernel_size, config.stride
        if last_freq and config.nfft == 2048:
            time_kernel, time_stride = 4, 2
        if freq:
            positions = 1 if positions <= config.kernel_size else positions // config.stride
        plans.append(LayerPlan(
            index=index, freq=freq, kernel=kernel, stride=stride, pad=pad,
            norm=index >= config.norm_starts, lstm=index >= config.dconv_lstm,
            attn=index >= config.dconv_attn, chin=chin, chout=chout, chin_z=chin_z,
            chout_z=chout_z, time_kernel=time_kernel, time_stride=time_stride,
            time_empty=last_freq, positions_after=positions,
        ))
        chin, chin_z = chout, chout_z
        chout, chout_z = int(config.growth * chout), int(config.growth * chout_z)
    if not any(plan.time_empty for plan in plans):
        raise ValueError("this Hybrid Demucs configuration never merges its branches: "
                         "increase depth or reduce nfft")
    return plans


def _injection(waveform: torch.Tensor, spectral: torch.Tensor) -> torch.Tensor:
    """The waveform encoder's ``[B, C, T]`` shaped to add to the spectral ``[B, C, F, T]``."""
    if waveform.shape[-1] != spectral.shape[-1]:
        raise ValueError(f"waveform branch has {waveform.shape[-1]} frames where the "
                         f"spectral branch has {spectral.shape[-1]}")
    return waveform.unsqueeze(2) if spectral.dim() == 4 and waveform.dim() == 3 else waveform


def _norm(enabled: bool, groups: int, channels: int) -> nn.Module:
    return nn.GroupNorm(groups, channels) if enabled else nn.Identity()


class EncoderLayer(nn.Module):
    """Strided conv -> [GroupNorm] -> GELU -> residual branch -> 1x1 conv -> [GroupNorm] -> GLU.

    ``freq``: a 2-D conv with kernel ``(k, 1)`` along frequency, ``[B, C, F, T] -> [B, C',
    F / stride, T]``, the residual branch running over time for every frequency row. Else a
    1-D conv over time, ``[B, C, T] -> [B, C', ceil(T / stride)]`` (the input padded at the
    end to a multiple of ``stride``; ``[B, C, 1, T]`` is flattened first). ``empty``: the conv
    only (the waveform layer that is injected into the spectral one)."""

    def __init__(self, chin: int, chout: int, *, kernel: int, stride: int, freq: bool, pad: bool,
                 norm: bool, groups: int, empty: bool = False, context: int = 0,
                 branch: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.freq, self.stride, self.empty = freq, stride, empty
        padding = kernel // 4 if pad else 0
        if freq:
            self.conv: nn.Module = nn.Conv2d(chin, chout, (kernel, 1), (stride, 1), (padding, 0))
        else:
            self.conv = nn.Conv1d(chin, chout, kernel, stride, padding)
        self.norm1 = _norm(norm, groups, chout)
        if empty:
            self.rewrite: nn.Module = nn.Identity()
            self.norm2: nn.Module = nn.Identity()
            self.dconv: nn.Module = nn.Identity()
            return
        conv = nn.Conv2d if freq else nn.Conv1d
        self.rewrite = conv(chout, 2 * chout, 1 + 2 * context, 1, context)
        self.norm2 = _norm(norm, groups, 2 * chout)
        self.dconv = ResidualBranch(chout, **dict(branch or {}))

    def forward(self, signal: torch.Tensor, inject: torch.Tensor | None = None) -> torch.Tensor:
        if not self.freq:
            flat = signal.flatten(1, -2)  # [B, C, 1, T] (after the merge) -> [B, C, T]
            signal = F.pad(flat, (0, -flat.shape[-1] % self.stride))
        encoded = self.conv(signal)
        if self.empty:
            return encoded
        if inject is not None:
            encoded = encoded + _injection(inject, encoded)
        encoded = F.gelu(self.norm1(encoded))
        if self.freq:
            batch, channels, rows, frames = encoded.shape
            per_row = encoded.transpose(1, 2).reshape(batch * rows, channels, frames)
            encoded = self.dconv(per_row).view(batch, rows, channels, frames).transpose(1, 2)
        else:
            encoded = self.dconv(encoded)
        return F.glu(self.norm2(self.rewrite(encoded)), dim=1)


class DecoderLayer(nn.Module):
    """(input + skip) -> conv (``1 + 2 context`` taps) -> [GroupNorm] -> GLU -> transposed conv
    -> [GroupNorm] -> GELU (not on the last layer). Returns the output and the tensor before
    the transposed conv (what the waveform decoder starts from at the split). ``empty``: the
    transposed conv only, no skip."""

    def __init__(self, chin: int, chout: int, *, kernel: int, stride: int, freq: bool, pad: bool,
                 norm: bool, groups: int, last: bool = False, empty: bool = False,
                 context: int = 1) -> None:
        super().__init__()
        if pad and (kernel - stride) % 2:
            raise ValueError(f"decoder kernel {kernel} and stride {stride} differ by an odd number")
        self.freq, self.chin, self.last, self.empty = freq, chin, last, empty
        self.trim = (kernel - stride) // 2 if pad else 0
        if freq:
            self.conv_tr: nn.Module = nn.ConvTranspose2d(chin, chout, (kernel, 1), (stride, 1))
        else:
            self.conv_tr = nn.ConvTranspose1d(chin, chout, kernel, stride)
        self.norm2 = _norm(norm, groups, chout)
        if empty:
            self.rewrite: nn.Module = nn.Identity()
            self.norm1: nn.Module = nn.Identity()
        else:
            conv = nn.Conv2d if freq else nn.Conv1d
            self.rewrite = conv(chin, 2 * chin, 1 + 2 * context, 1, context)
            self.norm1 = _norm(norm, groups, 2 * chin)

    def forward(self, signal: torch.Tensor, skip: torch.Tensor | None, length: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.freq and signal.dim() == 3:
            signal = signal.unflatten(1, (self.chin, -1))
        if self.empty:
            if skip is not None:
                raise ValueError("an empty decoder layer takes no skip connection")
            before = signal
        else:
            assert skip is not None
            before = F.glu(self.norm1(self.rewrite(signal + skip)), dim=1)
        decoded = self.norm2(self.conv_tr(before))
        # the transposed conv overshoots by ``trim`` at both ends (frequency rows), or gives at
        # least ``length`` samples after ``trim`` (time: the encoder padded to a multiple)
        axis = -2 if self.freq else -1
        keep = decoded.shape[-2] - 2 * self.trim if self.freq else length
        if decoded.shape[axis] < self.trim + keep:
            raise ValueError(f"decoder produced {decoded.shape[axis]} samples, expected {length}")
        decoded = decoded.narrow(axis, self.trim, keep)
        if not self.last:
            decoded = F.gelu(decoded)
        return decoded, before


# ------------------------------------------------------------------------------------- model


def _reflect_pad(signal: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect padding that also works when the signal is shorter than the padding (zeros
    are appended first so that the reflection has room)."""
    room = max(left, right) - signal.shape[-1] + 1
    if room > 0:
        signal = F.pad(signal, (0, room))
    return F.pad(signal, (left, right), mode="reflect")


def _standardise(tensor: torch.Tensor, dims: tuple[int, ...]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tensor - mean) / (1e-5 + std)`` over ``dims`` (unbiased std), with mean and std."""
    mean = tensor.mean(dim=dims, keepdim=True)
    std = tensor.std(dim=dims, keepdim=True)
    return (tensor - mean) / (1e-5 + std), mean, std


class HDemucs(nn.Module):
    """Hybrid Demucs: mixture ``[B, audio_channels, T]`` -> sources ``[B, S, audio_channels, T]``
    at :attr:`HDemucsConfig.sample_rate` (see the module docstring)."""

    def __init__(self, config: HDemucsConfig = HDEMUCS_HIGH) -> None:
        super().__init__()
        self.config = config
        self.sources = list(config.sources)
        self.nfft = config.nfft
        self.hop = config.nfft // 4
        self.freq_encoder = nn.ModuleList()
        self.freq_decoder = nn.ModuleList()
        self.time_encoder = nn.ModuleList()
        self.time_decoder = nn.ModuleList()
        self.freq_emb: ScaledEmbedding | None = None
        self.freq_emb_scale = config.freq_emb
        output_channels = config.audio_channels * len(config.sources)
        for plan in layer_plans(config):
            branch = {"lstm": plan.lstm, "attn": plan.attn, "depth": config.dconv_depth,
                      "compress": config.dconv_comp, "init": config.dconv_init}
            norm, groups = plan.norm, config.norm_groups
            self.freq_encoder.append(EncoderLayer(
                plan.chin_z, plan.chout_z, kernel=plan.kernel, stride=plan.stride, freq=plan.freq,
                pad=plan.pad, norm=norm, groups=groups, context=config.context_enc, branch=branch))
            # the decoders are listed deepest first; the outermost layer outputs every source
            dec_out_z = 2 * output_channels if plan.index == 0 else plan.chin_z
            self.freq_decoder.insert(0, DecoderLayer(
                plan.chout_z, dec_out_z, kernel=plan.kernel, stride=plan.stride, freq=plan.freq,
                pad=plan.pad, norm=norm, groups=groups, last=plan.index == 0,
                context=config.context))
            if plan.freq:
                self.time_encoder.append(EncoderLayer(
                    plan.chin, plan.chout, kernel=plan.time_kernel, stride=plan.time_stride,
                    freq=False, pad=True, norm=norm, groups=groups, empty=plan.time_empty,
                    context=config.context_enc, branch=branch))
                dec_out = output_channels if plan.index == 0 else plan.chin
                self.time_decoder.insert(0, DecoderLayer(
                    plan.chout, dec_out, kernel=plan.time_kernel, stride=plan.time_stride,
                    freq=False, pad=True, norm=norm, groups=groups, empty=plan.time_empty,
                    last=plan.index == 0, context=config.context))
            if plan.index == 0 and config.freq_emb:
                self.freq_emb = ScaledEmbedding(plan.positions_after, plan.chout_z,
                                                scale=config.emb_scale, smooth=config.emb_smooth)
        self._scale_initial_weights()

    def _scale_initial_weights(self, reference: float = 0.1) -> None:
        """Initial conv weights (and biases) divided by ``sqrt(std(weight) / reference)``, as
        Demucs initialises (irrelevant once weights are loaded)."""
        convolutions = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, convolutions):
                    factor = (module.weight.std() / reference).sqrt()
                    module.weight.div_(factor)
                    if module.bias is not None:
                        module.bias.div_(factor)

    # --------------------------------------------------------------------------- spectrogram

    def _spectrogram(self, mixture: torch.Tensor) -> torch.Tensor:
        """``[B, C, T] -> complex [B, C, nfft / 2, ceil(T / hop)]``: frame ``k`` centred on
        sample ``k * hop + hop / 2`` so that the frame rate divides the length exactly."""
        batch, channels, length = mixture.shape
        frames = math.ceil(length / self.hop)
        margin = 3 * (self.hop // 2)
        padded = _reflect_pad(mixture, margin, margin + frames * self.hop - length)
        window = torch.hann_window(self.nfft, device=mixture.device, dtype=mixture.dtype)
        spectrum = torch.stft(padded.reshape(batch * channels, -1), self.nfft, self.hop,
                              window=window, normalized=True, center=True, pad_mode="reflect",
                              return_complex=True)
        spectrum = spectrum[:, :-1, 2:2 + frames]  # drop Nyquist and the margin frames
        return spectrum.reshape(batch, channels, *spectrum.shape[-2:])

    def _waveform(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`_spectrogram`: complex ``[..., nfft / 2, frames] -> [..., length]``."""
        leading = spectrum.shape[:-2]
        frames = spectrum.shape[-1]
        full = F.pad(spectrum.reshape(-1, *spectrum.shape[-2:]), (2, 2, 0, 1))
        margin = 3 * (self.hop // 2)
        window = torch.hann_window(self.nfft, device=spectrum.device, dtype=spectrum.real.dtype)
        signal = torch.istft(full, self.nfft, self.hop, window=window, normalized=True,
                             center=True, length=self.hop * frames + 2 * margin)
        return signal[..., margin:margin + length].reshape(*leading, length)

    # -------------------------------------------------------------------------------- forward

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        """``[B, audio_channels, T] -> [B, S, audio_channels, T]``."""
        if mixture.dim() != 3 or mixture.shape[1] != self.config.audio_channels:
            raise ValueError(f"HDemucs expects [batch, {self.config.audio_channels}, time], "
                             f"got {tuple(mixture.shape)}")
        batch, _, length = mixture.shape
        spectrum = self._spectrogram(mixture)
        rows, frames = spectrum.shape[-2:]
        # real and imaginary parts as channels: [B, C, F, T, 2] -> [B, 2C, F, T]
        as_channels = torch.view_as_real(spectrum).permute(0, 1, 4, 2, 3).flatten(1, 2)
        freq_x, freq_mean, freq_std = _standardise(as_channels, (1, 2, 3))
        time_x, time_mean, time_std = _standardise(mixture, (1, 2))

        # waveform encoder: independent of the spectral branch until its last (conv-only)
        # layer, whose output is added into the spectral layer of the same depth
        time_skips: list[torch.Tensor] = []
        time_lengths: list[int] = []
        for time_layer in self.time_encoder:
            time_lengths.append(time_x.shape[-1])
            time_x = time_layer(time_x)
            if not time_layer.empty:
                time_skips.append(time_x)
        merge = len(self.time_encoder) - 1

        freq_skips: list[torch.Tensor] = []
        freq_lengths: list[int] = []
        for index, encoder in enumerate(self.freq_encoder):
            freq_lengths.append(freq_x.shape[-1])
            freq_x = encoder(freq_x, time_x if index == merge else None)
            if index == 0 and self.freq_emb is not None:
                positions = torch.arange(freq_x.shape[-2], device=freq_x.device)
                embedding = self.freq_emb(positions).t()[None, :, :, None]
                freq_x = freq_x + self.freq_emb_scale * embedding
            freq_skips.append(freq_x)

        # decoders start from zeros (the signal comes back through the skips); the waveform
        # decoder starts from the spectral decoder's input to its transposed conv at the split
        freq_x = torch.zeros_like(freq_x)
        split = len(self.freq_decoder) - len(self.time_decoder)
        time_out = freq_x
        for index, decoder in enumerate(self.freq_decoder):
            freq_x, before = decoder(freq_x, freq_skips.pop(), freq_lengths.pop())
            if index == split:
                time_out = before[:, :, 0]
        for time_layer in self.time_decoder:
            skip = None if time_layer.empty else time_skips.pop()
            time_out, _ = time_layer(time_out, skip, time_lengths.pop())
        assert not freq_skips and not time_skips and not time_lengths

        sources = len(self.sources)
        freq_out = freq_x.view(batch, sources, -1, rows, frames) * freq_std[:, None] + freq_mean[:, None]
        # channels back to complex: [B, S, 2C, F, T] -> [B, S, C, F, T]
        pairs = freq_out.unflatten(2, (-1, 2)).permute(0, 1, 2, 4, 5, 3).contiguous()
        from_spectrum = self._waveform(torch.view_as_complex(pairs), length)
        from_waveform = time_out.view(batch, sources, -1, length) * time_std[:, None] + time_mean[:, None]
        return from_waveform + from_spectrum


# ------------------------------------------------------------------------------- checkpoints


def save_hdemucs(model: HDemucs, path: str | Path) -> None:
    """The model's plain ``state_dict`` with ``torch.save`` (the format of the Cadenza weights)."""
    torch.save(model.state_dict(), path)


def _state_dict_of(loaded: Any) -> dict[str, torch.Tensor]:
    """A plain state dict, or one wrapped as ``{"state_dict": ...}`` / ``{"model": ...}``;
    a ``module.`` prefix (DataParallel) is removed."""
    if isinstance(loaded, Mapping):
        for wrapper in ("state_dict", "model_state_dict", "model"):
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError("not a state dict (a mapping of parameter names to tensors)")
    return {(key[len("module."):] if key.startswith("module.") else key): value
            for key, value in loaded.items()}


def load_hdemucs(path: str | Path, config: HDemucsConfig = HDEMUCS_HIGH,
                 device: str | torch.device = "cpu") -> HDemucs:
    """A :class:`HDemucs` of ``config`` with the weights of ``path`` (``strict``), in eval
    mode on ``device``. Raises :class:`CheckpointError` with what does not fit."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip or weights-only errors: all "cannot read"
        raise CheckpointError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    state = _state_dict_of(loaded)
    model = HDemucs(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(key for key in set(expected) & set(state)
                   if tuple(expected[key].shape) != tuple(state[key].shape))
    if missing or unexpected or wrong:
        def some(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (f" (+{len(keys) - 4} more)" if len(keys) > 4 else "")
        problems = [f"{label}: {some(keys)}" for label, keys in
                    (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise CheckpointError(f"checkpoint {path} does not fit the Hybrid Demucs configuration "
                              f"(channels {config.channels}, depth {config.depth}, nfft "
                              f"{config.nfft}, {len(config.sources)} sources): " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


# ------------------------------------------------------------------- decoder-only fine-tuning

#: the module prefixes of the decoder (the paper fine-tunes these; everything else is frozen)
DECODER_PREFIXES: tuple[str, ...] = ("freq_decoder.", "time_decoder.")


def freeze_encoder(model: HDemucs) -> list[nn.Parameter]:
    """Decoder-only fine-tuning (the Cadenza paper's ``--finetune-decoder``): every parameter
    outside :data:`DECODER_PREFIXES` (both encoders, the frequency embedding) gets
    ``requires_grad = False``; returns the decoder's parameters, for the optimizer."""
    trainable = []
    for name, parameter in model.named_parameters():
        decoder = name.startswith(DECODER_PREFIXES)
        parameter.requires_grad_(decoder)
        if decoder:
            trainable.append(parameter)
    return trainable
