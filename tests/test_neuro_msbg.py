"""Neuro-MSBG: the network (every block), the shared training loop (loss falls, resume is
exact), checkpoints, and the ``neuro-msbg`` backend through ``hltk simulate``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.nn.checkpoint import CheckpointError, load_checkpoint
from hltk.nn.mamba import Mamba
from hltk.pipelines.train import train_neuro_msbg
from hltk.simulate.neuro_msbg import NeuroMsbg, NeuroMsbgConfig, NeuroMsbgNet, load_model
from hltk.train.card import model_card
from hltk.train.loop import TrainSettings
from hltk.train.neuro_msbg import QUICK_MODEL
from hltk_cli.app import app
from tests.helpers import demo_speech, write_manifest_csv

TINY = dict(channels=4, hidden=8, blocks=1, dense_depth=1, stride=8, hop=256)


def _speech(count: int = 3, seconds: float = 1.0) -> torch.Tensor:
    return torch.stack([torch.as_tensor(demo_speech(item, seconds, 16000)[0], dtype=torch.float32)
                        for item in ["s01", "s02", "s03", "s04"][:count]])


@pytest.mark.parametrize("block", ["lstm", "transformer", "cnn", "mamba"])
def test_every_block_runs_and_passes_gradients_to_the_input(block: str) -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(NeuroMsbgConfig(block=block, **TINY))
    audio = _speech(2, 0.5).requires_grad_(True)
    levels = torch.tensor([[10.0, 10, 20, 30, 40, 50, 60, 60], [0.0] * 8])
    output = model(audio, levels)
    assert output.shape == audio.shape
    assert torch.isfinite(output).all()
    output.pow(2).sum().backward()
    assert audio.grad is not None and torch.isfinite(audio.grad).all()
    assert float(audio.grad.abs().sum()) > 0.0


def test_output_depends_on_the_audiogram() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(NeuroMsbgConfig(**TINY)).eval()
    audio = _speech(1)
    with torch.no_grad():
        normal = model(audio, torch.zeros(1, 8))
        impaired = model(audio, torch.full((1, 8), 70.0))
    assert float((normal - impaired).abs().max()) > 1e-4


def test_batched_equals_item_by_item() -> None:
    torch.manual_seed(1)
    model = NeuroMsbgNet(NeuroMsbgConfig(block="lstm", **TINY)).eval()
    audio = _speech(3)
    levels = torch.tensor([[0.0] * 8, [20.0] * 8, [60.0] * 8])
    with torch.no_grad():
        batched = model(audio, levels)
        single = torch.cat([model(audio[i : i + 1], levels[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


def test_backend_padded_batch_equals_each_item_alone() -> None:
    """The runner pads a batch to its longest item and passes ``lengths``: each item must come
    out as it does alone (the instance norms would otherwise see the padding)."""
    backend = NeuroMsbg()
    speech = _speech(2, 1.0)
    sizes = [16000, 9000]
    audio = torch.zeros(2, 2, 16000)
    for index, size in enumerate(sizes):
        audio[index, 0, :size] = speech[index, :size]
        audio[index, 1, :size] = 0.5 * speech[index, :size]
    listeners = ListenerBatch((standard_listener("N2"), standard_listener("S1")))
    levels = torch.tensor([100.0, 90.0])
    with torch.no_grad():
        batched = backend(audio, listeners, lengths=torch.tensor(sizes), level_db_spl=levels)
        unaware = backend(audio, listeners, level_db_spl=levels)
        for index, size in enumerate(sizes):
            alone = backend(audio[index:index + 1, :, :size], listeners.select([index]),
                            lengths=torch.tensor([size]), level_db_spl=levels[index:index + 1])
            torch.testing.assert_close(batched[index:index + 1, :, :size], alone, atol=1e-6, rtol=0)
            assert not batched[index, :, size:].any()
    # without the lengths the short item's output depends on the padding
    assert float((unaware[1, :, :9000] - batched[1, :, :9000]).abs().max()) > 1e-4


def test_magnitude_only_keeps_the_input_phase() -> None:
    torch.manual_seed(0)
    model = NeuroMsbgNet(NeuroMsbgConfig(phase="none", **TINY)).eval()
    audio = _speech(1)
    with torch.no_grad():
        _, phase = model.spectra(audio, torch.zeros(1, 8))
        _, input_phase, _ = model.stft.analyse(audio)
    torch.testing.assert_close(phase, input_phase)


def test_mamba_is_causal() -> None:
    torch.manual_seed(0)
    layer = Mamba(8, d_state=4, expand=2)
    sequence = torch.randn(2, 12, 8)
    changed = sequence.clone()
    changed[:, 7:] += 1.0
    with torch.no_grad():
        before, after = layer(sequence), layer(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7])
    assert float((before[:, 7:] - after[:, 7:]).abs().max()) > 1e-3


@pytest.fixture(scope="module")
def training_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("neuro_corpus")
    (folder / "audio").mkdir()
    rows = []
    for index, item in enumerate(["s01", "s02", "s03", "s04", "s05", "s06"]):
        samples, rate = demo_speech(item, 1.5, 16000)
        sf.write(folder / f"audio/{item}.wav", samples, rate, subtype="PCM_16")
        rows.append({"id": item, "audio": f"audio/{item}.wav",
                     "split": "valid" if index >= 4 else "train"})
    return write_manifest_csv(folder / "manifest.csv", rows)


def _quick(manifest: Path, checkpoint: Path, steps: int | None = None,
           stop_after: int | None = None) -> list[dict[str, float]]:
    """A ``--quick`` run; the pairs are cached beside the manifest (made once per module).
    ``stop_after``: press Ctrl-C after that step."""

    def progress(step: int, total: int, losses: dict[str, float]) -> None:
        if stop_after is not None and step >= stop_after:
            raise KeyboardInterrupt

    result = train_neuro_msbg([manifest], checkpoint, model={}, settings=TrainSettings(threads=1),
                              quick=True, cache_dir=manifest.parent / "cache", steps=steps,
                              progress=progress)
    return result.history


def test_quick_training_lowers_the_loss_and_writes_a_loadable_checkpoint(
        training_manifest: Path, tmp_path: Path) -> None:
    history = _quick(training_manifest, tmp_path / "quick.pt")
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    assert history[-1]["valid_loss"] < history[0]["valid_loss"]
    content = load_checkpoint(tmp_path / "quick.pt", expect_model="neuro-msbg")
    assert content["training"]["steps"] == 40 and content["config"]["block"] == "cnn"
    model = load_model(tmp_path / "quick.pt")
    assert model.config == QUICK_MODEL
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "quick.pt", expect_model="neuroamp")
    card = model_card(tmp_path / "quick.pt", command="hltk train neuro-msbg --quick")
    parameters = sum(p.numel() for p in model.parameters())
    assert f"{parameters:,} parameters" in card and "| block | cnn |" in card
    assert "steps: 40" in card and "hltk train neuro-msbg --quick" in card


def test_an_interrupted_run_resumes_to_the_same_weights(training_manifest: Path, tmp_path: Path) -> None:
    _quick(training_manifest, tmp_path / "straight.pt")
    with pytest.raises(KeyboardInterrupt):  # interrupted at step 25; the last checkpoint is at 20
        _quick(training_manifest, tmp_path / "resumed.pt", stop_after=25)
    assert load_checkpoint(tmp_path / "resumed.pt")["training"]["steps"] == 20
    _quick(training_manifest, tmp_path / "resumed.pt")
    straight = load_checkpoint(tmp_path / "straight.pt")["state_dict"]
    resumed = load_checkpoint(tmp_path / "resumed.pt")
    assert resumed["training"]["steps"] == 40
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed["state_dict"][name], tensor, atol=1e-6, rtol=1e-5)


def test_simulate_cli_with_a_checkpoint(training_manifest: Path, tmp_path: Path,
                                        speech_manifest: Path) -> None:
    _quick(training_manifest, tmp_path / "quick.pt", steps=5)
    out = tmp_path / "sim"
    result = CliRunner().invoke(app, ["simulate", str(speech_manifest), "-o", str(out), "--backend",
                                      "neuro-msbg", "--checkpoint", str(tmp_path / "quick.pt"),
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    written = sorted((out / "audio").glob("*.wav"))
    assert len(written) == 4
    samples, rate = sf.read(written[0])
    source, source_rate = sf.read(speech_manifest.parent / "audio" / "item00.wav")
    assert rate == source_rate and samples.shape == (len(source), 2)  # resampled back, both ears
    missing = CliRunner().invoke(app, ["simulate", str(speech_manifest), "-o", str(tmp_path / "x"),
                                       "--backend", "neuro-msbg", "--checkpoint", "nope.pt"])
    assert missing.exit_code == 2
    wrong = CliRunner().invoke(app, ["simulate", str(speech_manifest), "-o", str(tmp_path / "y"),
                                     "--checkpoint", str(tmp_path / "quick.pt")])
    assert wrong.exit_code == 2 and "--checkpoint" in wrong.output


def test_backend_levels_and_ears(training_manifest: Path, tmp_path: Path) -> None:
    _quick(training_manifest, tmp_path / "quick.pt", steps=5)
    backend = NeuroMsbg(tmp_path / "quick.pt")
    audio = _speech(2)[:, None, :].expand(-1, 2, -1).contiguous()
    listeners = ListenerBatch((standard_listener("N2"), standard_listener("S2")))
    output = backend(audio, listeners, lengths=torch.tensor([16000, 16000]),
                     level_db_spl=torch.tensor([100.0, 100.0]), seeds=[0, 1])
    assert output.shape == audio.shape
    model = backend.model
    with torch.no_grad():
        left = model(audio[:, 0], listeners.audiograms()[:, 0])
    torch.testing.assert_close(output[:, 0], left)
    assert np.isfinite(output.numpy()).all()


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        NeuroMsbgConfig(block="gru")
    with pytest.raises(ValueError):
        replace(QUICK_MODEL, stride=3)


def test_train_cli_quick(training_manifest: Path, tmp_path: Path) -> None:
    import json

    result = CliRunner().invoke(app, ["train", "neuro-msbg", "--data", str(training_manifest), "-o",
                                      str(tmp_path / "cli.pt"), "--quick", "--threads", "1",
                                      "--cache-dir", str(training_manifest.parent / "cache"),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout[result.stdout.index("["):])[0]
    assert row["steps"] == 40 and row["final_train_loss"] < row["first_train_loss"]
    missing = CliRunner().invoke(app, ["train", "neuro-msbg", "--data", str(tmp_path / "none.csv"),
                                       "-o", str(tmp_path / "x.pt"), "--quick"])
    assert missing.exit_code == 2


def test_cnn_block_grid_path_equals_the_sequence_path() -> None:
    """The CNN dual-path block runs channels-last on the grid (speed); it must compute what
    the same layers compute on reshaped sequences."""
    from hltk.nn.sequence import DualPathBlock

    torch.manual_seed(0)
    block = DualPathBlock("cnn", 12, 24).eval()
    features = torch.randn(3, 12, 40, 33)
    batch, channels, frames, bins = features.shape
    with torch.no_grad():
        fast = block(features)
        along_time = block.time(features.permute(0, 3, 2, 1).reshape(batch * bins, frames, channels))
        along_time = along_time.reshape(batch, bins, frames, channels).transpose(1, 2)
        slow = block.frequency(along_time.reshape(batch * frames, bins, channels))
        slow = slow.reshape(batch, frames, bins, channels).permute(0, 3, 1, 2)
    torch.testing.assert_close(fast, slow, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize(("inputs", "outputs", "stride"), [(12, 1, 8), (12, 2, 8), (5, 3, 4), (4, 2, 1)])
def test_polyphase_widen_equals_the_transposed_convolution(inputs: int, outputs: int, stride: int) -> None:
    """The decoders widen the bins with a polyphase convolution (speed); it must equal the
    ConvTranspose2d whose weights it uses, values and gradients."""
    from hltk.nn.heads import _frequency_conv, widen

    torch.manual_seed(stride)
    conv = _frequency_conv(inputs, outputs, stride, transposed=True)
    assert isinstance(conv, torch.nn.ConvTranspose2d)
    features = torch.randn(2, inputs, 7, 33, requires_grad=True)
    expected = conv(features)
    fast = widen(conv, features)
    assert fast.shape == expected.shape
    torch.testing.assert_close(fast, expected, atol=2e-6, rtol=1e-5)
    (grad_fast,) = torch.autograd.grad(fast.square().sum(), features)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), features)
    torch.testing.assert_close(grad_fast, grad_expected, atol=1e-5, rtol=1e-5)


def test_backend_cpu_passes_are_cut_by_frames_and_equal_one_pass(tmp_path: Path) -> None:
    """On a CPU the backend runs a batch in passes of about ``cpu_frames`` frames (speed);
    the output must not depend on how the batch is cut."""
    from dataclasses import asdict

    from hltk.nn.checkpoint import save_checkpoint

    checkpoint = tmp_path / "passes.pt"
    torch.manual_seed(3)
    model = NeuroMsbgNet(NeuroMsbgConfig(block="cnn", **TINY))
    save_checkpoint(checkpoint, "neuro-msbg", asdict(model.config), model.state_dict(), {})
    listeners = ListenerBatch(tuple(standard_listener(name) for name in ("NH", "N3", "S2")))
    audio = _speech(3)[:, None, :].expand(-1, 2, -1).contiguous()
    whole = NeuroMsbg(checkpoint, cpu_frames=10**6)
    cut = NeuroMsbg(checkpoint, cpu_frames=1)
    frames = audio.shape[-1] // whole.model.config.hop + 1
    assert whole.pass_size(torch.device("cpu"), audio.shape[-1]) == whole.max_batch
    assert cut.pass_size(torch.device("cpu"), audio.shape[-1]) == 1
    assert NeuroMsbg(checkpoint, cpu_frames=2 * frames).pass_size(torch.device("cpu"), audio.shape[-1]) == 2
    assert cut.pass_size(torch.device("cuda"), audio.shape[-1]) == cut.max_batch
    with torch.no_grad():
        torch.testing.assert_close(cut(audio, listeners), whole(audio, listeners), atol=1e-5, rtol=0)


def test_a_10_sample_input_is_padded_and_cut_back() -> None:
    """A batch shorter than the STFT's reflect padding (256 samples here) runs as if zero-
    padded to 257 samples, and the output is cut back to the input's 10 samples."""
    backend = NeuroMsbg()  # the shipped checkpoint
    audio = _speech(1, 0.1)[:, None, :].expand(-1, 2, -1).contiguous()
    padded = audio[..., :257].clone()
    padded[..., 10:] = 0
    listeners = ListenerBatch((standard_listener("S2"),))
    short = backend(audio[..., :10].contiguous(), listeners, lengths=torch.tensor([10]),
                    level_db_spl=torch.tensor([100.0]))
    assert short.shape == (1, 2, 10) and torch.isfinite(short).all()
    assert short.abs().max() > 0
    with torch.no_grad():
        expected = backend(padded, listeners, lengths=torch.tensor([257]),
                           level_db_spl=torch.tensor([100.0]))[..., :10]
    torch.testing.assert_close(short, expected, rtol=0, atol=0)


