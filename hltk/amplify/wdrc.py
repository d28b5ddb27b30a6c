"""NAL-R + multi-band wide dynamic range compression (WDRC), batched torch.

This is the reference amplifier that the NeuroAMP work calls "NAL-R+WDRC": the NAL-R linear
prescription sets the gain for average conversational speech, and a multi-band compressor
makes the gain depend on the input level in each band, so soft sounds get more gain and loud
sounds less. Everything is vectorised over batch, ears, bands and bins; only the attack/release
recursion runs over STFT frames.

Signal path (``[B, C, T] -> [B, C, T]``, zero delay, same length)
------------------------------------------------------------------
1. STFT: Hann window, ``n_fft`` = 512 and hop 128 at 44.1 kHz (11.6 ms / 2.9 ms; scaled with
   the sample rate), zero padding at both ends (so batched equals item by item).
2. Bands: ``bands`` centre frequencies (default octaves 250, 500, 1k, 2k, 4k, 8k Hz: the
   audiometric frequencies; crossovers at the geometric means 354, 707, 1414, 2828, 5657 Hz as
   in the Cadenza CAD2 ``MultibandCompressor``). Bins are weighted into bands by a partition of
   unity in log frequency, flat inside a band with raised-cosine transitions
   ``transition_octaves`` wide around each crossover.
3. Band level: band power from the bins (Parseval, calibrated so a steady tone of RMS ``r``
   reads ``20 log10 r``) in dB SPL via ``level_db_spl`` (the dB SPL of a digital RMS of 1).
4. Attack/release: a one-pole smoother on the level in dB, coefficient ``1 - exp(-hop / (tau
   fs))`` with ``tau`` = ``attack_ms`` when the level rises, ``release_ms`` when it falls. The
   settings are therefore the time constants of the level detector: after a level step the gain
   in dB (linear in the level inside the compression range) completes ``1 - 1/e`` of its change
   in ``tau``.
5. Static rule per band (below), on the smoothed level.
6. Bin gains: NAL-R response at each bin plus the band rule's departure from NAL-R spread with
   the band weights; the spectrum is scaled and inverted (iSTFT).
7. Output limiter: sample-peak, look-ahead (non-causal, zero delay) over blocks of
   ``limiter_ms``: each block's gain is the smallest ``ceiling / |y|`` of it and its neighbours,
   interpolated linearly between block centres, so no sample exceeds ``limiter_ceiling``
   (digital peak; default 0.95, about -0.45 dBFS: headroom for resampling to the input rate).

The static gain rule (per ear, per band ``b`` with centre ``f_b``)
-----------------------------------------------------------------
With ``HL`` the hearing level at ``f_b`` (audiogram interpolated on log frequency) and ``L`` the
band input level (dB SPL)::

    G_nalr(f_b)  NAL-R insertion gain at f_b (hltk.amplify.nalr; pyclarity's formula)
    S65_b, S50_b band levels of the international long-term average speech spectrum (LTASS,
                 Byrne et al. 1994, the table pyclarity's CAMFIT uses) at 65 and 50 dB SPL
                 overall (``reference_speech_db_spl``, ``knee_speech_db_spl``)
    CR_b         CAMFIT compressive compression ratio (Moore, Alcantara & Glasberg 1999, "Use of
                 a loudness model for hearing aid fitting II", as pyclarity's
                 ``gainrule_camfit_compr`` computes it with ``level=0``):
                     CR_b = 38 / max(13, S65_b + IG_b - HL_b - T_b)
                 IG_b = max(0, 0.48 HL_b + I(f_b)) the CAMFIT linear insertion gain (I: the
                 CAMFIT intercepts; IG = 0 for an audiogram with no loss), T_b the ISO 226 / ISO
                 389-7 threshold in dB SPL (pyclarity ``isothr``), 38 dB the speech dynamic range;
                 then limited to [``ratio_min``, ``ratio_max``] (defaults 1 and 3).
    G_b(L) = min( max( G_nalr(f_b) + (1/CR_b - 1) (max(L, S50_b) - S65_b), min_gain_db ),
                  max_output_db_spl - L )

So: gain is linear (constant) below the compression threshold ``S50_b`` (the band level of soft
speech), equals NAL-R for average speech (``S65_b``), decreases by ``1 - 1/CR_b`` dB per dB
above the threshold, is never below ``min_gain_db`` (0 dB: no attenuation, as CAMFIT), and
never takes a band's output above ``max_output_db_spl`` (100 dB SPL, CAMFIT's default maximum
output level). With no hearing loss every gain is 0 dB and the output equals the input.

Behaviour worth knowing: the rule is indexed by the short-term (smoothed, per-frame) band
level, as CAMFIT/openMHA gain tables are, while its anchor ``S65_b`` is a long-term average.
Running speech spends most of its energy in frames above its long-term band level, so for
speech at 65 dB SPL the overall output of nalr-wdrc is below that of linear NAL-R by about
1 dB (N2), 3 dB (N3, S2), 4 dB (N4) and 5 dB (N5), and for 50 dB SPL speech above it by 0.5 to
4 dB (demo speech, measured with ``limiter_ceiling`` out of the way).

Hearing levels above :data:`hltk.amplify.nalr.PRESCRIPTION_HL_MAX` are clamped (warning).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from hltk.amplify.nalr import (
    NALR_FREQUENCIES,
    PrescriptionWarnings,
    clamped_hearing_levels,
    nalr_gains_db,
    nalr_response_db,
)
from hltk.io.listeners import ListenerBatch
from hltk.registry import option, register

#: LTASS, Byrne et al. (1994) J. Acoust. Soc. Am. 96(4) 2108-2120: third-octave band levels (dB
#: SPL) of speech at 70 dB SPL overall, average of male and female talkers (pyclarity CAMFIT).
LTASS_FREQUENCIES: tuple[float, ...] = (
    63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500,
    3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000,
)  # fmt: skip
LTASS_LEVELS_70: tuple[float, ...] = (
    38.6, 43.5, 54.4, 57.7, 56.8, 60.2, 60.3, 59.0, 62.1, 62.1, 60.5, 56.8, 53.7, 53.0, 52.0,
    48.7, 48.1, 46.8, 45.6, 44.5, 44.3, 43.7, 43.4, 41.3, 40.7,
)  # fmt: skip
#: CAMFIT linear-rule intercepts (Moore & Glasberg 1998), dB, interpolated on log frequency.
CAMFIT_INTERCEPT_FREQUENCIES: tuple[float, ...] = (
    125, 250, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 5005,
)  # fmt: skip
CAMFIT_INTERCEPTS: tuple[float, ...] = (-11, -10, -8, -6, 0, -1, 1, -1, 0, 1, 1)
#: Speech dynamic range (dB) and the smallest aided range of CAMFIT's ratio formula.
CAMFIT_SPEECH_RANGE_DB = 38.0
CAMFIT_MIN_RANGE_DB = 13.0


@dataclass(frozen=True)
class WdrcSettings:
    """Parameters of :class:`NalrWdrcProcessor` (defaults documented in the module docstring)."""

    bands: tuple[float, ...] = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
    attack_ms: float = 10.0
    release_ms: float = 100.0
    ratio_min: float = 1.0
    ratio_max: float = 3.0
    knee_speech_db_spl: float = 50.0
    reference_speech_db_spl: float = 65.0
    max_output_db_spl: float = 100.0
    min_gain_db: float = 0.0
    limiter_ceiling: float = 0.95
    limiter_ms: float = 5.0
    transition_octaves: float = 1.0 / 3.0
    n_fft: int | None = None
    hop: int | None = None

    def __post_init__(self) -> None:
        bands = tuple(float(b) for b in self.bands)
        object.__setattr__(self, "bands", bands)
        if not 1 <= len(bands) <= 32 or any(b <= 0 for b in bands):
            raise ValueError(f"bands must be 1 to 32 positive frequencies, got {list(bands)}")
        if any(b <= a for a, b in zip(bands, bands[1:], strict=False)):
            raise ValueError(f"band centres must be ascending, got {list(bands)}")
        spacing = min((math.log2(b / a) for a, b in zip(bands, bands[1:], strict=False)), default=9)
        if not 0 <= self.transition_octaves <= spacing:
            raise ValueError(
                f"transition_octaves {self.transition_octaves:g} must be between 0 and the "
                f"closest band spacing ({spacing:.3g} octaves)"
            )
        if self.attack_ms <= 0 or self.release_ms <= 0 or self.limiter_ms < 0:
            raise ValueError("attack_ms and release_ms must be > 0, limiter_ms >= 0")
        if not 1.0 <= self.ratio_min <= self.ratio_max:
            raise ValueError(
                f"need 1 <= ratio_min <= ratio_max, got {self.ratio_min}, {self.ratio_max}"
            )
        if self.limiter_ceiling <= 0:
            raise ValueError("limiter_ceiling must be > 0")


def default_frame(sample_rate: int) -> tuple[int, int]:
    """``(n_fft, hop)``: the power of two closest to 11.6 ms (512 at 44.1 kHz), hop a quarter."""
    n_fft = 2 ** round(math.log2(0.0116 * sample_rate))
    return n_fft, n_fft // 4


def band_edges(bands: Sequence[float]) -> np.ndarray:
    """Crossover frequencies: geometric means of neighbouring centres, ``[len(bands) - 1]``."""
    centres = np.asarray(bands, dtype=np.float64)
    return np.sqrt(centres[:-1] * centres[1:])


def band_weights(
    frequencies: np.ndarray, bands: Sequence[float], transition_octaves: float
) -> np.ndarray:
    """Weights ``[len(frequencies), len(bands)]`` of each frequency in each band.

    A partition of unity (rows sum to 1): 1 inside a band, raised-cosine transitions
    ``transition_octaves`` wide centred on the crossovers (log frequency). The first band
    extends down to 0 Hz, the last up to Nyquist.
    """
    with np.errstate(divide="ignore"):
        octave = np.log2(np.asarray(frequencies, dtype=np.float64))
    edges = np.log2(band_edges(bands))
    # above[:, j]: how far each frequency is above crossover j (0 below, 1 above)
    if transition_octaves > 0:
        position = (octave[:, None] - edges[None, :]) / transition_octaves + 0.5
        above = 0.5 - 0.5 * np.cos(np.pi * np.clip(position, 0.0, 1.0))
    else:
        above = (octave[:, None] >= edges[None, :]).astype(np.float64)
    ones = np.ones((len(octave), 1))
    zeros = np.zeros((len(octave), 1))
    lower = np.concatenate([ones, above], axis=1)
    upper = np.concatenate([above, zeros], axis=1)
    return lower - upper


def ltass_band_levels(bands: Sequence[float], overall_db_spl: float = 65.0) -> np.ndarray:
    """Band levels (dB SPL) of LTASS speech at ``overall_db_spl`` in the bands with centres
    ``bands`` (crossovers :func:`band_edges`, first band from 0 Hz, last to infinity).

    CAMFIT's computation (pyclarity ``gainrule_camfit_compr``): the third-octave intensities are
    summed with the proportion of each third-octave band that overlaps the band; levels scale
    with the overall level (the 70 dB table minus 5 dB gives 65 dB speech).
    """
    ltass = np.asarray(LTASS_FREQUENCIES, dtype=np.float64)
    third_edges = np.zeros(len(ltass) + 1)
    third_edges[1:-1] = np.sqrt(ltass[:-1] * ltass[1:])
    third_edges[-1] = ltass[-1] * 2 ** (1 / 6)
    intensity = 10 ** (np.asarray(LTASS_LEVELS_70) / 10)
    edges = np.concatenate([[1e-8], band_edges(bands), [1e7]])
    levels = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        overlap = np.clip(
            np.minimum(high, third_edges[1:]) - np.maximum(low, third_edges[:-1]), 0, None
        )
        proportion = overlap / (third_edges[1:] - third_edges[:-1])
        levels.append(10 * np.log10(np.sum(intensity * proportion)) + overall_db_spl - 70.0)
    return np.asarray(levels)


def iso_thresholds_db_spl(frequencies: Sequence[float]) -> np.ndarray:
    """Normal hearing thresholds in dB SPL (ISO 226:2003 / ISO 389-7), pyclarity ``isothr``."""
    from clarity.enhancer.gha.gainrule_camfit import isothr

    return np.asarray(isothr(np.asarray(frequencies, dtype=np.float64).copy()), dtype=np.float64)


def camfit_intercepts(frequencies: Sequence[float]) -> np.ndarray:
    return np.interp(
        np.log(np.asarray(frequencies, dtype=np.float64)),
        np.log(np.asarray(CAMFIT_INTERCEPT_FREQUENCIES, dtype=np.float64)),
        np.asarray(CAMFIT_INTERCEPTS, dtype=np.float64),
    )


@functools.lru_cache(maxsize=32)
def _camfit_band_constants(bands: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per band: LTASS level of 65 dB speech, ISO threshold (dB SPL), CAMFIT intercept."""
    return ltass_band_levels(bands, 65.0), iso_thresholds_db_spl(bands), camfit_intercepts(bands)


