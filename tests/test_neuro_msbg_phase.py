"""Neuro-MSBG's phase path (issue 28): the identity start of the residual phase head, the
magnitude-weighted anti-wrapping phase losses, and the audiogram ablation's interpolation."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from hltk.nn.audiogram import AudiogramInterpolated
from hltk.simulate.neuro_msbg import NeuroMsbgConfig, NeuroMsbgNet
from hltk.train.losses import phase_losses, weighted_phase_losses
from tests.helpers import demo_speech

TINY = dict(channels=4, hidden=8, blocks=1, dense_depth=1, stride=8, hop=256)


def _speech() -> torch.Tensor:
    return torch.as_tensor(demo_speech("s01", 0.5, 16000)[0], dtype=torch.float32)[None]


def test_identity_phase_head_starts_by_passing_the_input_phase_through() -> None:
    audio = _speech()
    levels = torch.full((1, 8), 40.0)
    torch.manual_seed(0)
    fixed = NeuroMsbgNet(NeuroMsbgConfig(identity_phase=True, **TINY)).eval()
    torch.manual_seed(0)
    old = NeuroMsbgNet(NeuroMsbgConfig(identity_phase=False, **TINY)).eval()
    with torch.no_grad():
        _, input_phase, _ = fixed.stft.analyse(audio)
        _, phase = fixed.spectra(audio, levels)
        _, old_phase = old.spectra(audio, levels)
    torch.testing.assert_close(phase, input_phase)
    # the random start rotates bins by about a radian or more on average
    offset = torch.remainder(old_phase - input_phase + math.pi, 2 * math.pi) - math.pi
    assert float(offset.abs().mean()) > 0.5


def test_identity_phase_head_still_learns() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(NeuroMsbgConfig(identity_phase=True, **TINY))
    _, phase = model.spectra(_speech(), torch.zeros(1, 8))
    phase.sum().backward()
    assert model.phase is not None
    assert float(model.phase.widen.weight.grad.abs().sum()) > 0.0  # type: ignore[union-attr]


def test_weighted_phase_losses_match_plain_at_uniform_weight_and_ignore_silent_bins() -> None:
    generator = torch.Generator().manual_seed(0)
    target = (torch.rand(2, 20, 9, generator=generator) * 2 - 1) * math.pi
    predicted = target + 0.3 * torch.randn(2, 20, 9, generator=generator)
    plain = phase_losses(predicted, target)
    uniform = weighted_phase_losses(predicted, target, torch.full_like(target, 0.7))
    for name in ("ip", "gd", "iaf"):
        torch.testing.assert_close(uniform[name], plain[name])
    # bins with zero weight may hold any phase error without changing the loss
    weight = torch.ones_like(target)
    weight[:, :, 5:] = 0.0
    scrambled = predicted.clone()
    scrambled[:, :, 6:] += 2.0
    before = weighted_phase_losses(predicted, target, weight)
    after = weighted_phase_losses(scrambled, target, weight)
    for name in ("ip", "gd", "iaf"):
        torch.testing.assert_close(before[name], after[name])
    assert float(phase_losses(scrambled, target)["ip"]) > float(plain["ip"]) + 0.3


def test_interpolated_audiogram_holds_the_levels_at_the_grid_frequencies() -> None:
    encoder = AudiogramInterpolated(257, 16000)
    levels = torch.tensor([[10.0, 20, 30, 40, 50, 60, 70, 80]])
    bins = encoder(levels)[0]
    assert bins.shape == (257,)
    frequencies = torch.linspace(0, 8000, 257)
    for hz, level in ((250, 10.0), (1000, 30.0), (4000, 60.0), (8000, 80.0)):
        index = int(torch.argmin((frequencies - hz).abs()))
        assert abs(float(bins[index]) - level / 100) < 1e-5
    assert abs(float(bins[0]) - 0.1) < 1e-6  # flat below 250 Hz
    assert bool((bins[1:] >= bins[:-1] - 1e-7).all())  # a rising audiogram stays rising


def test_model_without_the_audiogram_encoder_depends_on_the_audiogram() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(NeuroMsbgConfig(audiogram_encoder=False, **TINY)).eval()
    audio = _speech()
    with torch.no_grad():
        assert float((model(audio, torch.zeros(1, 8)) - model(audio, torch.full((1, 8), 70.0)))
                     .abs().max()) > 1e-4


@pytest.mark.slow  # makes torch-msbg pairs and trains three times: ~20-40 s on 2 busy cores
def test_fine_tune_from_a_checkpoint_without_the_new_fields_and_the_cli_flags(tmp_path: Path) -> None:
    """``--init`` from a checkpoint that predates ``identity_phase`` / ``audiogram_encoder``
    (the shipped v1) is accepted; the new flags reach the checkpoint's config and record."""
    import soundfile as sf
    from typer.testing import CliRunner

    from hltk.nn.checkpoint import load_checkpoint, save_checkpoint
    from hltk.simulate.neuro_msbg import load_model
    from hltk.train.neuro_msbg import QUICK_MODEL
    from hltk_cli.app import app
    from tests.helpers import write_manifest_csv

    (tmp_path / "audio").mkdir()
    rows = []
    for index, item in enumerate(["s01", "s02", "s03", "s04"]):
        samples, rate = demo_speech(item, 1.5, 16000)
        sf.write(tmp_path / f"audio/{item}.wav", samples, rate, subtype="PCM_16")
        rows.append({"id": item, "audio": f"audio/{item}.wav", "split": "valid" if index == 3 else "train"})
    manifest = write_manifest_csv(tmp_path / "manifest.csv", rows)
    old_config = {k: v for k, v in asdict(QUICK_MODEL).items()
                  if k not in ("identity_phase", "audiogram_encoder")}
    torch.manual_seed(0)
    old = NeuroMsbgNet(QUICK_MODEL)
    save_checkpoint(tmp_path / "old.pt", "neuro-msbg", old_config, old.state_dict(), {})
    common = ["train", "neuro-msbg", "--data", str(manifest), "--quick", "--threads", "1",
              "--steps", "3", "--cache-dir", str(tmp_path / "cache")]
    tuned = CliRunner().invoke(app, [*common, "--init", str(tmp_path / "old.pt"), "--phase-loss",
                                     "weighted", "--phase-weight", "0.1", "-o", str(tmp_path / "tuned.pt")])
    assert tuned.exit_code == 0, tuned.output
    record = load_checkpoint(tmp_path / "tuned.pt")["training"]["data"]
    assert record["phase_loss"] == "weighted" and record["loss_weights"]["phase"] == 0.1
    fresh = CliRunner().invoke(app, [*common, "--identity-phase", "--no-audiogram-encoder",
                                     "-o", str(tmp_path / "fresh.pt")])
    assert fresh.exit_code == 0, fresh.output
    config = load_model(tmp_path / "fresh.pt").config
    assert config.identity_phase and not config.audiogram_encoder
    # a flag that changes the network cannot fine-tune the old one
    refused = CliRunner().invoke(app, [*common, "--init", str(tmp_path / "old.pt"),
                                       "--no-audiogram-encoder", "-o", str(tmp_path / "bad.pt")])
    assert refused.exit_code != 0
