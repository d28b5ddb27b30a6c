"""torch-msbg: a batched, differentiable port of pyclarity's MSBG hearing-loss simulator.

Every stage of ``clarity.evaluator.msbg.msbg.Ear.process`` (pyclarity 0.9.0), in torch:

1. calibration as ``Ear.process`` (full-signal RMS vs active RMS, ``measure_rms(-12 dB)``),
   per ear on the unpadded signal (:func:`hltk.simulate.msbg_dsp.level.msbg_calibration_gain`);
2. free-field to cochlea FIR (1015 taps, MATLAB ``fir2`` design), FFT convolution;
3. spectral smearing (MILD / MODERATE / SEVERE), batched STFT frames times the smearing matrix
   (:mod:`hltk.simulate.msbg_dsp.smearing`);
4. gammatone filterbank of 36 / 28 / 19 channels by severity, envelope, recruitment with
   catch-up at 105 dB, recombination (:mod:`hltk.simulate.msbg_dsp.gammatone`); every IIR
   stage is exact (block state-space recursion, :mod:`hltk.simulate.msbg_dsp.iir`);
5. cochlea to free-field FIR and the 18 kHz output low-pass (133-tap Kaiser FIR).

Delay compensation exactly as the ``msbg`` reference backend (so the two are interchangeable):
the input is zero-padded at the end by :data:`hltk.simulate.msbg.END_PAD` samples (to whole
64-sample hops), and each ear's delay is measured from a calibrated impulse at
``msbg.IMPULSE_POSITION`` run through this same chain in float64, then located by
:func:`hltk.simulate.msbg.delay_from_response` (the impulse response weighted by the
autocorrelation of speech-shaped noise: the lag at which broadband input lines up).

Items and ears form one batch of mono signals; signals are grouped by filterbank (severity)
and processed in chunks of at most ``max_elements`` cochleagram samples.

Exactness and precision, stage by stage (errors measured against pyclarity, relative to the
peak; see ``tests/test_torch_msbg.py``):

=====================================  =========  ===========================================
stage                                  precision  method, error
=====================================  =========  ===========================================
calibration (active level)             float64    same frame selection, 1e-12
outer/middle-ear FIR                   float64    same taps (fir2 port), FFT convolution 1e-13
back FIR + 18 kHz low-pass             float64    one 1147-tap FIR (the two convolved), 1e-13
spectral smearing                      ``dtype``  batched frames x matrix, 1e-13 / 2e-7
gammatone (4 biquads; + the HP biquad  ``dtype``  exact block state-space recursion (no
  of the upper channels), envelope                truncated impulse response): 2e-12 / 5e-7
  filtfilt
recruitment, recombination             ``dtype``  elementwise; on the compiled CPU path fused
                                                  with the envelope (gain in ``dtype`` through
                                                  series log/exp, 3e-7 / 1e-13), summed in
                                                  float64
=====================================  =========  ===========================================

No IIR stage is truncated, so there is no truncation bound to choose (the issue allowed
truncated-IR FFT convolution; on a CPU the block recursion's ``[L, L]`` Toeplitz products
cost less per channel-sample than the per-channel inverse FFT alone of an FFT convolution of a
4 s signal, so the exact form is also the fast one). Two deviations from pyclarity's
arithmetic, both inside signal-free margins:
each gammatone channel's last ``GTnDelays[c]`` samples (inside the discarded end padding) keep
the filter's continuation instead of zeros, which reaches kept samples only through the
envelope's backward pass, attenuated by more than 100 dB over :data:`END_PAD`; and the upper
channels' high-pass runs in the same cascade as the gammatone, so it also sees the
``GTnDelays[c] <= 87`` samples before the aligned start (pyclarity starts it from rest there),
which inside this chain hold only the gammatone's response to the outer-ear FIR's pre-ringing.
End to end (4 s speech and music, NH to severe): 85-118 dB SNR in float32, 122-151 dB in
float64, STOI deltas below 3e-6. The FIR stages stay in float64 in both modes: in float32 their
FFT rounding (lifted by the backward filter's ~34 dB of gain) made batched and item-by-item
outputs differ by 1.3e-4 of the peak, above the 1e-5 the tests hold them to.

Two ways to run the recursions (``compiled=``): the block matrix products above (the torch
path: differentiable, any device) and, on CPU when no gradient is recorded for the input, the
compiled path: sample-by-sample kernels (:mod:`hltk.simulate.msbg_dsp.compiled`, numba) with
the signals as SIMD lanes, which follow pyclarity's order exactly (advance with a zero-filled end, then the
high-pass from rest) and keep their state in float64 (but for the gammatone channels from
:data:`NARROW_BELOW_HZ` up, in ``dtype``): the two paths agree to > 100 dB.

Speed: ``bench/torch_msbg_speed.py`` (against the ``msbg`` backend, both paths) and
``bench/torch_msbg_kernels.py`` (the compiled kernels). In a profile of the compiled path, the
gammatone kernel and the fused envelope-recruitment kernel are the largest items, then spectral
smearing (a matrix product near the CPU's float32 peak) and the FIRs. Two process-wide settings
matter as much as the DSP (:mod:`hltk.runtime`): freed memory is kept for reuse, on one heap for
all threads (fresh large tensors are page-faulted slowly), and OpenMP threads wait passively
(spinning threads cost several times on a loaded machine).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, NamedTuple

import numpy as np
import torch
from scipy import signal as sps

from hltk.dsp.fftconv import fir_filter
from hltk.dsp.filter_design import fir2
from hltk.io.listeners import Audiogram, ListenerBatch
from hltk.registry import option, register
from hltk.runtime import keep_freed_memory
from hltk.simulate.msbg import (
    CATCH_UP_DB_HL,
    END_PAD,
    IMPULSE_LENGTH,
    IMPULSE_POSITION,
    delay_from_response,
    warn_beyond_catch_up,
)
from hltk.simulate.msbg_dsp.compiled import (
    envelope_compiled,
    gammatone_filterbank_compiled,
    normalised_biquads,
    recruited_sum_compiled,
)
from hltk.simulate.msbg_dsp.gammatone import (
    channel_envelope,
    gammatone_highpass_filterbank,
    recruitment,
    recruitment_log_max,
)
from hltk.simulate.msbg_dsp.iir import BlockStateSpace, block_state_space
from hltk.simulate.msbg_dsp.level import msbg_calibration_gain
from hltk.simulate.msbg_dsp.smearing import smearing_matrix, spectral_smear, spectral_smear_compiled

SAMPLE_RATE = 44100
#: Clarity recipe defaults: dB SPL of a digital RMS of 1, and MSBG's added headroom.
EQUIV_0DB_SPL = 100.0
AHR = 20.0
CATCH_UP_DB = CATCH_UP_DB_HL
UPPER_CUTOFF_HZ = 18000.0
#: scipy filtfilt's default ``padlen`` for a biquad, as ``compute_envelope`` passes it.
ENVELOPE_PADLEN = 8

#: channels centred below this keep float64 recursions in the compiled gammatone bank when
#: ``dtype`` is float32 (their float32 states cost 68-80 dB of SNR; the channels above lose
#: 98 dB or more, and the bank runs 10-40% faster from 13 signals a chunk up:
#: ``bench/torch_msbg_kernels.py``)
NARROW_BELOW_HZ = 1000.0

#: Filterbank file and smearing broadening (lower, upper) by severity (pyclarity HL_PARAMS).
FILTERBANK_FILES = {
    "NOTHING": "GT4FBank_Brd1.5E_Spaced1.1E_44100Fs",
    "MILD": "GT4FBank_Brd1.5E_Spaced1.1E_44100Fs",
    "MODERATE": "GT4FBank_Brd2.0E_Spaced1.5E_44100Fs",
    "SEVERE": "GT4FBank_Brd3.0E_Spaced2.3E_44100Fs",
}
SMEAR_BROADENING: dict[str, tuple[float, float] | None] = {
    "NOTHING": None,
    "MILD": (1.6, 1.1),
    "MODERATE": (2.4, 1.6),
    "SEVERE": (4.0, 2.0),
}


def severity(audiogram: Audiogram) -> str:
    """MSBG's severity class of an audiogram (pyclarity's ``Audiogram.severity``)."""
    return audiogram.severity


def outer_middle_ear_fir(backward: bool = False, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Free-field to cochlea FIR (or its inverse), as ``Ear.src_to_cochlea_filt`` designs it:
    ``FF_ED - MIDEAR`` (dB, 0 at 1 kHz) on MSBG's frequency grid plus Nyquist, ``fir2`` with a
    Kaiser(4) window and ``2 floor(fs / 16000 * 368 / 2) + 1`` taps (1015 at 44.1 kHz)."""
    from clarity.evaluator.msbg.msbg_utils import FF_ED, HZ, MIDEAR

    nyquist = int(sample_rate / 2)
    useful = HZ < nyquist
    correction = FF_ED - MIDEAR
    at_nyquist = np.interp(nyquist, HZ, correction)
    gains_db = np.append(correction[useful], at_nyquist)
    if backward:
        gains_db = -gains_db
    frequencies = np.append(HZ[useful], nyquist) / nyquist
    taps = 2 * math.floor((sample_rate / 16e3) * 368 / 2) + 1
    return fir2(taps, frequencies, 10 ** (0.05 * gains_db), window=("kaiser", 4.0))


