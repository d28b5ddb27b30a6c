"""Cadenza ICASSP 2024 scoring: HAAQI of a remix against the ground-truth remix.

Recipe (``recipes/cad_icassp_2024/baseline/evaluate.py``, ``run_calculate_aq``): the reference
is the ground-truth stems through the same gains, remix, loudness match and NAL-R per ear
(:func:`hltk.remix.chain.reference_for_listener`, at 44.1 kHz, full convolution). Each ear:
processed (its file's rate, 32 kHz) and reference (44.1 kHz) resampled to 24 kHz with
pyclarity's ``resample``, then ``compute_haaqi(..., equalisation=2, level1=65 - 20 log10(rms
of the reference mixture's ear before NAL-R))``; the score is the mean of the ears. The numpy
RNG is seeded once per item, before the left ear, with ``md5(scene) % 10**8`` (the recipe's
``set_song_seed(scene_id)``); without a scene, with the item id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np

from hltk.io.listeners import Listener
from hltk.remix.chain import HAAQI_SAMPLE_RATE, MODEL_SAMPLE_RATE, reference_for_listener, to_output_rate

PRESET = "cadenza-icassp2024"
REFERENCE_LEVEL_DB_SPL = 65.0
EQUALISATION = 2


def song_seed(name: str) -> int:
    """The recipe's ``set_song_seed``: ``int(md5(name), 16) % 10**8``."""
    return int(hashlib.md5(name.encode("utf-8")).hexdigest(), 16) % (10**8)


def haaqi_level(reference_mixture_ear: np.ndarray) -> float:
    """``level1 = 65 - 20 log10(rms)`` of one ear of the reference mixture (before NAL-R)."""
    rms = float(np.sqrt(np.mean(np.square(reference_mixture_ear))))
    if rms <= 0:
        raise ValueError("silent reference mixture: the Cadenza level rule is undefined")
    return REFERENCE_LEVEL_DB_SPL - 20.0 * math.log10(rms)


def cadenza_haaqi(
    processed: np.ndarray,
    processed_rate: int,
    stems: Mapping[str, np.ndarray],
    mixture: np.ndarray,
    gains: Mapping[str, float],
    listener: Listener,
    seed: int,
    sample_rate: int = MODEL_SAMPLE_RATE,
) -> dict[str, float]:
    """HAAQI per ear and their mean: ``{"haaqi_left", "haaqi_right", "haaqi"}``.

    ``processed``: ``(time, 2)`` at ``processed_rate``; ``stems``, ``mixture``: ground truth
    ``(time, 2)`` at ``sample_rate`` (44.1 kHz). ``seed`` is set once before the left ear.
    """
    from clarity.evaluator.haaqi import compute_haaqi

    if processed.ndim != 2 or processed.shape[1] != 2:
        raise ValueError(f"the processed signal must be (time, 2), got {processed.shape}")
    reference, reference_mixture = reference_for_listener(stems, mixture, gains, listener, sample_rate)
    np.random.seed(seed)
    scores = {}
    for channel, (ear, audiogram) in enumerate((("left", listener.left), ("right", listener.right))):
        scores[f"haaqi_{ear}"] = float(compute_haaqi(
            processed_signal=to_output_rate(processed[:, channel], processed_rate, HAAQI_SAMPLE_RATE),
            reference_signal=to_output_rate(reference[:, channel], sample_rate, HAAQI_SAMPLE_RATE),
            processed_sample_rate=HAAQI_SAMPLE_RATE,
            reference_sample_rate=HAAQI_SAMPLE_RATE,
            audiogram=audiogram.to_clarity(),
            equalisation=EQUALISATION,
            level1=haaqi_level(reference_mixture[:, channel]),
        ))
    scores["haaqi"] = float(np.mean([scores["haaqi_left"], scores["haaqi_right"]]))
    return scores
