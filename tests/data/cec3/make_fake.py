"""Make a fake CEC3 data root (the layout ``recipes/cec3/baseline/config.yaml`` reads) in a folder.

    python tests/data/cec3/make_fake.py OUT_DIR

The layout, as the recipe's ``path.*`` settings name it (``ROOT`` is ``path.root``)::

    ROOT/task{N}/clarity_data/metadata/scenes_listeners.{split}.json  {scene: [listener, ...]}
    ROOT/task{N}/clarity_data/metadata/listeners.json                 Clarity listeners
    ROOT/task{N}/clarity_data/metadata/scenes.{split}.json            [{scene, SNR, ...}, ...]
    ROOT/task{N}/clarity_data/{split}/scenes/{scene}_mix_CH{1,2,3}.wav  16-bit stereo
    ROOT/task{N}/clarity_data/{split}/scenes/{scene}_reference.wav      16-bit (dev only)

What is made: task 1 dev (44.1 kHz, three scenes, four scene-listener pairs, stereo references,
SNRs in three of report_score.py's bins), task 2 dev (48 kHz, one scene, a mono reference) and
task 1 eval (two scenes, mixtures only: no references and no scenes.eval.json, as the
evaluation data is released). Each scene: 0.6 s of real speech (the demo set) at the scene's
SNR against noise, a slightly different version at each microphone pair (CH1 front, CH2
middle, CH3 back), the reference the clean speech at CH1. Deterministic (fixed seeds).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DEMO = Path(__file__).resolve().parents[3] / "manifests" / "demo" / "audio"
SECONDS = 0.6
LISTENERS = {
    "L0001": ([250, 500, 1000, 2000, 3000, 4000, 6000, 8000],
              [20, 25, 30, 40, 50, 55, 60, 65], [15, 20, 30, 45, 55, 60, 65, 70]),
    "L0002": ([250, 500, 1000, 2000, 3000, 4000, 6000, 8000],
              [40, 45, 50, 55, 60, 65, 70, 75], [35, 40, 50, 55, 60, 70, 75, 80]),
    "L0003": ([250, 500, 1000, 2000, 4000, 6000],
              [10, 10, 15, 25, 35, 40], [10, 15, 15, 30, 40, 45]),
}
#: (task, split, rate, {scene: (speech item, SNR dB, listeners)}, stereo reference)
SETS = (
    ("task1", "dev", 44100, {"S06001": ("s01", -10.2, ["L0001"]),
                             "S06002": ("s02", -1.5, ["L0002", "L0003"]),
                             "S06003": ("s03", 4.0, ["L0003"])}, True),
    ("task2", "dev", 48000, {"S10001": ("s04", 1.2, ["L0002"])}, False),
    ("task1", "eval", 44100, {"S09001": ("s05", 0.0, ["L0001"]),
                              "S09002": ("s06", 2.0, ["L0002"])}, True),
)


def _speech(item: str, rate: int) -> np.ndarray:
    samples, source_rate = sf.read(next(DEMO.glob(f"{item}.*")), dtype="float64")
    if samples.ndim == 2:
        samples = samples[:, 0]
    samples = np.asarray(soxr.resample(samples, source_rate, rate))
    start = int(0.25 * rate)
    return samples[start: start + int(SECONDS * rate)]


def _write16(path: Path, samples: np.ndarray, rate: int) -> None:
    sf.write(path, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16")


def make_fake(root: str | Path) -> Path:
    """Write the fake CEC3 root under ``root``; returns it."""
    root = Path(root)
    for number, (task, split, rate, scenes, stereo_reference) in enumerate(SETS):
        data = root / task / "clarity_data"
        metadata, folder = data / "metadata", data / split / "scenes"
        metadata.mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(27 + number)
        for scene, (item, snr, _) in scenes.items():
            clean = 0.05 * _speech(item, rate) / np.sqrt(np.mean(_speech(item, rate) ** 2))
            target = np.stack([clean, 0.8 * np.roll(clean, 3)], axis=1)  # (T, 2), right ear later
            noise = rng.standard_normal(target.shape)
            noise *= np.sqrt(np.mean(target**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
            for channel in (1, 2, 3):
                delayed = np.roll(target, channel - 1, axis=0) * (1.0 - 0.05 * (channel - 1))
                wobble = 0.02 * rng.standard_normal(target.shape) * np.sqrt(np.mean(noise**2))
                _write16(folder / f"{scene}_mix_CH{channel}.wav", delayed + noise + wobble, rate)
            if split == "dev":
                reference = target if stereo_reference else target[:, 0]
                _write16(folder / f"{scene}_reference.wav", reference, rate)
        pairs = {scene: listeners for scene, (_, _, listeners) in scenes.items()}
        (metadata / f"scenes_listeners.{split}.json").write_text(json.dumps(pairs, indent=2))
        if split == "dev":
            described = [{"dataset": split, "room": f"R{20001 + i}", "scene": scene, "SNR": snr,
                          "duration": int(SECONDS * rate)}
                         for i, (scene, (_, snr, _)) in enumerate(scenes.items())]
            (metadata / f"scenes.{split}.json").write_text(json.dumps(described, indent=2))
        listeners = {name: {"name": name, "audiogram_cfs": cfs, "audiogram_levels_l": left,
                            "audiogram_levels_r": right}
                     for name, (cfs, left, right) in LISTENERS.items()}
        (metadata / "listeners.json").write_text(json.dumps(listeners, indent=2))
    return root


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_fake.py OUT_DIR")
    print(make_fake(sys.argv[1]))