def output_lowpass(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The final 18 kHz low-pass: ``firwin(2 floor(0.0015 fs) + 1, 18000 / (fs // 2),
    window=("kaiser", 8))``."""
    taps = 2 * math.floor(0.0015 * sample_rate) + 1
    return sps.firwin(taps, UPPER_CUTOFF_HZ / int(sample_rate / 2), window=("kaiser", 8))


def load_filterbank_parameters(name: str) -> dict[str, Any]:
    """A gammatone filterbank file shipped with pyclarity (``msbg_hparams/{name}.json``)."""
    path = resources.files("clarity.evaluator.msbg").joinpath(f"msbg_hparams/{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def expansion_ratios(centre_frequencies: np.ndarray, audiogram: Audiogram,
                     catch_up_db: float = CATCH_UP_DB) -> np.ndarray:
    """Recruitment expansion ratio per channel: ``catch_up / (catch_up - HL(cf))`` with the
    hearing level interpolated linearly in frequency, flat beyond the audiogram's ends
    (``compute_recruitment_parameters``)."""
    levels = np.interp(centre_frequencies, audiogram.frequencies, audiogram.levels)
    with np.errstate(divide="ignore"):  # inf at the catch-up level, as pyclarity
        return catch_up_db / (catch_up_db - levels)


class BlockMatrices(NamedTuple):
    """Block state-space matrices of one filterbank file for the torch recursion."""

    gammatone: BlockStateSpace  # every channel's gammatone cascade
    gammatone_low: BlockStateSpace  # the channels without a high-pass
    gammatone_high: BlockStateSpace  # the channels from first_highpass, with their high-pass
    highpass: BlockStateSpace  # the high-pass biquads alone
    envelope: BlockStateSpace  # the envelope low-passes
    envelope_edge: BlockStateSpace  # the same in blocks of ENVELOPE_PADLEN (padded edges)


@dataclass(frozen=True)
class Filterbank:
    """Precomputed tensors of one MSBG gammatone filterbank file: the biquad rows for the
    compiled recursions, and the block state-space matrices of the torch recursion, built
    on first use (~0.2 s per file, which the compiled CPU path never needs)."""

    name: str
    centre_frequencies: np.ndarray
    delays: tuple[int, ...]
    first_highpass: int
    recombination_gain: float
    #: ``b0 b1 b2 a1 a2`` rows (float64) for :mod:`hltk.simulate.msbg_dsp.compiled`: the gammatone
    #: biquad, the high-pass (zeros below ``first_highpass``) and the envelope low-pass
    biquads: np.ndarray
    highpass_biquads: np.ndarray
    envelope_biquads: np.ndarray
    order: int
    block: int = 64
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float64

    def to(self, device: torch.device, dtype: torch.dtype) -> Filterbank:
        return replace(self, device=torch.device(device), dtype=dtype)

    @property
    def wide_channels(self) -> int:
        """Channels (from the first) whose compiled gammatone keeps float64 states in float32
        mode: those centred below :data:`NARROW_BELOW_HZ`."""
        return int(np.count_nonzero(self.centre_frequencies < NARROW_BELOW_HZ))

    @functools.cached_property
    def blocks(self) -> BlockMatrices:
        """The torch recursion's matrices on this bank's device and dtype."""
        return BlockMatrices(*(b.to(self.device, self.dtype)
                               for b in block_matrices(self.name, self.block)))


def _envelope_sos(params: dict[str, Any]) -> np.ndarray:
    """``[C, 1, 6]``: each channel's envelope low-pass (2nd-order elliptic, 3/4 of its ERB
    up to 100 Hz), as ``cochlea.compute_envelope`` designs it."""
    rows = []
    for erb in params["ERBn_CentFrq"]:
        cutoff = (30 / 40) * min(100.0, erb)
        b, a = sps.ellip(2, 0.25, 35, cutoff / (SAMPLE_RATE / 2))
        rows.append(np.concatenate([b, a])[None])
    return np.stack(rows)


@functools.lru_cache(maxsize=16)
def block_matrices(name: str, block: int = 64) -> BlockMatrices:
    """Block state-space matrices (float64, CPU) of the filterbank file ``name``."""
    params = load_filterbank_parameters(name)
    order = int(params["NGAMMA"])
    gammatone_sos = np.stack([
        np.tile(np.concatenate([b, a]), (order, 1))
        for b, a in zip(params["GTn_nums"], params["GTn_denoms"], strict=True)
    ])
    highpass_sos = np.concatenate(
        [np.asarray(params["HP_nums"]), np.asarray(params["HP_denoms"])], axis=1
    )[:, None, :]
    first_highpass = int(params["Start2PoleHP"]) - 1
    gammatone_highpass_sos = np.concatenate(
        [gammatone_sos[first_highpass:], highpass_sos], axis=1)  # [C_hp, order + 1, 6]
    envelope_sos = _envelope_sos(params)
    return BlockMatrices(
        block_state_space(gammatone_sos, block),
        block_state_space(gammatone_sos[:first_highpass], block),
        block_state_space(gammatone_highpass_sos, block),
        block_state_space(highpass_sos, block),
        block_state_space(envelope_sos, block),
        block_state_space(envelope_sos, ENVELOPE_PADLEN),
    )


@functools.lru_cache(maxsize=16)
def cached_smearing_matrix(broaden_lower: float, broaden_upper: float) -> np.ndarray:
    """:func:`hltk.simulate.msbg_dsp.smearing.smearing_matrix` at 44.1 kHz, computed once per process."""
    return smearing_matrix(broaden_lower, broaden_upper, float(SAMPLE_RATE))


@functools.lru_cache(maxsize=16)
def build_filterbank(name: str, block: int = 64) -> Filterbank:
    """The filterbank file ``name`` (float64, CPU; block matrices of ``block`` steps)."""
    params = load_filterbank_parameters(name)
    nums, denoms = np.asarray(params["GTn_nums"]), np.asarray(params["GTn_denoms"])
    first_highpass = int(params["Start2PoleHP"]) - 1
    highpass_biquads = np.zeros((len(nums), 5))
    highpass_biquads[first_highpass:] = normalised_biquads(params["HP_nums"], params["HP_denoms"])
    envelope_rows = _envelope_sos(params)[:, 0]
    return Filterbank(
        name=name,
        centre_frequencies=np.asarray(params["GTn_CentFrq"], dtype=np.float64),
        delays=tuple(int(d) for d in params["GTnDelays"]),
        first_highpass=first_highpass,
        recombination_gain=float(10 ** (-0.05 * params["Recombination_dB"])),
        biquads=normalised_biquads(nums, denoms),
        highpass_biquads=highpass_biquads,
        envelope_biquads=normalised_biquads(envelope_rows[:, :3], envelope_rows[:, 3:]),
        order=int(params["NGAMMA"]),
        block=block,
    )


#: Measured delays by (frequencies, levels, level_db_spl, ahr), shared by all instances.
_DELAYS: dict[tuple[Any, ...], int] = {}


@dataclass(frozen=True)
class Suprathreshold:
    """Per-listener MSBG parameters an audiogram does not show (library only; the ``listeners``
    psi-msbg population of :mod:`hltk.train.psi` draws them). Every field's ``None`` keeps
    MSBG's own rule, so ``Suprathreshold()`` changes nothing.

    - ``smear_scale``: the spectral smearing broadening factors (lower, upper) of the severity
      class (``SMEAR_BROADENING``; ``(1, 1)`` for NOTHING, which MSBG does not smear) times
      this factor: wider (> 1) or narrower auditory filters than the audiogram implies.
    - ``recruitment_scale``: each channel's expansion ratio ``r`` becomes
      ``1 + recruitment_scale * (r - 1)``: steeper (> 1) or shallower loudness growth than
      ``catch_up / (catch_up - HL)``.
    - ``dead_above_hz``: a high-frequency dead region: every gammatone channel centred at or
      above it is silenced (MSBG has no off-frequency listening, so the place simply gives no
      output; the audiogram, measured with the normal chain, need not show it).

    The delay removed is that of the audiogram's own chain (:meth:`TorchMsbg.delays`): these
    changes act on magnitudes (the smearing keeps each frame's phase).
    """

    smear_scale: float | None = None
    recruitment_scale: float | None = None
    dead_above_hz: float | None = None

    def __post_init__(self) -> None:
        for name in ("smear_scale", "recruitment_scale", "dead_above_hz"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")

    def broadening(self, severity_class: str) -> tuple[float, float] | None:
        """The smearing broadening (lower, upper) for ``severity_class``; None: no smearing."""
        base = SMEAR_BROADENING[severity_class]
        if self.smear_scale is None:
            return base
        lower, upper = base if base is not None else (1.0, 1.0)
        return (lower * self.smear_scale, upper * self.smear_scale)

    def ratios(self, ratios: np.ndarray) -> np.ndarray:
        if self.recruitment_scale is None:
            return ratios
        return 1.0 + self.recruitment_scale * (ratios - 1.0)

    def channel_mask(self, centre_frequencies: np.ndarray) -> np.ndarray:
        """``[C]`` True for the channels that respond."""
        if self.dead_above_hz is None:
            return np.ones(len(centre_frequencies), dtype=bool)
        return centre_frequencies < self.dead_above_hz


class TorchMsbg:
    """Batched, differentiable MSBG (the ``torch-msbg`` simulate backend).

    Args:
        dtype: ``"float32"`` (default) or ``"float64"``: the working precision of every stage
            (calibration gains are always measured in float64).
        device: ``None`` to follow the input audio's device.
        block: block length of the exact IIR recursion (speed only).
        max_elements: most cochleagram samples (signals x channels x time) per chunk
            (2^27 instead of 2^26 was not faster with either recursion:
            ``bench/torch_msbg_recursion.py``).
        compiled: how the gammatone bank and the envelope filters run. ``False``: block
            matrix products (:mod:`hltk.simulate.msbg_dsp.iir`; differentiable, any device).
            ``True``: the compiled path, sample-by-sample kernels vectorised across signals
            (:mod:`hltk.simulate.msbg_dsp.compiled`; CPU, no autograd, else ``ValueError``;
            exact pyclarity order, and faster end to end: ``bench/torch_msbg_speed.py``).
            ``None`` (default): compiled on CPU when no gradient is being recorded for the
            input, torch otherwise.
    """

    name = "torch-msbg"
    sample_rate = SAMPLE_RATE
    batched = True

    def __init__(
        self,
        dtype: str | torch.dtype = "float32",
        device: str | torch.device | None = None,
        block: int = 32,
        max_elements: int = 1 << 26,
        equiv_0db_spl: float = EQUIV_0DB_SPL,
        ahr: float = AHR,
        compiled: bool | None = None,
    ) -> None:
        self.compiled = compiled
        keep_freed_memory()  # reuse pages across chunks: see hltk.runtime
        self.dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.device = torch.device(device) if device is not None else None
        self.block = block
        self.max_elements = max_elements
        self.equiv_0db_spl = equiv_0db_spl
        self.ahr = ahr
        self._on_device: dict[tuple[str, str, torch.dtype], Filterbank] = {}
        self._smearing: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}
        self._firs: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}

    # -- precomputed tensors -------------------------------------------------------------
    def _filterbank(self, severity_class: str, device: torch.device, dtype: torch.dtype
                    ) -> Filterbank:
        name = FILTERBANK_FILES[severity_class]
        key = (name, str(device), dtype)
        if key not in self._on_device:
            self._on_device[key] = build_filterbank(name, self.block).to(device, dtype)
        return self._on_device[key]

    def _smearing_matrix(self, severity_class: str, device: torch.device, dtype: torch.dtype,
                         broadening: tuple[float, float] | None | str = "class"
                         ) -> torch.Tensor | None:
        """The smearing matrix of ``severity_class`` (``broadening="class"``) or of the given
        broadening (lower, upper) factors (a :class:`Suprathreshold` override)."""
        if broadening == "class":
            broadening = SMEAR_BROADENING[severity_class]
            key: tuple[Any, ...] = (severity_class, str(device), dtype)
        else:
            key = (broadening, str(device), dtype)
        if broadening is None:
            return None
        assert not isinstance(broadening, str)
        if key not in self._smearing:
            matrix = cached_smearing_matrix(*broadening)
            self._smearing[key] = torch.as_tensor(matrix, dtype=dtype, device=device)
        return self._smearing[key]

    def _fir(self, which: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (which, str(device), dtype)
        if key not in self._firs:
            taps = {
                "forward": lambda: outer_middle_ear_fir(False),
                "backward": lambda: outer_middle_ear_fir(True),
                "lowpass": output_lowpass,
                # cochlea -> free field, then the 18 kHz low-pass: one 1147-tap FIR
                "backward_lowpass": lambda: np.convolve(outer_middle_ear_fir(True),
                                                        output_lowpass()),
            }[which]()
            self._firs[key] = torch.as_tensor(taps, dtype=dtype, device=device)
        return self._firs[key]

    def _compiled(self, signal: torch.Tensor) -> bool:
        """Whether the recursions run as :mod:`hltk.simulate.msbg_dsp.compiled` kernels for
        ``signal``."""
        if self.compiled is False:
            return False
        usable = signal.device.type == "cpu" and not (
            torch.is_grad_enabled() and signal.requires_grad)
        if self.compiled and not usable:
            raise ValueError("compiled=True needs CPU tensors and no autograd "
                             "(use compiled=None to fall back to the torch recursion)")
        return usable

    # -- the chain -----------------------------------------------------------------------
    def _chain(
        self,
        signal: torch.Tensor,
        severity_class: str,
        ratios: torch.Tensor,
        spl_equiv: torch.Tensor,
        dtype: torch.dtype,
        broadening: tuple[float, float] | None | str = "class",
        responding: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Outer ear -> cochlea -> back -> low-pass for signals of one severity class.

        ``broadening`` and ``responding [N, C]`` (bool, False: a dead channel) carry the
        :class:`Suprathreshold` overrides; their defaults are MSBG's own chain.

        The FIR stages run in float64 (the backward outer/middle-ear filter has ~34 dB of
        gain, which lifts float32 FFT rounding to ~1e-5 of the peak); smearing, gammatone
        bank, envelope and recruitment run in ``dtype``.

        ``signal [N, T]`` (calibrated, padded), ``ratios [N, C]``, ``spl_equiv [N]`` ->
        ``[N, T']`` float64 (``T' = T``, or the smeared length).
        """
        device = signal.device
        wide = torch.float64
        bank = self._filterbank(severity_class, device, dtype)
        cochlea_in = fir_filter(signal.to(wide), self._fir("forward", device, wide)).to(dtype)
        compiled = self._compiled(cochlea_in)
        matrix = self._smearing_matrix(severity_class, device, dtype, broadening)
        if matrix is not None:
            smear = spectral_smear_compiled if compiled else spectral_smear
            cochlea_in = smear(cochlea_in, matrix)
        if compiled:  # one time-major [C, T, N] cochleagram, seen as [C, N, T]
            groups = [gammatone_filterbank_compiled(
                cochlea_in.T, bank.biquads, bank.order, np.asarray(bank.delays),
                bank.highpass_biquads, wide_channels=bank.wide_channels,
            ).transpose(1, 2)]
        else:
            groups = gammatone_highpass_filterbank(
                cochlea_in, bank.blocks.gammatone_low, bank.blocks.gammatone_high, bank.delays
            )
        cochlea_out = None
        first = 0
        for bands in groups:
            last = first + bands.shape[0]
            if responding is not None:  # dead channels: no output, before the envelope
                alive = responding[:, first:last].T.to(bands.device)  # [C_g, N]
                if compiled:
                    bands[~alive] = 0
                else:
                    bands = bands * alive[:, :, None].to(bands.dtype)
            group_ratios = ratios[:, first:last].T  # [C_g, N]
            recruited = bool((group_ratios != 1).any())
            # else: every gain is exactly (env / max) ** 0 = 1 (normal hearing)
            if recruited and compiled and bool(torch.isfinite(group_ratios).all()):
                # envelope, recruitment and the channel sum in one compiled pass
                summed = recruited_sum_compiled(
                    bands.transpose(1, 2), bank.envelope_biquads[first:last],
                    ENVELOPE_PADLEN, group_ratios.double() - 1,
                    recruitment_log_max(spl_equiv.double(), CATCH_UP_DB),
                ).T
            else:
                if recruited:
                    if compiled:
                        envelope = envelope_compiled(bands.transpose(1, 2),
                                                bank.envelope_biquads[first:last],
                                                ENVELOPE_PADLEN).transpose(1, 2)
                    else:
                        envelope = channel_envelope(
                            bands, bank.blocks.envelope.select(first, last),
                            bank.blocks.envelope_edge.select(first, last), ENVELOPE_PADLEN,
                        )
                    bands = recruitment(
                        bands, envelope, spl_equiv, group_ratios, CATCH_UP_DB,
                        in_place=not (torch.is_grad_enabled() and bands.requires_grad),
                    )
                # (summed in the storage's order: a strided reduction over the time-major
                # cochleagram's [C, N, T] view is ~10x slower)
                summed = bands.transpose(1, 2).sum(0).T if compiled else bands.sum(0)
            cochlea_out = summed if cochlea_out is None else cochlea_out + summed
            first = last
        assert cochlea_out is not None
        cochlea_out = cochlea_out.to(wide) * bank.recombination_gain
        return fir_filter(cochlea_out, self._fir("backward_lowpass", device, wide))

    def _run_groups(
        self,
        signal: torch.Tensor,
        audiograms: list[Audiogram],
        spl_equiv: torch.Tensor,
        starts: torch.Tensor,
        length: int,
        dtype: torch.dtype,
        profiles: list[Suprathreshold | None] | None = None,
    ) -> torch.Tensor:
        """Run the chain on ``signal [N, T]`` grouped by severity, chunked, and return
        ``output[n, starts[n] : starts[n] + length]`` for each signal, ``[N, length]``.
        ``profiles``: a :class:`Suprathreshold` (or None) per signal; signals are then also
        grouped by their smearing broadening."""
        classes = [severity(a) for a in audiograms]
        starts = starts.to(signal.device)
        pieces: list[torch.Tensor] = []
        order: list[int] = []
        groups: list[tuple[str, Any]] = [(c, "class") for c in sorted(set(classes))]
        keys: list[tuple[str, Any]] = [(c, "class") for c in classes]
        if profiles is not None:
            keys = [(c, p.broadening(c) if p is not None else "class")
                    for c, p in zip(classes, profiles, strict=True)]
            groups = sorted(set(keys), key=str)
        for severity_class, broadening in groups:
            members = [i for i, k in enumerate(keys) if k == (severity_class, broadening)]
            bank = self._filterbank(severity_class, signal.device, dtype)
            channels = len(bank.delays)
            chunk = max(1, self.max_elements // (channels * signal.shape[-1]))
            # as few chunks as the budget allows, evenly filled (a 13 + 2 split runs the
            # 2-signal chunk's recursions at a fraction of their lane throughput)
            chunk = -(-len(members) // -(-len(members) // chunk))
            for first in range(0, len(members), chunk):
                indices = members[first : first + chunk]
                ratios_rows = [expansion_ratios(bank.centre_frequencies, audiograms[i])
                               for i in indices]
                responding = None
                if profiles is not None:
                    chosen = [profiles[i] or Suprathreshold() for i in indices]
                    ratios_rows = [p.ratios(r) for p, r in zip(chosen, ratios_rows, strict=True)]
                    masks = np.stack([p.channel_mask(bank.centre_frequencies) for p in chosen])
                    if not masks.all():
                        responding = torch.as_tensor(masks)
                ratios = torch.as_tensor(np.stack(ratios_rows), dtype=dtype, device=signal.device)
                index = torch.as_tensor(indices, device=signal.device)
                output = self._chain(
                    signal[index], severity_class, ratios, spl_equiv[index], dtype,
                    broadening, responding,
                )
                output = torch.nn.functional.pad(output, (0, max(0, int(starts.max()) + length
                                                                  - output.shape[-1])))
                gather = starts[index][:, None] + torch.arange(
                    length, device=signal.device
                )
                pieces.append(torch.gather(output, 1, gather))
                order.extend(indices)
        stacked = torch.cat(pieces, dim=0)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.as_tensor(order)] = torch.arange(len(order))
        return stacked[inverse.to(signal.device)]

    def delays(
        self,
        audiograms: list[Audiogram],
        level_db_spl: list[float],
        device: torch.device | None = None,
    ) -> list[int]:
        """Each ear's delay in samples, measured as the ``msbg`` backend does (float64 impulse
        response, calibrated; :func:`hltk.simulate.msbg.delay_from_response`), cached per
        audiogram and level."""
        keys = [
            (a.frequencies, a.levels, float(level), self.ahr)
            for a, level in zip(audiograms, level_db_spl, strict=True)
        ]
        missing = sorted({k for k in keys if k not in _DELAYS}, key=str)
        if missing:
            device = device or self.device or torch.device("cpu")
            impulse = torch.zeros(len(missing), IMPULSE_LENGTH, dtype=torch.float64,
                                  device=device)
            impulse[:, IMPULSE_POSITION] = 1.0
            impulse = impulse * msbg_calibration_gain(
                impulse, torch.full((len(missing),), IMPULSE_LENGTH, device=device))[:, None]
            spl = torch.tensor([k[2] + self.ahr for k in missing], dtype=torch.float64,
                               device=device)
            with torch.no_grad():
                response = self._run_groups(
                    impulse, [Audiogram(k[0], k[1]) for k in missing], spl,
                    torch.zeros(len(missing), dtype=torch.long), IMPULSE_LENGTH, torch.float64,
                )
            for key, ear_response in zip(missing, response.cpu().numpy(), strict=True):
                _DELAYS[key] = delay_from_response(ear_response)
        return [_DELAYS[k] for k in keys]

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | None = None,
        seeds: list[int] | None = None,
        suprathreshold: list[Suprathreshold | None] | None = None,
    ) -> torch.Tensor:
        """Simulate hearing loss: ``audio [B, C, T]`` (channel ``c`` is ear
        ``listeners.ears[c]``) -> ``[B, C, T]``, time-aligned with the input.

        ``suprathreshold`` (library only, not part of the Processor contract): one
        :class:`Suprathreshold` or None per item (both ears), the listener's parameters
        beyond the audiogram; None (default) is MSBG's chain, output unchanged."""
        del seeds  # MSBG is deterministic
        if suprathreshold is not None and len(suprathreshold) != audio.shape[0]:
            raise ValueError(f"{len(suprathreshold)} suprathreshold profiles for "
                             f"{audio.shape[0]} items")
        device = self.device or audio.device
        batch, channels, length = audio.shape
        if lengths is None:
            lengths = torch.full((batch,), length, dtype=torch.long)
        if level_db_spl is None:
            level_db_spl = torch.full((batch,), self.equiv_0db_spl, dtype=torch.float64)
        lengths = torch.as_tensor(lengths, device=device)
        levels = torch.as_tensor(level_db_spl, dtype=torch.float64).reshape(batch).tolist()
        signal = audio.to(device=device).reshape(batch * channels, length)
        signal_lengths = lengths.repeat_interleave(channels)
        audiograms = [listeners.audiogram(b, c) for b in range(batch) for c in range(channels)]
        for audiogram in audiograms:
            warn_beyond_catch_up(audiogram)
        ear_levels = [levels[b] for b in range(batch) for _ in range(channels)]

        gain = msbg_calibration_gain(signal, signal_lengths)
        calibrated = signal * gain[:, None]  # (float64: the gain is)
        if bool((signal_lengths < length).any()):
            calibrated = calibrated * (
                torch.arange(length, device=device)[None, :] < signal_lengths[:, None])
        # END_PAD zeros, rounded up to whole 64-sample hops (so that no stage pads again).
        padded = calibrated.new_zeros(
            batch * channels, length + END_PAD + (-(length + END_PAD)) % 64)
        padded[:, :length] = calibrated
        spl = torch.tensor(ear_levels, dtype=self.dtype, device=device) + self.ahr
        starts = torch.tensor(self.delays(audiograms, ear_levels, device), dtype=torch.long)
        profiles = (None if suprathreshold is None else
                    [suprathreshold[b] for b in range(batch) for _ in range(channels)])
        output = self._run_groups(padded, audiograms, spl, starts, length, self.dtype, profiles)
        out_dtype = audio.dtype if audio.is_floating_point() else self.dtype
        return output.reshape(batch, channels, length).to(out_dtype)


@dataclass(frozen=True)
class TorchMsbgOptions:
    """Options of ``simulate --backend torch-msbg`` (library only; see :class:`TorchMsbg`)."""

    dtype: str = option("float32", "Working precision.", choices=("float32", "float64"), cli=False)
    compiled: bool | None = option(
        None, "The compiled CPU path: None picks it on a CPU without gradients, True forces it, "
        "False runs the torch recursion.", cli=False)


register(
    "simulate",
    "torch-msbg",
    TorchMsbg,
    "batched differentiable torch port of pyclarity MSBG (CPU/GPU)",
    options=TorchMsbgOptions,
)
