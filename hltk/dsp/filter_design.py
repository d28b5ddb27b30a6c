"""FIR design by frequency sampling, as MATLAB's ``fir2`` (the variant MSBG uses).

Port of the numeric logic of pyclarity's ``msbg_utils.fir2`` (itself a partial port of MATLAB
``fir2``): the desired gains are interpolated linearly onto a grid of ``npt + 1`` points
(``npt = 512``, or the next power of two for 1024 taps or more), given a linear phase of
``(n - 1) / 2`` samples, inverse-FFT'd, truncated to ``n`` taps and windowed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import get_window


def fir2(
    taps: int,
    frequencies: np.ndarray,
    gains: np.ndarray,
    window: np.ndarray | tuple[str, float] | str = "hamming",
) -> np.ndarray:
    """Frequency-sampling FIR design.

    Args:
        taps: filter length ``n`` (order ``n - 1``).
        frequencies: ascending, normalised to Nyquist; the first is taken as 0, the last as 1.
        gains: linear gains at ``frequencies``.
        window: the window values (``[taps]``) or a scipy window spec (symmetric).

    Returns:
        ``[taps]`` float64 coefficients.
    """
    frequencies = np.array(frequencies, dtype=np.float64)
    gains = np.asarray(gains, dtype=np.float64)
    frequencies[0], frequencies[-1] = 0.0, 1.0
    window_values = (
        window if isinstance(window, np.ndarray) else get_window(window, taps, fftbins=False)
    )
    grid_points = 2 ** math.ceil(math.log2(taps)) if taps >= 1024 else 512
    edge_width = int(grid_points / 25)
    response = np.zeros(grid_points + 1)
    response[0] = gains[0]
    start = 0
    for i in range(len(frequencies) - 1):
        if frequencies[i + 1] == frequencies[i]:  # a jump: spread over the edge width
            start = int(math.ceil(start - edge_width / 2))
            stop = start + edge_width - 1
        else:
            stop = int(frequencies[i + 1] * (grid_points + 1)) - 1
        points = np.arange(start, stop + 1)
        fraction = 0.0 if start == stop else (points - start) / (stop - start)
        response[start : stop + 1] = fraction * gains[i + 1] + (1 - fraction) * gains[i]
        start = stop + 1
    delay = 0.5 * (taps - 1)
    phase = np.exp(-1j * math.pi * delay * np.arange(grid_points + 1) / grid_points)
    response = response * phase
    spectrum = np.concatenate([response, response[grid_points - 1 : 0 : -1].conj()])
    impulse = np.real(np.fft.ifft(spectrum))
    return np.asarray(impulse[:taps] * window_values)
