"""NAL-R and NAL-R + WDRC: prescriptions, the documented static rule, dynamics, batching.

Signals: real speech from the shipped demo set (espeak-ng, 22.05 kHz, resampled to 44.1 kHz)
and steady tones. Tolerances are stated where they are set.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hltk.amplify.nalr import (
    NALR_FREQUENCIES,
    PRESCRIPTION_HL_MAX,
    NalrProcessor,
    PrescriptionWarning,
    nalr_fir,
    nalr_gains_db,
    nalr_response_db,
)
from hltk.amplify.wdrc import (
    NalrWdrcProcessor,
    WdrcSettings,
    band_weights,
    camfit_compression_ratios,
    ltass_band_levels,
    peak_limit,
)
from hltk.io.listeners import Audiogram, Listener, ListenerBatch, standard_listener
from tests.helpers import AMPLIFY_RATE as RATE
from tests.helpers import batch_of, speech


def tone(frequency: float, seconds: float, rms: float, rate: int = RATE) -> torch.Tensor:
    time = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (math.sqrt(2) * rms * torch.sin(2 * math.pi * frequency * time)).float()


def level_db(samples: torch.Tensor) -> float:
    return 10 * math.log10(float(samples.double().square().mean()) + 1e-30)


# -- NAL-R ---------------------------------------------------------------------------------


def test_nalr_response_matches_pyclarity_design_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch prescription equals the response pyclarity's NALR.build hands to firwin2
    (captured there), for several audiograms including the profound branch (H3 > 180)."""
    import clarity.enhancer.nalr as clarity_nalr

    captured: dict[str, np.ndarray] = {}
    design = clarity_nalr.firwin2

    def capture(n_taps: int, frequencies: np.ndarray, gains: np.ndarray, **kw: object) -> object:
        captured["frequencies"], captured["gains"] = np.asarray(frequencies), np.asarray(gains)
        return design(n_taps, frequencies, gains, **kw)

    monkeypatch.setattr(clarity_nalr, "firwin2", capture)
    for name in ("N2", "N4", "S2", "N6", "N7"):
        audiogram = standard_listener(name).left
        clarity_nalr.NALR(220, RATE).build(audiogram.to_clarity())
        levels = torch.as_tensor(audiogram.on_grid(NALR_FREQUENCIES))
        ours = nalr_response_db(
            nalr_gains_db(levels), torch.as_tensor(captured["frequencies"] * RATE / 2), RATE
        )
        np.testing.assert_allclose(ours.numpy(), 20 * np.log10(captured["gains"]), atol=1e-9)


def test_nalr_processor_equals_pyclarity_apply_aligned() -> None:
    listeners = batch_of("N3", "S2")
    audio = torch.stack([torch.stack([speech("s01"), speech("s02")])] * 2)
    output = NalrProcessor()(audio, listeners, lengths=torch.tensor([RATE, RATE]))
    for item in range(2):
        for channel in range(2):
            fir = nalr_fir(listeners.audiogram(item, channel), 220, RATE)
            expected = np.convolve(audio[item, channel].double().numpy(), fir)[110 : 110 + RATE]
            np.testing.assert_allclose(output[item, channel].numpy(), expected, atol=2e-6)


def test_nalr_no_loss_is_identity_and_aligned() -> None:
    impulse = torch.zeros(1, 2, 4000)
    impulse[..., 2000] = 1.0
    output = NalrProcessor()(impulse, batch_of("NH"))
    torch.testing.assert_close(output, impulse)
    loss = NalrProcessor()(impulse, batch_of("N4"))
    assert int(loss[0, 0].abs().argmax()) == 2000  # linear phase, delay removed


# -- NAL-R + WDRC: the static rule ---------------------------------------------------------


