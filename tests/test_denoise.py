"""RNNoise (pyrnnoise's pretrained model) and the two-stage denoise-amplify baseline."""

from __future__ import annotations

import numpy as np
import soxr
import torch

from hltk.amplify.wdrc import NalrWdrcProcessor
from hltk.denoise.rnnoise import RNNOISE_RATE, rnnoise_denoise, rnnoise_denoise_48k
from hltk.denoise.two_stage import NoisyNalrWdrcProcessor, TwoStageProcessor
from tests.helpers import AMPLIFY_RATE as RATE
from tests.helpers import batch_of, speech


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    scale = np.dot(estimate, reference) / np.dot(reference, reference)
    target = scale * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


def test_rnnoise_output_is_time_aligned() -> None:
    """The 960-sample (20 ms) delay is removed: clean speech comes out at lag 0 (within one
    sample at 48 kHz: RNNoise's band gains are not linear phase, so the correlation peak of its
    output can sit a sample off; a wrong delay would be off by 480 or more)."""
    clean = soxr.resample(speech("s02", 1.0).double().numpy(), RATE, RNNOISE_RATE)
    out = rnnoise_denoise_48k(clean)
    assert out.shape == clean.shape
    lags = range(-60, 61)
    scores = [np.dot(out[100 + lag : -100 + lag], clean[100:-100]) for lag in lags]
    assert abs(list(lags)[int(np.argmax(scores))]) <= 1


def test_rnnoise_is_a_real_denoiser() -> None:
    """Speech in white noise at about 5 dB SNR: SI-SDR improves by more than 5 dB; noise alone
    is attenuated by more than 15 dB (the pretrained model, not a pass-through)."""
    generator = np.random.default_rng(3)
    clean = speech("s01", 1.5).double().numpy()
    noise = generator.standard_normal(clean.shape[0]) * np.sqrt(np.mean(clean**2)) * 0.56
    noisy = clean + noise
    denoised = rnnoise_denoise(torch.from_numpy(noisy)[None], RATE)[0].numpy()
    assert si_sdr(clean, denoised) > si_sdr(clean, noisy) + 5.0
    noise_out = rnnoise_denoise(torch.from_numpy(noise)[None], RATE)[0].numpy()
    assert 10 * np.log10(np.mean(noise_out[RATE // 2 :] ** 2) / np.mean(noise**2)) < -15.0


def test_two_stage_is_denoise_then_nalr_wdrc_and_batches() -> None:
    processor = TwoStageProcessor()
    lengths = [RATE, int(0.6 * RATE)]
    audio = torch.zeros(2, 2, RATE)
    generator = torch.Generator().manual_seed(0)
    for index, length in enumerate(lengths):
        audio[index, :, :length] = speech(("s03", "s04")[index], 1.0)[:length] + 0.02 * torch.randn(
            2, length, generator=generator
        )
    listeners = batch_of("N3", "S2")
    levels = torch.tensor([100.0, 100.0])
    output = processor(audio, listeners, lengths=torch.tensor(lengths), level_db_spl=levels)
    assert output.shape == audio.shape and torch.isfinite(output).all()
    expected = NalrWdrcProcessor()(
        processor.denoise(audio, torch.tensor(lengths)),
        listeners,
        lengths=torch.tensor(lengths),
        level_db_spl=levels,
    )
    torch.testing.assert_close(output, expected)
    alone = processor(
        audio[1:, :, : lengths[1]],
        listeners.select([1]),
        lengths=torch.tensor(lengths[1:]),
        level_db_spl=levels[1:],
    )
    torch.testing.assert_close(output[1, :, : lengths[1]], alone[0], atol=1e-5, rtol=1e-4)


def test_silence_passes_two_stage_without_nan() -> None:
    for length in (1, 100, 5000):
        output = TwoStageProcessor()(torch.zeros(1, 2, length), batch_of("N4"))
        assert output.shape == (1, 2, length) and torch.isfinite(output).all()


def test_no_denoising_backend_is_nalr_wdrc() -> None:
    audio = speech("s05", 0.5).expand(1, 2, -1).contiguous()
    listeners = batch_of("N2")
    torch.testing.assert_close(
        NoisyNalrWdrcProcessor()(audio, listeners), NalrWdrcProcessor()(audio, listeners)
    )


def test_denoise_threads_do_not_change_results() -> None:
    audio = torch.stack([speech(item, 0.5) for item in ("s01", "s02", "s03")]).unsqueeze(1)
    serial = TwoStageProcessor().denoise(audio)
    threaded = TwoStageProcessor(denoise_threads=3).denoise(audio)
    assert torch.equal(serial, threaded)
