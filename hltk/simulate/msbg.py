"""MSBG hearing-loss simulation by pyclarity (the reference backend, ``--backend msbg``).

Each ear is its own mono signal through its own pyclarity ``Ear`` with that ear's audiogram,
as the Clarity recipes run it (``src_pos="ff"``, ``equiv_0db_spl`` = the item's
``level_db_spl``, default 100, ``ahr=20``). Two things differ from calling ``Ear.process``
directly, both so that the output is the input's length and time-aligned with it:

1. The input is zero-padded at the end before simulation so that no content is cut (pyclarity
   returns a signal as long as its input, losing the delayed tail). ``Ear.process`` calibrates
   on the whole signal's RMS, which padding would change, so the calibration gain is computed
   here on the unpadded signal with pyclarity's own ``measure_rms`` — the same arithmetic as
   ``Ear.process`` — and the padded, calibrated signal then goes through the same stages
   ``Ear.process`` runs (``src_to_cochlea_filt``, ``Cochlea.simulate``, the backward filter, the
   18 kHz output low-pass). On the unpadded signal this equals ``Ear.process`` exactly (tested).
2. The delay is measured from the impulse response of the same ear (an impulse through the
   same chain), weighted by the autocorrelation of speech-shaped noise (see :func:`ear_delay`),
   and removed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from hltk.io.listeners import Audiogram, ListenerBatch
from hltk.registry import option, register

MSBG_SAMPLE_RATE = 44100
#: Impulse position and signal length used to measure the delay (samples at 44.1 kHz).
IMPULSE_POSITION, IMPULSE_LENGTH = 4096, 16384
#: Zeros appended before simulation (then cut): more than the longest delay (~1300 samples),
#: so nothing is cut, and long enough that the end effects of the envelope filter and the
#: smearing frames stay in the discarded tail. The padded length is a whole number of
#: 64-sample smearing hops. torch-msbg pads the same way.
END_PAD = 4410


#: MSBG's loudness-recruitment catch-up level: each channel's expansion ratio is
#: ``105 / (105 - HL)``, infinite at 105 dB HL and negative above.
CATCH_UP_DB_HL = 105.0


class RecruitmentWarning(UserWarning):
    """An audiogram reaches MSBG's catch-up level, where its recruitment is undefined."""


def warn_beyond_catch_up(audiogram: Audiogram) -> None:
    """Warn (the runner records it, with item counts, in ``run.json``) when ``audiogram`` has
    levels at or above :data:`CATCH_UP_DB_HL`. They are simulated as pyclarity does: the
    channels there go silent at 105 dB HL (infinite expansion) and are expanded with a negative
    ratio above, so their output is not a meaningful simulation."""
    over = [(frequency, level)
            for frequency, level in zip(audiogram.frequencies, audiogram.levels, strict=True)
            if level >= CATCH_UP_DB_HL]
    if over:
        listing = ", ".join(f"{level:g} dB HL at {frequency:g} Hz" for frequency, level in over)
        warnings.warn(
            f"hearing levels at or above MSBG's {CATCH_UP_DB_HL:g} dB HL catch-up level "
            f"({listing}): its recruitment is undefined there (pyclarity silences those "
            f"channels at {CATCH_UP_DB_HL:g} and expands with a negative ratio above); "
            f"simulated as pyclarity does", RecruitmentWarning, stacklevel=3)


def padded_length(length: int) -> int:
    """Signal length after the end padding: ``length + END_PAD`` up to a multiple of 64."""
    return length + END_PAD + (-(length + END_PAD)) % 64


@lru_cache(maxsize=256)
def _ear(audiogram: Audiogram, equiv_0db_spl: float, ahr: float, src_pos: str) -> Any:
    """A pyclarity ``Ear`` set to ``audiogram`` (cached: building the cochlea costs time)."""
    import logging

    from clarity.evaluator.msbg.msbg import Ear

    logging.getLogger("clarity").setLevel(logging.ERROR)
    ear = Ear(src_pos=src_pos, sample_rate=MSBG_SAMPLE_RATE, equiv_0db_spl=equiv_0db_spl, ahr=ahr)
    ear.set_audiogram(audiogram.to_clarity())
    return ear


