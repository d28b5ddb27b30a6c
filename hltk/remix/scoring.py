"""Cadenza scoring: HAAQI of a remix against the ground-truth remix (ICASSP 2024, CAD2).

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
from typing import Any

import numpy as np

from hltk.io.listeners import Listener
from hltk.metrics.entries import recipe_entry
from hltk.remix.chain import (
    HAAQI_SAMPLE_RATE,
    MODEL_SAMPLE_RATE,
    CompressorParams,
    cad2_task1_reference,
    cad2_task2_remix,
    compress_per_ear,
    reference_for_listener,
    to_output_rate,
)

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


# ------------------------------------------------------------------------------------- CAD2

CAD2_TASK2_PRESET = "cad2-task2"
CAD2_TASK1_PRESET = "cad2-task1"


def _haaqi_ears(processed: np.ndarray, processed_rate: int, reference: np.ndarray,
                level_source: np.ndarray, listener: Listener, seed: int,
                reference_rate: int = MODEL_SAMPLE_RATE) -> dict[str, float]:
    """HAAQI per ear at 24 kHz (``equalisation=2``, ``level1 = 65 - 20 log10(rms)`` of
    ``level_source``'s ear), the numpy RNG seeded once before the left ear; the mean of the
    ears (``haaqi``). The CAD2 recipes call ``compute_haaqi`` exactly so."""
    from clarity.evaluator.haaqi import compute_haaqi

    if processed.ndim != 2 or processed.shape[1] != 2:
        raise ValueError(f"the processed signal must be (time, 2), got {processed.shape}")
    np.random.seed(seed)
    scores = {}
    for channel, (ear, audiogram) in enumerate((("left", listener.left), ("right", listener.right))):
        scores[f"haaqi_{ear}"] = float(compute_haaqi(
            processed_signal=to_output_rate(processed[:, channel], processed_rate, HAAQI_SAMPLE_RATE),
            reference_signal=to_output_rate(reference[:, channel], reference_rate, HAAQI_SAMPLE_RATE),
            processed_sample_rate=HAAQI_SAMPLE_RATE,
            reference_sample_rate=HAAQI_SAMPLE_RATE,
            audiogram=audiogram.to_clarity(),
            equalisation=EQUALISATION,
            level1=haaqi_level(level_source[:, channel]),
        ))
    scores["haaqi"] = float(np.mean([scores["haaqi_left"], scores["haaqi_right"]]))
    return scores


def cad2_task2_haaqi(processed: np.ndarray, processed_rate: int, stems: Mapping[str, np.ndarray],
                     gains: Mapping[str, float], params: CompressorParams, listener: Listener,
                     seed: int, sample_rate: int = MODEL_SAMPLE_RATE) -> dict[str, float]:
    """CAD2 task 2 HAAQI (``recipes/cad2/task2/baseline/evaluate.py: run_calculate_aq``): the
    reference is the true stems through the scene's gains, summed, :func:`adjust_level`'d
    (``reference_mixture``), then the listener's multiband compressor per ear; ``level1`` from
    the rms of ``reference_mixture`` (before the compressor); ``seed`` = md5(scene)."""
    reference, reference_mixture = cad2_task2_remix(stems, gains, gains, params, sample_rate)
    return _haaqi_ears(processed, processed_rate, reference, reference_mixture, listener, seed,
                       sample_rate)


def cad2_task1_haaqi(processed: np.ndarray, processed_rate: int, stems: Mapping[str, np.ndarray],
                     start: int, end: int, params: CompressorParams, listener: Listener, seed: int,
                     sample_rate: int = MODEL_SAMPLE_RATE) -> dict[str, float]:
    """The HAAQI half of CAD2 task 1 (``recipes/cad2/task1/baseline/evaluate.py``, v0.6:
    ``load_reference_signal``, ``compute_quality``): reference = vocals +1 dB and bass + drums
    + other -1 dB, the whole song to -40 LUFS, cut to the segment, the listener's multiband
    compressor per ear; ``level1`` from the rms of the *compressed* reference (the recipe
    passes the compressed signal to ``compute_quality``). The task's score is ``alpha *
    Whisper correctness (better ear) + (1 - alpha) * this mean``; the Whisper half needs a
    Whisper model (not part of hltk)."""
    accompaniment = np.zeros_like(stems["vocals"])
    for name in ("bass", "drums", "other"):
        accompaniment += stems[name]
    reference = compress_per_ear(cad2_task1_reference(stems["vocals"], accompaniment, sample_rate,
                                                      start, end), params, sample_rate)
    return _haaqi_ears(processed, processed_rate, reference, reference, listener, seed, sample_rate)


def cad2_score_item(item: Any, preset: str, gains_table: Mapping[str, Mapping[str, float]] | None,
                    params: Mapping[str, CompressorParams]) -> dict[str, Any]:
    """The preset parts of an evaluate item for a CAD2 manifest row (a ``hltk manifest cad2``
    or ``hltk remix --chain cad2-taskN`` manifest): stem paths, gains, compressor settings."""
    from hltk.remix.cad2 import stem_column
    from hltk.remix.gains import row_gains
    from hltk.remix.processor import ACCOMPANIMENT, row_stem_names

    row = item.row
    names = row_stem_names(row) if preset == CAD2_TASK2_PRESET else ("vocals", *ACCOMPANIMENT)
    inputs = {name: str(item.paths[stem_column(name)]) for name in names}
    gains = row_gains(row, gains_table, names) if preset == CAD2_TASK2_PRESET else {}
    return {"inputs": inputs, "gains": gains,
            "options": {"params": params[item.listener.id],
                        "start_time": row.get("start_time", ""), "end_time": row.get("end_time", "")}}


def score_cad2(preset: str, item: Any, worker: bool) -> list[dict[str, Any]]:
    """One evaluate item of a CAD2 preset -> its ledger entry (never raises)."""
    from hltk.io.audio import read_audio
    from hltk.remix.processor import read_stem, segment_bounds

    def read() -> tuple[tuple[np.ndarray, int, dict[str, np.ndarray]], float]:
        processed, processed_rate = read_audio(item.processed)
        stems = {name: read_stem(path) for name, path in item.inputs.items()}
        return ((processed.numpy().T.astype(np.float64), processed_rate, stems),
                processed.shape[-1] / processed_rate)

    def score(read_back: tuple[np.ndarray, int, dict[str, np.ndarray]]) -> dict[str, float]:
        signal, processed_rate, stems = read_back
        params = item.options["params"]
        if preset == CAD2_TASK2_PRESET:
            return cad2_task2_haaqi(signal, processed_rate, stems, item.gains, params,
                                    item.listener, item.seed)
        length = next(iter(stems.values())).shape[0]
        start, end = segment_bounds(item.options, length)
        return cad2_task1_haaqi(signal, processed_rate, stems, start, end, params,
                                item.listener, item.seed)

    return recipe_entry(item, worker, read, score)
