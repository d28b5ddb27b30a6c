"""``nalr-compressor`` reproduces the Clarity CEC2 baseline recipe computation.

The recipe (pyclarity 0.9.0 ``recipes/cec2/baseline/enhance.py``) per ear: ``NALR(220, 44100)``
``build`` then ``apply`` (full convolution), ``Compressor(threshold=0.35, attenuation=0.1,
attack=50, release=1000, rms_buffer_size=0.064).process``, ``np.tanh``. Its output is 220 samples
longer and delayed by 110; the backend returns the same length, aligned. Tolerance 1e-6: the
backend returns float32 (the recipe computes in float64); |output| <= 1 after tanh, so float32
rounding is below 6e-8, and any misalignment or different state would be orders larger.
"""

from __future__ import annotations

import numpy as np
import torch

from hltk.amplify.compressor import NalrCompressorProcessor
from hltk.io.listeners import ListenerBatch, standard_listener
from tests.helpers import AMPLIFY_RATE as RATE
from tests.helpers import speech


def recipe_cec2(signal: np.ndarray, audiogram_left: object, audiogram_right: object) -> np.ndarray:
    """The CEC2 baseline enhancement of a ``(T, 2)`` signal, written as the recipe does it."""
    from clarity.enhancer.compressor import Compressor
    from clarity.enhancer.nalr import NALR

    enhancer = NALR(nfir=220, sample_rate=44100)
    compressor = Compressor(
        threshold=0.35, attenuation=0.1, attack=50, release=1000, rms_buffer_size=0.064
    )
    nalr_fir_l, _ = enhancer.build(audiogram_left)
    nalr_fir_r, _ = enhancer.build(audiogram_right)
    out_l = enhancer.apply(nalr_fir_l, signal[:, 0])
    out_r = enhancer.apply(nalr_fir_r, signal[:, 1])
    out_l, _, _ = compressor.process(out_l)
    out_r, _, _ = compressor.process(out_r)
    return np.tanh(np.stack([out_l, out_r], axis=1))


def test_nalr_compressor_equals_cec2_recipe() -> None:
    # real speech, loud enough for the compressor to act (RMS above its 0.35 threshold after
    # NAL-R for the N4 ear), two listeners, one item shorter than the batch
    lengths = [int(0.9 * RATE), int(0.6 * RATE)]
    audio = torch.zeros(2, 2, lengths[0])
    for index, (left, right) in enumerate([("s01", "s02"), ("s03", "s04")]):
        audio[index, 0, : lengths[index]] = speech(left, 0.9)[: lengths[index]] * 6
        audio[index, 1, : lengths[index]] = speech(right, 0.9)[: lengths[index]] * 2
    listeners = ListenerBatch((standard_listener("N4"), standard_listener("S2")))
    processor = NalrCompressorProcessor()
    output = processor(audio, listeners, lengths=torch.tensor(lengths))
    worst = 0.0
    compressed = False
    for index, length in enumerate(lengths):
        signal = audio[index, :, :length].double().numpy().T
        listener = listeners.listeners[index]
        expected = recipe_cec2(signal, listener.left.to_clarity(), listener.right.to_clarity())
        assert expected.shape[0] == length + 220
        aligned = expected[110 : 110 + length].T
        worst = max(worst, float(np.abs(output[index, :, :length].numpy() - aligned).max()))
        compressed |= bool(np.abs(np.arctanh(np.clip(aligned, -0.999, 0.999))).max() > 0.35)
    assert worst < 1e-6, worst
    assert compressed  # the compressor's gain reduction was exercised
    assert not output[1, :, lengths[1] :].any()
