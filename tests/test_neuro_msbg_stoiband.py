"""The STOI band-correlation loss of Neuro-MSBG (issue 28, fifth session):
:class:`hltk.train.losses.StoiBands` follows pystoi, and :func:`hltk.train.losses.stoi_band_loss`
is zero for identical outputs and targets, and penalises (with the right gradient) an output
that keeps the reference's envelope in a band where the target holds none, at any level."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hltk.simulate.neuro_msbg import NeuroMsbgConfig
from hltk.train.losses import StoiBands, stoi_band_loss
from hltk.train.neuro_msbg import LOSS_WEIGHTS, NeuroMsbgNet, NeuroMsbgTask

RATE = 16000


def modulated_speechlike(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """Harmonics of a gliding 120 Hz voice, each band of harmonics under its own syllable-rate
    envelope (2-7 Hz), with pauses: every STOI band has its own envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros_like(t)
    for harmonic in range(1, 40):
        rate, offset = rng.uniform(2, 7), rng.uniform(0, 2 * np.pi)
        envelope = np.maximum(0.0, np.sin(2 * np.pi * rate * t + offset)) ** 2
        out += envelope * np.sin(harmonic * phase) / harmonic ** 0.5
    out *= (np.sin(2 * np.pi * 0.6 * t) > -0.8)  # pauses
    return (0.1 * out / np.abs(out).max()).astype(np.float64)


def band_filter(signal: np.ndarray, low: float, high: float) -> np.ndarray:
    spectrum = np.fft.rfft(signal)
    frequencies = np.fft.rfftfreq(len(signal), 1 / RATE)
    spectrum[(frequencies < low) | (frequencies >= high)] = 0
    return np.fft.irfft(spectrum, len(signal))


def test_band_correlations_follow_pystoi() -> None:
    from pystoi import stoi

    clean = modulated_speechlike()
    rng = np.random.default_rng(1)
    for processed in (clean + 0.02 * rng.standard_normal(len(clean)),
                      band_filter(clean, 0, 1500) + 1e-3 * rng.standard_normal(len(clean))):
        d, weight = StoiBands(RATE)(torch.from_numpy(clean)[None], torch.from_numpy(processed)[None])
        assert d.shape[:2] == (1, 15) and weight.shape == (1, d.shape[2])
        ours = float((d * weight[:, None]).sum() / (weight.sum() * 15))
        assert ours == pytest.approx(float(stoi(clean, processed, RATE)), abs=0.04)


def test_loss_is_zero_for_identical_outputs() -> None:
    clean = torch.from_numpy(modulated_speechlike())[None]
    target = torch.from_numpy(band_filter(clean[0].numpy(), 0, 2000))[None]
    assert float(stoi_band_loss(StoiBands(RATE), clean, target.clone(), target)) == 0.0


def test_loss_sees_the_clean_envelope_where_the_target_holds_none_at_any_level() -> None:
    """The target silences 2-8 kHz and holds noise there 60 dB down (no envelope of the
    clean's); the output holds the clean's own 2-8 kHz band at the same level. Magnitude
    losses see two equally quiet bands; this loss is positive, grows with the clean
    component's share, gradient descent on that share lowers it, and it does not depend on the
    output's level. (Far enough down, around -100 dB, the window's leakage from the loud bands below
    2 kHz dominates those bands in STOI's analysis too, which is what the loss then sees.)"""
    clean = modulated_speechlike()
    rng = np.random.default_rng(2)
    low = band_filter(clean, 0, 2000)
    high = band_filter(clean, 2000, 8000)
    noise = band_filter(rng.standard_normal(len(clean)), 2000, 8000)
    noise *= 1e-3 * np.std(high) / np.std(noise)
    bands = StoiBands(RATE)
    reference = torch.from_numpy(clean)[None]
    target = torch.from_numpy(low + noise)[None]
    clean_share = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    output = (torch.from_numpy(low) + (1 - clean_share) * torch.from_numpy(noise)
              + clean_share * 1e-3 * torch.from_numpy(high))[None]
    loss = stoi_band_loss(bands, reference, output, target)
    loss.backward()
    assert float(loss.detach()) > 0.01
    assert clean_share.grad is not None and float(clean_share.grad.detach()) > 0
    lower = stoi_band_loss(bands, reference, (torch.from_numpy(low) + 0.9 * torch.from_numpy(noise)
                                              + 0.1e-3 * torch.from_numpy(high))[None], target)
    assert float(lower) < float(loss.detach())
    # the whole output 60 dB louder: the same loss (STOI normalises each band-segment's level)
    louder = 1e3 * output.detach()
    assert float(stoi_band_loss(bands, reference, louder, target)) == pytest.approx(
        float(loss.detach()), rel=1e-9)


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    inputs = torch.from_numpy(np.stack([modulated_speechlike(1.0, seed),
                                        modulated_speechlike(1.0, seed + 1)])).float()
    targets = torch.from_numpy(np.stack([band_filter(x, 0, 2500) for x in inputs.double().numpy()])).float()
    return inputs, targets, torch.tensor([[20.0] * 8, [60.0] * 4 + [90.0] * 4])


