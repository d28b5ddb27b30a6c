"""The adjustable joint NR + HLC network (hltk/nn/bsrnn.py), its training loss through the msbg
auditory model (hltk/train/cnrhlc.py) and the ``cnrhlc`` denoise-amplify backend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hltk.denoise.cnrhlc import CnrhlcProcessor
from hltk.io.listeners import (
    AUDIOGRAM_GRID,
    BISGAARD_FREQUENCIES,
    Listener,
    ListenerBatch,
    standard_listener,
)
from hltk.nn.bsrnn import (
    PAPER_CONFIG,
    QUICK_CONFIG,
    BandSplitRnn,
    Masks,
    audiogram_interpolation,
    band_edges,
    combine_masks,
    hz_to_mel,
    inference_parameter_count,
)
from hltk.nn.checkpoint import save_checkpoint
from hltk.train.cnrhlc import CnrhlcTask, MsbgResponse, NoisySet, auditory_model, periodic_resample
from tests.helpers import batch_of, speech


def _trained_like(config=QUICK_CONFIG, seed: int = 3) -> BandSplitRnn:
    """A network whose heads are not the identity (random weights everywhere)."""
    torch.manual_seed(seed)
    model = BandSplitRnn(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "outputs" in name or "film" in name:
                parameter.normal_(0.0, 0.3)
    return model.eval()


def _checkpoint(tmp_path: Path) -> Path:
    model = _trained_like()
    path = tmp_path / "cnrhlc.pt"
    save_checkpoint(path, "cnrhlc", {**QUICK_CONFIG.to_dict(), "auditory_model": "msbg"},
                    model.state_dict(), {})
    return path


def test_band_edges_are_uniform_on_the_mel_scale() -> None:
    edges = band_edges(512, 16000, 32)
    assert edges[0] == 0 and edges[-1] == 257 and len(edges) == 33
    widths = np.diff(edges)
    assert (widths >= 1).all()
    # above the bottom bands (forced to one bin), each band spans about the same mels
    mels = hz_to_mel(np.asarray(edges) * 16000 / 512)
    spans = np.diff(mels)[8:]
    assert spans.max() / spans.min() < 1.6
    assert widths[-1] > 4 * widths[0]


def test_audiogram_reaches_the_network_on_the_bisgaard_frequencies() -> None:
    weights = audiogram_interpolation()
    levels = torch.tensor([[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]])
    on_bisgaard = (levels @ weights.T)[0]
    for frequency, value in zip(BISGAARD_FREQUENCIES, on_bisgaard.tolist(), strict=True):
        if frequency in AUDIOGRAM_GRID:  # shared frequencies keep their level exactly
            assert value == pytest.approx(levels[0, AUDIOGRAM_GRID.index(frequency)].item())
    # 375 Hz: log2(1.5) of the way from 250 to 500 Hz on log frequency
    assert on_bisgaard[1].item() == pytest.approx(10.0 + 10.0 * math.log2(1.5), rel=1e-5)
    model = BandSplitRnn(QUICK_CONFIG)
    assert torch.allclose(model.condition(levels), on_bisgaard / 100.0)


def test_parameter_counts() -> None:
    paper = inference_parameter_count(BandSplitRnn(PAPER_CONFIG))
    assert 3_000_000 < paper < 6_000_000  # the published scale (64 ch, 6 layers, BLSTM 128)


def test_alpha_scales_gain_in_db_and_phase_and_the_floor_follows_alpha_nr() -> None:
    shape = (1, 2, 3)
    masks = Masks(torch.full(shape, -30.0), torch.full(shape, 0.4),
                  torch.full(shape, 24.0), torch.full(shape, -0.2))
    half = combine_masks(masks, 0.5, 0.5)
    assert torch.allclose(20 * torch.log10(half.abs()), torch.full(shape, -3.0), atol=1e-4)
    assert torch.allclose(half.angle(), torch.full(shape, 0.1), atol=1e-6)
    nr_only = combine_masks(masks, 1.0, 0.0, min_gain_db=-20.0)  # -30 dB floored at -20
    assert torch.allclose(20 * torch.log10(nr_only.abs()), torch.full(shape, -20.0), atol=1e-4)
    half_nr = combine_masks(masks, 0.5, 0.0, min_gain_db=-20.0)  # -15 dB, floor -10 dB
    assert torch.allclose(20 * torch.log10(half_nr.abs()), torch.full(shape, -10.0), atol=1e-4)
    capped = combine_masks(masks, 0.0, 1.0, min_gain_db=-20.0, max_gain_db=12.0)
    assert torch.allclose(20 * torch.log10(capped.abs()), torch.full(shape, 12.0), atol=1e-4)
    assert torch.equal(combine_masks(masks, 0.0, 0.0, min_gain_db=-20.0),
                       torch.ones(shape, dtype=torch.complex64))


def test_zero_alphas_return_real_speech_to_float_precision(tmp_path: Path) -> None:
    clean = speech("s01", seconds=1.3, rate=16000)
    audio = torch.stack([clean, 0.5 * clean])[None]  # [1, 2, T]
    processor = CnrhlcProcessor(nr=0.0, hlc=0.0, min_gain_db=-25.0, max_gain_db=20.0,
                                checkpoint=_checkpoint(tmp_path))
    output = processor(audio, batch_of("N3"))
    peak = float(audio.abs().max())
    assert float((output - audio).abs().max()) < 1e-6 * peak
    # and the network does act when the alphas are not zero
    active = CnrhlcProcessor(nr=1.0, hlc=1.0, checkpoint=_checkpoint(tmp_path))(audio, batch_of("N3"))
    assert float((active - audio).abs().max()) > 1e-2 * peak


def test_each_ear_gets_its_own_audiogram_and_batches_equal_items(tmp_path: Path) -> None:
    clean = speech("s02", seconds=1.0, rate=16000)
    processor = CnrhlcProcessor(nr=1.0, hlc=1.0, checkpoint=_checkpoint(tmp_path))
    two_ears = processor(torch.stack([clean, clean])[None], _asymmetric())
    assert float((two_ears[0, 0] - two_ears[0, 1]).abs().max()) > 1e-3
    short = clean[:12000]
    batch = torch.zeros(2, 2, clean.shape[-1])
    batch[0] = clean
    batch[1, :, :12000] = short
    lengths = torch.tensor([clean.shape[-1], 12000])
    listeners = batch_of("N2", "S1")
    together = processor(batch, listeners, lengths=lengths)
    alone = processor(torch.stack([short, short])[None], listeners.select([1]))
    assert torch.allclose(together[1, :, :12000], alone[0], atol=1e-6)
    assert float(together[1, :, 12000:].abs().max()) == 0.0


def _asymmetric() -> ListenerBatch:
    """One listener: normal hearing on the left, S2 on the right."""
    return ListenerBatch((Listener("asym", standard_listener("NH").left,
                                   standard_listener("S2").right),))


def test_calibration_rescales_to_the_trained_level(tmp_path: Path) -> None:
    clean = speech("s03", seconds=1.0, rate=16000)
    processor = CnrhlcProcessor(checkpoint=_checkpoint(tmp_path))
    at_100 = processor(clean[None, None] * 0.1, batch_of("N4", ears=("left",)))
    at_80 = processor(clean[None, None], batch_of("N4", ears=("left",)),
                      level_db_spl=torch.tensor([80.0]))
    # 20 dB more digital level at a 20 dB lower calibration: the same sound, scaled
    assert torch.allclose(at_80, 10 * at_100, atol=1e-5 * float(at_80.abs().max()))


def test_fft_resample_round_trip_keeps_the_band() -> None:
    clean = speech("s01", seconds=0.5, rate=16000)[None].double()
    back = periodic_resample(periodic_resample(clean, 16000, 44100), 44100, 16000)
    assert torch.allclose(back, clean, atol=1e-9)


def test_msbg_training_loss_reaches_every_part_of_the_network() -> None:
    torch.manual_seed(0)
    clean = torch.stack([speech("s01", seconds=0.5, rate=16000),
                         speech("s02", seconds=0.5, rate=16000)])
    noisy = clean + 0.01 * torch.randn_like(clean)
    pairs = NoisySet(noisy, clean, torch.full((2,), clean.shape[-1]))
    task = CnrhlcTask(pairs, None, QUICK_CONFIG, MsbgResponse(), "msbg", segment_seconds=0.5)
    model = _trained_like(QUICK_CONFIG).train()
    batch = task.train_batch(np.random.default_rng(0), 2, torch.device("cpu"))
    levels = torch.tensor([[0.0] * 8, [50.0] * 8])  # NH and a flat 50 dB HL loss
    loss, parts = task.loss(model, (batch[0], batch[1], levels))
    loss.backward()
    assert math.isfinite(float(loss.detach())) and parts["hlc"] > 0 and parts["nr"] > 0
    for name in ("nr_head.outputs.0.weight", "hlc_head.outputs.0.weight",
                 "time_rnns.0.lstm.weight_ih_l0", "films.0.linear.weight",
                 "training_log_variances"):
        gradient = dict(model.named_parameters())[name].grad
        assert gradient is not None and torch.isfinite(gradient).all()
        assert float(gradient.abs().sum()) > 0, name
    # Kendall weighting: exp(-s) L / 2 + s / 2 summed over the two tasks
    assert float(loss) == pytest.approx(0.5 * (parts["nr"] + parts["hlc"]), rel=1e-5)


def test_msbg_response_is_lower_for_the_impaired_ear() -> None:
    clean = speech("s01", seconds=0.5, rate=16000)[None] * 0.05
    response = MsbgResponse()
    with torch.no_grad():
        normal = response(clean, None)
        sloping = torch.tensor([[5.0, 5.0, 10.0, 35.0, 50.0, 60.0, 65.0, 70.0]])
        impaired = response(clean, sloping)
    assert normal.shape[1] == 31
    lost = (normal - impaired).mean(dim=(0, 2))  # per channel (log units)
    # a sloping loss removes much more above 2 kHz (channels 20-30) than below 300 Hz (0-5)
    assert float(lost[20:].mean()) > 1.0
    assert float(lost[20:].mean()) > 3 * float(lost[:5].mean())


def test_drnl_training_loss_gives_gradients_and_hlc_sees_the_audiogram() -> None:
    torch.manual_seed(0)
    clean = speech("s04", seconds=0.5, rate=16000)[None].repeat(2, 1)
    noisy = clean + 0.01 * torch.randn_like(clean)
    pairs = NoisySet(noisy, clean, torch.full((2,), clean.shape[-1]))
    task = CnrhlcTask(pairs, None, QUICK_CONFIG, auditory_model("drnl"), "drnl",
                      segment_seconds=0.5)
    model = BandSplitRnn(QUICK_CONFIG).train()  # untrained: both masks pass the input
    batch = task.train_batch(np.random.default_rng(0), 2, torch.device("cpu"))
    normal = torch.zeros(2, 8)
    impaired = torch.tensor([[0.0] * 8, [20.0, 30.0, 40.0, 50.0, 60.0, 65.0, 70.0, 70.0]])
    _, parts_normal = task.loss(model, (batch[0], batch[1], normal))
    loss, parts = task.loss(model, (batch[0], batch[1], impaired))
    loss.backward()
    assert parts["hlc"] > parts_normal["hlc"]  # the impaired ear hears the output less well
    gradient = model.hlc_head.outputs[0].weight.grad
    assert gradient is not None and torch.isfinite(gradient).all() and float(gradient.abs().sum()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("target", ["msbg", "drnl"])
def test_train_cnrhlc_quick_through_the_cli_and_resume(tmp_path: Path, target: str) -> None:
    from typer.testing import CliRunner

    from hltk_cli.app import app

    corpus = tmp_path / "noisy"
    result = CliRunner().invoke(app, ["synth", "noisy", "-o", str(corpus), "--n", "12", "-q"])
    assert result.exit_code == 0, result.output
    checkpoint = tmp_path / "c.pt"
    arguments = ["train", "cnrhlc", "--data", str(corpus / "manifest.csv"), "-o", str(checkpoint),
                 "--auditory-model", target, "--quick", "--threads", "1", "-q"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    processor = CnrhlcProcessor(checkpoint=checkpoint)
    assert processor.config["auditory_model"] == target
    again = CliRunner().invoke(app, arguments)  # finished: resumes and does nothing more
    assert again.exit_code == 0, again.output