def test_camfit_ratios_match_pyclarity_gain_table() -> None:
    """Our closed-form CAMFIT ratios equal the slope of pyclarity's compressive gain table
    (gainrule_camfit_compr on the same bands: gain slope = 1/CR - 1 above the knee)."""
    from clarity.enhancer.gha.gainrule_camfit import gainrule_camfit_compr

    bands = WdrcSettings().bands
    edges = np.concatenate([[1e-8], np.sqrt(np.array(bands[:-1]) * np.array(bands[1:])), [1e7]])
    for name in ("N2", "N4", "S2", "S3"):
        listener = standard_listener(name)
        fit = {
            "frequencies": np.array(bands),
            "edge_frequencies": edges,
            "levels": np.arange(-10, 111),
            "channels": 2,
            "side": "lr",
        }
        table, _, _ = gainrule_camfit_compr(
            listener.left.to_clarity(), listener.right.to_clarity(), fit, max_output_level=400
        )
        # two input levels where no band is floored at 0 dB gain
        slope = (table[100 - -10, :, 0] - table[90 - -10, :, 0]) / 10.0
        positive = table[100 - -10, :, 0] > 0
        expected = 1.0 / (1.0 + slope)
        levels = torch.as_tensor(listener.left.on_grid(bands))
        ratios = camfit_compression_ratios(levels, bands, torch.tensor(True), 1.0, 10.0).numpy()
        np.testing.assert_allclose(ratios[positive], expected[positive], rtol=1e-6)


