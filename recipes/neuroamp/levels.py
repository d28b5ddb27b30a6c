"""Output level of denoising systems against the target they were trained to reach: the mean,
over items, of each system's RMS level (dB, all channels) minus that of NAL-R + WDRC of the
clean speech (``--target``, an ``hltk amplify`` output folder of the clean ``reference``).
A denoiser trained on spectra alone came out 2-6 dB below it (the babble retraining's finding).

    python recipes/neuroamp/levels.py --target VALID/oracle VALID/valid-babble/nalr-wdrc \
        VALID/valid-babble/neuroamp-denoise-before ...

Markdown on stdout: system, N, mean and range of the difference in dB.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf


def level_db(path: Path) -> float:
    samples, _ = sf.read(path, dtype="float64", always_2d=True)
    return float(10.0 * np.log10(np.mean(samples**2) + 1e-30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("systems", type=Path, nargs="+", help="hltk output folders (audio/ID.wav)")
    parser.add_argument("--target", type=Path, required=True)
    args = parser.parse_args()
    ids = sorted(path.stem for path in (args.target / "audio").glob("*.wav"))
    print("| system | N | output minus target, mean dB | range |\n|---|---|---|---|")
    for folder in args.systems:
        common = [i for i in ids if (folder / "audio" / f"{i}.wav").is_file()]
        differences = np.array([level_db(folder / "audio" / f"{i}.wav")
                                - level_db(args.target / "audio" / f"{i}.wav") for i in common])
        print(f"| {folder.name} | {len(common)} | {differences.mean():+.2f} | "
              f"{differences.min():+.1f} .. {differences.max():+.1f} |")


if __name__ == "__main__":
    main()