def test_a_10_sample_item_through_simulate(tmp_path: Path) -> None:
    samples, _ = demo_speech("s01", 0.1, 16000)
    sf.write(tmp_path / "tiny.wav", samples[:10], 16000, subtype="FLOAT")
    manifest = write_manifest_csv(tmp_path / "manifest.csv",
                                  [{"id": "tiny", "audio": "tiny.wav", "listener": "N3"}])
    result = CliRunner().invoke(app, ["simulate", str(manifest), "-o", str(tmp_path / "out"),
                                      "--backend", "neuro-msbg", "-q"])
    assert result.exit_code == 0, result.output
    written, rate = sf.read(tmp_path / "out" / "audio" / "tiny.wav")
    assert rate == 16000 and written.shape == (10, 2)


def test_train_command_takes_the_silence_aware_floors(training_manifest: Path,
                                                       tmp_path: Path) -> None:
    """`hltk train neuro-msbg --target-floor --log-floor` reach the task and its record."""
    from typer.testing import CliRunner

    from hltk_cli.app import app

    out = tmp_path / "floored.pt"
    result = CliRunner().invoke(app, [
        "train", "neuro-msbg", "--data", str(training_manifest), "-o", str(out), "--quick",
        "--steps", "2", "--cache-dir", str(training_manifest.parent / "cache"), "--threads", "1",
        "--target-floor", "1e-20", "--log-floor", "0.002", "-q"])
    assert result.exit_code == 0, result.output
    record = str(load_checkpoint(out, expect_model="neuro-msbg"))
    assert "'target_floor': 1e-20" in record and "'log_floor': 0.002" in record