@lru_cache(maxsize=1)
def _output_lowpass() -> np.ndarray:
    """The output low-pass FIR of ``Ear.process`` (Kaiser, 18 kHz, 1.5 ms half-window)."""
    from clarity.evaluator.msbg.msbg import UPPER_CUTOFF_HZ
    from scipy.signal import firwin

    taps = 2 * math.floor(0.0015 * MSBG_SAMPLE_RATE) + 1
    return firwin(taps, UPPER_CUTOFF_HZ / int(MSBG_SAMPLE_RATE / 2), window=("kaiser", 8))


def calibration_gain(signal: np.ndarray) -> float:
    """The gain ``Ear.process`` applies to a mono signal before simulation.

    pyclarity rescales so that the active RMS (``measure_rms`` at -12 dB) equals the RMS of the
    whole signal; the absolute level is then set by ``equiv_0db_spl``. Silence gets gain 0.
    """
    from clarity.evaluator.msbg.msbg_utils import measure_rms

    mean_square = float(np.mean(np.square(signal)))
    if mean_square <= 0.0:
        return 0.0
    active_rms = float(measure_rms(signal, MSBG_SAMPLE_RATE, -12)[0])
    if not active_rms > 0.0:
        return 0.0
    change_db = 10.0 * math.log10(mean_square) - 20.0 * math.log10(active_rms)
    return float(np.power(10.0, 0.05 * change_db))


def simulate_chain(ear: Any, calibrated: np.ndarray) -> np.ndarray:
    """The stages ``Ear.process`` runs after calibration, on a calibrated mono signal."""
    from clarity.evaluator.msbg.msbg import Ear
    from scipy.signal import lfilter

    signal = calibrated[np.newaxis, :]
    signal = Ear.src_to_cochlea_filt(signal, ear.src_correction, MSBG_SAMPLE_RATE)
    signal = np.array([ear.cochlea.simulate(x, ear.equiv_0db_spl + ear.ahr) for x in signal])
    signal = Ear.src_to_cochlea_filt(signal, ear.src_correction, MSBG_SAMPLE_RATE, backward=True)
    return np.asarray(lfilter(_output_lowpass(), 1, signal[0]))


@lru_cache(maxsize=1)
def _speech_autocorrelation() -> np.ndarray:
    """Autocorrelation of speech-shaped noise (pyclarity's EH2008 generator, fixed seed).

    The draw uses the global numpy RNG inside pyclarity, so its state is saved and restored.
    """
    from clarity.evaluator.msbg.msbg_utils import gen_eh2008_speech_noise
    from scipy.signal import fftconvolve

    state = np.random.get_state()
    try:
        np.random.seed(2008)
        noise = np.asarray(gen_eh2008_speech_noise(duration=4, sample_rate=MSBG_SAMPLE_RATE))
    finally:
        np.random.set_state(state)
    noise = noise.reshape(-1)
    autocorrelation = fftconvolve(noise, noise[::-1])
    centre = len(noise) - 1
    half = IMPULSE_POSITION // 2
    return autocorrelation[centre - half: centre + half + 1] / autocorrelation[centre]


def impulse_response(audiogram: Audiogram, equiv_0db_spl: float, ahr: float,
                     src_pos: str) -> np.ndarray:
    """The ear's response to a unit impulse at :data:`IMPULSE_POSITION`."""
    impulse = np.zeros(IMPULSE_LENGTH)
    impulse[IMPULSE_POSITION] = 1.0
    ear = _ear(audiogram, equiv_0db_spl, ahr, src_pos)
    return simulate_chain(ear, impulse * calibration_gain(impulse))


