"""The Cadenza ICASSP 2024 remix chain, one function per step.

The recipe (Cadenza ICASSP 2024 baseline, ``recipes/cad_icassp_2024/baseline/{enhance,
evaluate}.py`` in the pyclarity repository; REFERENCE.md):

1. demix the mixture into ``vocals, drums, bass, other`` (:mod:`hltk.remix.separators`);
2. :func:`apply_gains`: each stem to (its own integrated loudness + gain) LUFS, gains in dB
   from ``gains.json`` (``{"gain_0007": {"vocals": 10, "drums": 0, ...}}``);
3. :func:`remix_stems`: sum the stems, then :func:`match_loudness` to the mixture's integrated
   loudness;
4. :func:`nalr_per_ear`: NAL-R per ear with pyclarity's ``NALR(nfir=220, 44100)`` —
   ``apply`` is a full convolution, so the output is ``nfir`` samples longer than the input
   and delayed by ``nfir / 2`` (the recipe keeps both; its scoring reference is built the same
   way, so the two stay aligned); the CEC compressor is optional and off, as in the recipe;
5. :func:`to_output_rate`: 44.1 -> 32 kHz with pyclarity's ``resample`` (soxr HQ); the runner
   then applies the clip policy (``hard``, as the recipe) and writes 16-bit FLAC.

Audio in this module is numpy ``(time, channels)`` float64, the layout pyloudnorm and pyclarity
use; :mod:`hltk.remix.processor` converts at the boundary. Loudness is ITU-R BS.1770-4
integrated loudness measured by pyloudnorm (``Meter(rate)``, K-weighting, 400 ms blocks,
gating); a silent signal (``-inf`` LUFS) counts as -80 LUFS, as in the recipe.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from hltk.io.listeners import Listener

STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
MODEL_SAMPLE_RATE = 44100
REMIX_SAMPLE_RATE = 32000
HAAQI_SAMPLE_RATE = 24000
NALR_NFIR = 220
SILENT_LUFS = -80.0
#: The CEC baseline compressor settings of the recipe's config (used only when asked for).
COMPRESSOR_SETTINGS: dict[str, float] = {
    "threshold": 0.35, "attenuation": 0.1, "attack": 50, "release": 1000, "rms_buffer_size": 0.064,
}


def integrated_loudness(signal: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness (LUFS) of ``(time, channels)`` audio; silence -> -80.

    Signals shorter than one 400 ms gating block raise ``ValueError`` (pyloudnorm's rule).
    """
    import pyloudnorm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # log10(0) on silent blocks
        loudness = float(pyloudnorm.Meter(int(sample_rate)).integrated_loudness(signal))
    return SILENT_LUFS if not np.isfinite(loudness) else loudness


def _gain_to(signal: np.ndarray, loudness: float, target: float) -> np.ndarray:
    """``pyloudnorm.normalize.loudness``: scale by ``10 ** ((target - loudness) / 20)``."""
    import pyloudnorm

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Possible clipped samples in output")
        return np.asarray(pyloudnorm.normalize.loudness(signal, loudness, target))


