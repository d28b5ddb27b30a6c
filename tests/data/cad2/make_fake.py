"""Make a fake CAD2 layout (both tasks) in the shape the recipes read, with short synthetic audio.

    python tests/data/cad2/make_fake.py OUT_DIR

writes ``OUT_DIR/task1/{metadata,audio}`` and ``OUT_DIR/task2/{metadata,audio}`` (the recipes'
``path.root`` each). Deterministic; nothing is downloaded. Shapes follow
``recipes/cad2/task{1,2}/baseline/{config.yaml,enhance.py,evaluate.py}`` of
claritychallenge/clarity (v0.6):

- task 2: ``scenes.valid.json`` {scene: {music, gain}}; ``music.valid.json`` {music:
  {source_N: {instrument, track, start, duration}, mixture: {...}}} (sources first, as the
  recipe's ``enumerate(..., 1)`` numbering of non-mixture entries needs); ``gains.json``
  {gain: {source_N: dB}}; one song with two stems, one with three (two violins);
- task 1: ``scene.valid.json`` {scene: {segment_id, alpha}}; ``alpha.json``; ``music.valid.json``
  {segment: {path, start_time, end_time, text, track_name}}; ``audio/<path>/{mixture, vocals,
  drums, bass, other}.flac``;
- both: ``scene_listeners.valid.json``, ``listeners.valid.json`` (Clarity format),
  ``compressor_params.valid.json`` {listener: {cr_l, cr_r, gain_l, gain_r}} (six bands).

Audio: 16-bit stereo FLAC at 44.1 kHz (the challenge's format), harmonic tones with a
tremolo per instrument, the mixture the sum of the stems.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 44100
TASK2_SECONDS = 1.0
TASK1_SECONDS = 1.6

LISTENERS = {
    "L5001": {"name": "L5001", "audiogram_cfs": [250, 500, 1000, 2000, 3000, 4000, 6000, 8000],
              "audiogram_levels_l": [20, 25, 30, 40, 45, 50, 60, 65],
              "audiogram_levels_r": [15, 20, 30, 35, 45, 55, 60, 70]},
    "L5002": {"name": "L5002", "audiogram_cfs": [250, 500, 1000, 2000, 3000, 4000, 6000, 8000],
              "audiogram_levels_l": [40, 40, 45, 50, 55, 60, 65, 70],
              "audiogram_levels_r": [35, 40, 45, 55, 60, 60, 70, 75]},
}
COMPRESSOR_PARAMS = {
    "L5001": {"cr_l": [1.2, 1.3, 1.5, 1.8, 2.0, 2.0], "cr_r": [1.1, 1.3, 1.5, 1.7, 2.1, 2.2],
              "gain_l": [2.0, 3.0, 5.0, 8.0, 10.0, 12.0], "gain_r": [1.5, 3.0, 5.0, 7.5, 11.0, 13.0]},
    "L5002": {"cr_l": [1.5, 1.6, 1.8, 2.0, 2.5, 2.8], "cr_r": [1.4, 1.6, 1.9, 2.2, 2.6, 3.0],
              "gain_l": [6.0, 7.0, 9.0, 12.0, 15.0, 18.0], "gain_r": [5.0, 7.0, 9.5, 13.0, 16.0, 19.0]},
}


def tone(seconds: float, fundamental: float, tremolo: float, level: float, pan: float,
         seed: int) -> np.ndarray:
    """``(time, 2)`` harmonic tone with a tremolo, panned, at ``level`` peak-ish amplitude."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    signal = sum(np.sin(2 * np.pi * fundamental * k * t + rng.uniform(0, 2 * np.pi)) / k
                 for k in range(1, 6))
    signal = signal * (0.6 + 0.4 * np.sin(2 * np.pi * tremolo * t)) * level / 2.3
    return np.stack([signal * (1 - pan), signal * (1 + pan)], axis=1)


def write(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(audio, -1, 1), RATE, subtype="PCM_16", format="FLAC")


def dump(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2), encoding="utf-8")


