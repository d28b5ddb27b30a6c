"""``leaky-oracle``: a stand-in separator whose errors are set, per stem, to Hybrid Demucs'.

No separator weights exist on this machine, and a gain predictor must learn behind the
separator it will be used with (it learns what the separator gets wrong: a vocals estimate
that carries some drums is boosted less). This separator makes estimates with known, seeded
errors from the true stems:

``estimate_i = s_i + 10 ** (-D / 20) * sum_{j != i} s_j + r_i``

- the *leak*: the other stems at ``D`` dB below (``--leak-db D``, default
  :data:`DEFAULT_LEAK_DB`); a smaller ``D`` is a worse separator;
- the *residual* ``r_i``: Gaussian noise band-limited to the stem's band
  (:data:`RESIDUAL_BANDS`, 4th-order Butterworth band-pass, zero phase), scaled so that its
  energy is half of the error energy a separator with the published SDR of that stem would
  leave: ``|r_i|^2 = 0.5 |s_i|^2 10 ** (-SDR_i / 10)``; the leak at the default ``D`` brings
  roughly the other half on the synthetic songs (the measured figures are in
  ``tests/test_remix_gains.py`` and ``docs/remix-gains.md``).

``SDR_i`` (:data:`HDEMUCS_SDR_DB`) are the per-stem MUSDB18-HQ test SDRs of Hybrid Demucs
trained without extra data as tabulated in Rouard, Massa and Défossez, "Hybrid Transformers
for Music Source Separation" (ICASSP 2023, arXiv:2211.08553, Table 1, the Hybrid Demucs row;
the model of Défossez, "Hybrid Spectrogram and Waveform Source Separation", MDX workshop 2021,
arXiv:2111.03600): all 7.64, drums 8.12, bass 8.43, other 5.65, vocals 8.35 dB.

Seeding: the residual of an item is drawn from ``numpy.random.default_rng(seed)`` where
``seed`` is the runner's per-item seed (``md5("{--seed}:{id}")``,
:func:`hltk.runner.settings.item_seed`); the training pipeline draws the same. It is a
stand-in, not a separator: its errors are additive and stationary, where a real separator's
are signal-dependent (smearing, missing transients).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hltk.registry import option, register
from hltk.remix.chain import MODEL_SAMPLE_RATE, STEMS
from hltk.remix.separators import given_stems

#: Hybrid Demucs (no extra data), MUSDB18-HQ test SDR per stem, dB (see the module docstring)
HDEMUCS_SDR_DB: dict[str, float] = {"vocals": 8.35, "drums": 8.12, "bass": 8.43, "other": 5.65}
#: The leak that, with the residual at half the error budget, gives about the published SDRs
#: on the synthetic songs.
DEFAULT_LEAK_DB = 16.0
#: The band of each stem's residual (Hz): where a separator's artefacts of that stem lie.
RESIDUAL_BANDS: dict[str, tuple[float, float]] = {
    "vocals": (150.0, 8000.0), "drums": (40.0, 16000.0), "bass": (30.0, 1000.0),
    "other": (80.0, 12000.0)}
RESIDUAL_SHARE = 0.5


def band_noise(rng: np.random.Generator, length: int, channels: int, band: tuple[float, float],
               sample_rate: int = MODEL_SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS Gaussian noise ``(length, channels)`` band-passed to ``band`` (4th-order
    Butterworth, zero phase)."""
    from scipy.signal import butter, sosfiltfilt

    noise = rng.standard_normal((length, channels))
    sos = butter(4, band, btype="bandpass", fs=sample_rate, output="sos")
    shaped = sosfiltfilt(sos, noise, axis=0) if length > 27 else noise
    rms = float(np.sqrt(np.mean(shaped**2)))
    return shaped / rms if rms > 0 else shaped


def leaky_stems(stems: Mapping[str, np.ndarray], leak_db: float, seed: int,
                sample_rate: int = MODEL_SAMPLE_RATE) -> dict[str, np.ndarray]:
    """The estimates of the four stems (``(time, channels)`` float64 each), as the module
    docstring defines them."""
    rng = np.random.default_rng(seed)
    total = sum(np.asarray(stems[name], dtype=np.float64) for name in STEMS)
    leak = 10.0 ** (-leak_db / 20.0)
    estimates = {}
    for name in STEMS:
        stem = np.asarray(stems[name], dtype=np.float64)
        others = total - stem
        energy = float(np.mean(stem**2))
        noise = band_noise(rng, stem.shape[0], stem.shape[1], RESIDUAL_BANDS[name], sample_rate)
        scale = np.sqrt(RESIDUAL_SHARE * energy * 10.0 ** (-HDEMUCS_SDR_DB[name] / 10.0))
        estimates[name] = stem + leak * others + scale * noise
    return estimates


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain SDR, ``10 log10(|s|^2 / |s - s_hat|^2)`` over all samples and channels (the
    MUSDB/museval figure is a median of 1 s frames of BSS-eval SDR; this is the global one)."""
    error = float(np.sum((reference - estimate) ** 2))
    return float(10.0 * np.log10(np.sum(reference**2) / error)) if error > 0 else float("inf")


class LeakyOracleSeparator:
    """The leaky oracle (module docstring): needs the manifest's true stems, as ``oracle``."""

    name = "leaky-oracle"
    input_columns: tuple[str, ...] = STEMS
    #: the remix processor passes the runner's per-item seed (``seed=``)
    takes_seed = True

    def __init__(self, leak_db: float = DEFAULT_LEAK_DB,
                 device: str | torch.device | None = None) -> None:
        del device
        self.leak_db = float(leak_db)

    def __call__(self, mixture: torch.Tensor, stems: Mapping[str, torch.Tensor] | None = None,
                 seed: int = 0) -> dict[str, np.ndarray]:
        return leaky_stems(given_stems(mixture, stems, self.name), self.leak_db, seed)

    def describe(self) -> dict[str, Any]:
        return {"separator": "leaky-oracle", "leak_db": self.leak_db,
                "residual": {"share_of_error": RESIDUAL_SHARE, "target_sdr_db": HDEMUCS_SDR_DB,
                             "bands_hz": {k: list(v) for k, v in RESIDUAL_BANDS.items()}},
                "seed": "the runner's per-item seed md5(seed:id)"}


@dataclass(frozen=True)
class LeakyOracleOptions:
    """Options of ``remix --separator leaky-oracle``."""

    leak_db: float = option(DEFAULT_LEAK_DB, "How far below each true stem the other stems leak "
                            "into its estimate (dB); smaller is a worse separator.")


register("separate", "leaky-oracle", LeakyOracleSeparator, "the true stems with the other stems "
         "leaking in at --leak-db below plus a band-limited residual: a stand-in with Hybrid "
         "Demucs' per-stem MUSDB18-HQ SDRs", options=LeakyOracleOptions, part_of="remix")
