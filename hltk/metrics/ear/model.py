"""Batched torch port of the Kates auditory model (pyclarity ``clarity/evaluator/haspi/eb.py``).

The model (Kates 2013; Kates & Arehart 2014, 2016) is the front end of HASPI v2, HASQI v2 and
HAAQI: resampling to 24 kHz, reference/processed alignment and silence pruning, middle-ear
filter, a 32-band control filterbank that sets the bandwidth of the 32 basilar-membrane (BM)
gammatone filters, outer-hair-cell (OHC) compression, envelope alignment, conversion to dB above
threshold, inner-hair-cell (IHC) rapid/short-term adaptation, IHC threshold noise on the BM
signal and group-delay compensation.

Batching: the data-dependent steps (resampling, alignment, pruning, integer delays) run per item;
the filtering runs on a padded ``[B, 2, T]`` batch (signal 0 = reference, 1 = processed) with
per-item valid lengths, one auditory channel at a time so that memory stays ``O(B T)``.

Precision: everything after the input conversion runs in float64 (the gammatone poles lie within
0.9 % of the unit circle; float32 loses the low channels). The per-channel loop runs in one of
three equivalent ways (``compiled=``):

- compiled (the default on CPU without autograd): numba row kernels
  (:mod:`hltk.metrics.ear.compiled`) that take each row from the demodulation to the IHC output
  in a few passes, the recursions as pyclarity's direct form; the threshold noise replayed by
  :mod:`hltk.metrics.ear.legacy_rng` straight into the BM outputs; several times faster than
  the torch loop on the CPU (``bench/torch_metrics_speed.py``);
- torch (``compiled=False``) on CPU without autograd: the same recursions through
  ``scipy.signal.lfilter`` (the same direct form as pyclarity, so the same rounding) and torch
  passes;
- on other devices or when the processed signal requires grad, FFT products with the analytic
  frequency response (see :mod:`hltk.metrics.ear.filters`), exact up to a truncation bound of
  1e-17 of the impulse-response mass plus float64 rounding; differentiable.

The two agree to ~1e-7 dB (pyclarity's direct-form gammatone recursion itself loses ~3e-8
relative precision in the 80 Hz channel). Integer choices (alignment delays, group delays,
silence selection) are taken on detached values, so the model is differentiable with respect to
the processed signal almost everywhere. Both loops take their per-channel parameters from
:class:`hltk.metrics.ear.channels.Channels`.

Random draws: pyclarity draws the IHC threshold noise from numpy's global generator
(``np.random.standard_normal((32, n))`` for the reference, then for the processed signal). Here
each item owns a ``numpy.random.RandomState(seed)``, which gives the same stream as
``np.random.seed(seed)``; the draws are moved to torch (torch loop) or replayed bit for
bit by a compiled kernel (compiled loop), and the generator is left where pyclarity's is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal
import torch

from hltk.dsp.fftconv import fast_fft_size, fft_convolve
from hltk.dsp.filter_design import fir2
from hltk.metrics.ear.channels import (
    FS,
    TPT,
    Channels,
    center_frequency,
    gammatone_gain,
    group_delays,
)
from hltk.metrics.ear.compiled import (
    alignment_blocks,
    alignment_least_size,
    correlation_at,
    first_order_rows,
    gammatone_rows,
    group_delay_rows,
    ihc_rows,
    offset_rows,
    ohc_exponent_rows,
    shift_rows,
)
from hltk.metrics.ear.filters import (
    gammatone_complex,
    gammatone_lfilter,
    gammatone_phase,
    iir_filter,
    iir_tail_length,
    shift_signal,
)
from hltk.metrics.ear.legacy_rng import add_standard_normal, skip_standard_normal
from hltk.runtime import keep_freed_memory

__all__ = [
    "AUDIOMETRIC_FREQUENCIES",
    "EarModelOutput",
    "loss_parameters",
    "resample_24khz",
    "input_align",
    "middle_ear",
    "nalr_fir",
    "ear_model",
]

AUDIOMETRIC_FREQUENCIES = np.array([250.0, 500.0, 1000.0, 2000.0, 4000.0, 6000.0])
SMALL = 1e-30


def _interp_matrix(center_freq: np.ndarray) -> np.ndarray:
    """Linear map from the 6 audiogram levels to the loss at each centre frequency."""
    f_v = np.concatenate(([center_freq[0]], AUDIOMETRIC_FREQUENCIES, [center_freq[-1]]))
    extend = np.zeros((8, 6))
    extend[0, 0] = 1.0
    extend[1:7] = np.eye(6)
    extend[7, 5] = 1.0
    columns = [np.interp(center_freq, f_v, extend[:, j]) for j in range(6)]
    return np.stack(columns, axis=1)  # [nchan, 6]


def loss_parameters(
    hearing_loss: torch.Tensor, center_freq: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """OHC/IHC loss split and filter parameters per channel (``eb.loss_parameters``).

    Args:
        hearing_loss: ``[B, 6]`` dB HL at 250, 500, 1k, 2k, 4k, 6k Hz.
        center_freq: ``[C]`` centre frequencies.

    Returns:
        ``attn_ohc, bandwidth, low_knee, compression_ratio, attn_ihc``, each ``[B, C]``.
    """
    weights = torch.as_tensor(_interp_matrix(center_freq), dtype=hearing_loss.dtype,
                              device=hearing_loss.device)
    loss = torch.clamp(hearing_loss @ weights.T, min=0.0)
    nfilt = len(center_freq)
    cr = torch.as_tensor(1.25 + 2.25 * np.arange(nfilt) / (nfilt - 1), dtype=loss.dtype,
                         device=loss.device)
    max_ohc = 70 * (1 - (1 / cr))
    theoretical_ohc = 1.25 * max_ohc
    over = loss >= theoretical_ohc
    attn_ohc = torch.where(over, 0.8 * theoretical_ohc, 0.8 * loss)
    attn_ihc = torch.where(over, 0.2 * theoretical_ohc + (loss - theoretical_ohc), 0.2 * loss)
    bandwidth = 1.0 + (attn_ohc / 50.0) + 2.0 * (attn_ohc / 50.0) ** 6
    low_knee = attn_ohc + 30
    upamp = 30 + (70 / cr)
    compression_ratio = (100 - low_knee) / (upamp + attn_ohc - low_knee)
    return attn_ohc, bandwidth, low_knee, compression_ratio, attn_ihc


def _pole_tail(b: np.ndarray, a: np.ndarray) -> int:
    radius = float(np.max(np.abs(np.roots(a)))) if len(a) > 1 else 0.0
    return iir_tail_length(radius, multiplicity=max(len(a) - 1, 1))


def _resample_poly(signal: torch.Tensor, up: int, down: int) -> torch.Tensor:
    """``scipy.signal.resample_poly(x, up, down)`` (Kaiser 5.0, zero padding) in torch. ``[T]``."""
    g = math.gcd(up, down)
    up //= g
    down //= g
    if up == down == 1:
        return signal
    n_in = signal.shape[-1]
    n_out = n_in * up
    n_out = n_out // down + bool(n_out % down)
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = scipy.signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    n_pre_pad = down - half_len % down
    n_post_pad = 0
    n_pre_remove = (half_len + n_pre_pad) // down

    def out_len(h_len: int) -> int:
        return ((h_len + (n_in - 1) * up) - 1) // down + 1

    while out_len(len(h) + n_pre_pad + n_post_pad) < n_out + n_pre_remove:
        n_post_pad += 1
    h = np.concatenate((np.zeros(n_pre_pad), h, np.zeros(n_post_pad)))
    upsampled = signal.new_zeros((n_in - 1) * up + 1)
    upsampled[::up] = signal
    kernel = torch.as_tensor(h, dtype=signal.dtype, device=signal.device)
    full = fft_convolve(upsampled, kernel, scipy_fft=True)[::down]
    return full[n_pre_remove : n_pre_remove + n_out]


def resample_24khz(signal: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Resample to 24 kHz with pyclarity's rate rounding and RMS matching (``eb.resample_24khz``).

    Rates are rounded to whole kHz (44.1 kHz is treated as 44 kHz and resampled by 24/44).

    Args:
        signal: ``[T]`` float64.

    Returns:
        ``[T']`` float64 at 24 kHz.
    """
    target_khz = round(FS / 1000)
    source_khz = round(sample_rate / 1000)
    if source_khz == target_khz:
        return signal
    resampled = _resample_poly(signal, target_khz, source_khz)
    if source_khz < target_khz:
        ref_rms = torch.sqrt(torch.mean(signal**2))
        out_rms = torch.sqrt(torch.mean(resampled**2))
        return (ref_rms / out_rms) * resampled
    b_in, a_in = scipy.signal.cheby2(7, 30, 21 / source_khz)
    b_out, a_out = scipy.signal.cheby2(7, 30, 21 / target_khz)
    filtered_in = iir_filter(signal, b_in, a_in, _pole_tail(b_in, a_in))
    filtered_out = iir_filter(resampled, b_out, a_out, _pole_tail(b_out, a_out))
    ref_rms = torch.sqrt(torch.mean(filtered_in**2))
    out_rms = torch.sqrt(torch.mean(filtered_out**2))
    return (ref_rms / out_rms) * resampled