def task2(root: Path) -> None:
    songs = {
        "Fake Duo - Adagio": [("Violin_1", 440.0, 3.0, 0.30, -0.3), ("Cello_1", 130.8, 2.0, 0.35, 0.3)],
        "Fake Trio - Allegro": [("Violin_1", 523.3, 5.0, 0.25, -0.4), ("Violin_2", 392.0, 4.0, 0.25, 0.4),
                                ("Bassoon_1", 98.0, 1.5, 0.30, 0.0)],
    }
    music: dict[str, dict[str, dict[str, object]]] = {}
    for number, (song, instruments) in enumerate(songs.items()):
        entry: dict[str, dict[str, object]] = {}
        mixture = np.zeros((int(TASK2_SECONDS * RATE), 2))
        for index, (instrument, f0, tremolo, level, pan) in enumerate(instruments, 1):
            stem = tone(TASK2_SECONDS, f0, tremolo, level, pan, seed=10 * number + index)
            mixture += stem
            track = f"valid/{song}/{instrument}.flac"
            write(root / "audio" / track, stem)
            entry[f"source_{index}"] = {"instrument": instrument, "track": track,
                                        "start": 0.0, "duration": TASK2_SECONDS}
        write(root / "audio" / f"valid/{song}/mixture.flac", mixture)
        entry["mixture"] = {"instrument": "Mixture", "track": f"valid/{song}/mixture.flac",
                            "start": 0.0, "duration": TASK2_SECONDS}
        music[song] = entry
    metadata = root / "metadata"
    dump(metadata / "music.valid.json", music)
    dump(metadata / "gains.json", {
        "gain_2_0001": {"source_1": 6, "source_2": -3},
        "gain_3_0001": {"source_1": 0, "source_2": 3, "source_3": -6},
        "gain_3_0002": {"source_1": -6, "source_2": 6, "source_3": 0},
    })
    dump(metadata / "scenes.valid.json", {
        "S50001": {"music": "Fake Duo - Adagio", "gain": "gain_2_0001"},
        "S50002": {"music": "Fake Trio - Allegro", "gain": "gain_3_0001"},
        "S50003": {"music": "Fake Trio - Allegro", "gain": "gain_3_0002"},
    })
    dump(metadata / "scene_listeners.valid.json",
         {"S50001": ["L5001", "L5002"], "S50002": ["L5002"], "S50003": ["L5001"]})
    dump(metadata / "listeners.valid.json", LISTENERS)
    dump(metadata / "compressor_params.valid.json", COMPRESSOR_PARAMS)


def task1(root: Path) -> None:
    stems = {"vocals": (330.0, 6.0, 0.30, 0.0), "drums": (80.0, 8.0, 0.25, 0.1),
             "bass": (55.0, 1.0, 0.30, -0.1), "other": (262.0, 3.0, 0.20, 0.3)}
    music = {}
    for number, song in enumerate(["Fake Band - Song One", "Fake Band - Song Two"]):
        mixture = np.zeros((int(TASK1_SECONDS * RATE), 2))
        for index, (name, (f0, tremolo, level, pan)) in enumerate(stems.items()):
            stem = tone(TASK1_SECONDS, f0 * (1 + 0.1 * number), tremolo, level, pan,
                        seed=100 * number + index)
            mixture += stem
            write(root / "audio" / "valid" / song / f"{name}.flac", stem)
        write(root / "audio" / "valid" / song / "mixture.flac", mixture)
        music[f"{song}_seg{number}"] = {"path": f"valid/{song}", "start_time": round(0.2 + 0.1 * number, 3),
                                        "end_time": round(1.3 + 0.1 * number, 3), "text": "la la la love",
                                        "track_name": song}
    metadata = root / "metadata"
    dump(metadata / "music.valid.json", music)
    dump(metadata / "alpha.json", {"alpha_0": 0.0, "alpha_1": 0.5, "alpha_2": 1})
    dump(metadata / "scene.valid.json", {
        "S50001": {"segment_id": "Fake Band - Song One_seg0", "alpha": "alpha_1"},
        "S50002": {"segment_id": "Fake Band - Song Two_seg1", "alpha": "alpha_2"},
    })
    dump(metadata / "scene_listeners.valid.json", {"S50001": ["L5001"], "S50002": ["L5002", "L5001"]})
    dump(metadata / "listeners.valid.json", LISTENERS)
    dump(metadata / "compressor_params.valid.json", COMPRESSOR_PARAMS)


def make(out: str | Path) -> Path:
    """Both task layouts under ``out``; returns ``out``."""
    out = Path(out)
    task1(out / "task1")
    task2(out / "task2")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(make(sys.argv[1]))
