"""Figures of the DRNL auditory model (hltk.auditory): I/O functions and tuning.

    .venv/bin/python recipes/cnrhlc/auditory_figures.py [-o docs/figures]

Writes ``auditory_io.png`` (DRNL output level vs input level for a tone at CF, at four
channels, normal hearing and with each channel's largest OHC loss) and ``auditory_tuning.png``
(iso-level response of the ~1 kHz and ~4 kHz channels to tones of 20-100 dB SPL). The output is
the steady-state RMS of the summed DRNL paths (before the IHC), in dB re 1 m/s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hltk.auditory import CENTRE_FREQUENCIES, AuditoryModel, HearingLoss  # noqa: E402

FS = 16000


def tones(hz: np.ndarray, levels_db: np.ndarray, seconds: float = 0.15) -> torch.Tensor:
    t = np.arange(int(seconds * FS)) / FS
    signal = np.sqrt(2) * np.sin(2 * np.pi * hz[:, None] * t) * 10 ** ((levels_db[:, None] - 100) / 20)
    return torch.from_numpy(signal)


def level_db(model: AuditoryModel, audio: torch.Tensor, channel: int,
             loss: HearingLoss | None = None) -> np.ndarray:
    with torch.no_grad():
        out = model.basilar_membrane(audio, loss)[:, channel, audio.shape[-1] // 3 :]
    return 20 * np.log10(out.pow(2).mean(-1).sqrt().numpy())


def channel_near(hz: float) -> int:
    return int(np.argmin(np.abs(np.log(np.asarray(CENTRE_FREQUENCIES) / hz))))


def io_figure(model: AuditoryModel, path: Path) -> None:
    levels = np.arange(0.0, 121.0, 5.0)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for hz, colour in zip((500, 1000, 2000, 4000), ("C0", "C1", "C2", "C3"), strict=True):
        channel = channel_near(hz)
        cf = CENTRE_FREQUENCIES[channel]
        audio = tones(np.full(len(levels), cf), levels)
        cap = model.max_ohc_db().to(torch.float64)
        ohc = cap[None].expand(len(levels), -1).clone()
        impaired = HearingLoss(ohc, torch.zeros_like(ohc))
        ax.plot(levels, level_db(model, audio, channel), color=colour, label=f"CF {cf:.0f} Hz")
        ax.plot(levels, level_db(model, audio, channel, impaired), color=colour, ls="--",
                label=f"  OHC loss {cap[channel]:.0f} dB")
    ref = level_db(model, tones(np.array([CENTRE_FREQUENCIES[channel_near(1000)]]), np.array([60.0])),
                   channel_near(1000))[0]
    ax.plot([30, 90], [ref - 7.5, ref + 7.5], color="k", lw=0.8, ls=":", label="0.25 dB/dB")
    ax.set(xlabel="input level (dB SPL, tone at CF)", ylabel="DRNL output (dB re 1 m/s)",
           title="DRNL input/output functions (solid: NH, dashed: max OHC loss)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tuning_figure(model: AuditoryModel, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), sharey=False)
    for ax, hz in zip(axes, (1000, 4000), strict=True):
        channel = channel_near(hz)
        cf = CENTRE_FREQUENCIES[channel]
        freqs = cf * 2 ** np.linspace(-1.5, 0.7, 89)
        for level in (20.0, 40.0, 60.0, 80.0, 100.0):
            out = level_db(model, tones(freqs, np.full(len(freqs), level)), channel)
            ax.plot(freqs, out - out.max(), label=f"{level:.0f} dB SPL")
        ax.set_xscale("log")
        ax.set(xlabel="tone frequency (Hz)", ylabel="output re its maximum (dB)", ylim=(-40, 2),
               title=f"channel CF {cf:.0f} Hz")
        ax.axvline(cf, color="k", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("DRNL iso-level tuning: broader and lower best frequency at high levels", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    model = AuditoryModel(sample_rate=FS).double()
    io_figure(model, args.out / "auditory_io.png")
    tuning_figure(model, args.out / "auditory_tuning.png")
    print(args.out / "auditory_io.png", args.out / "auditory_tuning.png")


if __name__ == "__main__":
    main()
