"""Neuro-MSBG's silence-aware magnitude targets (issue 28): the target magnitude's floor and
the log-magnitude L1's floor of :class:`hltk.train.neuro_msbg.NeuroMsbgTask`, and the per-band
STOI of ``recipes/neuro_msbg/magnitude_diagnosis.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hltk.simulate.neuro_msbg import NeuroMsbgConfig, NeuroMsbgNet
from hltk.train.neuro_msbg import LOG_FLOOR, TARGET_FLOOR, NeuroMsbgTask
from tests.helpers import demo_speech

TINY = NeuroMsbgConfig(channels=4, hidden=8, blocks=1, dense_depth=1, stride=8, hop=256)
DIAGNOSIS = Path(__file__).resolve().parent.parent / "recipes" / "neuro_msbg" / "magnitude_diagnosis.py"


def _task(**floors: float) -> NeuroMsbgTask:
    return NeuroMsbgTask(None, None, 1.0, config=TINY, log_magnitude_weight=1.0,  # type: ignore[arg-type]
                         **floors)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Speech, and a target that keeps it below 2 kHz and silences the rest (as MSBG does for
    a severe high-frequency loss), with a severe audiogram."""
    speech = torch.as_tensor(demo_speech("s01", 1.0, 16000)[0], dtype=torch.float32)[None]
    spectrum = torch.fft.rfft(speech)
    frequencies = torch.fft.rfftfreq(speech.shape[-1], 1 / 16000)
    target = torch.fft.irfft(spectrum * (frequencies < 2000), n=speech.shape[-1])
    return speech, target, torch.tensor([[20.0, 30, 40, 60, 100, 110, 110, 110]])


def test_default_floors_are_the_first_models_loss() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(TINY)
    batch = _batch()
    with torch.no_grad():
        _, implicit = _task().loss(model, batch)
        _, explicit = _task(target_floor=TARGET_FLOOR, log_floor=LOG_FLOOR).loss(model, batch)
        magnitude, _ = model.spectra(batch[0], batch[2])
        target, _, _ = model.stft.analyse(batch[1])  # the Stft's own eps: the old loss
    assert implicit == explicit
    old = torch.mean(torch.abs(torch.log(magnitude + 0.01) - torch.log(target + 0.01)))
    assert implicit["log_magnitude"] == pytest.approx(float(old), rel=1e-6)
    assert "target_floor" not in _task().describe() and "log_floor" not in _task().describe()


def test_low_floors_see_the_bands_msbg_silences() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(TINY)  # untrained: its mask passes the high band through
    batch = _batch()
    low = _task(target_floor=1e-20, log_floor=0.002)
    with torch.no_grad():
        _, old = _task().loss(model, batch)
        _, new = low.loss(model, batch)
        high = slice(96, None)  # 3-8 kHz
        floored, _, _ = model.stft.analyse(batch[1], eps=TARGET_FLOOR)
        exact, _, _ = model.stft.analyse(batch[1], eps=1e-20)
    # the old target of a silenced bin is the floor, 3.2e-5 (compressed 0.045), not silence
    assert float(floored[..., high].median()) == pytest.approx(1e-9 ** 0.15, rel=1e-3)
    # without the floor: far below it (float32 rounding; the edge frames leak through padding)
    assert float(exact[:, 4:-4, high].median()) < 0.3 * 1e-9 ** 0.15
    assert new["log_magnitude"] > 1.5 * old["log_magnitude"]
    assert low.describe()["target_floor"] == 1e-20 and low.describe()["log_floor"] == 0.002


def _diagnosis() -> Any:
    spec = importlib.util.spec_from_file_location("magnitude_diagnosis", DIAGNOSIS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_band_stoi_averages_to_pystoi() -> None:
    from pystoi import stoi

    clean = demo_speech("s01", 2.0, 16000)[0]
    rng = np.random.default_rng(0)
    processed = clean + 0.05 * rng.standard_normal(clean.shape)
    bands, energy_clean, energy_processed = _diagnosis().band_stoi(clean, processed)
    assert bands.shape == (15,) and energy_clean.shape == energy_processed.shape == (15,)
    assert float(bands.mean()) == pytest.approx(stoi(clean, processed, 16000), abs=1e-9)


CHECKPOINTS = Path(__file__).resolve().parent.parent / "hltk" / "checkpoints"


def test_the_previous_default_ships_unchanged_as_v2_and_the_default_keeps_its_network() -> None:
    import hashlib

    from hltk.nn.checkpoint import load_checkpoint

    v2 = CHECKPOINTS / "neuro_msbg_cnn_v2.pt"
    assert hashlib.sha256(v2.read_bytes()).hexdigest() == (
        "bee05550088f571f2bdb840a26cd8ebbbbb49b489586b3f6e12eb2a6dc01f65c")
    # the silence-aware model (the default until the fifth session, now v3) and today's default
    silence_aware = load_checkpoint(CHECKPOINTS / "neuro_msbg_cnn_v3.pt", expect_model="neuro-msbg")
    default = load_checkpoint(CHECKPOINTS / "neuro_msbg_cnn.pt", expect_model="neuro-msbg")
    previous = load_checkpoint(v2, expect_model="neuro-msbg")
    assert silence_aware["config"] == previous["config"] == default["config"]  # same network: same speed
    data = silence_aware["training"]["data"]
    assert data["target_floor"] == 1e-20 and data["log_floor"] == 0.002
