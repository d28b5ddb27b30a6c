"""psi-msbg: one shared model of a listener's auditory response, conditioned on a few learned
per-listener parameters psi instead of the audiogram (Pellatt et al., psi-ICNet, ported from
recorded neural activity to simulated listeners).

The response of a listener is the **log-mel power of their MSBG output** (:class:`LogMel`:
16 kHz, 512-point Hann STFT, 10 ms hop, 40 HTK mel bands 50-8000 Hz, ``10 log10(P) + 100``:
dB SPL at MSBG's calibration of 100 dB SPL per digital unit, floored at
:data:`FLOOR_DB` dB SPL). Why this representation: each supra-threshold effect MSBG models is
a level change in a frequency band (recruitment: level-dependent attenuation; smearing: lower
spectral contrast; a dead region: a band with no output), the log turns them into additive dB
errors, and the floor keeps inaudible levels from dominating. The response loss is therefore
the mean squared error in dB (the mean squared log-spectral distance), which weighs an error of
x dB the same in a loud and a quiet band.

Network (:class:`PsiMsbgNet`), all 1-D convolutions over time with the mel bands as channels:

1. shared encoder: ``encoder_layers`` convolutions (kernel 5, PReLU) of the input's log-mel;
2. conditioning (:class:`VariationalConditioning`, as published): each training individual
   ``i`` has a learned mean ``mu_i`` and diagonal log-variance ``log s2_i`` (``n_psi`` each);
   in training ``z = mu_i + s_i * eps`` (reparameterised), in evaluation ``z = mu_i``;
   ``psi = sigmoid(z)`` in the unit cube; a 3-layer 1x1 expansion to ``n_psi``, ``2 n_psi``,
   ``3 n_psi`` features (PReLU), tiled over time and concatenated with the encoder features;
   the KL term pulls every ``N(mu_i, s2_i)`` towards ``N(0, 1 / N_individuals)``;
3. 4 combining convolutions (kernel 3), a decoder (kernel 3, then 1x1) that predicts the change
   in dB from the input's log-mel (the output is ``input + change``).

The audiogram-conditioned twin is the same network with ``psi`` replaced by the audiogram on the
Clarity grid (:data:`hltk.io.listeners.AUDIOGRAM_GRID`, dB HL / 100), expanded the same way
(8, 16, 24 features); an individual-specific model has no conditioning at all.

A listener's **profile** is ``psi`` in the unit cube (what the expansion sees), stored as the
extra key ``psi`` of their ``listeners.json`` entry (``hltk fit-listener`` writes it).

The simulate backend (:class:`PsiMsbg`) turns the predicted log-mel into audio: the change in
each mel band (dB) is spread over the STFT bins by the normalised mel weights and applied to
the input's STFT magnitude, keeping its phase (MSBG is close to phase-preserving; the 10 ms hop
and a 512-point window with 4x overlap resynthesise exactly for a gain of 0 dB).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.listeners import AUDIOGRAM_GRID, Listener, ListenerBatch
from hltk.nn.checkpoint import file_sha256, load_checkpoint
from hltk.registry import option, register

logger = logging.getLogger(__name__)

#: what the backend does for a listener with no psi (see :class:`PsiMsbg`)
UNFITTED: tuple[str, ...] = ("mean", "error")

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 160
N_MELS = 40
F_MIN, F_MAX = 50.0, 8000.0
#: dB SPL of a digital RMS of 1 (MSBG's calibration, ``TorchMsbg.equiv_0db_spl``).
CALIBRATION_DB_SPL = 100.0
#: the log-mel floor, dB SPL (powers below count as this level).
FLOOR_DB = 10.0
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
CONDITIONS: tuple[str, ...] = ("psi", "audiogram", "none")
#: input scaling of the network: (dB - centre) / scale
INPUT_CENTRE_DB, INPUT_SCALE_DB = 40.0, 20.0


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` triangular HTK-mel weights (peak 1)."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges_mel = np.linspace(mel(f_min), mel(f_max), n_mels + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    weights = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        low, centre, high = edges[m], edges[m + 1], edges[m + 2]
        rising = (bins - low) / (centre - low)
        falling = (high - bins) / (high - centre)
        weights[m] = np.clip(np.minimum(rising, falling), 0.0, None)
    return weights


class LogMel(nn.Module):
    """Waveform ``[N, T]`` at 16 kHz -> log-mel ``[N, N_MELS, frames]`` in dB SPL (see the
    module docstring), and the complex STFT it came from."""

    def __init__(self) -> None:
        super().__init__()
        self.window: torch.Tensor
        self.weights: torch.Tensor
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("weights", torch.as_tensor(mel_filterbank(), dtype=torch.float32),
                             persistent=False)

    def spectrum(self, waveform: torch.Tensor) -> torch.Tensor:
        return torch.stft(waveform, N_FFT, HOP, window=self.window.to(waveform.dtype),
                          center=True, pad_mode="reflect", return_complex=True)

    def from_spectrum(self, spectrum: torch.Tensor) -> torch.Tensor:
        power = (spectrum.real ** 2 + spectrum.imag ** 2) / float(self.window.sum()) ** 2
        mel_power = torch.einsum("mf,nft->nmt", self.weights.to(power.dtype), power)
        floor = 10 ** ((FLOOR_DB - CALIBRATION_DB_SPL) / 10)
        return 10 * torch.log10(mel_power + floor) + CALIBRATION_DB_SPL

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.from_spectrum(self.spectrum(waveform))


@dataclass(frozen=True)
class PsiMsbgConfig:
    """Everything that shapes the network (stored in each checkpoint).

    ``individuals``: the training individuals' ids, in the order of the psi table (empty for
    the audiogram twin and individual-specific models)."""

    condition: str = "psi"
    n_psi: int = 6
    individuals: tuple[str, ...] = field(default_factory=tuple)
    channels: int = 32
    encoder_layers: int = 3
    combine_layers: int = 4
    n_mels: int = N_MELS

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}; choose from {CONDITIONS}")
        if self.condition == "psi" and (self.n_psi < 1 or not self.individuals):
            raise ValueError("a psi model needs n_psi >= 1 and its training individuals")
        object.__setattr__(self, "individuals", tuple(self.individuals))

    @property
    def condition_dims(self) -> int:
        return {"psi": self.n_psi, "audiogram": len(AUDIOGRAM_GRID), "none": 0}[self.condition]

    def to_dict(self) -> dict[str, Any]:
        content = asdict(self)
        content["individuals"] = list(self.individuals)
        return content


def _conv(channels_in: int, channels_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(channels_in, channels_out, kernel, padding=kernel // 2),
                         nn.PReLU(channels_out))


class VariationalConditioning(nn.Module):
    """The psi-ICNet conditioning: per-individual Gaussian psi (learned mean and diagonal
    log-variance), reparameterised sample, sigmoid (:meth:`psi`), and the 3-layer expansion to
    ``n, 2n, 3n`` features (:meth:`expand`, shared with the audiogram twin)."""

    def __init__(self, individuals: int, dims: int) -> None:
        super().__init__()
        self.dims = dims
        self.individuals = individuals
        if individuals:
            generator = torch.Generator().manual_seed(0)
            self.mean = nn.Parameter(0.1 * torch.randn(individuals, dims, generator=generator))
            self.log_variance = nn.Parameter(
                torch.full((individuals, dims), -math.log(max(individuals, 1))))
        self.expansion = nn.Sequential(_conv(dims, dims, 1), _conv(dims, 2 * dims, 1),
                                       _conv(2 * dims, 3 * dims, 1))

    def psi(self, index: torch.Tensor, sample: bool) -> torch.Tensor:
        """``[B, dims]`` psi of individuals ``index`` in the unit cube."""
        mean = self.mean[index]
        if sample:
            mean = mean + torch.exp(0.5 * self.log_variance[index]) * torch.randn_like(mean)
        return torch.sigmoid(mean)

    def learned(self) -> torch.Tensor:
        """``[individuals, dims]``: every training individual's psi (at the mean)."""
        return torch.sigmoid(self.mean.detach())

    def kl(self, index: torch.Tensor) -> torch.Tensor:
        """Mean over ``index`` of KL(N(mu_i, s2_i) || N(0, 1 / individuals)), summed over dims."""
        prior = 1.0 / self.individuals
        variance = torch.exp(self.log_variance[index])
        mean = self.mean[index]
        kl = 0.5 * (variance / prior + mean ** 2 / prior - 1.0 - torch.log(variance / prior))
        return kl.sum(-1).mean()

    def expand(self, condition: torch.Tensor, frames: int) -> torch.Tensor:
        """``[B, dims]`` -> ``[B, 3 dims, frames]``."""
        return self.expansion(condition[:, :, None]).expand(-1, -1, frames)


