"""The Cadenza remix chains, one function per step: ICASSP 2024 and CAD2 (tasks 1 and 2).

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

Stems are any named signals: a mapping ``{name: (time, channels)}`` with gains keyed by the
same names. The ICASSP 2024 recipe has the four MUSDB stems (:data:`STEMS`); a CAD2 task 2
scene has two to five instrument stems named ``source_1 .. source_N`` (its ``gains.json``
keys). Nothing below depends on the names or their number.

CAD2 (``recipes/cad2/task{1,2}/baseline/{enhance,evaluate}.py``, pyclarity v0.6):

- task 2: stems -> :func:`apply_gains` -> :func:`sum_stems` (no loudness match) ->
  :func:`adjust_level` by the scene's gains -> :func:`compress_per_ear` (the per-listener
  multiband compressor) -> 32 kHz, hard clip, 16-bit FLAC;
- task 1: the song's mixture normalised to -40 LUFS (:func:`normalise_lufs`) -> vocals and
  accompaniment -> :func:`downmix_alpha` -> :func:`compress_per_ear` -> 44.1 kHz, hard
  clip, 16-bit FLAC.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hltk.io.listeners import Listener

STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
MODEL_SAMPLE_RATE = 44100
REMIX_SAMPLE_RATE = 32000
HAAQI_SAMPLE_RATE = 24000
NALR_NFIR = 220
#: CAD2's multiband compressor (``recipes/cad2/task{1,2}/baseline/config.yaml``, ``enhancer``):
#: crossovers at [250, 500, 1000, 2000, 4000] * sqrt(2) Hz, six bands.
CROSSOVER_FREQUENCIES: tuple[float, ...] = (353.55, 707.11, 1414.21, 2828.43, 5656.85)
MBC_ATTACK: tuple[float, ...] = (11, 11, 14, 13, 11, 11)
MBC_RELEASE: tuple[float, ...] = (80, 80, 80, 80, 100, 100)
MBC_THRESHOLD: tuple[float, ...] = (-30, -30, -30, -30, -30, -30)
#: CAD2 task 1's level before separation (``enhance.py``: ``normalise_luft(..., -40)``)
CAD2_TASK1_LUFS = -40.0
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


# ------------------------------------------------------------------------------------- CAD2


def adjust_level(signal: np.ndarray, scene_gains: Mapping[str, float]) -> np.ndarray:
    """CAD2 task 2's level compensation for the gains: ``signal * 10 ** (dbn / 20)`` with
    ``dbn = -10 log10(mean(10 ** (g / 10)))`` over all of the scene's gains ``g`` (dB).

    Recipe: ``recipes/cad2/task2/baseline/evaluate.py: adjust_level`` (the comment in
    ``enhance.py`` says it brings the remix "roughly to -40 dB before the compressor").
    """
    values = np.array([float(value) for value in scene_gains.values()])
    dbn = -10 * np.log10(np.sum(10 ** (values / 10)) / values.shape[0])
    return signal * 10 ** (dbn / 20)


def average_repeated_gains(gains: Mapping[str, float], instruments: Mapping[str, str]
                           ) -> dict[str, float]:
    """Stems of the same instrument get the mean of their gains (``enhance.py:
    check_repeated_source``): the recipe separates each with the one model of that instrument,
    so two violins come out as the same estimate. ``instruments``: stem -> instrument family
    (``Violin_1`` -> ``Violin``). Used with a separator, not with the true (oracle) stems."""
    families = list(instruments.values())
    repeated = [stem for stem, family in instruments.items() if families.count(family) > 1]
    mean = float(np.mean([gain for stem, gain in gains.items() if stem in repeated]))
    return {stem: (mean if stem in repeated else float(gain)) for stem, gain in gains.items()}


@dataclass(frozen=True)
class CompressorParams:
    """One listener's CAD2 multiband-compressor settings (``compressor_params.SPLIT.json``:
    ``{listener: {"cr_l": [6 ratios], "cr_r": [...], "gain_l": [6 dB], "gain_r": [...]}}``),
    with the recipe config's attack, release and threshold per band."""

    ratio_left: tuple[float, ...]
    ratio_right: tuple[float, ...]
    gain_left: tuple[float, ...]
    gain_right: tuple[float, ...]

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> CompressorParams:
        bands = len(CROSSOVER_FREQUENCIES) + 1
        values = {}
        for key in ("cr_l", "cr_r", "gain_l", "gain_r"):
            value = entry.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = [value] * bands
            if (not isinstance(value, list) or len(value) != bands
                    or not all(isinstance(v, int | float) and np.isfinite(v) for v in value)):
                raise ValueError(f"compressor parameter {key!r}: expected {bands} finite numbers")
            values[key] = tuple(float(v) for v in value)
        return cls(values["cr_l"], values["cr_r"], values["gain_l"], values["gain_r"])

    def ear(self, side: str) -> dict[str, list[float]]:
        """Keyword arguments of ``MultibandCompressor.set_compressors`` for one ear."""
        ratio, gain = ((self.ratio_left, self.gain_left) if side == "left"
                       else (self.ratio_right, self.gain_right))
        return {"attack": list(MBC_ATTACK), "release": list(MBC_RELEASE),
                "threshold": list(MBC_THRESHOLD), "ratio": list(ratio), "makeup_gain": list(gain)}