def input_align(
    reference: torch.Tensor, processed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Align processed to reference by cross-covariance and prune leading/trailing silence.

    Port of ``eb.input_align``; the delay is chosen on detached values (as in pyclarity, with
    ``scipy.signal.correlate``), the shift and slicing keep the gradient.

    Args:
        reference, processed: ``[T]`` of equal length.

    Returns:
        Pruned ``(reference, processed)``, each ``[T']``.
    """
    n = min(reference.shape[-1], processed.shape[-1])
    ref_np = reference[:n].detach().cpu().numpy()
    proc_np = processed[:n].detach().cpu().numpy()
    corr = scipy.signal.correlate(ref_np - np.mean(ref_np), proc_np - np.mean(proc_np), "full")
    index = int(np.argmax(np.abs(corr)))
    delay = int(np.rint(n - index - 1 - 2 * FS / 1000.0))
    processed_n = processed.shape[-1]
    if delay > 0:
        processed = torch.cat((processed[delay:processed_n], processed.new_zeros(delay)))
    else:
        processed = torch.cat((processed.new_zeros(-delay), processed[: processed_n + delay]))
    ref_abs = np.abs(reference.detach().cpu().numpy())
    above = np.where(ref_abs > 0.001 * np.max(ref_abs))[0]
    first = int(above[0])
    last = min(int(above[-1]), processed_n)
    return reference[first : last + 1], processed[first : last + 1]


def middle_ear(signal: torch.Tensor) -> torch.Tensor:
    """Middle-ear band-pass: 1st-order 5 kHz low-pass then 2nd-order 350 Hz high-pass.

    ``[..., T] -> [..., T]`` at 24 kHz (``eb.middle_ear``).
    """
    b_lp, a_lp = scipy.signal.butter(1, 5000 / (0.5 * FS))
    b_hp, a_hp = scipy.signal.butter(2, 350 / (0.5 * FS), "high")
    b = np.convolve(b_lp, b_hp)
    a = np.convolve(a_lp, a_hp)
    return iir_filter(signal, b, a, _pole_tail(b, a))


def nalr_fir(hearing_loss: np.ndarray, nfir: int = 140, sample_rate: float = FS) -> np.ndarray:
    """NAL-R prescription FIR (Byrne & Dillon 1986) as pyclarity's ``NALR(nfir, fs).build``.

    Args:
        hearing_loss: ``[6]`` dB HL at the audiometric frequencies.

    Returns:
        ``[nfir + 1]`` filter taps (a pure ``nfir/2`` delay for a normal audiogram).
    """
    fmax = 0.5 * sample_rate
    if np.max(hearing_loss) <= 0:
        delay = np.zeros(nfir + 1)
        delay[nfir // 2] = 1.0
        return delay
    bias = np.array([-17, -8, 1, -1, -2, -2])
    critical_loss = hearing_loss[1] + hearing_loss[2] + hearing_loss[3]
    x_ave = 0.05 * critical_loss if critical_loss <= 180 else 9.0 + 0.116 * (critical_loss - 180)
    gain_db = np.clip(x_ave + 0.31 * hearing_loss + bias, 0, None)
    freq_ext = np.concatenate(([0.0], AUDIOMETRIC_FREQUENCIES, [fmax]))
    gain_ext = np.concatenate(([gain_db[0]], gain_db, [gain_db[-1]]))
    center = np.linspace(0, nfir, nfir + 1) / nfir
    gains = np.power(10, np.interp(fmax * center, freq_ext, gain_ext) / 20.0)
    return fir2(nfir + 1, center, gains, window="hamming")


def _lag_delay(reference: torch.Tensor, output: torch.Tensor, lengths: torch.Tensor,
               max_lag: int) -> torch.Tensor:
    """Delay of ``eb.envelope_align`` per row: ``[R, T]`` x2 -> ``[R]`` integer (detached)."""
    reference = reference.detach()
    output = output.detach()
    total = reference.shape[-1]
    n_fft = fast_fft_size(total + max_lag + 1)
    corr = torch.fft.irfft(
        torch.fft.rfft(reference, n=n_fft) * torch.conj(torch.fft.rfft(output, n=n_fft)), n=n_fft
    )
    lags = torch.clamp(lengths, max=max_lag)  # [R]
    # window index i in [0, 2*lags) <-> shift d = i - lags + 1 in [-lags+1, lags]
    i = torch.arange(2 * max_lag, device=reference.device)
    d = i.unsqueeze(0) - lags.unsqueeze(1) + 1
    values = torch.gather(corr, -1, torch.remainder(d, n_fft))
    values = torch.where(i.unsqueeze(0) < 2 * lags.unsqueeze(1), values,
                         torch.full_like(values, -math.inf))
    location = torch.argmax(values, dim=-1)
    return lags - location - 1


@dataclass
class EarModelOutput:
    """Outputs of :func:`ear_model` (``eb.ear_model``), padded to ``T`` with valid ``lengths``.

    Attributes:
        reference_db, processed_db: ``[B, 32, T]`` envelopes in dB above threshold.
        reference_bm, processed_bm: ``[B, 32, T]`` BM vibration (with IHC threshold noise);
            ``None`` when not computed.
        reference_sl, processed_sl: ``[B, 32]`` average sensation levels.
        lengths: ``[B]`` valid samples per item (24 kHz).
        rngs: per-item random states, advanced past the threshold-noise draws.
    """

    reference_db: torch.Tensor
    reference_bm: torch.Tensor | None
    processed_db: torch.Tensor
    processed_bm: torch.Tensor | None
    reference_sl: torch.Tensor
    processed_sl: torch.Tensor
    lengths: torch.Tensor
    rngs: list[np.random.RandomState]


def _standard_normal(
    rng: np.random.RandomState, shape: tuple[int, ...], keep: bool
) -> np.ndarray | None:
    """Draw like ``np.random.standard_normal(shape)``; discard when ``keep`` is False."""
    values = rng.standard_normal(shape)
    return values if keep else None


def ear_model(
    reference: list[torch.Tensor],
    processed: list[torch.Tensor],
    reference_sample_rate: float,
    processed_sample_rate: float,
    hearing_loss: torch.Tensor,
    itype: int,
    level1: torch.Tensor,
    rngs: list[np.random.RandomState],
    nchan: int = 32,
    compute_bm: bool = True,
    compiled: bool | None = None,
) -> EarModelOutput:
    """Kates auditory model on a batch of (reference, processed) pairs.

    Args:
        reference, processed: ``B`` 1-D signals each (lengths may differ between items).
        reference_sample_rate, processed_sample_rate: input rates in Hz.
        hearing_loss: ``[B, 6]`` dB HL at 250..6000 Hz (audiometric frequencies).
        itype: 0 = reference through a normal ear (HASPI); 1 = reference through the impaired
            ear with NAL-R equalisation (HASQI default); 2 = impaired ear, no NAL-R.
        level1: ``[B]`` dB SPL of a signal RMS of 1.
        rngs: per-item ``RandomState`` (seeded like ``np.random.seed(seed)``).
        nchan: number of auditory channels (32).
        compute_bm: False skips the BM outputs (HASPI needs only envelopes); the random
            draws are still made so the generator state matches pyclarity's.
        compiled: how the per-channel loop runs: ``True`` the compiled loop (numba row
            kernels, :mod:`hltk.metrics.ear.compiled`; CPU without autograd only, else
            ``ValueError``), ``False`` the torch loop (torch and scipy passes; any device,
            differentiable), ``None`` (default) compiled where it can run.

    Returns:
        :class:`EarModelOutput`.
    """
    keep_freed_memory()  # full-length float64 intermediates reuse pages: see hltk.runtime
    device = hearing_loss.device
    dtype = torch.float64
    batch = len(reference)
    hearing_loss = hearing_loss.to(dtype)
    level1 = level1.to(dtype=dtype, device=device)
    cf = center_frequency(nchan)
    attn_ohc_y, bw_min_y, low_knee_y, cr_y, attn_ihc_y = loss_parameters(hearing_loss, cf)
    hl_x = torch.zeros_like(hearing_loss) if itype == 0 else hearing_loss
    attn_ohc_x, bw_min_x, low_knee_x, cr_x, attn_ihc_x = loss_parameters(hl_x, cf)
    _, bw_1_t, _, _, _ = loss_parameters(torch.full((1, 6), 100.0, dtype=dtype), cf)
    bandwidth_1 = bw_1_t[0].numpy()

    # ---- per-item, data-dependent front end
    pairs = []
    for i in range(batch):
        ref = resample_24khz(reference[i].to(dtype), reference_sample_rate)
        proc = resample_24khz(processed[i].to(dtype), processed_sample_rate)
        n_min = min(ref.shape[-1], proc.shape[-1])
        ref, proc = input_align(ref[:n_min], proc[:n_min])
        if itype == 1:
            nfir = 140
            fir = torch.as_tensor(nalr_fir(hearing_loss[i].detach().cpu().numpy(), nfir),
                                  dtype=dtype, device=ref.device)
            nsamp = ref.shape[-1]
            ref = fft_convolve(ref, fir, scipy_fft=True)[nfir : nfir + nsamp]
        pairs.append((ref, proc))
    lengths = torch.tensor([p[0].shape[-1] for p in pairs], device=device)
    total = int(lengths.max())
    signals = torch.zeros(batch, 2, total, dtype=dtype, device=device)
    for i, (ref, proc) in enumerate(pairs):
        signals[i, 0, : ref.shape[-1]] = ref.to(device)
        signals[i, 1, : proc.shape[-1]] = proc.to(device)
    # (indexed assignment keeps the autograd graph of the processed signal)

    mid = middle_ear(signals)
    valid = torch.arange(total, device=device) < lengths.view(batch, 1, 1)  # [B,1,T]
    counts = lengths.view(batch, 1).to(dtype)

    channels = Channels.build(cf, bandwidth_1)
    max_pole = math.exp(-TPT * 1.019 * float(np.min(channels.erb)) * 1.0)
    n_fft = fast_fft_size(total + iir_tail_length(max_pole, 4))
    # CPU without autograd: the recursion itself (scipy lfilter, pyclarity's numerics, cheaper);
    # otherwise the analytic response in the frequency domain (differentiable, any device).
    use_recursion = mid.device.type == "cpu" and not (mid.requires_grad and torch.is_grad_enabled())
    if compiled and not use_recursion:
        raise ValueError("the compiled ear model runs on CPU without autograd only")
    if use_recursion and compiled is not False:
        return _channels_compiled(
            mid.detach().numpy().reshape(batch * 2, total), lengths.numpy(),
            level1.detach().numpy(), channels,
            [p.detach().numpy() for p in (bw_min_x, bw_min_y, attn_ohc_x, attn_ohc_y,
                                          low_knee_x, low_knee_y, cr_x, cr_y, attn_ihc_x,
                                          attn_ihc_y)],
            rngs, compute_bm)
    if use_recursion:
        mid_np = mid.detach().numpy().reshape(batch * 2, total)
    else:
        spectrum = torch.fft.fft(mid, n=n_fft)  # [B, 2, n_fft]
    b_ohc, a_ohc = channels.ohc_filter
    tail_ohc = _pole_tail(b_ohc, a_ohc)
    b_ihc, a_ihc = channels.ihc_filter
    tail_ihc = _pole_tail(b_ihc, a_ihc)

    bw_min = torch.stack((bw_min_x, bw_min_y), dim=1)  # [B, 2, C]
    attn_ohc = torch.stack((attn_ohc_x, attn_ohc_y), dim=1)
    low_knee = torch.stack((low_knee_x, low_knee_y), dim=1)
    comp_ratio = torch.stack((cr_x, cr_y), dim=1)
    attn_ihc = torch.stack((attn_ihc_x, attn_ihc_y), dim=1)
    lvl = level1.view(batch, 1)

    env_db_channels = []
    bm_channels = []
    bandwidths = []
    average = []
    control_average = []
    max_lag = channels.max_lag
    for n in range(nchan):
        omega = channels.omega(n)
        # control path (shift=None: same centre frequencies, broad control bandwidth)
        pole_c = channels.control_pole(n)
        gain_c = gammatone_gain(pole_c)
        if use_recursion:
            steps = np.arange(total)
            carrier = (np.cos(omega * steps), np.sin(omega * steps))
            _, env_c = gammatone_lfilter(mid_np, pole_c, carrier, want_bm=False)
            control = gain_c * torch.from_numpy(env_c.reshape(batch, 2, total))
        else:
            phase = gammatone_phase(n_fft, omega, device)
            band_c = gammatone_complex(spectrum, n_fft, total,
                                       torch.tensor(pole_c, dtype=dtype, device=device),
                                       omega, phase)
            control = gain_c * torch.abs(band_c)
        control = torch.where(valid, control, torch.zeros((), dtype=dtype, device=device))
        control_rms = torch.sqrt(torch.sum(control**2, dim=-1) / counts)  # [B, 2]
        control_db = 20 * torch.log10(control_rms) + lvl
        bandwidth = channels.bandwidth(n, control_db, bw_min[:, :, n])
        bandwidths.append(bandwidth)
        pole = channels.pole(n, bandwidth)
        gain = gammatone_gain(pole).unsqueeze(-1)
        if use_recursion:
            bm_np, env_np = gammatone_lfilter(mid_np, pole.detach().numpy().reshape(-1), carrier,
                                              want_bm=compute_bm)
            band_abs = torch.from_numpy(env_np.reshape(batch, 2, total))
            band_real = (torch.from_numpy(bm_np.reshape(batch, 2, total))
                         if bm_np is not None else None)
        else:
            band = gammatone_complex(spectrum, n_fft, total, pole, omega, phase)
            band_abs, band_real = torch.abs(band), band.real
        envelope = torch.where(valid, gain * band_abs, torch.zeros((), dtype=dtype,
                                                                   device=device))
        average.append(torch.sqrt(torch.sum(envelope**2, dim=-1) / counts))
        control_average.append(control_rms)
        # OHC compression driven by the control envelope
        log_env = lvl.unsqueeze(-1) + 20 * torch.log10(torch.clamp(control, min=SMALL))
        log_env = torch.clamp(log_env, max=100.0)
        log_env = torch.maximum(log_env, low_knee[:, :, n : n + 1])
        ohc_gain_db = -attn_ohc[:, :, n : n + 1] - (log_env - low_knee[:, :, n : n + 1]) * (
            1 - 1 / comp_ratio[:, :, n : n + 1])
        ohc_gain = iir_filter(10 ** (ohc_gain_db / 20), b_ohc, a_ohc, tail_ohc)
        compressed = ohc_gain * envelope
        if compute_bm:
            assert band_real is not None
            bm = torch.where(valid, ohc_gain * gain * band_real,
                             torch.zeros((), dtype=dtype, device=device))
        # align processed envelope (and BM) to reference
        if compute_bm:
            delays = _lag_delay(torch.cat((compressed[:, 0], bm[:, 0])),
                                torch.cat((compressed[:, 1], bm[:, 1])),
                                lengths.repeat(2), max_lag)
            delay_env, delay_bm = delays[:batch], delays[batch:]
            bm = torch.stack((bm[:, 0], shift_signal(bm[:, 1], delay_bm, lengths)), dim=1)
        else:
            delay_env = _lag_delay(compressed[:, 0], compressed[:, 1], lengths, max_lag)
        proc_env = shift_signal(compressed[:, 1], delay_env, lengths)
        compressed = torch.stack((compressed[:, 0], proc_env), dim=1)
        # envelope in dB SL
        env_db = lvl.unsqueeze(-1) - attn_ihc[:, :, n : n + 1] + 20 * torch.log10(
            compressed + SMALL)
        env_db = torch.clamp(env_db, min=0.0)
        if compute_bm:
            bm = bm * (env_db + SMALL) / (compressed + SMALL)
        # IHC adaptation
        adapted = torch.clamp(iir_filter(env_db, b_ihc, a_ihc, tail_ihc), min=0.0)
        # The recursion is causal: before the first non-zero input its output is exactly 0
        # (FFT rounding would leave ~1e-15 there, which the BM gain below divides by 1e-30).
        started = torch.cumsum((env_db.detach() != 0).to(torch.int8), dim=-1) > 0
        adapted = torch.where(valid & started, adapted,
                              torch.zeros((), dtype=dtype, device=device))
        if compute_bm:
            bm = bm * (adapted + SMALL) / (env_db + SMALL)
            bm_channels.append(bm)
        env_db_channels.append(adapted)

    env_db_all = torch.stack(env_db_channels, dim=2)  # [B, 2, C, T]
    bm_all = torch.stack(bm_channels, dim=2) if compute_bm else None
    reference_bandwidth = torch.stack(bandwidths, dim=-1)[:, 0]  # [B, C]

    # IHC threshold noise on the BM signal (ref then processed, as pyclarity draws them)
    noise_list = []
    for i in range(batch):
        n_i = int(lengths[i])
        noise_ref = _standard_normal(rngs[i], (nchan, n_i), compute_bm)
        noise_proc = _standard_normal(rngs[i], (nchan, n_i), compute_bm)
        if compute_bm:
            assert noise_ref is not None and noise_proc is not None
            noise_list.append((noise_ref, noise_proc))
    if compute_bm and bm_all is not None:
        noise = torch.zeros_like(bm_all, requires_grad=False)
        for i, (noise_ref, noise_proc) in enumerate(noise_list):
            n_i = noise_ref.shape[-1]
            noise[i, 0, :, :n_i] = torch.from_numpy(noise_ref).to(device)
            noise[i, 1, :, :n_i] = torch.from_numpy(noise_proc).to(device)
        noise_gain = (10 ** ((-10 - level1) / 20)).view(batch, 1, 1, 1)
        bm_all = bm_all + noise_gain * noise

    # group delay compensation (reference bandwidths for both signals)
    corrections = np.stack([
        group_delays(reference_bandwidth[i].detach().cpu().numpy(), cf) for i in range(batch)
    ])
    shift = -torch.as_tensor(corrections, device=device).view(batch, 1, nchan)
    item_lengths = lengths.view(batch, 1, 1)
    env_db_all = shift_signal(env_db_all, shift, item_lengths)
    if bm_all is not None:
        bm_all = shift_signal(bm_all, shift, item_lengths)

    # average sensation levels (eb.convert_rms_to_sl)
    sensation = _sensation_levels(torch.stack(average, dim=-1),
                                  torch.stack(control_average, dim=-1), level1, attn_ohc,
                                  low_knee, comp_ratio, attn_ihc)
    return _output(env_db_all, bm_all, sensation, lengths, rngs)


_CARRIERS: dict[float, tuple[np.ndarray, np.ndarray]] = {}
_CARRIER_CACHE_MAX = 2**20  # samples (44 s at 24 kHz): longer signals compute their own


def _carrier(omega: float, total: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cos(omega n), sin(omega n))`` for ``n < total``, kept per frequency for the next
    chunk (32 channels x 2 x 8 bytes per sample: 50 MB for 4 s); read-only views."""
    cached = _CARRIERS.get(omega)
    if cached is None or cached[0].shape[0] < total:
        steps = np.arange(max(total, 1))
        cached = (np.cos(omega * steps), np.sin(omega * steps))
        for part in cached:
            part.flags.writeable = False
        if total <= _CARRIER_CACHE_MAX:  # a race between chunk threads computes it twice
            _CARRIERS[omega] = cached
    return cached[0][:total], cached[1][:total]


#: relative bound on the float32 FFT correlation's error, in units of |x| |y| (conversion
#: ~1e-7 plus transform rounding ~eps32 log2(n) ~1e-6: 10x margin)
_CORRELATION_TOLERANCE = 2e-5
#: more candidates than this and the row is redone with float64 FFTs
_MAX_CANDIDATES = 16


def alignment_plan(total: int, max_lag: int) -> tuple[int, int]:
    """``(blocks, size)`` for :func:`_lag_delay_numpy` on rows of ``total`` samples: the
    block count (1-8) and transform size with the least modelled cost, ``(2 blocks + 1)
    size log2(size)`` (two forward transforms per block, one inverse of their summed
    products); the fewest blocks on a tie.

    Only ``2 max_lag`` lags of each correlation are wanted, so a block needs a transform of
    ``L + 2 max_lag - 1`` points, not ``2 L``: 4 s rows (96 000 samples, 100 ms of lags) go
    in 4 blocks of 28 800-point transforms instead of one 98 415-point one, 12 % fewer
    points, each in a cache-sized transform."""
    best: tuple[float, int, int] | None = None
    for blocks in range(1, 9):
        block = -(-total // blocks)
        if blocks > 1 and block < 2 * max_lag:  # blocks shorter than the lag range: no gain
            break
        size = fast_fft_size(alignment_least_size(total, blocks, max_lag))
        cost = (2 * blocks + 1) * size * math.log2(max(size, 2))
        if best is None or cost < best[0] * (1 - 1e-9):
            best = (cost, blocks, size)
    assert best is not None
    return best[1], best[2]


def _lag_delay_numpy(rows: np.ndarray, lengths: np.ndarray, max_lag: int,
                     blocks: int | None = None) -> np.ndarray:
    """:func:`_lag_delay` of the processed rows ``rows[1::2]`` against the reference rows
    ``rows[0::2]`` (``[2B, T]``), exact, at less than half the cost of float64 FFTs.

    The cross-correlation over the window is taken by float32 FFTs (``scipy.fft``, about twice
    as fast as float64 here) block by block (:func:`alignment_plan`, or ``blocks`` given;
    :func:`~hltk.metrics.ear.compiled.alignment_blocks`), the blocks' spectral products summed
    before one inverse transform; every lag within :data:`_CORRELATION_TOLERANCE` ``|x| |y|``
    of the float32 peak is then a candidate, scored by an exact float64 dot product, and the
    best candidate (the first on a tie, as ``argmax``) is the delay. The float32 error is far
    inside that bound (measured ~4e-7 ``|x| |y|``, with or without blocks), so the true float64
    peak is always among the candidates; a row with more than :data:`_MAX_CANDIDATES` (a flat
    correlation) is redone with float64 FFTs.
    """
    pairs = len(lengths)
    total = rows.shape[1]
    if blocks is None:
        blocks, size = alignment_plan(total, max_lag)
    else:
        size = fast_fft_size(alignment_least_size(total, blocks, max_lag))
    # zero-padded float32 blocks, references first (scipy's own padding, ``n=``, made the
    # forward transforms 1.5x slower), and |x|^2, |y|^2 in the same pass
    padded, energy = alignment_blocks(rows, blocks, size, max_lag)
    spectra = scipy.fft.rfft(padded, axis=-1, overwrite_x=True)
    products = spectra[: pairs * blocks]
    processed_spectra = spectra[pairs * blocks :]
    np.conjugate(processed_spectra, out=processed_spectra)
    products *= processed_spectra
    summed = products.reshape(pairs, blocks, -1).sum(axis=1) if blocks > 1 else products
    corr = scipy.fft.irfft(summed, n=size, axis=-1, overwrite_x=True)
    # the window of shifts d in [-max_lag + 1, max_lag]; a row shorter than max_lag only
    # searches d in [-length + 1, length]; corr[d] = sum x[t + d] y[t]
    lags = np.minimum(np.asarray(lengths, np.int64), max_lag)[:, None]
    shifts = np.arange(-max_lag + 1, max_lag + 1)
    windows = np.concatenate((corr[:, size - max_lag + 1 :], corr[:, : max_lag + 1]), axis=1)
    windows[(shifts < 1 - lags) | (shifts > lags)] = -np.inf
    scale = np.sqrt(energy[0::2] * energy[1::2])
    candidates = windows >= windows.max(axis=1, keepdims=True) - _CORRELATION_TOLERANCE * scale[
        :, None]
    counts = candidates.sum(axis=1)
    best = shifts[np.argmax(windows, axis=1)]  # the only candidate of most rows
    for i in np.flatnonzero(counts > 1).tolist():
        reference, processed = rows[2 * i], rows[2 * i + 1]
        if counts[i] > _MAX_CANDIDATES:  # a flat correlation: float64 transforms
            n_fft = fast_fft_size(total + max_lag + 1)
            exact = scipy.fft.irfft(
                scipy.fft.rfft(reference, n=n_fft) * np.conj(scipy.fft.rfft(processed, n=n_fft)),
                n=n_fft)[shifts % n_fft]
            exact[~np.isfinite(windows[i])] = -np.inf
            best[i] = shifts[int(np.argmax(exact))]
            continue
        options = shifts[candidates[i]]  # exact float64 scores, the first best on a tie
        best[i] = options[int(np.argmax(correlation_at(reference, processed, options)))]
    delays = -best  # shift d of the peak <-> delay -d (eb.envelope_align)
    return delays


def _sensation_levels(average: torch.Tensor, control: torch.Tensor, level1: torch.Tensor,
                      attn_ohc: torch.Tensor, low_knee: torch.Tensor, comp_ratio: torch.Tensor,
                      attn_ihc: torch.Tensor) -> torch.Tensor:
    """``eb.convert_rms_to_sl`` on ``[B, 2, C]`` band RMS values (``level1 [B]``)."""
    lvl = level1.reshape(-1, 1, 1)
    control_spl = lvl + 20 * torch.log10(torch.clamp(control, min=SMALL))
    control_spl = torch.maximum(torch.clamp(control_spl, max=100.0), low_knee)
    sl_gain = -attn_ohc - (control_spl - low_knee) * (1 - 1 / comp_ratio)
    level_spl = torch.clamp(lvl + 20 * torch.log10(torch.clamp(average, min=SMALL)), min=0.0)
    return torch.clamp(level_spl + sl_gain - attn_ihc, min=0.0)


def _output(env_db: torch.Tensor, bm: torch.Tensor | None, sensation: torch.Tensor,
            lengths: torch.Tensor, rngs: list[np.random.RandomState]) -> EarModelOutput:
    """:class:`EarModelOutput` from ``[B, 2, C, T]`` outputs and ``[B, 2, C]`` levels."""
    return EarModelOutput(
        reference_db=env_db[:, 0],
        reference_bm=bm[:, 0] if bm is not None else None,
        processed_db=env_db[:, 1],
        processed_bm=bm[:, 1] if bm is not None else None,
        reference_sl=sensation[:, 0],
        processed_sl=sensation[:, 1],
        lengths=lengths,
        rngs=rngs,
    )


#: signal rows (reference and processed) whose alignments share transform calls, so that
#: pocketfft's vectorised path pays (it takes 4-8 rows at a time; the inverse transform has
#: one row per pair): a row of a long float32 inverse costs about a third as much in a call of
#: 32 rows as in a call of 2 (``bench/torch_metrics_profile.py``)
_ALIGN_ROWS = 32
#: bytes of envelope and BM rows a channel group may hold
_GROUP_BYTES = 256 * 2**20


def _channel_group(rows: int, total: int, nchan: int) -> int:
    """Channels taken together through the gammatone and OHC stages, so that their
    alignments share transform calls (:data:`_ALIGN_ROWS` rows), within :data:`_GROUP_BYTES`."""
    by_rows = max(1, _ALIGN_ROWS // max(rows, 1))
    by_memory = max(1, _GROUP_BYTES // max(2 * 8 * rows * total, 1))
    return int(min(nchan, by_rows, by_memory))


def _channels_compiled(
    mid: np.ndarray,
    lengths: np.ndarray,
    level1: np.ndarray,
    channels: Channels,
    params: list[np.ndarray],
    rngs: list[np.random.RandomState],
    compute_bm: bool,
) -> EarModelOutput:
    """The channel loop of :func:`ear_model` with the row kernels of
    :mod:`hltk.metrics.ear.compiled` (same steps, same order for each channel; see there).
    Channels run in groups (:func:`_channel_group`): gammatone and OHC stages for each
    channel of the group, then the group's alignments in shared transform calls, then each
    channel's IHC stage.

    Args:
        mid: ``[2B, T]`` middle-ear output, rows ``2i`` (reference) and ``2i + 1`` (processed).
        lengths: ``[B]`` valid samples; level1: ``[B]``.
        channels: the per-channel constants (:class:`~hltk.metrics.ear.channels.Channels`).
        params: ``[B, C]`` arrays ``bw_min, attn_ohc, low_knee, comp_ratio, attn_ihc``, each
            for the reference ear then the processed ear.
    """
    batch = len(lengths)
    rows, total = mid.shape
    cf = channels.center
    nchan = len(cf)
    bw_min, attn_ohc, low_knee, comp_ratio, attn_ihc = (
        np.stack(params[k : k + 2], axis=1).reshape(rows, nchan)  # [2B, C]
        for k in range(0, 10, 2))
    row_lengths = np.repeat(lengths.astype(np.int64), 2)
    counts = row_lengths.astype(np.float64)
    row_level = np.repeat(level1.astype(np.float64), 2)
    slope = 1 - 1 / comp_ratio

    control = np.empty((rows, total))
    scratch = np.empty((rows, total))
    # every sample of the outputs is written by ihc_rows
    env_out = np.empty((batch, 2, nchan, total))
    bm_out = np.empty((batch, 2, nchan, total)) if compute_bm else None
    env_rows = env_out.reshape(rows, nchan, total)
    bm_rows = bm_out.reshape(rows, nchan, total) if bm_out is not None else None

    b_ohc, a_ohc = channels.ohc_filter
    b_ihc, a_ihc = channels.ihc_filter
    max_lag = channels.max_lag
    bandwidths = np.empty((rows, nchan))
    average = np.empty((rows, nchan))
    control_average = np.empty((rows, nchan))
    group = _channel_group(rows, total, nchan)
    envelopes = np.empty((group, rows, total))
    bms = np.empty((group, rows, total)) if compute_bm else None
    for first in range(0, nchan, group):
        members = range(first, min(first + group, nchan))
        for k, n in enumerate(members):
            envelope = envelopes[k]
            bm = bms[k] if bms is not None else None
            carrier = _carrier(channels.omega(n), total)
            # control path: the broad filter sets each row's bandwidth
            pole_c = channels.control_pole(n)
            gain_c = gammatone_gain(pole_c)
            squares = gammatone_rows(mid, row_lengths, np.full(rows, pole_c),
                                     np.full(rows, gain_c), carrier, control,
                                     floor=SMALL**2, power=True)
            control_rms = np.sqrt(squares / counts)
            control_average[:, n] = control_rms
            control_db = 20 * np.log10(control_rms) + row_level
            bandwidth = channels.bandwidth(n, control_db, bw_min[:, n])
            bandwidths[:, n] = bandwidth
            pole = channels.pole(n, bandwidth)
            gain = gammatone_gain(pole)
            squares = gammatone_rows(mid, row_lengths, pole, gain, carrier, envelope, bm)
            average[:, n] = np.sqrt(squares / counts)
            # OHC compression gain from the control envelope, smoothed, applied to env and BM
            np.log10(control, out=scratch)  # control^2 >= SMALL^2: stored squared and clamped
            ohc_exponent_rows(scratch, row_level, low_knee[:, n], slope[:, n], attn_ohc[:, n])
            np.exp(scratch, out=scratch)
            first_order_rows(scratch, b_ohc, a_ohc, envelope, bm)
        # align the processed envelopes (and BMs) to the references: the group's channels in
        # one batch of transforms (pairs in (channel, item) order)
        count = len(members)
        pair_lengths = np.tile(lengths, count)
        for stack in (envelopes, bms):
            if stack is not None:
                flat = stack[:count].reshape(count * rows, total)
                shift_rows(flat[1::2], _lag_delay_numpy(flat, pair_lengths, max_lag),
                           pair_lengths)
        for k, n in enumerate(members):
            envelope = envelopes[k]
            bm = bms[k] if bms is not None else None
            # dB above threshold, then IHC adaptation (and the BM rescaled by both steps)
            offset_rows(envelope, SMALL, scratch)
            np.log10(scratch, out=scratch)
            ihc_rows(scratch, row_level - attn_ihc[:, n], envelope, row_lengths, b_ihc, a_ihc,
                     env_rows[:, n], bm, bm_rows[:, n] if bm_rows is not None else None)

    # IHC threshold noise (reference then processed, as pyclarity draws them), in place
    noise_gain = 10 ** ((-10 - level1) / 20)
    for i in range(batch):
        n_i = int(lengths[i])
        if bm_out is not None:
            add_standard_normal(rngs[i], bm_out[i, 0], n_i, float(noise_gain[i]))
            add_standard_normal(rngs[i], bm_out[i, 1], n_i, float(noise_gain[i]))
        else:
            skip_standard_normal(rngs[i], 2 * nchan, n_i)
    # group delay compensation (reference bandwidths for both signals)
    corrections = np.stack([group_delays(bandwidths[2 * i], cf) for i in range(batch)])
    group_delay_rows(env_out, corrections, lengths)
    if bm_out is not None:
        group_delay_rows(bm_out, corrections, lengths)

    def per_ear(values: np.ndarray) -> torch.Tensor:  # [2B, C] -> [B, 2, C]
        return torch.from_numpy(values.reshape(batch, 2, nchan))

    sensation = _sensation_levels(per_ear(average), per_ear(control_average),
                                  torch.from_numpy(level1), per_ear(attn_ohc),
                                  per_ear(low_knee), per_ear(comp_ratio), per_ear(attn_ihc))
    return _output(torch.from_numpy(env_out),
                   torch.from_numpy(bm_out) if bm_out is not None else None, sensation,
                   torch.from_numpy(lengths.astype(np.int64)), rngs)
