"""The fitting figure: prescribed insertion gain by frequency for one listener.

For each ear, the NAL-R gain (the magnitude response of the FIR that ``amplify --backend nalr``
applies; linear, so one curve) and the NAL-R + WDRC static gain for steady speech-shaped input
(LTASS, Byrne et al. 1994) at 50, 65 and 80 dB SPL (``amplify --backend nalr-wdrc``; soft speech
gets more gain than loud speech). Drawn with matplotlib's Agg backend to a PNG file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hltk.amplify.nalr import nalr_fir, nfir_for_rate, prescription_audiogram
from hltk.amplify.wdrc import NalrWdrcProcessor, WdrcSettings
from hltk.io.listeners import EARS, Listener, ListenerBatch

DEFAULT_INPUT_LEVELS: tuple[float, ...] = (50.0, 65.0, 80.0)


def prescribed_gains(
    listener: Listener,
    input_levels_db_spl: Sequence[float] = DEFAULT_INPUT_LEVELS,
    sample_rate: int = 44100,
    settings: WdrcSettings | None = None,
    frequencies: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Gains (dB) by frequency for both ears: ``{"frequencies": [K], "nalr": {ear: [K]},
    "nalr-wdrc": {ear: {level: [K]}}}`` (default frequencies 125 Hz to 10 kHz, log-spaced)."""
    points = (
        np.geomspace(125.0, min(10000.0, 0.45 * sample_rate), 200)
        if frequencies is None
        else np.asarray(frequencies, dtype=np.float64)
    )
    nfir = nfir_for_rate(sample_rate)
    nalr: dict[str, np.ndarray] = {}
    for ear in EARS:
        audiogram, _ = prescription_audiogram(listener.ear(ear))
        fir = nalr_fir(audiogram, nfir, sample_rate)
        response = np.exp(-2j * np.pi * np.outer(points, np.arange(len(fir))) / sample_rate) @ fir
        nalr[ear] = 20 * np.log10(np.maximum(np.abs(response), 1e-12))
    processor = NalrWdrcProcessor(sample_rate=sample_rate, settings=settings or WdrcSettings())
    batch = ListenerBatch((listener,), EARS)
    wdrc: dict[str, dict[float, np.ndarray]] = {ear: {} for ear in EARS}
    for level in input_levels_db_spl:
        _, gains = processor.speech_gain_db(batch, float(level), points)
        for channel, ear in enumerate(EARS):
            wdrc[ear][float(level)] = gains[0, channel]
    return {"frequencies": points, "nalr": nalr, "nalr-wdrc": wdrc}


def plot_prescribed_gains(
    listener: Listener,
    path: str | Path,
    input_levels_db_spl: Sequence[float] = DEFAULT_INPUT_LEVELS,
    sample_rate: int = 44100,
    settings: WdrcSettings | None = None,
) -> Path:
    """Write the fitting figure of ``listener`` (two panels, left and right ear) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hltk.io.audio import atomic_path

    gains = prescribed_gains(listener, input_levels_db_spl, sample_rate, settings)
    frequencies = np.asarray(gains["frequencies"])
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.8, len(input_levels_db_spl)))
    for axis, ear in zip(axes, EARS, strict=True):
        audiogram = listener.ear(ear)
        axis.semilogx(frequencies, gains["nalr"][ear], "k--", lw=2, label="NAL-R (linear)")
        for colour, level in zip(colours, input_levels_db_spl, strict=True):
            axis.semilogx(
                frequencies,
                gains["nalr-wdrc"][ear][float(level)],
                color=colour,
                label=f"NAL-R+WDRC, {level:g} dB SPL speech",
            )
        axis.set_title(
            f"{listener.id}, {ear} ear (HL "
            + " ".join(f"{v:g}" for v in audiogram.levels)
            + " dB)",
            fontsize=9,
        )
        axis.set_xlabel("frequency (Hz)")
        axis.grid(True, which="both", alpha=0.3)
        axis.set_xticks([125, 250, 500, 1000, 2000, 4000, 8000])
        axis.set_xticklabels(["125", "250", "500", "1k", "2k", "4k", "8k"])
    axes[0].set_ylabel("insertion gain (dB)")
    axes[0].legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
    return path