def compress_per_ear(signal: np.ndarray, params: CompressorParams,
                     sample_rate: int = MODEL_SAMPLE_RATE) -> np.ndarray:
    """``(time, 2)`` through pyclarity's ``MultibandCompressor`` (Linkwitz-Riley crossovers at
    :data:`CROSSOVER_FREQUENCIES`, one feed-forward compressor per band) with the left ear's
    settings on channel 0 and the right's on channel 1 -> ``(time, 2)``, same length.

    pyclarity's implementation is the processing (it is the reference; a per-sample Python
    loop per band). Recipe: ``enhance.py: process_remix_for_listener``.
    """
    from clarity.enhancer.multiband_compressor import MultibandCompressor

    if signal.ndim != 2 or signal.shape[1] != 2:
        raise ValueError(f"the multiband compressor per ear needs (time, 2) audio, got {signal.shape}")
    enhancer = MultibandCompressor(crossover_frequencies=list(CROSSOVER_FREQUENCIES),
                                   sample_rate=sample_rate)
    ears = []
    for channel, side in enumerate(("left", "right")):
        enhancer.set_compressors(**params.ear(side))
        ears.append(np.asarray(enhancer(np.array(signal[:, channel], dtype=np.float64)))[0])
    return np.stack(ears, axis=1)


def cad2_task2_remix(stems: Mapping[str, np.ndarray], gains: Mapping[str, float],
                     scene_gains: Mapping[str, float], params: CompressorParams,
                     sample_rate: int = MODEL_SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """CAD2 task 2 after separation: (compressed ``(time, 2)``, the remix before the
    compressor). ``gains``: what the stems get (the scene's, or averaged over repeated
    instruments); ``scene_gains``: the scene's own gains, which set :func:`adjust_level`."""
    remix = adjust_level(sum_stems(apply_gains(stems, sample_rate, gains)), scene_gains)
    return compress_per_ear(remix, params, sample_rate), remix


def normalise_lufs(signal: np.ndarray, sample_rate: int, target: float = CAD2_TASK1_LUFS) -> np.ndarray:
    """``signal * 10 ** ((target - loudness) / 20)`` (CAD2 task 1 ``normalise_luft``; unlike
    :func:`integrated_loudness`, silence is not floored: the recipe's rule)."""
    import pyloudnorm

    loudness = pyloudnorm.Meter(int(sample_rate)).integrated_loudness(signal)
    return signal * (10 ** ((target - loudness) / 20))


def downmix_alpha(vocals: np.ndarray, accompaniment: np.ndarray, alpha: float) -> np.ndarray:
    """CAD2 task 1 ``downmix_signal``: ``vocals * (alpha**2 + 1) + accompaniment * (1 - alpha**2)``
    (alpha 0: the two at their level; alpha 1: vocals doubled, accompaniment removed)."""
    vocal_gain = alpha**2 + 1
    return vocals * vocal_gain + accompaniment * (2 - vocal_gain)


def cad2_task1_reference(vocals: np.ndarray, accompaniment: np.ndarray, sample_rate: int,
                         start: int, end: int) -> np.ndarray:
    """CAD2 task 1 ``load_reference_signal``: ``vocals * 10**(1/20) + accompaniment *
    10**(-1/20)`` of the whole song, normalised to -40 LUFS, then cut to ``[start, end)``."""
    mixture = vocals * 10 ** (1 / 20) + accompaniment * 10 ** (-1 / 20)
    return normalise_lufs(mixture, sample_rate)[start:end, :]