def apply_gains(
    stems: Mapping[str, np.ndarray], sample_rate: int, gains: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Each stem ``(time, channels)`` set to its own integrated loudness + ``gains[stem]`` dB.

    A stem missing from ``gains`` keeps 0 dB. Recipe: ``evaluate.apply_gains``.
    """
    adjusted = {}
    for name, stem in stems.items():
        loudness = integrated_loudness(stem, sample_rate)
        adjusted[name] = _gain_to(stem, loudness, loudness + float(gains.get(name, 0.0)))
    return adjusted


def match_loudness(signal: np.ndarray, reference: np.ndarray, sample_rate: int) -> np.ndarray:
    """``signal`` scaled to the integrated loudness of ``reference`` (both ``(time, channels)``).

    Recipe: ``evaluate.level_normalisation``.
    """
    loudness = integrated_loudness(signal, sample_rate)
    target = integrated_loudness(reference, sample_rate)
    return _gain_to(signal, loudness, target)


def sum_stems(stems: Mapping[str, np.ndarray]) -> np.ndarray:
    """The plain sum of the stems ``(time, channels)`` (float64), before any loudness match."""
    arrays = list(stems.values())
    total = np.zeros(arrays[0].shape, dtype=np.float64)
    for stem in arrays:
        total += stem
    return total


def remix_stems(
    stems: Mapping[str, np.ndarray], mixture: np.ndarray, sample_rate: int
) -> np.ndarray:
    """Sum of the stems, matched to the mixture's integrated loudness. Recipe: ``remix_stems``."""
    return match_loudness(sum_stems(stems), mixture, sample_rate)


def _nalr(sample_rate: int, nfir: int) -> Any:
    from clarity.enhancer.nalr import NALR

    return NALR(nfir=nfir, sample_rate=sample_rate)


def nalr_per_ear(
    signal: np.ndarray,
    listener: Listener,
    sample_rate: int = MODEL_SAMPLE_RATE,
    *,
    nfir: int = NALR_NFIR,
    compressor: bool = False,
) -> np.ndarray:
    """NAL-R of each ear's audiogram on ``(time, 2)`` (left, right) -> ``(time + nfir, 2)``.

    pyclarity ``NALR.build(audiogram)`` then ``NALR.apply`` (``np.convolve``, full): the
    output keeps the filter's ``nfir / 2`` delay and tail, as the recipe's ``apply_ha``. With
    ``compressor``, pyclarity's CEC ``Compressor`` (:data:`COMPRESSOR_SETTINGS`) follows NAL-R.
    """
    if signal.ndim != 2 or signal.shape[1] != 2:
        raise ValueError(f"NAL-R per ear needs (time, 2) audio, got shape {signal.shape}")
    enhancer = _nalr(sample_rate, nfir)
    ears = []
    for channel, audiogram in enumerate((listener.left, listener.right)):
        fir, _ = enhancer.build(audiogram.to_clarity())
        ear = enhancer.apply(fir, signal[:, channel])
        if compressor:
            from clarity.enhancer.compressor import Compressor

            ear, _, _ = Compressor(fs=sample_rate, **COMPRESSOR_SETTINGS).process(ear)
        ears.append(np.asarray(ear, dtype=np.float64))
    return np.stack(ears, axis=1)


def to_output_rate(
    signal: np.ndarray, sample_rate: int = MODEL_SAMPLE_RATE, output_rate: int = REMIX_SAMPLE_RATE
) -> np.ndarray:
    """``(time, channels)`` resampled with pyclarity's ``resample`` (soxr HQ), as the recipe's
    ``save_flac_signal``."""
    from clarity.utils.signal_processing import resample

    return np.asarray(resample(signal, sample_rate, output_rate))


def remix_for_listener(
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray,
    gains: Mapping[str, float],
    listener: Listener,
    sample_rate: int = MODEL_SAMPLE_RATE,
    *,
    compressor: bool = False,
    output_rate: int | None = REMIX_SAMPLE_RATE,
) -> np.ndarray:
    """The whole chain after separation: gains -> remix -> loudness match -> NAL-R per ear ->
    ``output_rate`` (None: stay at ``sample_rate``). ``(time, 2)`` in, ``(time', 2)`` out,
    not clipped (the clip policy is applied when writing)."""
    adjusted = apply_gains(stems, sample_rate, gains)
    remix = remix_stems(adjusted, mixture, sample_rate)
    amplified = nalr_per_ear(remix, listener, sample_rate, compressor=compressor)
    if output_rate is None:
        return amplified
    return to_output_rate(amplified, sample_rate, output_rate)


def reference_for_listener(
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray,
    gains: Mapping[str, float],
    listener: Listener,
    sample_rate: int = MODEL_SAMPLE_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """The Cadenza scoring reference from the ground-truth stems: (NAL-R'd reference
    ``(time + nfir, 2)``, reference mixture before NAL-R ``(time, 2)``; the latter sets the
    HAAQI level). Recipe: ``evaluate.run_calculate_aq``."""
    adjusted = apply_gains(stems, sample_rate, gains)
    reference_mixture = remix_stems(adjusted, mixture, sample_rate)
    return nalr_per_ear(reference_mixture, listener, sample_rate), reference_mixture