class PsiMsbgNet(nn.Module):
    """Input log-mel ``[B, M, T]`` (dB SPL) and condition ``[B, dims]`` (psi in the unit cube,
    or hearing levels / 100) -> predicted response log-mel ``[B, M, T]``."""

    def __init__(self, config: PsiMsbgConfig) -> None:
        super().__init__()
        self.config = config
        width = config.channels
        self.encoder = nn.Sequential(_conv(config.n_mels, width, 5),
                                     *[_conv(width, width, 5)
                                       for _ in range(config.encoder_layers - 1)])
        dims = config.condition_dims
        self.conditioning = (VariationalConditioning(len(config.individuals), dims)
                             if dims else None)
        self.combine = nn.Sequential(_conv(width + 3 * dims, width, 3),
                                     *[_conv(width, width, 3)
                                       for _ in range(config.combine_layers - 1)])
        self.decoder = nn.Sequential(_conv(width, width, 3), nn.Conv1d(width, config.n_mels, 1))

    def forward(self, logmel: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        features = self.encoder((logmel - INPUT_CENTRE_DB) / INPUT_SCALE_DB)
        if self.conditioning is not None:
            if condition is None:
                raise ValueError(f"a {self.config.condition}-conditioned model needs its condition")
            expanded = self.conditioning.expand(condition.to(features.dtype), features.shape[-1])
            features = torch.cat([features, expanded], dim=1)
        return logmel + self.decoder(self.combine(features))


def audiogram_condition(hearing_levels: torch.Tensor) -> torch.Tensor:
    """The twin's condition: hearing levels on the Clarity grid (dB HL) / 100."""
    return hearing_levels / 100.0


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> PsiMsbgNet:
    """A psi-msbg network from an hltk checkpoint (``hltk train psi-msbg``)."""
    content = load_checkpoint(checkpoint, expect_model="psi-msbg")
    config = dict(content["config"])
    config["individuals"] = tuple(config.get("individuals", ()))
    model = PsiMsbgNet(PsiMsbgConfig(**config))
    model.load_state_dict(content["state_dict"])
    return model.to(device).eval()


def default_checkpoint(n_psi: int = 6) -> Path:
    return CHECKPOINT_DIR / f"psi_msbg_{n_psi}.pt"


def load_profiles(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{listener name: entry}`` of every entry of a listeners.json that has a ``psi`` key
    (keyed by the entry's ``name`` and by its key)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    profiles: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        if isinstance(entry, dict) and "psi" in entry:
            profiles[str(key)] = entry
            profiles[str(entry.get("name", key))] = entry
    return profiles


def band_gains_to_bins(change_db: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``change_db [N, M, T]`` -> ``[N, F, T]`` dB per STFT bin: each bin's mel weights,
    normalised to sum 1 (bins outside every band take the nearest band's change)."""
    columns = weights.clone()
    empty = columns.sum(0) <= 0
    if bool(empty.any()):
        centres = (weights * torch.arange(weights.shape[1], dtype=weights.dtype)).sum(1) / \
            weights.sum(1)
        for index in torch.nonzero(empty).flatten().tolist():
            columns[int(torch.argmin((centres - index).abs())), index] = 1.0
    columns = columns / columns.sum(0, keepdim=True)
    return torch.einsum("mf,nmt->nft", columns.to(change_db.dtype), change_db)


class PsiMsbg:
    """The ``psi-msbg`` simulate backend: each ear through the psi-conditioned network with
    the listener's psi, resynthesised from the input's STFT (see the module docstring).

    Args:
        checkpoint: a psi-msbg checkpoint (``condition="psi"``); default the shipped
            ``hltk/checkpoints/psi_msbg_<n_psi>.pt``.
        n_psi: which shipped checkpoint when ``checkpoint`` is not given.
        profiles: a listeners.json whose entries carry ``psi`` (``hltk fit-listener`` writes
            one); listeners are looked up by id. Without it, or for an id it lacks, the
            checkpoint's training individuals are used by id.
        unfitted: for a listener with no psi either way: ``"mean"`` gives the mean psi of the
            training individuals (an average listener of the population: the network sees no
            audiogram, so the listener's own audiogram plays no part; a warning names each
            such listener once), ``"error"`` raises (the runner records the row as failed).
        device: ``None`` follows the input's device.
    """

    name = "psi-msbg"
    sample_rate = SAMPLE_RATE
    batched = True

    def __init__(self, checkpoint: str | Path | None = None, n_psi: int = 6,
                 profiles: str | Path | None = None, unfitted: str = "mean",
                 device: str | torch.device | None = None) -> None:
        if unfitted not in UNFITTED:
            raise ValueError(f"unfitted must be one of {', '.join(UNFITTED)}, got {unfitted!r}")
        self.unfitted = unfitted
        self._warned: set[str] = set()
        path = Path(checkpoint) if checkpoint else default_checkpoint(n_psi)
        if not path.is_file():
            raise FileNotFoundError(f"no psi-msbg checkpoint at {path}; train one with "
                                    "`hltk train psi-msbg` or pass --checkpoint")
        self.checkpoint = path
        self.checkpoint_sha256 = file_sha256(path)
        self.device = torch.device(device) if device is not None else None
        self.model = load_model(path, self.device or "cpu")
        if self.model.config.condition != "psi":
            raise ValueError(f"{path} holds a {self.model.config.condition}-conditioned model, "
                             "not a psi model")
        self.profiles = load_profiles(profiles) if profiles else {}
        self.profiles_path = Path(profiles) if profiles else None
        assert self.model.conditioning is not None
        learned = self.model.conditioning.learned().tolist()
        self.learned = dict(zip(self.model.config.individuals, learned, strict=True))
        self.mean_psi = [float(v) for v in self.model.conditioning.learned().mean(0).tolist()]
        self.logmel = LogMel()

    def psi_of(self, listener: Listener | str) -> list[float]:
        """A listener's psi: their own listeners.json entry's ``psi`` (``Listener.extras``,
        from ``hltk fit-listener``), else ``profiles`` by id, else the checkpoint's training
        individual of that id, else as ``unfitted`` says. A profile fitted with another
        checkpoint (its ``psi_checkpoint_sha256``) is refused: psi means nothing to another
        network."""
        listener_id = listener if isinstance(listener, str) else listener.id
        extras = {} if isinstance(listener, str) else listener.extras
        entry = extras if "psi" in extras else self.profiles.get(listener_id)
        psi: list[float] | None
        if entry is not None:
            fitted_with = entry.get("psi_checkpoint_sha256")
            if fitted_with and fitted_with != self.checkpoint_sha256:
                raise ValueError(
                    f"listener {listener_id!r}: psi was fitted with "
                    f"{entry.get('psi_checkpoint', 'another checkpoint')} (sha256 "
                    f"{str(fitted_with)[:12]}), not {self.checkpoint.name} (sha256 "
                    f"{self.checkpoint_sha256[:12]}): fit again with `hltk fit-listener` or "
                    "pass that --checkpoint")
            psi = [float(v) for v in entry["psi"]]
        else:
            psi = self.learned.get(listener_id)
        if psi is None:
            if self.unfitted == "error":
                raise ValueError(f"no psi for listener {listener_id!r}: give --listeners (or "
                                 "--profiles) a listeners.json from `hltk fit-listener`")
            if listener_id not in self._warned:
                self._warned.add(listener_id)
                logger.warning("psi-msbg: no psi for listener %r: the population's mean psi is "
                               "used (fit one with `hltk fit-listener`, or --unfitted error)",
                               listener_id)
            return self.mean_psi
        if len(psi) != self.model.config.n_psi:
            raise ValueError(f"listener {listener_id!r} has {len(psi)} psi values; "
                             f"{self.checkpoint} takes {self.model.config.n_psi}")
        return psi

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "checkpoint_sha256": self.checkpoint_sha256,
                "profiles": str(self.profiles_path) if self.profiles_path else None,
                "unfitted": self.unfitted}

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        """``audio [B, C, T]`` at 16 kHz -> ``[B, C, T]``. Every ear of a listener gets the
        same psi (a profile describes the listener). A level other than 100 dB SPL per digital
        unit scales the input (the network's levels are absolute) and the output back."""
        del lengths, seeds
        device = self.device or audio.device
        batch, channels, length = audio.shape
        model = self.model.to(device)
        logmel = self.logmel.to(device)
        signal = audio.to(device=device, dtype=torch.float32).reshape(batch * channels, length)
        scale = torch.ones(batch * channels, 1, device=device)
        if level_db_spl is not None:
            levels = torch.as_tensor(level_db_spl, dtype=torch.float32, device=device).reshape(batch)
            scale = (10.0 ** ((levels - CALIBRATION_DB_SPL) / 20.0)).repeat_interleave(channels)[:, None]
        psi = torch.tensor([self.psi_of(listener) for listener in listeners.listeners
                            for _ in range(channels)], dtype=torch.float32, device=device)
        padded = torch.nn.functional.pad(signal * scale, (0, max(0, N_FFT - length)))
        with torch.no_grad():
            spectrum = logmel.spectrum(padded)
            before = logmel.from_spectrum(spectrum)
            after = model(before, psi)
            gains_db = band_gains_to_bins(after - before, logmel.weights)
            shaped = spectrum * (10.0 ** (gains_db / 20.0))
            out = torch.istft(shaped, N_FFT, HOP, window=logmel.window, center=True,
                              length=padded.shape[-1])
        out = out[:, :length] / scale
        return out.reshape(batch, channels, length).to(audio.dtype)


@dataclass(frozen=True)
class PsiMsbgOptions:
    """Options of ``simulate --backend psi-msbg``."""

    checkpoint: Path | None = option(None, "A psi-msbg checkpoint (default: the shipped one "
                                     "with --n-psi parameters).")
    n_psi: int = option(6, "Which shipped checkpoint: 3 or 6 psi parameters.", min=1)
    profiles: Path | None = option(
        None, "listeners.json whose entries carry psi (from `hltk fit-listener`); default: "
        "the checkpoint's training individuals by id.")
    unfitted: str = option(
        "mean", "A listener with no psi (not in --profiles, not a training individual): 'mean' "
        "simulates the population's average listener (mean psi; their audiogram plays no part; "
        "a warning names them), 'error' fails their rows.", choices=UNFITTED)


register(
    "simulate",
    "psi-msbg",
    PsiMsbg,
    "psi-ICNet-style listener model: MSBG response conditioned on a fitted profile psi",
    options=PsiMsbgOptions,
)