def camfit_compression_ratios(
    hearing_levels: torch.Tensor,
    bands: Sequence[float],
    any_loss: torch.Tensor,
    ratio_min: float = 1.0,
    ratio_max: float = 3.0,
) -> torch.Tensor:
    """CAMFIT compressive ratios ``[..., bands]`` from hearing levels ``[..., bands]`` (dB HL at
    the band centres); ``any_loss [...]`` is False for audiograms with no loss (CAMFIT then
    prescribes no insertion gain). Formula in the module docstring."""
    dtype, device = hearing_levels.dtype, hearing_levels.device
    speech_65, thresholds, intercepts = (
        torch.as_tensor(values, dtype=dtype, device=device)
        for values in _camfit_band_constants(tuple(float(b) for b in bands))
    )
    insertion = (0.48 * hearing_levels + intercepts).clamp(min=0.0)
    insertion = insertion * any_loss.to(dtype).unsqueeze(-1)
    aided_range = (speech_65 + insertion - hearing_levels - thresholds).clamp(
        min=CAMFIT_MIN_RANGE_DB
    )
    ratio = (CAMFIT_SPEECH_RANGE_DB / aided_range).clamp(min=ratio_min, max=ratio_max)
    # CAMFIT prescribes nothing (all gains 0) for an audiogram with no loss: no compression
    return torch.where(any_loss.unsqueeze(-1), ratio, torch.ones_like(ratio))


