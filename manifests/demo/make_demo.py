"""Rebuild the demo set: short espeak-ng sentences, a listeners.json and speech.csv.

Run from the repository root: ``.venv/bin/python manifests/demo/make_demo.py`` (needs
espeak-ng). The files are committed; this script documents how they were made.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from hltk.io.listeners import Listener, save_listeners, standard_audiograms

HERE = Path(__file__).parent
SENTENCES = [
    ("s01", "en", "The quick brown fox jumps over the lazy dog.", "L0001"),
    ("s02", "en+f3", "Please hand me the blue cup from the kitchen table.", "L0002"),
    ("s03", "en-us+m3", "Hearing aids make quiet voices easier to follow.", "L0003"),
    ("s04", "en+f2", "We walked along the river before the rain began.", "L0004"),
    ("s05", "en-gb-x-rp", "Seven small boats sailed past the harbour wall.", "L0005"),
    ("s06", "en+m7", "Turn left at the old church and keep going north.", "L0002"),
]
LISTENERS = {"L0001": "NH", "L0002": "N2", "L0003": "N4", "L0004": "S2", "L0005": "clarity-mild"}


def speak(text: str, voice: str) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
        samples, rate = sf.read(wav, dtype="float64")
    return samples, rate


def main() -> None:
    audiograms = standard_audiograms()
    save_listeners(
        [Listener(lid, audiograms[name], audiograms[name]) for lid, name in LISTENERS.items()],
        HERE / "listeners.json",
    )
    rows = []
    for index, (item_id, voice, text, listener) in enumerate(SENTENCES):
        samples, rate = speak(text, voice)
        samples = 0.05 * samples / np.sqrt(np.mean(samples**2))  # -26 dB FS RMS
        if index == 2:  # one stereo 44.1 kHz item (left, right)
            samples = soxr.resample(samples, rate, 44100)
            stereo = np.stack([samples, 0.7 * samples], axis=1)
            name = f"{item_id}.flac"
            sf.write(HERE / "audio" / name, stereo, 44100, subtype="PCM_16")
        elif index == 4:  # one 16-bit WAV at espeak's 22.05 kHz
            name = f"{item_id}.wav"
            sf.write(HERE / "audio" / name, samples, rate, subtype="PCM_16")
        else:
            name = f"{item_id}.flac"
            sf.write(HERE / "audio" / name, samples, rate, subtype="PCM_16")
        rows.append({"id": item_id, "audio": f"audio/{name}", "listener": listener, "text": text})
    with (HERE / "speech.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "audio", "listener", "text"])
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    (HERE / "audio").mkdir(exist_ok=True)
    main()
