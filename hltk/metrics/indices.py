"""Batched torch HASPI v2, HASQI v2 and HAAQI v1 on the Kates ear model port.

Ports of pyclarity 0.9.0 ``clarity.evaluator.haspi.haspi_v2`` (Kates & Arehart 2021, "The
Hearing-Aid Speech Perception Index (HASPI) Version 2", Speech Communication 131),
``clarity.evaluator.hasqi.hasqi_v2`` (Kates & Arehart 2014, "The Hearing-Aid Speech Quality
Index (HASQI) Version 2", JAES 62) and ``clarity.evaluator.haaqi.compute_haaqi`` (Kates &
Arehart 2016, "The Hearing-Aid Audio Quality Index (HAAQI)", IEEE/ACM TASLP 24).

Every function takes a batch of ``B`` (reference, processed) pairs with one audiogram, one
presentation level and one seed per item and returns ``[B]`` float64 scores. The heavy ear-model
filtering runs batched (in chunks of ``batch_size`` items to bound memory); the short,
data-dependent feature steps (silence selection, cepstral noise) run per item. Batched scores
equal item-by-item scores (to float64 rounding).

Randomness: pass ``seeds`` to reproduce ``np.random.seed(seed); pyclarity_metric(...)``
exactly (each item gets its own ``numpy.random.RandomState(seed)``). The HASPI ensemble weights
are read from pyclarity (``clarity.evaluator.haspi.ip.get_neural_net``) at run time.

Precision: float64 throughout (see :mod:`hltk.metrics.ear.model`). Scores are differentiable
with respect to ``processed`` where the metric is continuous (silence selection, alignment
delays and ``max``/``clip`` branches are piecewise constant).

Performance: on CPU without autograd the ear model runs its compiled channel loop
(:mod:`hltk.metrics.ear.compiled`: numba row kernels, the recursions four rows at a time in
SIMD lanes, the threshold noise replayed by :mod:`hltk.metrics.ear.legacy_rng`), and the
feature stages their compiled or scipy versions (HASPI's envelope smoothing, ``bm_covary``'s
segment covariances, the FFTs); chunks are then :data:`COMPILED_CHUNK` items. Use one intra-op
thread per worker on CPU. On a GPU (or with autograd) the frequency-domain torch path filters
all items of a chunk at once. Speed and its profile: ``bench/torch_metrics_speed.py`` and
``bench/torch_metrics_profile.py``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.fft
import scipy.signal
import torch

from hltk.dsp.fftconv import fast_fft_size, fft_convolve
from hltk.metrics.ear.channels import FS, center_frequency
from hltk.metrics.ear.compiled import decimating_fir_rows, segment_covariance_rows
from hltk.metrics.ear.legacy_rng import add_standard_normal, skip_standard_normal
from hltk.metrics.ear.model import AUDIOMETRIC_FREQUENCIES, ear_model

__all__ = ["haspi_v2", "hasqi_v2", "haaqi", "audiograms_to_levels"]

logger = logging.getLogger(__name__)
SMALL = 1e-30

AudiogramsLike = torch.Tensor | np.ndarray | Sequence[tuple[Sequence[float], Sequence[float]]]
SignalsLike = torch.Tensor | Sequence[torch.Tensor]


def audiograms_to_levels(audiograms: AudiogramsLike) -> torch.Tensor:
    """Audiograms -> ``[B, 6]`` dB HL at 250, 500, 1k, 2k, 4k, 6k Hz.

    Accepts a ``[B, 6]`` tensor/array already at those frequencies, or a list of
    ``(levels, frequencies)`` pairs or objects with ``levels`` / ``frequencies`` (pyclarity's
    ``Audiogram``, hltk's listener audiograms), resampled like pyclarity's
    ``Audiogram.resample`` (linear interpolation on log frequency, end values held).
    """
    if isinstance(audiograms, torch.Tensor):
        audiograms = audiograms.detach().cpu().numpy()
    if isinstance(audiograms, np.ndarray):
        levels = torch.as_tensor(np.asarray(audiograms, dtype=np.float64))
        if levels.dim() != 2 or levels.shape[1] != 6:
            raise ValueError("audiogram tensor must be [B, 6] at 250..6000 Hz")
        return levels
    rows = []
    for audiogram in audiograms:
        if hasattr(audiogram, "levels") and hasattr(audiogram, "frequencies"):
            levels_i = audiogram.levels  # type: ignore[attr-defined]  # pyclarity Audiogram
            freqs_i = audiogram.frequencies  # type: ignore[attr-defined]
        else:
            levels_i, freqs_i = audiogram
        lv = np.asarray(levels_i, dtype=np.float64)
        fr = np.asarray(freqs_i, dtype=np.float64)
        rows.append(np.interp(np.log(AUDIOMETRIC_FREQUENCIES), np.log(fr), lv,
                              left=lv[0], right=lv[-1]))
    return torch.as_tensor(np.stack(rows))


def _as_list(signals: SignalsLike) -> list[torch.Tensor]:
    if isinstance(signals, torch.Tensor):
        if signals.dim() == 1:
            signals = signals.unsqueeze(0)
        return list(signals.unbind(0))
    return [torch.as_tensor(s) for s in signals]


def _levels(level1: float | Sequence[float] | torch.Tensor, batch: int) -> torch.Tensor:
    lv = torch.as_tensor(level1, dtype=torch.float64).flatten()
    return lv.expand(batch).clone() if lv.numel() == 1 else lv


def _rngs(seeds: Sequence[int | np.random.RandomState | None] | None, batch: int
          ) -> list[np.random.RandomState]:
    if seeds is None:
        return [np.random.RandomState() for _ in range(batch)]
    if len(seeds) != batch:
        raise ValueError("one seed per item is needed")
    # a RandomState is used as it is: its stream goes on from where an earlier call left it
    # (the Cadenza recipe seeds once and scores the left ear, then the right, from one stream)
    return [s if isinstance(s, np.random.RandomState) else np.random.RandomState(s) for s in seeds]


# ----------------------------------------------------------------------------- shared features


def _cepstral_basis(nbands: int, nbasis: int, device: torch.device) -> torch.Tensor:
    """Normalised cosine basis ``[nbands, nbasis]`` (``ebm.cepstral_correlation_coef``)."""
    k = np.arange(nbands)
    basis = np.stack([np.cos(n * np.pi * k / (nbands - 1)) for n in range(nbasis)], axis=1)
    basis = basis / np.sqrt(np.sum(basis**2, axis=0, keepdims=True))
    return torch.as_tensor(basis, device=device)


def _safe_ratio(numerator: torch.Tensor, xsum: torch.Tensor, ysum: torch.Tensor) -> torch.Tensor:
    """``|num| / sqrt(xsum ysum)`` and 0 where either sum is below 1e-30 (pyclarity's mask)."""
    ok = (xsum >= SMALL) & (ysum >= SMALL)
    denom = torch.sqrt(torch.where(ok, xsum * ysum, torch.ones_like(xsum)))
    return torch.where(ok, torch.abs(numerator) / denom, torch.zeros_like(numerator))


def _env_smooth(envelope: torch.Tensor, length: int, segment_ms: float) -> torch.Tensor:
    """``eb.env_smooth``: ``[C, T] -> [C, nseg]`` half-overlapping von Hann averages."""
    nwin = int(np.around(segment_ms * (0.001 * FS)))
    nwin += nwin % 2
    window = torch.as_tensor(np.hanning(nwin), device=envelope.device)
    nhalf = nwin // 2
    half = window[nhalf:]
    nseg = int(1 + np.floor(length / nwin) + np.floor((length - nwin / 2) / nwin))
    first = (envelope[:, :nhalf] * half).sum(-1) / half.sum()
    if envelope.device.type == "cpu" and not (envelope.requires_grad and torch.is_grad_enabled()):
        # compiled: segment k of the middle starts at k * nhalf (k = 1 .. nseg - 2)
        taps = np.hanning(nwin) / np.sum(np.hanning(nwin))
        middle = torch.from_numpy(decimating_fir_rows(
            envelope[:, :length].numpy(), taps, 0, nhalf, max(nseg - 1, 1))[:, 1:])
    else:
        middle = envelope[:, : length].unfold(-1, nwin, nhalf)[:, 1 : nseg - 1]
        middle = (middle * window).sum(-1) / window.sum()
    start = (nseg - 1) * nhalf
    last = (envelope[:, start : start + nhalf] * window[:nhalf]).sum(-1) / half.sum()
    return torch.cat((first.unsqueeze(-1), middle, last.unsqueeze(-1)), dim=-1)


def _segment_covariance(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, maxlag: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windowed normalised cross-covariance peak within +/-maxlag (inner loop of ``eb.bm_covary``).

    Args:
        x, y: ``[..., L]`` raw segments; window: ``[L]``.

    Returns:
        ``(covariance, ms_x, ms_y)`` each ``[...]`` (mean squares not yet doubled).
    """
    length = window.shape[-1]
    w = window.detach().cpu().numpy()
    corr_w = scipy.signal.correlate(w, w, "full")[length - 1 - maxlag : maxlag + length]
    inv_corr = torch.as_tensor(1.0 / corr_w, device=x.device)
    inv_sum2 = 1.0 / float(np.sum(w**2))
    xs = x * window
    ys = y * window
    xs = xs - xs.mean(-1, keepdim=True)
    ys = ys - ys.mean(-1, keepdim=True)
    ms_x = (xs**2).sum(-1) * inv_sum2
    ms_y = (ys**2).sum(-1) * inv_sum2
    n_fft = fast_fft_size(length + maxlag + 1)
    if xs.device.type == "cpu" and not (torch.is_grad_enabled()
                                        and (xs.requires_grad or ys.requires_grad)):
        # scipy's pocketfft: faster than torch's on CPU, same values to rounding
        x_np, y_np = xs.numpy(), ys.numpy()
        corr = torch.from_numpy(scipy.fft.irfft(
            scipy.fft.rfft(x_np, n=n_fft) * np.conj(scipy.fft.rfft(y_np, n=n_fft)), n=n_fft))
    else:
        corr = torch.fft.irfft(
            torch.fft.rfft(xs, n=n_fft) * torch.conj(torch.fft.rfft(ys, n=n_fft)), n=n_fft)
    lags = torch.remainder(torch.arange(-maxlag, maxlag + 1, device=x.device), n_fft)
    peak = torch.amax(torch.abs(corr[..., lags] * inv_corr), dim=-1)
    ok = (ms_x > SMALL) & (ms_y > SMALL)
    denom = torch.sqrt(torch.where(ok, ms_x * ms_y, torch.ones_like(ms_x)))
    covariance = torch.where(ok, peak / denom, torch.zeros_like(peak))
    return covariance, ms_x, ms_y


def _tiles_weighed(reference_ms: np.ndarray, threshold_db: float) -> np.ndarray:
    """``[C, nseg]`` tiles whose covariance :func:`_ave_covary2` can weigh: the band's RMS
    (``sqrt(reference_ms)``, dB SL) and the segment's band-averaged level above
    ``threshold_db``, each with a 1e-6 dB margin against rounding (an extra tile costs time,
    never a value)."""
    rms = np.sqrt(reference_ms)
    level = 20 * np.log10(np.sum(10 ** (rms / 20), axis=0) / rms.shape[0])
    margin = 1e-6
    return (rms > threshold_db - margin) & (level > threshold_db - margin)[None, :]


def _bm_covary(
    reference: torch.Tensor, processed: torch.Tensor, length: int, segment_ms: float = 16,
    threshold_db: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``eb.bm_covary``: ``[C, T]`` BM signals -> ``(covariance [C, nseg], ref_ms [C, nseg])``.

    With ``threshold_db`` (the one :func:`_ave_covary2` will use), the covariance of a tile
    that average gives no weight is left 0 instead of computed: the averages are unchanged,
    and on the compiled CPU path those tiles (half to four fifths of them in quiet or
    high-loss bands) cost only their mean squares.
    """
    maxlag = int(np.around(1.0 * (0.001 * FS)))
    nwin = int(np.around(segment_ms * (0.001 * FS)))
    nwin += nwin % 2 == 1
    window = torch.as_tensor(np.hanning(nwin), device=reference.device)
    nhalf = nwin // 2
    half = window[nhalf:]
    nseg = int(1 + np.floor(length / nwin) + np.floor((length - nwin / 2) / nwin))
    start = (nseg - 1) * nhalf
    cov_first, ms_first, _ = _segment_covariance(reference[:, :nhalf], processed[:, :nhalf],
                                                 half, maxlag)
    cov_last, ms_last, _ = _segment_covariance(reference[:, start : start + nhalf],
                                               processed[:, start : start + nhalf],
                                               window[:nhalf].contiguous(), maxlag)

    def weighed(ms_mid: torch.Tensor) -> np.ndarray | None:
        if threshold_db is None:
            return None
        ms = torch.cat((ms_first.unsqueeze(-1), ms_mid, ms_last.unsqueeze(-1)), dim=-1)
        return _tiles_weighed(2.0 * ms.detach().cpu().numpy(), threshold_db)

    if reference.device.type == "cpu" and not (
            torch.is_grad_enabled() and (reference.requires_grad or processed.requires_grad)):
        # compiled direct sums over 49 lags: ~5x faster than batched FFTs of the segments
        # whole rows (the segments end inside ``length``): a ``[:, :length]`` view is not
        # C-contiguous, and numba's loops over it do not vectorise
        args = (np.ascontiguousarray(reference.numpy()), np.ascontiguousarray(processed.numpy()),
                window.numpy(), nhalf, 1, max(nseg - 2, 0), maxlag)
        needed = None
        if threshold_db is not None:  # the mean squares first, then only the weighed tiles
            _, ms_np, _ = segment_covariance_rows(
                *args, needed=np.zeros((reference.shape[0], max(nseg - 2, 0)), np.bool_))
            mask = weighed(torch.from_numpy(ms_np))
            needed = mask[:, 1:-1] if mask is not None else None
        cov_np, ms_np, _ = segment_covariance_rows(*args, needed=needed)
        cov_mid, ms_mid = torch.from_numpy(cov_np), torch.from_numpy(ms_np)
    else:
        ref_mid = reference[:, :length].unfold(-1, nwin, nhalf)[:, 1 : nseg - 1]
        proc_mid = processed[:, :length].unfold(-1, nwin, nhalf)[:, 1 : nseg - 1]
        cov_mid, ms_mid, _ = _segment_covariance(ref_mid, proc_mid, window, maxlag)
    covariance = torch.cat((cov_first.unsqueeze(-1), cov_mid, cov_last.unsqueeze(-1)), dim=-1)
    ref_ms = torch.cat((ms_first.unsqueeze(-1), ms_mid, ms_last.unsqueeze(-1)), dim=-1)
    mask = weighed(ms_mid)
    if mask is not None:  # the same tiles 0 on every path
        covariance = torch.where(torch.as_tensor(mask, device=covariance.device), covariance,
                                 torch.zeros_like(covariance))
    return torch.clamp(covariance, 0.0, 1.0), 2.0 * ref_ms


def _ave_covary2(covariance: torch.Tensor, reference_ms: torch.Tensor,
                 threshold_db: float) -> torch.Tensor:
    """``eb.ave_covary2``: IHC-synchronisation weighted average covariances, returns ``[6]``."""
    nchan = covariance.shape[0]
    cf = center_frequency(nchan)
    order = np.array([1, 3, 5, 5, 5, 5])
    cutoff = 1000 * np.array([1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    fc2p = (cutoff ** (2 * order))[:, None]
    freq2p = cf[None, :] ** (2 * order[:, None])
    fsync = torch.as_tensor(np.sqrt(fc2p / (fc2p + freq2p)), device=covariance.device)  # [6, C]
    signal_rms = torch.sqrt(reference_ms)
    ref_mean = 20 * torch.log10(torch.sum(10 ** (signal_rms / 20), dim=0) / nchan)
    index = torch.nonzero(ref_mean.detach() > threshold_db).flatten()
    if index.numel() <= 1:
        logger.warning("ave_covary2: average signal below threshold, outputs set to 0")
        return covariance.new_zeros(6)
    cov = covariance[:, index]
    rms = signal_rms[:, index]
    mask = (rms > threshold_db).to(cov.dtype)  # [C, nseg]
    wsync = fsync.unsqueeze(-1) * mask.unsqueeze(0)  # [6, C, nseg]
    return torch.sum(wsync * cov, dim=(1, 2)) / torch.sum(wsync, dim=(1, 2))


def _spectrum_diff(reference_sl: torch.Tensor, processed_sl: torch.Tensor) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor]:
    """``eb.spectrum_diff``: ``[..., C]`` -> (dloud, dnorm, dslope), each ``[..., 3]``."""
    nbands = reference_sl.shape[-1]
    ref = 10 ** (reference_sl / 20)
    proc = 10 ** (processed_sl / 20)
    ref = ref / ref.sum(-1, keepdim=True)
    proc = proc / proc.sum(-1, keepdim=True)

    def stats(diff: torch.Tensor) -> torch.Tensor:
        return torch.stack((diff.abs().sum(-1), nbands * diff.std(-1, unbiased=False),
                            diff.abs().amax(-1)), dim=-1)

    dloud = stats(ref - proc)
    dnorm = stats((ref - proc) / (ref + proc))
    dslope = stats((ref[..., 1:] - ref[..., :-1]) - (proc[..., 1:] - proc[..., :-1]))
    return dloud, dnorm, dslope


# ----------------------------------------------------------------------------- HASPI v2


def _haspi_features(reference_db: torch.Tensor, processed_db: torch.Tensor, length: int,
                    rng: np.random.RandomState, f_lp: float = 320.0) -> torch.Tensor | None:
    """Envelope modulation cepstral correlations ``[10]`` (``haspi_v2`` after the ear model).

    Args:
        reference_db, processed_db: ``[C, T]`` dB SL envelopes (valid to ``length``).

    Returns:
        ``[10]`` averaged modulation-band correlations, or None when the reference is silent.
    """
    device = reference_db.device
    fsub = 8.0 * f_lp
    # ebm.env_filter: von Hann low-pass, then subsample
    nfilt = round(0.001 * (0.7 * 1000 / f_lp) * FS)
    nhalf = math.floor(nfilt / 2)
    nfilt = 2 * nhalf
    window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(1, nfilt / 2 + 1) / (nfilt + 1)))
    benv_np = np.concatenate((window, np.flip(window)))
    benv = torch.as_tensor(benv_np / np.sum(benv_np), device=device)
    space = math.floor(FS / fsub)
    # full convolution sliced at [nhalf, nhalf + N) and subsampled by `space`, computed only at
    # the kept samples: a strided correlation with the flipped kernel
    n_out = -(-length // space)
    if reference_db.device.type == "cpu" and not (
            torch.is_grad_enabled() and (reference_db.requires_grad or processed_db.requires_grad)):
        # compiled: float64 conv1d has no fast CPU kernel (90 ms per item against 5); each
        # signal's rows as they are (no stacked copy: 25 MB per 4 s signal)
        taps = np.flip(benv_np / np.sum(benv_np))
        smooth = torch.from_numpy(np.concatenate([
            decimating_fir_rows(rows[:, :length].numpy(), taps, nfilt - 1 - nhalf, space, n_out)
            for rows in (reference_db, processed_db)]))
    else:
        both = torch.stack((reference_db[:, :length], processed_db[:, :length]))  # [2, C, N]
        padded = torch.nn.functional.pad(both.reshape(-1, 1, length),
                                         (nfilt - 1 - nhalf, nhalf + space))
        smooth = torch.nn.functional.conv1d(padded, torch.flip(benv, [0]).view(1, 1, -1),
                                            stride=space)[..., :n_out]
    smooth = smooth.reshape(2, -1, n_out).transpose(-1, -2)  # [2, nsub, C]
    # ebm.cepstral_correlation_coef
    nbands = smooth.shape[-1]
    nbasis = 6
    xsum = 20 * torch.log10(torch.sum(10 ** (smooth[0].detach() / 20), dim=-1) / nbands)
    index = torch.nonzero(xsum > 2.5).flatten()
    if index.numel() <= 1:
        return None
    selected = smooth[:, index]  # [2, nsel, C]
    shape = tuple(selected.shape[1:])
    # 0.1 * standard_normal(shape) twice, as pyclarity draws them (compiled replay: 2-4x
    # faster than numpy's legacy generator, bit for bit the same)
    noise = np.zeros((2, *shape))
    add_standard_normal(rng, noise[0], shape[1], 0.1)
    add_standard_normal(rng, noise[1], shape[1], 0.1)
    selected = selected + torch.as_tensor(noise, device=device)
    cep = selected @ _cepstral_basis(nbands, nbasis, device)  # [2, nsel, nbasis]
    cep = cep - cep.mean(dim=1, keepdim=True)
    # ebm.fir_modulation_filter
    cep = cep.transpose(-1, -2)  # [2, nbasis, nsel]
    nsamp = cep.shape[-1]
    centers = np.array([2, 6, 10, 16, 25, 40, 64, 100, 160, 256], dtype=float)
    nmod = len(centers)
    edge = np.zeros(nmod + 1)
    edge[0:3] = [0, 4, 8]
    for k in range(3, nmod + 1):
        edge[k] = (centers[k - 1] ** 2) / edge[k - 1]
    nyquist = 0.5 * fsub
    edge = edge[edge < nyquist]
    nmod = len(edge) - 1
    centers = centers[:nmod]
    t = np.zeros(nmod)
    t[0:2] = 0.24
    t[2:nmod] = 0.24 * centers[2] / centers[2:nmod]
    nfir = 2 * np.floor(t * fsub / 2)
    n = torch.arange(1, nsamp + 1, device=device, dtype=torch.float64)
    correlations = []
    for k in range(nmod):
        hann = np.hanning(int(nfir[k]) + 1)
        coefficient = torch.as_tensor(hann / np.sum(hann), device=device)
        half_k = int(nfir[k] / 2)
        if k == 0:
            filtered = fft_convolve(cep, coefficient, scipy_fft=True)[..., half_k : half_k + nsamp]
        else:
            phase = math.pi * n * centers[k] / nyquist
            cosine = math.sqrt(2) * torch.cos(phase)
            sine = math.sqrt(2) * torch.sin(phase)
            demod = torch.complex(cep * cosine, -cep * sine)
            out = fft_convolve(demod, coefficient.to(demod.dtype), scipy_fft=True)
            out = out[..., half_k : half_k + nsamp]
            filtered = out.real * cosine - out.imag * sine
        # ebm.modulation_cross_correlation
        x = filtered[0] - filtered[0].mean(-1, keepdim=True)
        y = filtered[1] - filtered[1].mean(-1, keepdim=True)
        cov = _safe_ratio((x * y).sum(-1), (x**2).sum(-1), (y**2).sum(-1))  # [nbasis]
        correlations.append(cov[1:6].mean())
    return torch.stack(correlations)


def _haspi_network(features: torch.Tensor) -> torch.Tensor:
    """HASPI v2 ensemble of 10 logistic networks (weights read from pyclarity).

    ``[..., 10] -> [...]``.
    """
    from clarity.evaluator.haspi.ip import get_neural_net

    params, weights_hidden, weights_out, normalization = get_neural_net()
    if params["activation_function"] != 1 or params["offset_activation"] != 0:
        raise RuntimeError("unexpected HASPI network parameters in pyclarity")
    scale = float(params["maximum_activation"])
    w_h = torch.as_tensor(np.stack(weights_hidden), device=features.device)  # [10, 11, 4]
    w_o = torch.as_tensor(np.stack(weights_out), device=features.device)  # [10, 5, 1]
    ones = torch.ones(features.shape[:-1] + (1,), dtype=features.dtype, device=features.device)
    x = torch.cat((ones, features), dim=-1)
    hidden = scale * torch.sigmoid(torch.einsum("...i,kij->...kj", x, w_h))
    hidden = torch.cat((torch.ones_like(hidden[..., :1]), hidden), dim=-1)
    output = scale * torch.sigmoid(torch.einsum("...ki,kij->...kj", hidden, w_o))[..., 0]
    return output.mean(-1) / normalization


#: items per ear-model chunk on the compiled CPU path: its kernels run row by row and its
#: alignment transforms batch channels instead (see ``hltk.metrics.ear.model._channel_group``), so larger
#: chunks gain little and cost memory ([B, 2, 32, T] float64 outputs, 0.4 GB per 8 items of
#: 4 s, for each chunk in flight)
COMPILED_CHUNK = 2


def _chunk_size(batch_size: int, processed: Sequence[torch.Tensor]) -> int:
    compiled = all(p.device.type == "cpu" for p in processed) and not (
        torch.is_grad_enabled() and any(p.requires_grad for p in processed))
    return min(batch_size, COMPILED_CHUNK) if compiled else batch_size


def _chunks(batch: int, size: int) -> list[range]:
    return [range(i, min(i + size, batch)) for i in range(0, batch, size)]


def _map_chunks(batch: int, size: int, workers: int,
                score_chunk: Callable[[range], list[torch.Tensor]]) -> list[torch.Tensor]:
    """Score item chunks, ``workers`` chunks at a time in threads (the heavy steps release the
    GIL: torch ops, scipy ``lfilter``, numpy's generator), results in item order."""
    chunks = _chunks(batch, size)
    if workers <= 1 or len(chunks) == 1:
        results = [score_chunk(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(score_chunk, chunks))
    return [score for chunk_scores in results for score in chunk_scores]


def haspi_v2(
    reference: SignalsLike,
    processed: SignalsLike,
    sample_rate: float,
    audiograms: AudiogramsLike,
    level1: float | Sequence[float] | torch.Tensor = 65.0,
    seeds: Sequence[int | None] | None = None,
    processed_sample_rate: float | None = None,
    batch_size: int = 8,
    f_lp: float = 320.0,
    workers: int = 1,
) -> torch.Tensor:
    """HASPI v2 intelligibility per item, as ``clarity.evaluator.haspi.haspi_v2(...)[0]``.

    Args:
        reference: ``[B, T]`` tensor or ``B`` 1-D tensors (clean speech).
        processed: ``[B, T]`` or ``B`` 1-D tensors (may require grad).
        sample_rate: rate of ``reference`` (and of ``processed`` unless given separately).
        audiograms: ``[B, 6]`` dB HL at 250..6000 Hz, or a list of ``(levels, frequencies)``.
        level1: dB SPL of an RMS of 1, scalar or ``[B]``.
        seeds: per-item seeds; item ``i`` equals ``np.random.seed(seeds[i])`` then pyclarity.
        processed_sample_rate: rate of ``processed`` if it differs.
        batch_size: items per ear-model chunk (memory ~ 2 GB per 8 items of 4 s).
        f_lp: envelope low-pass cut-off (320 Hz).
        workers: chunks scored concurrently in threads (CPU: one per core, with
            ``torch.set_num_threads(1)``).

    Returns:
        ``[B]`` float64 scores (NaN where the reference is below threshold).
    """
    refs, procs = _as_list(reference), _as_list(processed)
    batch = len(refs)
    hl = audiograms_to_levels(audiograms)
    levels = _levels(level1, batch)
    rngs = _rngs(seeds, batch)
    proc_rate = processed_sample_rate or sample_rate

    def score_chunk(chunk: range) -> list[torch.Tensor]:
        scores: list[torch.Tensor] = []
        ear = ear_model([refs[i] for i in chunk], [procs[i] for i in chunk], sample_rate,
                        proc_rate, hl[list(chunk)].to(refs[0].device), 0, levels[list(chunk)],
                        [rngs[i] for i in chunk], compute_bm=False)
        for j, i in enumerate(chunk):
            feats = _haspi_features(ear.reference_db[j], ear.processed_db[j],
                                    int(ear.lengths[j]), rngs[i], f_lp)
            if feats is None:
                logger.warning("HASPI item %d: signal below threshold, score is NaN", i)
                scores.append(torch.tensor(float("nan"), dtype=torch.float64))
            else:
                scores.append(_haspi_network(feats))
        return scores

    scores = _map_chunks(batch, _chunk_size(batch_size, procs), workers, score_chunk)
    return torch.stack([s.to(scores[0].device) for s in scores])


# ----------------------------------------------------------------------------- HASQI v2


def _mel_cepstrum_correlation(reference: torch.Tensor, processed: torch.Tensor,
                              threshold: float) -> torch.Tensor:
    """``eb.mel_cepstrum_correlation`` with ``addnoise = 0``: average over basis 2-6."""
    nbands = reference.shape[0]
    cepm = _cepstral_basis(nbands, 6, reference.device)
    xsum = 20 * torch.log10(torch.sum(10 ** (reference.detach() / 20), dim=0) / nbands)
    index = torch.nonzero(xsum > threshold).flatten()
    if index.numel() <= 1:
        logger.warning("mel_cepstrum_correlation: signal below threshold, output set to 0")
        return reference.new_zeros(())
    ref_cep = cepm.T @ reference[:, index]
    proc_cep = cepm.T @ processed[:, index]
    ref_cep = ref_cep - ref_cep.mean(-1, keepdim=True)
    proc_cep = proc_cep - proc_cep.mean(-1, keepdim=True)
    corr = _safe_ratio((ref_cep * proc_cep).sum(-1), (ref_cep**2).sum(-1), (proc_cep**2).sum(-1))
    return corr[1:6].sum() / 5


def _quality_ear(
    refs: list[torch.Tensor], procs: list[torch.Tensor], sample_rate: float,
    proc_rate: float, hl: torch.Tensor, equalisation: int, levels: torch.Tensor,
    rngs: list[np.random.RandomState], batch_size: int, item_score,  # noqa: ANN001
    workers: int = 1,
) -> torch.Tensor:
    def score_chunk(chunk: range) -> list[torch.Tensor]:
        idx = list(chunk)
        ear = ear_model([refs[i] for i in idx], [procs[i] for i in idx], sample_rate, proc_rate,
                        hl[idx].to(refs[0].device), equalisation, levels[idx],
                        [rngs[i] for i in idx], compute_bm=True)
        assert ear.reference_bm is not None and ear.processed_bm is not None
        return [item_score(ear, j) for j in range(len(idx))]

    return torch.stack(_map_chunks(len(refs), _chunk_size(batch_size, procs), workers,
                                   score_chunk))


def hasqi_v2(
    reference: SignalsLike,
    processed: SignalsLike,
    sample_rate: float,
    audiograms: AudiogramsLike,
    equalisation: int = 1,
    level1: float | Sequence[float] | torch.Tensor = 65.0,
    seeds: Sequence[int | None] | None = None,
    processed_sample_rate: float | None = None,
    batch_size: int = 8,
    silence_threshold: float = 2.5,
    segment_covariance: int = 16,
    workers: int = 1,
) -> torch.Tensor:
    """HASQI v2 quality per item, as ``clarity.evaluator.hasqi.hasqi_v2(...)[0]``.

    Args: as :func:`haspi_v2`, plus ``equalisation`` (pyclarity's ``itype``: 1 = NAL-R on the
    reference, 2 = impaired reference without NAL-R, 0 = normal-hearing reference).

    Returns:
        ``[B]`` float64 combined scores.
    """
    refs, procs = _as_list(reference), _as_list(processed)
    batch = len(refs)

    def item_score(ear, j: int) -> torch.Tensor:  # noqa: ANN001
        n = int(ear.lengths[j])
        ref_smooth = _env_smooth(ear.reference_db[j], n, segment_covariance)
        proc_smooth = _env_smooth(ear.processed_db[j], n, segment_covariance)
        cep = _mel_cepstrum_correlation(ref_smooth, proc_smooth, silence_threshold)
        dloud, _, dslope = _spectrum_diff(ear.reference_sl[j], ear.processed_sl[j])
        cov, ref_ms = _bm_covary(ear.reference_bm[j], ear.processed_bm[j], n, segment_covariance,
                                 threshold_db=2.5)
        sync = _ave_covary2(cov, ref_ms, 2.5)[4]
        d_loud = torch.clamp(1.0 - dloud[1] / 2.5, 0.0, 1.0)
        d_slope = torch.clamp(1.0 - dslope[1], 0.0, 1.0)
        nonlinear = cep**2 * sync
        linear = 0.579 * d_loud + 0.421 * d_slope
        return nonlinear * linear

    return _quality_ear(refs, procs, sample_rate, processed_sample_rate or sample_rate,
                        audiograms_to_levels(audiograms), equalisation, _levels(level1, batch),
                        _rngs(seeds, batch), batch_size, item_score, workers)


# ----------------------------------------------------------------------------- HAAQI v1


def _melcor9_high(reference: torch.Tensor, processed: torch.Tensor, threshold: float,
                  segment_ms: int, rng: np.random.RandomState | None = None) -> torch.Tensor:
    """``eb.melcor9`` (add_noise = 0): the high-modulation (bands 5-8) cepstral correlation.

    pyclarity still draws its (zero-weighted) noise, ``standard_normal`` of the selected
    envelopes' shape twice; ``rng`` is advanced past those draws, so a stream that goes on
    into another call (the Cadenza recipe's right ear after the left) stays pyclarity's."""
    nbands = reference.shape[0]
    ncep = 6
    cepm = _cepstral_basis(nbands, ncep, reference.device)
    xsum = 20 * torch.log10(torch.sum(10 ** (reference.detach() / 20), dim=0) / nbands)
    index = torch.nonzero(xsum > threshold).flatten()
    nsel = index.numel()
    if nsel <= 1:
        logger.warning("melcor9: signal below threshold, outputs set to 0")
        return reference.new_zeros(())
    if rng is not None:
        skip_standard_normal(rng, 2 * nbands, nsel)
    ref_cep = cepm.T @ reference[:, index]
    proc_cep = cepm.T @ processed[:, index]
    ref_cep = ref_cep - ref_cep.mean(-1, keepdim=True)
    proc_cep = proc_cep - proc_cep.mean(-1, keepdim=True)
    edge = [4.0, 8.0, 12.5, 20.0, 32.0, 50.0, 80.0]
    nmod = 1 + len(edge)
    fs_env = 1000.0 / (0.5 * segment_ms)
    nyquist = 0.5 * fs_env
    n_fir = int(2 * np.floor(np.around(128 * (nyquist / 125)) / 2))
    b = np.zeros((nmod, n_fir + 1))
    b[0] = scipy.signal.firwin(n_fir + 1, edge[0] / nyquist, window="hann", pass_zero="lowpass")
    b[nmod - 1] = scipy.signal.firwin(n_fir + 1, edge[nmod - 2] / nyquist, window="hann",
                                      pass_zero="highpass")
    for m in range(1, nmod - 1):
        b[m] = scipy.signal.firwin(n_fir + 1, [edge[m - 1] / nyquist, edge[m] / nyquist],
                                   window="hann", pass_zero="bandpass")
    kernels = torch.as_tensor(b, device=reference.device).unsqueeze(1)  # [nmod, 1, K]
    half = n_fir // 2
    both = torch.stack((ref_cep, proc_cep)).unsqueeze(1)  # [2, 1, ncep, nsel]
    filtered = fft_convolve(both, kernels.unsqueeze(0), scipy_fft=True)[..., half : half + nsel]
    x = filtered[0] - filtered[0].mean(-1, keepdim=True)  # [nmod, ncep, nsel]
    y = filtered[1] - filtered[1].mean(-1, keepdim=True)
    cov = _safe_ratio((x * y).sum(-1), (x**2).sum(-1), (y**2).sum(-1))  # [nmod, ncep]
    return cov[4:8, 1:].sum() / (4 * (ncep - 1))


def haaqi(
    reference: SignalsLike,
    processed: SignalsLike,
    sample_rate: float,
    audiograms: AudiogramsLike,
    equalisation: int = 1,
    level1: float | Sequence[float] | torch.Tensor = 65.0,
    seeds: Sequence[int | np.random.RandomState | None] | None = None,
    processed_sample_rate: float | None = None,
    batch_size: int = 8,
    silence_threshold: float = 2.5,
    segment_covariance: int = 16,
    workers: int = 1,
) -> torch.Tensor:
    """HAAQI v1 music quality per item, as ``clarity.evaluator.haaqi.compute_haaqi``.

    Note the argument order here is (reference, processed) like the other metrics; pyclarity's
    ``compute_haaqi`` takes the processed signal first.

    Returns:
        ``[B]`` float64 combined scores.
    """
    refs, procs = _as_list(reference), _as_list(processed)
    batch = len(refs)
    empty = [i for i in range(batch) if refs[i].numel() == 0]
    if empty:  # compute_haaqi: 1.0 when both are empty, 0.0 when only the reference is
        keep = [i for i in range(batch) if i not in empty]
        scores = torch.zeros(batch, dtype=torch.float64)
        for i in empty:
            scores[i] = 1.0 if procs[i].numel() == 0 else 0.0
        if keep:
            levels_all = _levels(level1, batch)
            scores[keep] = haaqi(
                [refs[i] for i in keep], [procs[i] for i in keep], sample_rate,
                audiograms_to_levels(audiograms)[keep], equalisation, levels_all[keep],
                None if seeds is None else [seeds[i] for i in keep], processed_sample_rate,
                batch_size, silence_threshold, segment_covariance, workers,
            ).to(scores.dtype).cpu()
        return scores

    def item_score(ear, j: int) -> torch.Tensor:  # noqa: ANN001
        n = int(ear.lengths[j])
        ref_smooth = _env_smooth(ear.reference_db[j], n, 8)
        proc_smooth = _env_smooth(ear.processed_db[j], n, 8)
        high = _melcor9_high(ref_smooth, proc_smooth, silence_threshold, 8, ear.rngs[j])
        dloud, dnorm, _ = _spectrum_diff(ear.reference_sl[j], ear.processed_sl[j])
        cov, ref_ms = _bm_covary(ear.reference_bm[j], ear.processed_bm[j], n, segment_covariance,
                                 threshold_db=silence_threshold)
        sync = _ave_covary2(cov, ref_ms, silence_threshold)[4]
        d_loud = torch.clamp(1.0 - dloud[1] / 2.5, 0.0, 1.0)
        d_norm = torch.clamp(1.0 - dnorm[1] / 25, 0.0, 1.0)
        nonlinear = 0.754 * high**3 + 0.246 * sync
        linear = 0.329 * d_loud + 0.671 * d_norm
        return 0.336 * nonlinear + 0.001 * linear + 0.501 * nonlinear**2 + 0.161 * linear**2

    return _quality_ear(refs, procs, sample_rate, processed_sample_rate or sample_rate,
                        audiograms_to_levels(audiograms), equalisation, _levels(level1, batch),
                        _rngs(seeds, batch), batch_size, item_score, workers)
