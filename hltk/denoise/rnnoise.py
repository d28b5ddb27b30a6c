"""RNNoise (Valin 2018, "A hybrid DSP/deep learning approach to real-time full-band speech
enhancement") through the ``pyrnnoise`` package: its shipped ``librnnoise`` with the built-in
pretrained model, called frame by frame through ``ctypes``.

RNNoise works at 48 kHz on frames of 480 samples (10 ms) of int16-scaled floats. Its output is
delayed by :data:`RNNOISE_DELAY` = 960 samples (20 ms, measured by cross-correlation with speech,
tests/test_denoise.py); :func:`rnnoise_denoise` pads the input, removes that delay and returns
the same length, time-aligned. Each call starts from a fresh state, so results do not depend on
what was processed before. ``pyrnnoise``'s own ``RNNoise`` class quantises to int16 and
resamples through ffmpeg (``audiolab``); we call the library directly on float frames and
resample with soxr.
"""

from __future__ import annotations

import ctypes

import numpy as np
import torch

from hltk.io.audio import resample

#: RNNoise's rate, frame length and output delay (samples at 48 kHz).
RNNOISE_RATE = 48000
RNNOISE_FRAME = 480
RNNOISE_DELAY = 960
#: int16 full scale: RNNoise is trained on int16-scaled samples.
INT16_SCALE = 32768.0


def _library() -> tuple[object, object]:
    from pyrnnoise import rnnoise

    return rnnoise.lib, rnnoise


def rnnoise_denoise_48k(signal: np.ndarray) -> np.ndarray:
    """Denoise one channel at 48 kHz: float ``(T,)`` in [-1, 1] -> ``(T,)``, delay removed."""
    lib, module = _library()
    length = signal.shape[0]
    total = -(-(length + RNNOISE_DELAY) // RNNOISE_FRAME) * RNNOISE_FRAME
    buffer = np.zeros(total, dtype=np.float32)
    buffer[:length] = signal * INT16_SCALE
    state = module.create()  # type: ignore[attr-defined]
    try:
        base = buffer.ctypes.data
        pointer = ctypes.POINTER(ctypes.c_float)
        process = lib.rnnoise_process_frame  # type: ignore[attr-defined]
        for start in range(0, total, RNNOISE_FRAME):
            frame = ctypes.cast(base + 4 * start, pointer)
            process(state, frame, frame)  # in place, as pyrnnoise does
    finally:
        module.destroy(state)  # type: ignore[attr-defined]
    return buffer[RNNOISE_DELAY : RNNOISE_DELAY + length].astype(np.float64) / INT16_SCALE


def rnnoise_denoise(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Denoise ``[channels, T]`` audio at ``sample_rate`` (resampled to 48 kHz and back with
    soxr): same shape, time-aligned."""
    length = audio.shape[-1]
    at_48k = resample(audio.detach().cpu().double(), sample_rate, RNNOISE_RATE)
    denoised = torch.stack(
        [torch.from_numpy(rnnoise_denoise_48k(channel.numpy())) for channel in at_48k]
    )
    back = resample(denoised, RNNOISE_RATE, sample_rate)
    if back.shape[-1] < length:
        back = torch.nn.functional.pad(back, (0, length - back.shape[-1]))
    return back[..., :length].to(device=audio.device, dtype=audio.dtype)
