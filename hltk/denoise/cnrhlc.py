"""Adjustable joint noise reduction and hearing-loss compensation (Gonzalez, Dau and May):
``denoise-amplify --backend cnrhlc --nr ALPHA --hlc ALPHA``.

The band-split RNN of :mod:`hltk.nn.bsrnn` predicts two complex masks from the noisy STFT and
the ear's audiogram; the user sets how much of each is applied (``alpha_NR``, ``alpha_HLC``
in [0, 1]) without retraining: each mask is raised to its alpha (gain in dB and phase scaled),
the two are multiplied, the combined gain is floored at ``alpha_NR * min_gain_db`` (linear in
dB: 0 dB at ``alpha_NR = 0``, ``--min-gain-db`` at 1) and optionally capped at
``--max-gain-db``, and the product is applied to the noisy STFT. ``--nr 0 --hlc 0`` returns
the input (to float precision: ``istft(stft(x))``).

16 kHz; each ear is one mono signal with its own audiogram; zero delay (the input's STFT
frames, centred). Level: the network was trained with a digital RMS of 1 = 100 dB SPL; an
item's ``level_db_spl`` (the runner's calibration) other than 100 rescales the signal by
``10 ** ((level_db_spl - 100) / 20)`` on the way in and back on the way out, so the network
always sees the physical level. Items are processed one at a time (both ears together):
the BLSTMs and the global layer norms see the whole signal, so zero padding would change a
shorter item's output; batched results therefore equal item-by-item ones exactly.

Shipped checkpoint: ``hltk/checkpoints/cnrhlc.pt`` (model card ``cnrhlc.md``; trained by
``hltk train cnrhlc``, recipe ``recipes/cnrhlc/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hltk.io.listeners import ListenerBatch
from hltk.nn.bsrnn import SAMPLE_RATE, BandSplitRnn, BsrnnConfig, inference_parameter_count
from hltk.nn.checkpoint import file_sha256, load_checkpoint
from hltk.registry import option, register

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "cnrhlc.pt"
MODEL_KIND = "cnrhlc"
#: The calibration the network was trained at: dB SPL of a digital RMS of 1.
TRAINED_LEVEL_DB_SPL = 100.0
DEFAULT_MIN_GAIN_DB = -40.0


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[BandSplitRnn, dict[str, Any]]:
    """The network of a ``cnrhlc`` checkpoint, in eval mode, and the checkpoint's config."""
    content = load_checkpoint(path, expect_model=MODEL_KIND)
    config = dict(content["config"])
    config.pop("auditory_model", None)
    model = BandSplitRnn(BsrnnConfig.from_dict(config))
    model.load_state_dict(content["state_dict"])
    return model.to(device).eval(), dict(content["config"])


class CnrhlcProcessor:
    """``[B, C, T] -> [B, C, T]`` at 16 kHz (channel ``c`` is ear ``listeners.ears[c]``).

    Args:
        nr: alpha_NR in [0, 1] (0: no noise reduction).
        hlc: alpha_HLC in [0, 1] (0: no compensation).
        min_gain_db: the combined gain's floor at ``nr = 1`` (dB, <= 0).
        max_gain_db: cap of the combined gain (dB, >= 0); None: no cap.
        checkpoint: a ``hltk train cnrhlc`` checkpoint instead of the shipped one.
        device: None follows the input's device.
    """

    name = "cnrhlc"
    sample_rate = SAMPLE_RATE
    batched = True

    def __init__(self, nr: float = 1.0, hlc: float = 1.0,
                 min_gain_db: float = DEFAULT_MIN_GAIN_DB, max_gain_db: float | None = None,
                 checkpoint: str | Path | None = None,
                 device: str | torch.device | None = None) -> None:
        if not (0.0 <= nr <= 1.0 and 0.0 <= hlc <= 1.0):
            raise ValueError("--nr and --hlc must be in [0, 1]")
        if min_gain_db > 0:
            raise ValueError("--min-gain-db must be <= 0")
        if max_gain_db is not None and max_gain_db < 0:
            raise ValueError("--max-gain-db must be >= 0")
        path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"no cnrhlc checkpoint at {path}; train one with "
                                    "`hltk train cnrhlc` or pass --checkpoint")
        self.nr, self.hlc = float(nr), float(hlc)
        self.min_gain_db, self.max_gain_db = float(min_gain_db), max_gain_db
        self.checkpoint = path
        self.device = torch.device(device) if device is not None else None
        self.model, self.config = load_model(path, self.device or "cpu")

    def describe(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "checkpoint_sha256": file_sha256(self.checkpoint),
                "config": self.config, "parameters": inference_parameter_count(self.model),
                "alpha_nr": self.nr, "alpha_hlc": self.hlc, "min_gain_db": self.min_gain_db,
                "max_gain_db": self.max_gain_db}

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, *,
                 lengths: torch.Tensor | None = None,
                 level_db_spl: torch.Tensor | float | None = None,
                 seeds: list[int] | None = None) -> torch.Tensor:
        del seeds
        device = self.device or audio.device
        self.model.to(device)
        batch, channels, length = audio.shape
        if lengths is None:
            lengths = torch.full((batch,), length, dtype=torch.long)
        levels = torch.as_tensor(TRAINED_LEVEL_DB_SPL if level_db_spl is None else level_db_spl,
                                 dtype=torch.float64).reshape(-1).expand(batch)
        hearing = listeners.audiograms(device=device)  # [B, C, 8]
        output = torch.zeros_like(audio)
        with torch.inference_mode():
            for item in range(batch):
                valid = int(lengths[item])
                gain = 10.0 ** ((float(levels[item]) - TRAINED_LEVEL_DB_SPL) / 20.0)
                signal = audio[item, :, :valid].to(device=device, dtype=torch.float32) * gain
                processed = self.model.enhance(signal, hearing[item], self.nr, self.hlc,
                                               min_gain_db=self.min_gain_db,
                                               max_gain_db=self.max_gain_db)
                output[item, :, :valid] = (processed / gain).to(output.device, output.dtype)
        return output


@dataclass(frozen=True)
class CnrhlcOptions:
    """Options of ``denoise-amplify --backend cnrhlc``."""

    nr: float = option(1.0, "alpha_NR in [0, 1]: how much noise reduction (0: none).", min=0.0)
    hlc: float = option(1.0, "alpha_HLC in [0, 1]: how much hearing-loss compensation (0: none).",
                        min=0.0)
    min_gain_db: float = option(DEFAULT_MIN_GAIN_DB, "Floor of the combined gain at --nr 1 "
                                "(dB; scaled by alpha_NR, 0 dB at --nr 0).")
    max_gain_db: float | None = option(None, "Cap of the combined gain (dB, >= 0).")
    checkpoint: Path | None = option(None, "A trained checkpoint instead of the shipped one.")

    def __post_init__(self) -> None:
        if self.nr > 1.0 or self.hlc > 1.0:
            raise ValueError("--nr and --hlc must be in [0, 1]")
        if self.min_gain_db > 0:
            raise ValueError("--min-gain-db must be <= 0")
        if self.max_gain_db is not None and self.max_gain_db < 0:
            raise ValueError("--max-gain-db must be >= 0")


register(
    "denoise-amplify",
    "cnrhlc",
    CnrhlcProcessor,
    "Adjustable joint noise reduction + hearing-loss compensation (band-split RNN, two masks "
    "set by --nr/--hlc; trained through a differentiable auditory model; shipped checkpoint)",
    options=CnrhlcOptions,
)