@lru_cache(maxsize=256)
def ear_delay(audiogram: Audiogram, equiv_0db_spl: float, ahr: float, src_pos: str) -> int:
    """Delay in samples of the ear for ``audiogram``, measured from its impulse response.

    MSBG is dispersive (its gammatone channels are delay-compensated, so high frequencies
    peak later than the bulk of the energy): the raw impulse-response peak (Clarity's
    ``find_delay_impulse``) sits ~80 samples after the lag at which speech lines up. The delay
    used is therefore the peak of the impulse response weighted by the autocorrelation of
    speech-shaped noise, i.e. the lag of the output/input cross-correlation peak for
    speech-shaped input.
    """
    return delay_from_response(impulse_response(audiogram, equiv_0db_spl, ahr, src_pos))


def delay_from_response(response: np.ndarray) -> int:
    """The delay of an impulse response to an impulse at :data:`IMPULSE_POSITION`: the peak of
    the response weighted by the speech-shaped-noise autocorrelation, minus the position."""
    from scipy.signal import fftconvolve

    if not np.any(response):
        raise RuntimeError("MSBG impulse response is all zeros: cannot measure the delay")
    weighted = fftconvolve(np.asarray(response, dtype=np.float64), _speech_autocorrelation(),
                           mode="same")
    return int(np.argmax(weighted)) - IMPULSE_POSITION


def simulate_ear(
    signal: np.ndarray,
    audiogram: Audiogram,
    equiv_0db_spl: float = 100.0,
    ahr: float = 20.0,
    src_pos: str = "ff",
) -> np.ndarray:
    """MSBG of one ear: mono float64 signal at 44.1 kHz -> same length, delay removed."""
    delay = ear_delay(audiogram, equiv_0db_spl, ahr, src_pos)
    gain = calibration_gain(signal)
    if gain == 0.0:
        return np.zeros_like(signal)
    ear = _ear(audiogram, equiv_0db_spl, ahr, src_pos)
    padded = np.concatenate([signal * gain, np.zeros(padded_length(len(signal)) - len(signal))])
    output = simulate_chain(ear, padded)
    return output[max(delay, 0): max(delay, 0) + len(signal)]


class MsbgProcessor:
    """pyclarity MSBG, one ear at a time (``batched = False``)."""

    name = "msbg"
    sample_rate = MSBG_SAMPLE_RATE
    batched = False

    def __init__(self, ahr: float = 20.0, src_pos: str = "ff", device: str = "cpu") -> None:
        self.ahr = float(ahr)
        self.src_pos = src_pos

    def describe(self) -> dict[str, Any]:
        return {"implementation": "pyclarity clarity.evaluator.msbg.msbg.Ear",
                "ahr": self.ahr, "src_pos": self.src_pos,
                "delay": "removed (impulse response peak of the same ear)"}

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor,
        level_db_spl: torch.Tensor,
        seeds: list[int],
    ) -> torch.Tensor:
        output = torch.zeros_like(audio)
        for item in range(audio.shape[0]):
            length = int(lengths[item])
            for channel in range(audio.shape[1]):
                warn_beyond_catch_up(listeners.audiogram(item, channel))
                signal = audio[item, channel, :length].detach().cpu().to(torch.float64).numpy()
                simulated = simulate_ear(
                    signal, listeners.audiogram(item, channel),
                    equiv_0db_spl=float(level_db_spl[item]), ahr=self.ahr, src_pos=self.src_pos,
                )
                output[item, channel, :length] = torch.from_numpy(simulated).to(audio.dtype)
        return output


@dataclass(frozen=True)
class MsbgOptions:
    """Options of ``simulate --backend msbg`` (library only: the recipes' values)."""

    ahr: float = option(20.0, "Threshold of audibility of the recruitment model, dB.", cli=False)
    src_pos: str = option("ff", "Source position of the outer-ear filter (pyclarity: ff, df, ITU).",
                          cli=False)


register("simulate", "msbg", MsbgProcessor, "MSBG hearing-loss simulation (pyclarity, reference)",
         reference=True, default=True, options=MsbgOptions)
