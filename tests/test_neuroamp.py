"""NeuroAMP and Denoising NeuroAMP: shapes, parameter counts, alignment, batching, a quick
training run whose loss falls, and the backends through ``hltk amplify`` /
``hltk denoise-amplify`` on a tiny manifest."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk import registry
from hltk.amplify.neuroamp import (
    ARCHS,
    NeuroAmpConfig,
    NeuroAmpNet,
    NeuroAmpRunner,
    default_checkpoint,
    parameter_count,
    preset,
)
from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.nn.checkpoint import load_checkpoint, save_checkpoint
from hltk.train.data import PairSet
from hltk.train.loop import TrainSettings
from hltk.train.neuroamp import Source, quick_model
from tests.helpers import demo_speech

RATE = 16000


def speech_batch(lengths: list[int]) -> torch.Tensor:
    """``[len(lengths), 2, max]`` demo speech at 16 kHz, zero past each item's length."""
    audio = torch.zeros(len(lengths), 2, max(lengths))
    for index, length in enumerate(lengths):
        samples, _ = demo_speech(f"s0{index + 1}", length / RATE + 0.01, RATE)
        item = torch.from_numpy(samples[:length].astype(np.float32))
        audio[index, 0, :length] = item
        audio[index, 1, :length] = 0.7 * item
    return audio


def listeners_of(*names: str) -> ListenerBatch:
    return ListenerBatch(tuple(standard_listener(name) for name in names))


@pytest.mark.parametrize("arch", ARCHS)
def test_basic_cores_are_near_half_a_million_parameters(arch: str) -> None:
    """The shipped ``basic`` sizes keep each published shape at about 0.5 M parameters (CNN:
    the published widths, 0.33 M); ``published`` LSTM and Transformer are 1.2 M and 3.3 M."""
    basic = parameter_count(NeuroAmpNet(preset(arch, "basic")))
    assert 3.0e5 <= basic <= 6.5e5, basic
    published = parameter_count(NeuroAmpNet(preset(arch, "published")))
    assert published >= basic
    model = NeuroAmpNet(preset(arch, "basic"))
    assert model.output.out_features == 257  # the published 257-unit output layer
    waveform = torch.randn(3, 8000) * 0.05
    assert model(waveform, torch.full((3, 8), 40.0)).shape == (3, 8000)


