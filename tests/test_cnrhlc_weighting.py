"""The cnrhlc training options that pull the severe losses' high frequencies harder
(hltk/train/cnrhlc.py): ``--hlc-weighting level`` and ``--severe-weight``; both off by default."""

from __future__ import annotations

import numpy as np
import torch

from hltk.auditory import AuditoryModel, hearing_loss_from_audiogram
from hltk.io.listeners import standard_listener
from hltk.synth.listeners import PROFILES, profile_levels
from hltk.train.audiograms import bisgaard_audiogram
from hltk.train.cnrhlc import SEVERE_PROFILES, hlc_error, profile_weights
from tests.helpers import speech

RATE = 16000


def _high_band_pull(profile: str, weighting: str) -> float:
    """Mean |dL/dgain(dB)| over the 4-7 kHz bins of the HLC loss at 0 dB gain, real speech at
    74 dB SPL through the DRNL model."""
    clean = speech("s04", seconds=0.5, rate=RATE)
    clean = (clean * 10 ** ((74 - 100) / 20) / clean.square().mean().sqrt())[None]
    model = AuditoryModel(sample_rate=RATE)
    window = torch.hann_window(512)
    spectrum = torch.stft(clean, 512, 256, window=window, return_complex=True)
    with torch.no_grad():
        target = model(clean, None)
    levels = torch.as_tensor(standard_listener(profile).left.on_grid(), dtype=torch.float32)[None]
    gain = torch.zeros(257, requires_grad=True)
    output = torch.istft(spectrum * 10 ** (gain[:, None] / 20), 512, 256, window=window,
                         length=clean.shape[-1])
    value, _ = hlc_error(model(output, hearing_loss_from_audiogram(levels)), target, weighting)
    gradient = torch.autograd.grad(value, gain)[0].abs()
    frequencies = torch.arange(257) * RATE / 512
    return float(gradient[(frequencies >= 4000) & (frequencies <= 7000)].mean())


def test_level_weighting_strengthens_the_severe_high_channels_pull() -> None:
    # the plain loss barely pulls N7's high bins (the impaired channel is below the knee);
    # the level weighting multiplies that pull several-fold, relative to N1's as well
    plain_n7, level_n7 = _high_band_pull("N7", "none"), _high_band_pull("N7", "level")
    plain_n1, level_n1 = _high_band_pull("N1", "none"), _high_band_pull("N1", "level")
    assert level_n7 > 4 * plain_n7
    assert level_n7 / level_n1 > 2 * (plain_n7 / plain_n1)


def test_level_weighting_weights_only_under_amplified_channels() -> None:
    torch.manual_seed(0)
    target = 2.0 + torch.rand(2, 4, 50)
    scale = torch.tensor([0.25, 0.5, 1.0, 1.5])[None, :, None]
    response = (target * scale).requires_grad_(True)
    weighted, plain = hlc_error(response, target, "level", max_weight=3.0)
    assert torch.isclose(plain, (response - target).square().mean())
    grad_weighted = torch.autograd.grad(weighted, response)[0]
    grad_plain = torch.autograd.grad(hlc_error(response, target, "none")[0], response)[0]
    ratio = (grad_weighted / grad_plain)[..., :1].mean(dim=(0, 2))
    # rms ratios 4 (capped at 3), 2, 1, 2/3 (raised to 1): weights 3, 2, 1, 1
    assert torch.allclose(ratio[[0, 1, 3]], torch.tensor([3.0, 2.0, 1.0]), rtol=1e-4)
    # at the target itself the loss is zero whatever the weighting
    same = target.clone().requires_grad_(True)
    assert float(hlc_error(same, target, "level")[0]) == 0.0


def test_severe_weight_draws_the_severe_profiles_more_often_and_one_is_the_old_draw() -> None:
    def draws(weights: np.ndarray | None, seed: int = 0, count: int = 3000) -> list[str]:
        rng = np.random.default_rng(seed)
        table = {tuple(np.minimum(profile_levels(p), 100.0)): p for p in PROFILES}
        return [table[tuple(bisgaard_audiogram(rng, jitter_db=0.0, weights=weights))]
                for _ in range(count)]

    uniform = draws(profile_weights(1.0))
    doubled = draws(profile_weights(2.0))
    share = lambda names: np.mean([n in SEVERE_PROFILES for n in names])  # noqa: E731
    assert abs(share(uniform) - 4 / 11) < 0.03
    assert abs(share(doubled) - 8 / 15) < 0.03
    # weight 1 (None) consumes the generator exactly as the uniform draw always did
    old_rng, new_rng = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        profile = PROFILES[int(old_rng.integers(len(PROFILES)))]
        old = np.clip(np.round(profile_levels(profile) + old_rng.uniform(-10, 10, 8)), 0, 100)
        assert np.array_equal(bisgaard_audiogram(new_rng, weights=profile_weights(1.0)), old)
