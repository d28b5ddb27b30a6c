"""MSBG's gammatone filterbank, envelope and loudness recruitment, batched in torch.

Reference: pyclarity ``clarity.evaluator.msbg.cochlea`` (Moore, Glasberg & Baer's MSBG
simulator; Baer & Moore 1993, Moore & Glasberg 1993). Each channel is an ``NGAMMA = 4``
cascade of one biquad, time-advanced by its integer group delay (the end zero-filled), the
higher channels followed by a two-pole high-pass. The envelope is the zero-phase (filtfilt)
low-pass of the full-wave-rectified channel; recruitment multiplies each channel by
``(min(max(env, 1e-9), env_max) / env_max) ** (ratio - 1)``.

All recursive filters run through :func:`hltk.dsp.iir.block_sosfilt` (exact).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hltk.dsp.iir import BlockStateSpace, block_sosfilt, filtfilt


def gammatone_filterbank(
    signal: torch.Tensor,
    gammatone: BlockStateSpace,
    delays: Sequence[int],
    highpass: BlockStateSpace,
    first_highpass: int,
) -> torch.Tensor:
    """Cochleagram ``[C, N, T]`` (channel first) of ``signal [N, T]``.

    Args:
        gammatone: ``C`` cascades of 4 identical biquads (``GTn_nums/GTn_denoms``).
        delays: ``C`` group delays in samples (``GTnDelays``); channel ``c`` is advanced by
            ``delays[c]`` and zero-filled at the end.
        highpass: biquads for channels ``first_highpass ..`` (``HP_nums/HP_denoms``;
            ``first_highpass = Start2PoleHP - 1``).
    """
    length = signal.shape[-1]
    bands = block_sosfilt(signal.unsqueeze(0), gammatone)
    aligned = [F.pad(bands[c, :, delay:], (0, delay)) if delay > 0 else bands[c]
               for c, delay in enumerate(delays)]
    if first_highpass >= len(delays):
        return torch.stack(aligned)[..., :length]
    high = block_sosfilt(torch.stack(aligned[first_highpass:]), highpass)
    return torch.cat([torch.stack(aligned[:first_highpass]), high], dim=0)[..., :length]


def channel_envelope(
    cochleagram: torch.Tensor, lowpass: BlockStateSpace, edge: BlockStateSpace, padlen: int = 8
) -> torch.Tensor:
    """Envelope ``[C, N, T]``: filtfilt of ``|cochleagram|`` with each channel's low-pass
    (``ellip(2, 0.25, 35, 0.75 min(100, ERB_c) / (fs / 2))``), ``padlen = 3 * 3 - 1``;
    ``edge`` is the same bank built with ``block = padlen``."""
    return filtfilt(cochleagram.abs(), lowpass, edge, padlen)


def recruitment(
    cochleagram: torch.Tensor,
    envelope: torch.Tensor,
    spl_equiv_0db: torch.Tensor,
    expansion_ratios: torch.Tensor,
    catch_up_db: float = 105.0,
) -> torch.Tensor:
    """Loudness recruitment by envelope expansion.

    Args:
        cochleagram, envelope: ``[C, N, T]``.
        spl_equiv_0db: ``[N]`` dB SPL of a digital full scale (``equiv_0db_spl + ahr``).
        expansion_ratios: ``[C, N]`` (``catch_up / (catch_up - HL(cf))``).

    Returns:
        ``[C, N, T]``.
    """
    envelope_max = 10 ** (0.05 * (catch_up_db - spl_equiv_0db.to(envelope.dtype)))
    envelope_max = envelope_max[None, :, None]
    limited = torch.minimum(envelope.clamp_min(1e-9), envelope_max)
    gain = (limited / envelope_max) ** (expansion_ratios[..., None].to(envelope.dtype) - 1)
    return cochleagram * gain