def test_the_task_adds_the_terms_only_when_asked() -> None:
    config = NeuroMsbgConfig(block="cnn", channels=4, hidden=8, blocks=1, dense_depth=1, stride=8, hop=256)
    torch.manual_seed(0)
    model = NeuroMsbgNet(config)
    data = batch()
    default = NeuroMsbgTask(None, None, 1.0, config=config)  # type: ignore[arg-type]
    total, parts = default.loss(model, data)
    assert "stoi_bands" not in parts
    expected = (sum(LOSS_WEIGHTS[name] * parts[name] for name in ("magnitude", "complex", "waveform"))
                + LOSS_WEIGHTS["phase"] * parts["phase"])
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)  # the earlier recipes' loss
    asked = NeuroMsbgTask(None, None, 1.0, config=config, stoi_weight=2.0,  # type: ignore[arg-type]
                          complex_weight=1.0)
    total_asked, parts_asked = asked.loss(model, data)
    assert parts_asked["stoi_bands"] > 0 and math.isfinite(parts_asked["stoi_bands"])
    assert float(total_asked.detach()) == pytest.approx(
        expected + 0.9 * parts["complex"] + 2.0 * parts_asked["stoi_bands"], rel=1e-5)
    total_asked.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert asked.describe()["loss_weights"]["stoi_bands"] == 2.0


def test_the_default_is_the_low_floor_option_fine_tuned_with_the_stoi_band_loss() -> None:
    """The shipped default (fifth session): ``neuro_msbg_cnn_lowfloor.pt`` fine-tuned 7 000
    steps with the STOI band loss (weight 3) and the complex MSE at weight 2; same network as
    the option and the previous default (so the same speed)."""
    from pathlib import Path

    from hltk.nn.checkpoint import load_checkpoint

    checkpoints = Path(__file__).resolve().parent.parent / "hltk" / "checkpoints"
    default = load_checkpoint(checkpoints / "neuro_msbg_cnn.pt", expect_model="neuro-msbg")
    option = load_checkpoint(checkpoints / "neuro_msbg_cnn_lowfloor.pt", expect_model="neuro-msbg")
    previous = load_checkpoint(checkpoints / "neuro_msbg_cnn_v3.pt", expect_model="neuro-msbg")
    assert default["config"] == option["config"] == previous["config"]
    training = default["training"]
    weights = training["data"]["loss_weights"]
    assert weights["stoi_bands"] == 3.0 and weights["complex"] == 2.0
    assert training["data"]["log_floor"] == 0.001 and training["data"]["target_floor"] == 1e-20
    assert training["steps"] == 7000
    start = training["init"]["training"]  # the run started from the low-floor option's weights
    assert start["steps"] == option["training"]["steps"] == 7500
    assert start["data"]["log_floor"] == 0.001 and "stoi_bands" not in start["data"]["loss_weights"]
    assert any(not torch.equal(t, option["state_dict"][n]) for n, t in default["state_dict"].items())
