"""Listeners: standard audiograms, Clarity listeners.json in and out, the model grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hltk.io.listeners import (
    AUDIOGRAM_GRID,
    Audiogram,
    Listener,
    ListenerBatch,
    ListenerError,
    load_listeners,
    save_listeners,
    standard_audiograms,
    standard_listener,
)


def test_standard_sets() -> None:
    named = standard_audiograms()
    for name in ["NH", *[f"N{i}" for i in range(1, 8)], "S1", "S2", "S3", "clarity-mild",
                 "clarity-moderate", "clarity-moderate-severe"]:
        assert name in named
    assert named["N3"].levels[-1] == 65 and named["S2"].levels[8] == 95
    assert standard_listener("N4").left.severity == "SEVERE"
    assert standard_listener("NH").left.severity == "NOTHING"
    with pytest.raises(ListenerError, match="unknown standard audiogram"):
        standard_listener("N9")


def test_clarity_round_trip(tmp_path: Path) -> None:
    listener = Listener("L1", Audiogram((250, 1000, 4000), (10, 20, 60)),
                        Audiogram((250, 1000, 4000), (15, 25, 65)))
    save_listeners([listener], tmp_path / "listeners.json")
    raw = json.loads((tmp_path / "listeners.json").read_text())
    assert raw["L1"]["audiogram_levels_r"] == [15, 25, 65]
    assert load_listeners(tmp_path / "listeners.json")["L1"] == listener
    clarity = listener.to_clarity()
    assert list(clarity.audiogram_left.levels) == [10, 20, 60]


def test_grid_interpolation_matches_pyclarity() -> None:
    audiogram = standard_audiograms()["S3"]
    ours = audiogram.on_grid(AUDIOGRAM_GRID)
    theirs = audiogram.to_clarity().resample(np.array(AUDIOGRAM_GRID)).levels
    np.testing.assert_allclose(ours, theirs)


def test_listener_batch_tensor() -> None:
    batch = ListenerBatch((standard_listener("NH"), standard_listener("N7")))
    levels = batch.audiograms()
    assert levels.shape == (2, 2, len(AUDIOGRAM_GRID))
    assert float(levels[0].abs().max()) == 0.0 and float(levels[1, 1, -1]) == 105.0
    assert ListenerBatch(batch.listeners, ("right",)).audiograms().shape == (2, 1, 8)


@pytest.mark.parametrize("levels, message", [
    ((10, 200), "outside"), ((10, float("nan")), "outside"), ((10,), "hearing levels for"),
])
def test_bad_audiograms(levels: tuple[float, ...], message: str) -> None:
    with pytest.raises(ListenerError, match=message):
        Audiogram((250, 500), levels)
    with pytest.raises(ListenerError, match="ascending"):
        Audiogram((500, 250), (0, 0))