def test_band_weights_partition_of_unity() -> None:
    frequencies = np.fft.rfftfreq(512, 1 / RATE)
    weights = band_weights(frequencies, WdrcSettings().bands, 1 / 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert (weights >= 0).all()


def test_ltass_band_levels_sum_to_overall() -> None:
    levels = ltass_band_levels(WdrcSettings().bands, 65.0)
    total = 10 * np.log10(np.sum(10 ** (levels / 10)))
    # the 70 dB table sums to 70.5 dB over 63 Hz - 16 kHz (Byrne et al. 1994 rounding)
    assert abs(total - 65.0) < 1.0


# tone frequencies in the flat interior of each default band (away from crossover transitions)
BAND_TONES = (200.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)


@pytest.mark.parametrize("listener_name", ["N4", "S2"])
def test_steady_tones_follow_static_rule(listener_name: str) -> None:
    """Tones at 40..100 dB SPL in every band: output level = input + G_b(L) within 1 dB.

    Calibration 130 dB SPL = digital RMS 1, so no level reaches the output limiter. What
    remains (measured up to 0.65 dB, constant over level: S3 at 1 kHz) is NAL-R's own slope
    across the tone's spectral main lobe (+-2 bins), where its response has a kink.
    """
    processor = NalrWdrcProcessor()
    levels = list(range(40, 101, 10))
    calibration = 130.0
    items = [(f, lv) for f in BAND_TONES for lv in levels]
    audio = torch.stack([tone(f, 0.5, 10 ** ((lv - calibration) / 20)) for f, lv in items]).unsqueeze(1)
    listeners = ListenerBatch((standard_listener(listener_name),) * len(items), ("left",))
    output = processor(audio, listeners, level_db_spl=torch.full((len(items),), calibration))
    prescription = processor.prescribe(listeners)
    errors = []
    for index, (frequency, level) in enumerate(items):
        band = BAND_TONES.index(frequency)
        rule = prescription.static_gain_db(torch.full((1, len(BAND_TONES)), float(level)))
        rule = rule[0, band].item()
        # (tones at the band centres, or at 200 Hz where NAL-R is flat below 250 Hz)
        measured = level_db(output[index, 0, int(0.25 * RATE) : int(0.45 * RATE)]) + calibration
        errors.append(measured - (level + rule))
    errors_array = np.array(errors)
    assert np.abs(errors_array).max() < 1.0, errors_array.reshape(len(BAND_TONES), -1).round(2)


def test_louder_input_smaller_output_increase_in_compressing_bands() -> None:
    processor = NalrWdrcProcessor()
    listeners = ListenerBatch((standard_listener("N4"),) * 2, ("left",))
    voice = speech("s03", 1.5)
    voice = voice / voice.square().mean().sqrt()  # RMS 1 = the calibration level
    calibration = 120.0
    soft, loud = voice * 10 ** ((50 - calibration) / 20), voice * 10 ** ((80 - calibration) / 20)
    output = processor(
        torch.stack([soft, loud]).unsqueeze(1),
        listeners,
        level_db_spl=torch.full((2,), calibration),
    )
    weights = torch.from_numpy(band_weights(processor.bin_frequencies, processor.bands, 1 / 3))
    spectra = (
        torch.stft(
            output[:, 0].double(),
            512,
            128,
            window=torch.hann_window(512).double(),
            return_complex=True,
        )
        .abs()
        .square()
        .mean(-1)
    )
    band_out = 10 * torch.log10(spectra @ weights)  # [2, bands]
    increase = band_out[1] - band_out[0]
    ratios = processor.prescribe(listeners.select([0])).ratio[0]
    compressing = ratios > 1.2
    assert compressing.sum() >= 4
    # each compressing band: increase well below 30 dB (about 30 / CR, averaged over speech)
    assert (increase[compressing] < 30 - 5).all(), increase
    assert (increase[compressing] > 0).all()


def _gain_trajectory(
    processor: NalrWdrcProcessor,
    steps: list[tuple[float, float]],
    frequency: float,
    calibration: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Output-minus-input level (dB) every 0.5 ms for a tone whose level (dB SPL) steps at the
    given times: ``steps = [(start_s, level), ...]``."""
    total = 1.6
    time = torch.arange(int(total * RATE), dtype=torch.float64) / RATE
    amplitude = torch.zeros_like(time)
    for start, level in steps:
        amplitude[time >= start] = math.sqrt(2) * 10 ** ((level - calibration) / 20)
    signal = (amplitude * torch.sin(2 * math.pi * frequency * time)).float()
    listeners = ListenerBatch((standard_listener("N4"),), ("left",))
    output = processor(signal[None, None], listeners, level_db_spl=torch.tensor([calibration]))
    window, hop = int(0.001 * RATE), int(0.0005 * RATE)  # 1 ms RMS (4 periods of 4 kHz)
    out_frames = output[0, 0].double().unfold(0, window, hop).square().mean(-1)
    in_frames = signal.double().unfold(0, window, hop).square().mean(-1)
    centres = (np.arange(len(out_frames)) * hop + window / 2) / RATE
    gain = 10 * np.log10(out_frames.numpy() / in_frames.numpy())
    return centres, gain


def _time_constant(times: np.ndarray, gain: np.ndarray, step: float, settle: float) -> float:
    """Fit ``gain - final = A exp(-t / tau)`` over the part of the change between 70% and 10%
    remaining (past the analysis window's own smearing); returns ``tau`` in seconds."""
    initial = np.median(gain[(times > step - 0.05) & (times < step - 0.01)])
    final = np.median(gain[(times > step + settle - 0.05) & (times < step + settle)])
    remaining = (gain - final) / (initial - final)
    after = (times > step) & (times < step + settle)
    index = np.flatnonzero(after & (remaining < 0.7) & (remaining > 0.1))
    slope = np.polyfit(times[index], np.log(remaining[index]), 1)[0]
    return -1.0 / slope


@pytest.mark.parametrize("attack_ms,release_ms", [(10.0, 100.0), (5.0, 50.0)])
def test_attack_and_release_times_match_settings(attack_ms: float, release_ms: float) -> None:
    """A 4 kHz tone stepping 55 -> 85 -> 55 dB SPL (N4: CR 2.9 there, gain change ~19 dB): the
    gain in dB follows exponentials whose time constants are the attack and release settings
    (within 20 %)."""
    settings = WdrcSettings(attack_ms=attack_ms, release_ms=release_ms)
    processor = NalrWdrcProcessor(settings=settings)
    times, gain = _gain_trajectory(processor, [(0.0, 55.0), (0.3, 85.0), (0.8, 55.0)], 4000.0, 130.0)
    attack = _time_constant(times, gain, 0.3, 0.45)
    release = _time_constant(times, gain, 0.8, 0.78)
    assert abs(attack * 1e3 - attack_ms) / attack_ms < 0.2, attack
    assert abs(release * 1e3 - release_ms) / release_ms < 0.2, release


# -- NAL-R + WDRC: behaviour ---------------------------------------------------------------


def test_no_loss_output_equals_input() -> None:
    voice = speech("s02", 1.0)
    audio = torch.stack([voice, speech("s04", 1.0)]).unsqueeze(0)
    output = NalrWdrcProcessor()(audio, batch_of("NH"), level_db_spl=torch.tensor([100.0]))
    error = level_db(output - audio) - level_db(audio)
    assert error < -60.0, error


def test_batched_equals_item_by_item() -> None:
    processor = NalrWdrcProcessor()
    lengths = [RATE, int(0.7 * RATE), int(0.45 * RATE) + 17]
    names = ("N4", "S2", "N2")
    audio = torch.zeros(3, 2, RATE)
    for index, (item, length) in enumerate(zip(("s01", "s02", "s03"), lengths, strict=True)):
        audio[index, 0, :length] = speech(item, 1.0)[:length] * 4
        audio[index, 1, :length] = speech("s05", 1.0)[:length] * 4
    levels = torch.tensor([100.0, 95.0, 105.0])
    batched = processor(audio, batch_of(*names), lengths=torch.tensor(lengths), level_db_spl=levels)
    for index, length in enumerate(lengths):
        alone = processor(
            audio[index : index + 1, :, :length],
            batch_of(names[index]),
            lengths=torch.tensor([length]),
            level_db_spl=levels[index : index + 1],
        )
        torch.testing.assert_close(batched[index, :, :length], alone[0], atol=1e-5, rtol=1e-4)
        assert not batched[index, :, length:].any()


@pytest.mark.parametrize("ceiling", [1.0, 0.25])
def test_limiter_ceiling_is_never_exceeded(ceiling: float) -> None:
    processor = NalrWdrcProcessor(settings=WdrcSettings(limiter_ceiling=ceiling))
    voice = speech("s06", 1.0)
    audio = torch.stack([voice / voice.abs().max(), voice]).unsqueeze(1)  # full scale + normal
    output = processor(
        audio,
        ListenerBatch((standard_listener("N6"),) * 2, ("right",)),
        level_db_spl=torch.tensor([100.0, 100.0]),
    )
    assert output.abs().max() <= ceiling
    assert output[0].abs().max() > 0.9 * ceiling  # the limiter limits, it does not mute


def test_silence_and_tiny_inputs_pass_without_nan() -> None:
    processor = NalrWdrcProcessor()
    for length in (1, 10, 1000, RATE // 2):
        output = processor(torch.zeros(2, 2, length), batch_of("N7", "S3"))
        assert output.shape == (2, 2, length)
        assert torch.isfinite(output).all() and output.abs().max() == 0
    tiny = torch.full((1, 2, 4000), 1e-30)
    assert torch.isfinite(processor(tiny, batch_of("N4"))).all()


def test_audiogram_above_prescription_range_is_clamped_with_warning() -> None:
    profound = Audiogram((250, 1000, 4000), (100, 118, 120))
    listener = Listener("deaf", profound, standard_listener("N3").right)
    audio = speech("s01", 0.5).expand(1, 2, -1).contiguous()
    for processor in (NalrWdrcProcessor(), NalrProcessor()):
        with pytest.warns(PrescriptionWarning, match="clamped"):
            output = processor(audio, ListenerBatch((listener,)), level_db_spl=torch.tensor([100.0]))
        assert torch.isfinite(output).all()
        assert any(f"{PRESCRIPTION_HL_MAX:g} dB HL" in m for m in processor.warnings.messages)
        assert all("deaf left" in m for m in processor.warnings.messages)


def test_other_sample_rate_works() -> None:
    processor = NalrWdrcProcessor(sample_rate=16000)
    assert processor.n_fft == 256 and processor.bands[-1] == 4000.0
    output = processor(speech("s01", 0.5, 16000)[None, None], batch_of("N3", ears=("left",)))
    assert torch.isfinite(output).all() and output.shape[-1] == 8000


def test_every_amplify_backend_passes_silence() -> None:
    from hltk import registry

    names = registry.names("amplify")
    assert {"nalr", "nalr-compressor", "nalr-wdrc", "neuroamp"} <= set(names)
    for name in names:
        processor = registry.create("amplify", name, device="cpu")
        output = processor(torch.zeros(1, 2, 3000), batch_of("N5"), lengths=torch.tensor([3000]),
                           level_db_spl=torch.tensor([100.0]), seeds=[0])
        assert output.shape == (1, 2, 3000) and torch.isfinite(output).all(), name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    processor = NalrWdrcProcessor()
    audio = torch.stack([speech("s01", 1.0), speech("s02", 1.0)]).unsqueeze(0) * 4
    listeners = batch_of("N4")
    levels = torch.tensor([100.0])
    on_cpu = processor(audio, listeners, level_db_spl=levels)
    on_gpu = processor(audio.cuda(), listeners, level_db_spl=levels.cuda()).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-4, rtol=1e-3)


def test_peak_limit_bounds_and_leaves_quiet_rows_alone() -> None:
    generator = torch.Generator().manual_seed(1)
    quiet = 0.1 * torch.randn(1, 5000, generator=generator)
    loud = quiet.clone()
    loud[0, 1234] = 3.0  # one spike
    loud[0, 4000:4100] *= 20  # one loud burst
    limited = peak_limit(torch.cat([quiet, loud]), 0.5, 220)
    assert torch.equal(limited[0], quiet[0])
    assert limited.abs().max() <= 0.5
    gain = limited[1] / loud[0]
    assert torch.allclose(gain[:700], torch.ones(700))  # untouched far from the peaks
    assert (gain[1234 - 600 : 1234 + 600] < 1).any() and gain[1234] <= 0.5 / 3.0 + 1e-6


def test_nalr_wdrc_has_zero_delay() -> None:
    """An impulse comes out where it went in (zero-phase bin gains: no delay to remove), as
    Clarity's find_delay_impulse would measure it."""
    impulse = torch.zeros(1, 2, 8000)
    impulse[..., 4000] = 0.1
    output = NalrWdrcProcessor()(impulse, batch_of("N4"), level_db_spl=torch.tensor([100.0]))
    assert int(output[0, 0].abs().argmax()) == 4000
    assert int(output[0, 1].abs().argmax()) == 4000


@pytest.mark.slow
def test_amplification_raises_haspi_for_a_hearing_loss() -> None:
    """Sanity of direction (pyclarity HASPI v2, N4, speech at 65 dB SPL): NAL-R and NAL-R+WDRC
    both score well above the unprocessed signal (measured 0.53 -> 0.88 and 0.76)."""
    from clarity.evaluator.haspi import haspi_v2

    voice = speech("s03", 2.5)
    voice = voice / voice.square().mean().sqrt() * 10 ** (-35 / 20)
    audio = voice.expand(1, 2, -1).contiguous()
    listeners = batch_of("N4")
    audiogram = listeners.listeners[0].left.to_clarity()

    def haspi(processed: torch.Tensor) -> float:
        np.random.seed(0)
        score, _ = haspi_v2(
            reference=voice.double().numpy(),
            reference_sample_rate=RATE,
            processed=processed.double().numpy(),
            processed_sample_rate=RATE,
            audiogram=audiogram,
            level1=100,
        )
        return float(score)

    level = torch.tensor([100.0])
    unprocessed = haspi(audio[0, 0])
    linear = haspi(NalrProcessor()(audio, listeners)[0, 0])
    compressed = haspi(NalrWdrcProcessor()(audio, listeners, level_db_spl=level)[0, 0])
    assert linear > unprocessed + 0.2 and compressed > unprocessed + 0.15