def test_zero_gain_returns_the_input_time_aligned() -> None:
    """A gain of 0 dB everywhere reconstructs the input (input phase, centred frames): the
    output is time-aligned, with no delay to compensate."""
    model = NeuroAmpNet(quick_model("lstm"))
    torch.nn.init.zeros_(model.output.weight)
    waveform = speech_batch([12000])[:, 0]
    with torch.no_grad():
        output = model(waveform, torch.full((1, 8), 50.0))
    assert torch.allclose(output, waveform, atol=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_equals_item_by_item(arch: str) -> None:
    """Items of different lengths in one batch give what each gives alone (tolerance: float32
    reductions of different batch sizes)."""
    torch.manual_seed(0)
    model = NeuroAmpNet(quick_model(arch)).eval()
    with torch.no_grad():
        model.output.weight.normal_(0, 0.05)
    runner = NeuroAmpRunner(model)
    lengths = [9000, 6000, 9000]
    audio = speech_batch(lengths)
    listeners = listeners_of("N3", "S2", "N1")
    levels = torch.tensor([100.0, 94.0, 100.0])
    with torch.no_grad():
        batched = runner(audio, listeners, lengths=torch.tensor(lengths), level_db_spl=levels)
        for index, length in enumerate(lengths):
            alone = runner(audio[index : index + 1, :, :length],
                           ListenerBatch((listeners.listeners[index],)),
                           lengths=torch.tensor([length]), level_db_spl=levels[index : index + 1])
            assert torch.allclose(batched[index, :, :length], alone[0], atol=1e-5)
            assert not batched[index, :, length:].any()


def write_corpus(folder: Path, noisy: bool = False, count: int = 6) -> Path:
    """A tiny ``hltk synth``-shaped corpus (``split`` column; ``reference`` when noisy)."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(0)
    rows = []
    for index in range(count):
        samples, rate = demo_speech(f"s0{index % 6 + 1}", 1.2, RATE)
        row = {"id": f"u{index}", "audio": f"u{index}.wav", "listener": "N3",
               "split": "valid" if index == count - 1 else "train"}
        if noisy:
            sf.write(folder / f"clean{index}.wav", samples, rate, subtype="FLOAT")
            samples = samples + generator.standard_normal(len(samples)) * 0.3 * samples.std()
            row["reference"] = f"clean{index}.wav"
        sf.write(folder / f"u{index}.wav", samples, rate, subtype="FLOAT")
        rows.append(row)
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("kind,arch", [("neuroamp", "crnn"), ("neuroamp-denoise", "lstm")])
def test_quick_training_loss_falls(tmp_path: Path, kind: str, arch: str) -> None:
    from hltk.pipelines.train_neuroamp import train_neuroamp

    noisy = kind == "neuroamp-denoise"
    manifest = write_corpus(tmp_path / "corpus", noisy=noisy)
    source = Source(str(manifest), "audio", "reference" if noisy else "audio")
    result = train_neuroamp([source], tmp_path / "model.pt", model_kind=kind, arch=arch,
                            settings=TrainSettings(threads=1), quick=True)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"]
    content = load_checkpoint(result.checkpoint, expect_model=kind)
    assert content["config"]["arch"] == arch
    assert content["training"]["data"]["target_backend"] == "nalr-wdrc"


def _denoise_loss_setup() -> tuple[NeuroAmpConfig, NeuroAmpNet,
                                    tuple[torch.Tensor, torch.Tensor, torch.Tensor], PairSet]:
    """A tiny denoiser, a 1 s batch of two noisy items (speech + white noise), their targets
    (the clean speech, louder) and audiograms, and the pair set they make."""
    torch.manual_seed(0)
    config = quick_model("lstm")
    targets = 1.5 * speech_batch([RATE, RATE])[:, 1]
    noisy = targets + 0.05 * torch.randn(2, RATE)
    audiograms = torch.full((2, 8), 40.0)
    pairs = PairSet(noisy, targets, torch.tensor([RATE, RATE]), audiograms, RATE)
    return config, NeuroAmpNet(config), (noisy, targets, audiograms), pairs


def test_stoi_weight_adds_the_band_loss_to_the_unchanged_spectral_loss() -> None:
    """``stoi_weight``: the spectral term is exactly the weight-0 loss, the STOI band term is
    added with its weight and carries gradient; with the target as the output it is ~0."""
    from hltk.train.neuroamp import NeuroAmpTask

    config, model, (noisy, targets, audiograms), empty = _denoise_loss_setup()
    plain = NeuroAmpTask(empty, None, 1.0, config=config, model_kind="neuroamp-denoise")
    weighted = NeuroAmpTask(empty, None, 1.0, config=config, model_kind="neuroamp-denoise",
                            stoi_weight=2.0)
    base, base_parts = plain.loss(model, (noisy, targets, audiograms))
    total, parts = weighted.loss(model, (noisy, targets, audiograms))
    assert parts["spectral_mse"] == base_parts["spectral_mse"] == float(base)
    assert parts["stoi_bands"] > 0.01
    assert float(total) == pytest.approx(parts["spectral_mse"] + 2.0 * parts["stoi_bands"], rel=1e-6)
    total.backward()
    assert model.output.weight.grad is not None and model.output.weight.grad.abs().sum() > 0
    # the synthesised waveform is what the model outputs
    with torch.no_grad():
        spectrum = model.stft.complex(noisy)
        gains = model.gains_db(spectrum.abs(), audiograms)
        assert torch.equal(model.synthesise(spectrum, gains, RATE), model(noisy, audiograms))
    # the band correlation of a target with itself: no loss
    from hltk.train.losses import StoiBands, stoi_band_loss

    assert float(stoi_band_loss(StoiBands(RATE), targets, targets, targets)) < 1e-12


def test_level_weight_pulls_the_output_band_levels_to_the_target() -> None:
    """``level_weight``: third-octave band levels in units of 10 dB; a uniform 10 dB excess
    costs ~1, equal levels cost 0; the task adds it with its weight and gradient."""
    from hltk.train.losses import band_level_loss, third_octave_matrix
    from hltk.train.neuroamp import NeuroAmpTask

    bands = third_octave_matrix(257, RATE)
    assert bands.shape == (19, 257)
    assert torch.all(bands.sum(dim=0)[5:] == 1) and not bands[:, :3].any()  # 125 Hz up, once each
    power = torch.rand(2, 30, 257) + 0.01
    assert float(band_level_loss(power, power, bands)) == 0.0
    assert 0.95 < float(band_level_loss(10.0 * power, power, bands)) <= 1.0
    assert float(band_level_loss(0.5 * power, power, bands)) == pytest.approx(0.0906, abs=1e-3)

    config, model, (noisy, targets, audiograms), pairs = _denoise_loss_setup()
    task = NeuroAmpTask(pairs, None, 1.0, config=config, model_kind="neuroamp-denoise",
                        level_weight=3.0)
    total, parts = task.loss(model, (noisy, targets, audiograms))
    assert parts["band_level"] > 0.01 and "stoi_bands" not in parts
    assert float(total) == pytest.approx(parts["spectral_mse"] + 3.0 * parts["band_level"], rel=1e-6)
    total.backward()
    assert model.output.weight.grad is not None and model.output.weight.grad.abs().sum() > 0


def test_fine_tuning_with_init_through_the_cli(tmp_path: Path) -> None:
    """``hltk train neuroamp --init``: starts from the given weights (its first loss is the
    first run's last, not a fresh model's) and records where it started."""
    manifest = write_corpus(tmp_path / "corpus")
    common = ["train", "neuroamp", "--data", str(manifest), "--arch", "cnn", "--quick",
              "--threads", "1", "--cache-dir", str(tmp_path / "cache"), "-q"]
    first = invoke(*common, "-o", str(tmp_path / "first.pt"))
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    tuned = invoke(*common, "-o", str(tmp_path / "tuned.pt"), "--init", str(tmp_path / "first.pt"))
    assert tuned.exit_code == 0, tuned.output  # type: ignore[attr-defined]
    before = load_checkpoint(tmp_path / "first.pt", expect_model="neuroamp")["training"]
    after = load_checkpoint(tmp_path / "tuned.pt", expect_model="neuroamp")["training"]
    assert after["init"]["checkpoint"] == str(tmp_path / "first.pt")
    assert after["history"][0]["train_loss"] < before["history"][0]["train_loss"]
    mismatch = invoke("train", "neuroamp", "--data", str(manifest), "--arch", "crnn", "--quick",
                      "--cache-dir", str(tmp_path / "cache"), "-q", "-o",
                      str(tmp_path / "other.pt"), "--init", str(tmp_path / "first.pt"))
    assert mismatch.exit_code != 0


def invoke(*args: str) -> object:
    from hltk_cli.app import app

    return CliRunner().invoke(app, list(args))


def test_backends_run_through_the_cli(tmp_path: Path) -> None:
    """``amplify --backend neuroamp`` and ``denoise-amplify --backend neuroamp-denoise`` with a
    given checkpoint write aligned outputs of the input's length."""
    manifest = write_corpus(tmp_path / "corpus", noisy=True, count=2)
    model = NeuroAmpNet(quick_model("cnn"))
    for kind in ("neuroamp", "neuroamp-denoise"):
        save_checkpoint(tmp_path / f"{kind}.pt", kind, asdict(model.config), model.state_dict(), {})
    for command, backend in (("amplify", "neuroamp"), ("denoise-amplify", "neuroamp-denoise")):
        out = tmp_path / backend
        result = invoke(command, str(manifest), "-o", str(out), "--backend", backend,
                        "--checkpoint", str(tmp_path / f"{backend}.pt"), "-q")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        for index in range(2):
            written, rate = sf.read(out / "audio" / f"u{index}.wav")
            source, _ = sf.read(tmp_path / "corpus" / f"u{index}.wav")
            assert rate == RATE and written.shape == (len(source), 2)
    refused = invoke("amplify", str(manifest), "-o", str(tmp_path / "bad"), "--backend",
                     "neuroamp", "--arch", "gru", "-q")
    assert refused.exit_code == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("arch", ARCHS)
def test_shipped_checkpoints_load(arch: str) -> None:
    path = default_checkpoint(arch)
    if not path.is_file():
        pytest.skip(f"{path.name} not shipped")
    processor = registry.create("amplify", "neuroamp", arch=arch)
    audio = speech_batch([8000])
    output = processor(audio, listeners_of("N3"), lengths=torch.tensor([8000]),
                       level_db_spl=torch.tensor([100.0]))
    assert output.shape == audio.shape and torch.isfinite(output).all()
    # amplified for a moderate loss: louder than the input
    assert output.square().mean() > audio.square().mean()


SHORT = 10  # samples: well under half an STFT window (257 samples)


@pytest.mark.parametrize("task,backend,options", [
    *[("amplify", "neuroamp", {"arch": arch}) for arch in ARCHS],
    ("denoise-amplify", "neuroamp-denoise", {}),
])
def test_a_10_sample_item_is_processed(task: str, backend: str, options: dict[str, str]) -> None:
    """An item shorter than the STFT's reflect padding is zero-padded for the network and cut
    back: same length, finite, not silent, and the same whether it runs alone or beside a
    normal-length item (each length group is padded on its own)."""
    try:
        processor = registry.create(task, backend, **options)
    except FileNotFoundError:
        pytest.skip(f"{backend} {options} checkpoint not shipped")
    audio = speech_batch([8000, SHORT])
    short = audio[1:, :, :SHORT].contiguous()
    listeners = listeners_of("N3", "S2")
    alone = processor(short, listeners_of("S2"), lengths=torch.tensor([SHORT]),
                      level_db_spl=torch.tensor([100.0]))
    assert alone.shape == (1, 2, SHORT)
    assert torch.isfinite(alone).all() and alone.abs().max() > 0
    beside = processor(audio, listeners, lengths=torch.tensor([8000, SHORT]),
                       level_db_spl=torch.tensor([100.0, 100.0]))
    torch.testing.assert_close(beside[1:, :, :SHORT], alone, rtol=0, atol=0)
    assert beside[1:, :, SHORT:].abs().max() == 0


def test_a_10_sample_item_through_the_cli(tmp_path: Path) -> None:
    """The runner writes a 10-sample output for a 10-sample input (before: a torch padding
    error)."""
    samples, _ = demo_speech("s01", 0.1, RATE)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "tiny.wav", samples[:SHORT], RATE, subtype="FLOAT")
    manifest = corpus / "manifest.csv"
    manifest.write_text("id,audio,listener\ntiny,tiny.wav,N3\n")
    model = NeuroAmpNet(quick_model("cnn"))
    save_checkpoint(tmp_path / "cnn.pt", "neuroamp", asdict(model.config), model.state_dict(), {})
    result = invoke("amplify", str(manifest), "-o", str(tmp_path / "out"), "--backend",
                    "neuroamp", "--checkpoint", str(tmp_path / "cnn.pt"), "-q")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    written, rate = sf.read(tmp_path / "out" / "audio" / "tiny.wav")
    assert rate == RATE and written.shape == (SHORT, 2)
