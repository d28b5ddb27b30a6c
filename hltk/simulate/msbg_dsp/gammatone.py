"""MSBG's gammatone filterbank, envelope and loudness recruitment, batched in torch.

Reference: pyclarity ``clarity.evaluator.msbg.cochlea`` (Moore, Glasberg & Baer's MSBG
simulator; Baer & Moore 1993, Moore & Glasberg 1993). Each channel is an ``NGAMMA = 4``
cascade of one biquad, time-advanced by its integer group delay (the end zero-filled), the
higher channels followed by a two-pole high-pass. The envelope is the zero-phase (filtfilt)
low-pass of the full-wave-rectified channel; recruitment multiplies each channel by
``(min(max(env, 1e-9), env_max) / env_max) ** (ratio - 1)``.

All recursive filters run through :func:`hltk.simulate.msbg_dsp.iir.block_sosfilt` (exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hltk.simulate.msbg_dsp.iir import BlockStateSpace, block_sosfilt, filtfilt


def gammatone_filterbank(
    signal: torch.Tensor,
    gammatone: BlockStateSpace,
    delays: Sequence[int],
    highpass: BlockStateSpace,
    first_highpass: int,
    *,
    exact_end: bool = True,
) -> list[torch.Tensor]:
    """Cochleagram of ``signal [N, T]`` as two channel groups (channel first):
    ``[bands[:first_highpass], bands[first_highpass:]]``, each ``[C_g, N, T]`` (the groups
    are kept apart so that the full cochleagram is never concatenated).

    Args:
        gammatone: ``C`` cascades of 4 identical biquads (``GTn_nums/GTn_denoms``).
        delays: ``C`` group delays in samples (``GTnDelays``); channel ``c`` is advanced by
            ``delays[c]``.
        highpass: biquads for channels ``first_highpass ..`` (``HP_nums/HP_denoms``;
            ``first_highpass = Start2PoleHP - 1``).
        exact_end: zero the last ``delays[c]`` samples of channel ``c`` as pyclarity does.
            With ``False`` they hold the filter's continuation into zero padding instead; this
            saves a pass over the cochleagram and only matters inside end padding that is
            discarded (it reaches earlier samples only through the envelope's backward pass,
            which decays by > 100 dB over :data:`hltk.simulate.torch_msbg.END_PAD`).
    """
    length = signal.shape[-1]
    longest = max(delays)
    longest += -(length + longest) % gammatone.block  # whole blocks: no padding inside
    bands = block_sosfilt(F.pad(signal, (0, longest)).unsqueeze(0), gammatone)
    groups = []
    for first, last in ((0, first_highpass), (first_highpass, len(delays))):
        if first >= last:
            continue
        aligned = torch.stack(
            [bands[c, :, delays[c] : delays[c] + length] for c in range(first, last)]
        )
        if exact_end:
            time = torch.arange(length, device=signal.device)
            remaining = length - torch.as_tensor(delays[first:last], device=signal.device)
            aligned = aligned * (time[None, :] < remaining[:, None]).to(aligned.dtype)[:, None]
        if first == first_highpass:
            aligned = block_sosfilt(aligned, highpass)
        groups.append(aligned)
    return groups


def gammatone_highpass_filterbank(
    signal: torch.Tensor,
    low_bank: BlockStateSpace,
    high_bank: BlockStateSpace,
    delays: Sequence[int],
) -> list[torch.Tensor]:
    """:func:`gammatone_filterbank` (``exact_end=False``) with the high-pass of the upper
    channels merged into their cascade: ``[low, high]`` channel groups, ``[C_g, N, T]``.

    Args:
        low_bank: the gammatone cascades of channels ``0 .. first_highpass - 1``.
        high_bank: channels ``first_highpass ..``: their 4 gammatone biquads followed by the
            high-pass biquad, one 5-section cascade (one recursion pass instead of two).
        delays: all ``C`` group delays.

    pyclarity high-passes the channel *after* advancing it by ``delays[c]``, i.e. from a zero
    state at the aligned time 0; here the high-pass also sees the ``delays[c] <= 87`` samples
    before it. Inside the MSBG chain those samples are the gammatone's response to the
    outer-ear FIR's pre-ringing (taps more than 420 samples before its centre), so the
    difference is a transient ~100 dB below the signal (measured end to end: see
    :mod:`hltk.simulate.torch_msbg`).
    """
    length = signal.shape[-1]
    first_highpass = low_bank.toeplitz.shape[0]
    longest = max(delays)
    longest += -(length + longest) % low_bank.block
    padded = F.pad(signal, (0, longest)).unsqueeze(0)
    groups = []
    for bank, first in ((low_bank, 0), (high_bank, first_highpass)):
        last = first + bank.toeplitz.shape[0]
        if first >= last:
            continue
        bands = block_sosfilt(padded, bank)
        groups.append(torch.stack(
            [bands[c - first, :, delays[c] : delays[c] + length] for c in range(first, last)]
        ))
    return groups


def channel_envelope(
    cochleagram: torch.Tensor, lowpass: BlockStateSpace, edge: BlockStateSpace, padlen: int = 8
) -> torch.Tensor:
    """Envelope ``[C, N, T]``: filtfilt of ``|cochleagram|`` with each channel's low-pass
    (``ellip(2, 0.25, 35, 0.75 min(100, ERB_c) / (fs / 2))``), ``padlen = 3 * 3 - 1``;
    ``edge`` is the same bank built with ``block = padlen``."""
    return filtfilt(cochleagram.abs(), lowpass, edge, padlen)


def recruitment_log_max(spl_equiv_0db: torch.Tensor, catch_up_db: float) -> torch.Tensor:
    """``log env_max`` of :func:`recruitment`: ``env_max = 10 ** ((catch_up - spl) / 20)``."""
    return (0.05 * math.log(10)) * (catch_up_db - spl_equiv_0db)


def recruitment(
    cochleagram: torch.Tensor,
    envelope: torch.Tensor,
    spl_equiv_0db: torch.Tensor,
    expansion_ratios: torch.Tensor,
    catch_up_db: float = 105.0,
    *,
    in_place: bool = False,
) -> torch.Tensor:
    """Loudness recruitment by envelope expansion.

    ``gain = (clip(env, 1e-9, env_max) / env_max) ** (ratio - 1)`` with
    ``env_max = 10 ** ((catch_up - spl_equiv_0db) / 20)``, computed as
    ``exp((ratio - 1) * (log clip(env) - log env_max))``. ``in_place=True`` (only outside
    autograd) overwrites ``envelope`` and ``cochleagram`` to save memory passes.

    Args:
        cochleagram, envelope: ``[C, N, T]``.
        spl_equiv_0db: ``[N]`` dB SPL of a digital full scale (``equiv_0db_spl + ahr``).
        expansion_ratios: ``[C, N]`` (``catch_up / (catch_up - HL(cf))``).

    Returns:
        ``[C, N, T]``.
    """
    dtype = envelope.dtype
    log_max = recruitment_log_max(spl_equiv_0db.to(dtype), catch_up_db)  # [N]
    exponent = expansion_ratios.to(dtype)[..., None] - 1  # [C, N, 1]
    upper = torch.exp(log_max)[None, :, None]
    infinite = ~torch.isfinite(exponent)  # hearing level at the catch-up level: ratio inf
    if bool(infinite.any()):
        # numpy's (env / max) ** inf: 0 below the maximum, 1 at it (where env is clipped)
        at_max = (envelope >= upper) & infinite
        exponent = torch.where(infinite, torch.zeros_like(exponent), exponent)
        gained = recruitment(cochleagram, envelope, spl_equiv_0db, exponent[..., 0] + 1,
                             catch_up_db, in_place=in_place)
        return torch.where(infinite, gained * at_max.to(dtype), gained)
    offset = -exponent * log_max[None, :, None]
    if in_place:
        if torch.is_grad_enabled() and (cochleagram.requires_grad or envelope.requires_grad):
            raise ValueError("in_place recruitment is only for tensors outside autograd")
        if bool((upper == upper.flatten()[0]).all()):  # one level: scalar bounds, cheaper
            gain = envelope.clamp_(min=1e-9, max=float(upper.flatten()[0])).log_()
        else:
            gain = envelope.clamp_(min=torch.full_like(upper, 1e-9), max=upper).log_()
        gain = torch.addcmul(offset, gain, exponent, out=gain).exp_()
        return cochleagram.mul_(gain)
    limited = torch.clamp(envelope, min=1e-9)
    limited = torch.minimum(limited, upper)
    gain = torch.exp(torch.addcmul(offset, torch.log(limited), exponent))
    return cochleagram * gain
