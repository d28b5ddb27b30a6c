"""The differentiable DRNL auditory model (hltk.auditory) against the published properties of
Lopez-Poveda & Meddis (2001) and the loss rules of Gonzalez, Dau & May (2025)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hltk.auditory import (
    CENTRE_FREQUENCIES,
    AuditoryModel,
    HearingLoss,
    hearing_loss_from_audiogram,
    max_ohc_loss_db,
    nrmse,
)
from hltk.auditory.design import erb_number
from hltk.io.listeners import AUDIOGRAM_GRID

FS = 16000


@pytest.fixture(scope="module")
def model64() -> AuditoryModel:
    return AuditoryModel(sample_rate=FS).double()


def tones(hz: float | np.ndarray, levels_db: np.ndarray, seconds: float = 0.15) -> torch.Tensor:
    """``[len(levels), T]`` sinusoids at ``levels_db`` dB SPL (RMS 1 = 100 dB SPL)."""
    t = np.arange(int(seconds * FS)) / FS
    hz = np.broadcast_to(np.asarray(hz, dtype=float), levels_db.shape)
    signal = np.sqrt(2) * np.sin(2 * np.pi * hz[:, None] * t) * 10 ** ((levels_db[:, None] - 100) / 20)
    return torch.from_numpy(signal)


def membrane_db(model: AuditoryModel, audio: torch.Tensor, channel: int,
                loss: HearingLoss | None = None) -> np.ndarray:
    """Steady-state RMS (dB re 1 m/s) of one channel's DRNL output."""
    out = model.basilar_membrane(audio, loss)[:, channel, audio.shape[-1] // 3 :]
    return 20 * np.log10(out.pow(2).mean(-1).sqrt().numpy())


def channel_near(hz: float) -> int:
    return int(np.argmin(np.abs(np.log(np.asarray(CENTRE_FREQUENCIES) / hz))))


def flat_loss(ohc_db: torch.Tensor, batch: int) -> HearingLoss:
    ohc = ohc_db.to(torch.float64).expand(batch, -1).clone()
    return HearingLoss(ohc_db=ohc, ihc_db=torch.zeros_like(ohc))


def test_channels_are_one_erb_apart_from_80_to_7643_hz() -> None:
    cf = np.asarray(CENTRE_FREQUENCIES)
    assert len(cf) == 31
    assert cf[0] == pytest.approx(80.0) and cf[-1] == pytest.approx(7643.0)
    np.testing.assert_allclose(np.diff(erb_number(cf)), 1.0, atol=1e-3)


@pytest.mark.parametrize("hz", [1000.0, 2000.0])
def test_io_function_at_cf_is_linear_compressive_linear(model64: AuditoryModel, hz: float) -> None:
    channel = channel_near(hz)
    levels = np.arange(0.0, 121.0, 10.0)
    out = membrane_db(model64, tones(CENTRE_FREQUENCIES[channel], levels), channel)
    slope = np.diff(out) / 10  # slope[i] between levels[i] and levels[i + 1]
    np.testing.assert_allclose(slope[:3], 1.0, atol=0.02)  # 0-30 dB SPL: linear
    assert np.mean(slope[4:7]) == pytest.approx(0.25, abs=0.06)  # 40-70 dB SPL: ~0.25 dB/dB
    assert slope[4:7].max() < 0.35
    np.testing.assert_allclose(slope[9:], 1.0, atol=0.1)  # 90-120 dB SPL: linear again


def test_tuning_broadens_with_level(model64: AuditoryModel) -> None:
    channel = channel_near(2000.0)
    cf = CENTRE_FREQUENCIES[channel]
    freqs = cf * 2 ** np.linspace(-1.0, 0.5, 61)

    def bandwidth(level: float) -> float:
        out = membrane_db(model64, tones(freqs, np.full(len(freqs), level)), channel)
        above = freqs[out >= out.max() - 10]
        return float(above.max() - above.min())

    quiet, loud = bandwidth(30.0), bandwidth(90.0)
    assert loud > 1.5 * quiet
    assert quiet < 0.5 * cf  # sharp at low level


def test_ohc_loss_removes_compression_and_raises_threshold(model64: AuditoryModel) -> None:
    channel = channel_near(2000.0)
    levels = np.arange(0.0, 121.0, 10.0)
    audio = tones(CENTRE_FREQUENCIES[channel], levels)
    normal = membrane_db(model64, audio, channel)
    cap = model64.max_ohc_db()[channel].item()
    impaired = membrane_db(model64, audio, channel, flat_loss(model64.max_ohc_db(), len(levels)))
    shift = normal - impaired
    assert shift[:3] == pytest.approx(np.full(3, cap), abs=3.0)  # low levels: threshold raised
    assert abs(shift[-1]) < 0.1  # high levels: the linear path, untouched
    slope = np.diff(impaired) / 10
    assert slope[4:7].min() > 0.9  # 40-70 dB SPL: no compression left


def test_normal_hearing_audiogram_gives_exactly_zero_loss(model64: AuditoryModel) -> None:
    loss = hearing_loss_from_audiogram(torch.zeros(3, len(AUDIOGRAM_GRID), dtype=torch.float64))
    assert loss.ohc_db.shape == (3, 31) and loss.ihc_db.shape == (3, 31)
    assert torch.equal(loss.ohc_db, torch.zeros(3, 31, dtype=torch.float64))
    assert torch.equal(loss.ihc_db, torch.zeros(3, 31, dtype=torch.float64))
    audio = torch.randn(3, 800, dtype=torch.float64) * 0.1
    assert torch.equal(model64(audio, loss), model64(audio))


def test_audiogram_split_two_thirds_ohc_capped_rest_ihc() -> None:
    levels = torch.tensor([[30.0, 30, 30, 30, 30, 30, 30, 30],
                           [0.0, 10, 20, 40, 60, 80, 100, 120]])
    loss = hearing_loss_from_audiogram(levels)
    cap = torch.as_tensor(max_ohc_loss_db(), dtype=torch.float32)
    total = loss.ohc_db + loss.ihc_db
    torch.testing.assert_close(total[0], torch.full((31,), 30.0))
    torch.testing.assert_close(loss.ohc_db[0], torch.minimum(torch.full((31,), 20.0), cap))
    assert (loss.ohc_db <= cap + 1e-5).all() and (loss.ihc_db >= 0).all()
    assert total[1].max() == pytest.approx(105.0)  # clipped to [0, 105]
    k = CENTRE_FREQUENCIES.index(next(f for f in CENTRE_FREQUENCIES if 1400 < f < 1600))
    expected = 20 + 20 * np.log(CENTRE_FREQUENCIES[k] / 1000) / np.log(2)  # 1-2 kHz, log f
    assert total[1, k].item() == pytest.approx(expected, abs=1e-4)
    assert max_ohc_loss_db()[0] < max_ohc_loss_db()[15] < max_ohc_loss_db()[-2]  # grows with CF


def test_batched_equals_item_by_item(model64: AuditoryModel) -> None:
    torch.manual_seed(0)
    audio = torch.randn(3, 1200, dtype=torch.float64) * 0.05
    loss = hearing_loss_from_audiogram(torch.tensor([[0.0] * 8, [20.0] * 8, [10, 20, 30, 40, 50, 60, 70, 80]],
                                                    dtype=torch.float64))
    batch = model64(audio, loss)
    for i in range(3):
        one = model64(audio[i : i + 1], HearingLoss(loss.ohc_db[i : i + 1], loss.ihc_db[i : i + 1]))
        torch.testing.assert_close(batch[i : i + 1], one, rtol=1e-9, atol=1e-9)


def test_float32_agrees_with_float64(model64: AuditoryModel) -> None:
    torch.manual_seed(1)
    audio = torch.randn(2, 1600, dtype=torch.float64) * 0.05
    loss = hearing_loss_from_audiogram(torch.tensor([[40.0] * 8, [10.0] * 8], dtype=torch.float64))
    single = AuditoryModel(sample_rate=FS)
    out32 = single(audio.float(), loss.to(torch.float32))
    out64 = model64(audio, loss)
    assert out32.dtype == torch.float32 and out64.dtype == torch.float64
    assert out32.shape == (2, 31, 1600)
    assert nrmse(out32.double(), out64).max().item() < 1e-4


def test_level_convention_scales_like_the_input(model64: AuditoryModel) -> None:
    audio = torch.randn(1, 800, dtype=torch.float64) * 0.05
    louder = model64.basilar_membrane(audio * 10 ** (6 / 20))
    calibrated = model64.basilar_membrane(audio, level_db_spl=106.0)
    torch.testing.assert_close(louder, calibrated)
    # a digital RMS of 1 is level_db_spl dB SPL: a unit-RMS tone calibrated at 60 dB SPL is the
    # same sound as a tone of RMS 10^(-40/20) under the default 100
    at60 = AuditoryModel(sample_rate=FS, level_db_spl=60.0).double()
    tone = tones(1000.0, np.array([100.0]))
    torch.testing.assert_close(at60.basilar_membrane(tone), model64.basilar_membrane(tone * 0.01))


def test_gradient_reaches_the_input() -> None:
    model = AuditoryModel(sample_rate=FS, taps=32).double()
    torch.manual_seed(2)
    audio = (torch.randn(1, 24, dtype=torch.float64) * 0.05).requires_grad_()
    loss = hearing_loss_from_audiogram(torch.full((1, 8), 30.0, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: model(x, loss), (audio,), eps=1e-7, atol=1e-5, rtol=1e-4,
                                      fast_mode=True)
    full = AuditoryModel(sample_rate=FS)
    speech = (torch.randn(2, 4000) * 0.05).requires_grad_()
    full(speech).mean().backward()
    assert speech.grad is not None and torch.isfinite(speech.grad).all() and speech.grad.abs().sum() > 0


def test_nrmse_normalisation() -> None:
    b = torch.randn(2, 31, 50)
    assert torch.equal(nrmse(b, b), torch.zeros(2))
    torch.testing.assert_close(nrmse(torch.zeros_like(b), b), torch.ones(2))
    torch.testing.assert_close(nrmse(2 * b, b), torch.ones(2))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(3)
    audio = torch.randn(4, 16000) * 0.05
    levels = torch.tensor([[0.0] * 8, [20.0] * 8, [40.0] * 8, [10, 20, 30, 40, 50, 60, 70, 80]])
    cpu = AuditoryModel(sample_rate=FS)(audio, hearing_loss_from_audiogram(levels))
    model = AuditoryModel(sample_rate=FS).to("cuda")
    gpu = model(audio.cuda(), hearing_loss_from_audiogram(levels.cuda()))
    assert gpu.device.type == "cuda"
    assert nrmse(gpu.cpu(), cpu).max().item() < 1e-4