def smooth_levels(
    levels: torch.Tensor,
    attack: float,
    release: float,
    state: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attack/release smoothing over frames, ``[N, F, bands] -> [N, F, bands]`` (dB).

    One-pole recursion ``s += a (L - s)`` with ``a = attack`` when the level rises and
    ``release`` when it falls (coefficients per frame, ``1 - exp(-hop / (tau fs))``). ``state
    [N, bands]`` is the smoothed level before the first frame (default: the first frame's
    level); it is updated in place, so consecutive blocks of frames chain. The only loop over
    frames in the WDRC.
    """
    by_frame = levels.transpose(0, 1).contiguous()  # [F, N, bands]
    smoothed = torch.empty_like(by_frame)
    current = by_frame[0].clone() if state is None else state.clone()
    change = torch.empty_like(current)
    for frame in range(by_frame.shape[0]):
        torch.sub(by_frame[frame], current, out=change)
        current.addcmul_(torch.where(change > 0, attack, release), change)
        smoothed[frame] = current
    if state is not None:
        state.copy_(current)
    return smoothed.transpose(0, 1)


def peak_limit(audio: torch.Tensor, ceiling: float, block: int) -> torch.Tensor:
    """Look-ahead sample-peak limiter ``[N, T] -> [N, T]``: no sample above ``ceiling``.

    With blocks of ``block`` samples: the gain a block needs is ``ceiling / peak``; each block's
    gain is the minimum over itself and its two neighbours, and the gain is interpolated
    linearly between block centres. Every sample's gain is then at most what its own block
    needs (both ends of its interpolation segment include that block), so no sample exceeds the
    ceiling, and the gain ramps over one block (no clicks). Non-causal, zero delay. Rows with no
    sample above the ceiling pass unchanged.
    """
    magnitude = audio.abs()
    over = (magnitude > ceiling).any(dim=-1)
    if not bool(over.any()):
        return audio
    every = bool(over.all())
    rows = audio if every else audio[over]
    magnitude = magnitude if every else magnitude[over]
    length = rows.shape[-1]
    blocks = -(-length // block)
    magnitude = torch.nn.functional.pad(magnitude, (0, blocks * block - length))
    peaks = magnitude.reshape(rows.shape[0], blocks, block).amax(dim=-1)
    block_gain = ceiling / peaks.clamp(min=ceiling)
    padded = torch.nn.functional.pad(block_gain, (1, 1), value=1.0)
    smooth = torch.minimum(torch.minimum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    gain = torch.nn.functional.interpolate(
        smooth.unsqueeze(1), size=blocks * block, mode="linear", align_corners=False
    )[:, 0, :length]
    limited_rows = (rows * gain).clamp_(-ceiling, ceiling)
    if every:
        return limited_rows
    limited = audio.clone()
    limited[over] = limited_rows
    return limited


@dataclass
class WdrcPrescription:
    """Per-ear parameters of the static rule, for ``N`` = batch x channels ears.

    ``bin_nalr_db [N, K]``: NAL-R gain at each STFT bin; ``band_nalr_db [N, bands]``: NAL-R gain at
    the band centres; ``ratio [N, bands]``; ``knee_db_spl``/``reference_db_spl [bands]``.
    """

    bin_nalr_db: torch.Tensor
    band_nalr_db: torch.Tensor
    ratio: torch.Tensor
    knee_db_spl: torch.Tensor
    reference_db_spl: torch.Tensor
    settings: WdrcSettings = field(default_factory=WdrcSettings)

    def static_gain_db(self, band_level_db_spl: torch.Tensor) -> torch.Tensor:
        """The static rule ``G_b(L)``: band input levels ``[N, ..., bands]`` -> gains (dB)."""
        extra = band_level_db_spl.dim() - 2

        def expand(values: torch.Tensor) -> torch.Tensor:
            return values.reshape(values.shape[0] if values.dim() > 1 else 1, *([1] * extra), -1)

        settings = self.settings
        compressed = expand(self.band_nalr_db) + (1.0 / expand(self.ratio) - 1.0) * (
            torch.maximum(band_level_db_spl, expand(self.knee_db_spl))
            - expand(self.reference_db_spl)
        )
        floored = compressed.clamp(min=settings.min_gain_db)
        return torch.minimum(floored, settings.max_output_db_spl - band_level_db_spl)


class NalrWdrcProcessor:
    """``amplify --backend nalr-wdrc`` (default): NAL-R + multi-band WDRC, batched torch.

    ``[B, C, T] -> [B, C, T]`` float32, zero delay. See the module docstring for the rule.
    """

    name = "nalr-wdrc"
    batched = True

    def __init__(
        self, sample_rate: int = 44100, settings: WdrcSettings | None = None,
        device: str | torch.device | None = None, **options: float
    ) -> None:
        del device  # follows the input's device
        if settings is None:
            settings = WdrcSettings(**options)  # type: ignore[arg-type]
        elif options:
            raise TypeError("give either settings or keyword options, not both")
        self.settings = settings
        self.sample_rate = int(sample_rate)
        n_fft, hop = default_frame(self.sample_rate)
        self.n_fft = settings.n_fft or n_fft
        self.hop = settings.hop or (self.n_fft // 4 if settings.n_fft else hop)
        nyquist = self.sample_rate / 2
        self.bands = tuple(b for b in settings.bands if b < nyquist)
        if not self.bands:
            raise ValueError(f"no band centre below Nyquist ({nyquist:g} Hz)")
        self.bin_frequencies = np.fft.rfftfreq(self.n_fft, 1.0 / self.sample_rate)
        weights = band_weights(self.bin_frequencies, self.bands, settings.transition_octaves)
        window = torch.hann_window(self.n_fft, dtype=torch.float64)
        # one-sided Parseval: sum_k c_k |X_k|^2 = n_fft sum_n (w x)^2; mean square: that / sum w^2
        one_sided = np.full(len(self.bin_frequencies), 2.0)
        one_sided[0] = 1.0
        if self.n_fft % 2 == 0:
            one_sided[-1] = 1.0
        scale = one_sided / (self.n_fft * float((window**2).sum()))
        self._gain_weights = torch.from_numpy(weights.T.copy()).float()  # [bands, K]
        self._power_weights = torch.from_numpy(
            (weights * scale[:, None]).copy()
        ).float()  # [K, bands]
        self._window = window.float()
        self.knee_db_spl = ltass_band_levels(self.bands, settings.knee_speech_db_spl)
        self.reference_db_spl = ltass_band_levels(self.bands, settings.reference_speech_db_spl)
        self.warnings = PrescriptionWarnings()

    # -- prescription ------------------------------------------------------------------------
    def prescribe(
        self, listeners: ListenerBatch, device: torch.device | str | None = None
    ) -> WdrcPrescription:
        """Static-rule parameters for every ear of the batch (``N = B * C``)."""
        settings = self.settings
        levels_nalr = clamped_hearing_levels(listeners, NALR_FREQUENCIES, self.warnings)
        levels_bands = clamped_hearing_levels(listeners, self.bands)
        levels_grid = clamped_hearing_levels(
            listeners, (250, 500, 1000, 2000, 3000, 4000, 6000, 8000)
        )
        any_loss = (levels_grid != 0).any(dim=-1)
        gains = nalr_gains_db(levels_nalr)  # [B, C, 6]
        bins = torch.from_numpy(self.bin_frequencies)
        bin_nalr = nalr_response_db(gains, bins, self.sample_rate)
        band_nalr = nalr_response_db(
            gains, torch.tensor(self.bands, dtype=torch.float64), self.sample_rate
        )
        ratio = camfit_compression_ratios(
            levels_bands, self.bands, any_loss, settings.ratio_min, settings.ratio_max
        )
        flat = {
            "bin_nalr_db": bin_nalr.flatten(0, 1),
            "band_nalr_db": band_nalr.flatten(0, 1),
            "ratio": ratio.flatten(0, 1),
        }
        return WdrcPrescription(
            **{k: v.to(device=device, dtype=torch.float32) for k, v in flat.items()},
            knee_db_spl=torch.as_tensor(self.knee_db_spl, dtype=torch.float32, device=device),
            reference_db_spl=torch.as_tensor(
                self.reference_db_spl, dtype=torch.float32, device=device
            ),
            settings=settings,
        )

    def speech_gain_db(
        self,
        listeners: ListenerBatch,
        speech_db_spl: float,
        frequencies: Sequence[float] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Static gain for steady LTASS-shaped speech at ``speech_db_spl`` overall (the fitting
        curve): ``(frequencies [K], gains [B, C, K])`` in dB, STFT bins by default."""
        prescription = self.prescribe(listeners)
        batch, channels = len(listeners), len(listeners.ears)
        band_levels = torch.as_tensor(
            ltass_band_levels(self.bands, speech_db_spl), dtype=torch.float32
        ).expand(batch * channels, -1)
        departure = prescription.static_gain_db(band_levels) - prescription.band_nalr_db
        if frequencies is None:
            points = self.bin_frequencies
            bin_nalr = prescription.bin_nalr_db
        else:
            points = np.asarray(frequencies, dtype=np.float64)
            levels_nalr = clamped_hearing_levels(listeners, NALR_FREQUENCIES)
            bin_nalr = (
                nalr_response_db(
                    nalr_gains_db(levels_nalr), torch.from_numpy(points), self.sample_rate
                )
                .flatten(0, 1)
                .float()
            )
        weights = torch.from_numpy(
            band_weights(points, self.bands, self.settings.transition_octaves).T.copy()
        ).float()
        gains = bin_nalr + departure @ weights
        return points, gains.reshape(batch, channels, -1).double().numpy()

    # -- stages ------------------------------------------------------------------------------
    def smoothing_coefficient(self, time_ms: float) -> float:
        return 1.0 - math.exp(-self.hop / (time_ms * 1e-3 * self.sample_rate))

    def smooth_levels(
        self, levels: torch.Tensor, state: torch.Tensor | None = None
    ) -> torch.Tensor:
        """:func:`smooth_levels` with this processor's attack and release (dB, per frame)."""
        return smooth_levels(
            levels,
            self.smoothing_coefficient(self.settings.attack_ms),
            self.smoothing_coefficient(self.settings.release_ms),
            state,
        )

    def limit(self, audio: torch.Tensor) -> torch.Tensor:
        """:func:`peak_limit` with this processor's ceiling and block length."""
        block = max(1, round(self.settings.limiter_ms * 1e-3 * self.sample_rate))
        return peak_limit(audio, self.settings.limiter_ceiling, block)

    def _block_frames(self, ears: int, device: torch.device) -> int:
        """Frames per block: a complex spectrum block of about 8 MB on CPU, 256 MB on GPU."""
        budget = 8e6 if device.type == "cpu" else 2.56e8
        bins = self.n_fft // 2 + 1
        return max(16, int(budget // (ears * bins * 8)))

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor | None = None,
        level_db_spl: torch.Tensor | float | None = None,
        seeds: list[int] | None = None,
    ) -> torch.Tensor:
        batch, channels, length = audio.shape
        device = audio.device
        ears = batch * channels
        if level_db_spl is None:
            level_db_spl = 100.0
        levels_spl = torch.as_tensor(level_db_spl, dtype=torch.float32, device=device)
        levels_spl = levels_spl.reshape(-1, 1).expand(batch, channels).reshape(ears, 1, 1)
        prescription = self.prescribe(listeners, device)
        n_fft, hop = self.n_fft, self.hop
        overlap = n_fft // hop
        window = self._window.to(device)
        power_weights = self._power_weights.to(device)
        gain_weights = self._gain_weights.to(device)
        # centre padding (n_fft / 2 each side) plus n_fft of zeros at the end, so that every
        # frame touching an item exists whatever the batch (batched == item by item)
        signal = audio.reshape(ears, length).float()
        valid: torch.Tensor | None = None
        if lengths is not None and int(lengths.min()) < length:  # zero samples past the ends
            item_lengths = lengths.to(device).repeat_interleave(channels)[:, None]
            valid = torch.arange(length, device=device) < item_lengths
            signal = signal * valid
        padded = torch.nn.functional.pad(signal, (n_fft // 2, n_fft // 2 + n_fft))
        frames = padded.unfold(-1, n_fft, hop)  # [N, F, n_fft] (a view)
        n_frames = frames.shape[1]
        segments = torch.zeros(ears, n_frames + overlap - 1, hop, device=device)
        state: torch.Tensor | None = None
        block = self._block_frames(ears, device)
        nalr_bins = prescription.bin_nalr_db.unsqueeze(1)  # [N, 1, K]
        nalr_bands = prescription.band_nalr_db.unsqueeze(1)  # [N, 1, b]
        to_amplitude = math.log(10.0) / 20.0
        for start in range(0, n_frames, block):
            stop = min(n_frames, start + block)
            spectrum = torch.fft.rfft(frames[:, start:stop] * window)  # [N, f, K]
            power = spectrum.real.square() + spectrum.imag.square()
            band_level = torch.matmul(power, power_weights).add_(1e-20).log10_().mul_(10.0)
            band_level += levels_spl
            if state is None:
                state = band_level[:, 0].clone()
            smoothed = self.smooth_levels(band_level, state)
            departure = prescription.static_gain_db(smoothed) - nalr_bands
            gain = torch.matmul(departure, gain_weights).add_(nalr_bins).mul_(to_amplitude).exp_()
            torch.view_as_real(spectrum).mul_(gain.unsqueeze(-1))
            synthesis = torch.fft.irfft(spectrum, n=n_fft).mul_(window)
            pieces = synthesis.reshape(ears, stop - start, overlap, hop)
            for offset in range(overlap):
                segments[:, start + offset : stop + offset] += pieces[:, :, offset]
        amplified = segments.reshape(ears, -1)[:, n_fft // 2 : n_fft // 2 + length]
        amplified = amplified / self._envelope(n_frames, device)[n_fft // 2 : n_fft // 2 + length]
        if valid is not None:
            amplified = amplified * valid
        limited = self.limit(amplified)
        return limited.reshape(batch, channels, length).to(audio.dtype)

    def _envelope(self, n_frames: int, device: torch.device) -> torch.Tensor:
        """Overlap-added squared window (the iSTFT normalisation) for ``n_frames`` frames."""
        overlap = self.n_fft // self.hop
        squared = self._window.to(device).square().reshape(overlap, self.hop)
        envelope = torch.zeros(n_frames + overlap - 1, self.hop, device=device)
        for offset in range(overlap):
            envelope[offset : offset + n_frames] += squared[offset]
        return envelope.reshape(-1).clamp(min=1e-8)

    def describe(self) -> dict[str, object]:
        """Settings and derived values for the run record."""
        return {
            **asdict(self.settings),
            "n_fft": self.n_fft,
            "hop": self.hop,
            "bands_used": list(self.bands),
            "knee_db_spl": [round(v, 2) for v in self.knee_db_spl.tolist()],
            "reference_db_spl": [round(v, 2) for v in self.reference_db_spl.tolist()],
        }


_WDRC = WdrcSettings()


@dataclass(frozen=True)
class WdrcOptions:
    """Options of ``amplify --backend nalr-wdrc`` (and of the WDRC of ``denoise-amplify``):
    the fields of :class:`WdrcSettings` a user sets, with its defaults and checks."""

    attack_ms: float = option(_WDRC.attack_ms, "WDRC attack time constant, ms.")
    release_ms: float = option(_WDRC.release_ms, "WDRC release time constant, ms.")
    bands: tuple[float, ...] = option(_WDRC.bands, "WDRC band centres in Hz, comma-separated.")
    ratio_min: float = option(_WDRC.ratio_min, "Smallest compression ratio.")
    ratio_max: float = option(_WDRC.ratio_max, "Largest compression ratio.")
    max_output_db_spl: float = option(_WDRC.max_output_db_spl,
                                      "Per-band maximum output level, dB SPL.")
    limiter_ceiling: float = option(_WDRC.limiter_ceiling,
                                    "Output limiter ceiling, digital peak.")
    min_gain_db: float = option(_WDRC.min_gain_db, "Smallest gain, dB.", cli=False)
    limiter_ms: float = option(_WDRC.limiter_ms, "Limiter block, ms.", cli=False)
    knee_speech_db_spl: float = option(_WDRC.knee_speech_db_spl,
                                       "Speech level of the compression knees, dB SPL.", cli=False)
    reference_speech_db_spl: float = option(_WDRC.reference_speech_db_spl,
                                            "Speech level NAL-R is prescribed for, dB SPL.",
                                            cli=False)

    def __post_init__(self) -> None:
        self.settings()  # refuse bad values (ValueError) before any work starts

    def settings(self) -> WdrcSettings:
        return WdrcSettings(**{f.name: getattr(self, f.name) for f in fields(WdrcOptions)})


register(
    "amplify",
    "nalr-wdrc",
    NalrWdrcProcessor,
    "NAL-R + 6-band WDRC (CAMFIT ratios, LTASS knees), batched torch, zero delay",
    default=True,
    reference=True,
    options=WdrcOptions,
)
