"""Write the tiny fake CPC2 / CPC3 / CLIP metadata layouts beside this script.

    python tests/data/cpc/make_fake.py

Names, prompts and values are invented; the field names and file names are those the recipes
read (claritychallenge/clarity ``recipes/cpc2/baseline``, ``recipes/cpc3/baseline``,
``recipes/cad_icassp_2026/baseline``). No audio is stored: tests write short synthetic signals
where each layout keeps them (``tests/test_predict.py``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def _cpc2() -> None:
    metadata = HERE / "cpc2" / "clarity_data" / "metadata"
    listeners = {}
    for number, levels in ((1, [10, 15, 20, 30, 40, 50]), (2, [20, 25, 35, 45, 55, 60]),
                           (3, [5, 10, 15, 25, 35, 45])):
        name = f"L000{number}"
        listeners[name] = {"name": name, "audiogram_cfs": [250, 500, 1000, 2000, 4000, 8000],
                           "audiogram_levels_l": levels, "audiogram_levels_r": levels[::-1]}
    _write(metadata / "listeners.json", listeners)
    correctness = iter([80.0, 20.0, 60.0, 100.0, 0.0, 40.0, 75.0, 50.0])
    for cec, scenes, systems in (("CEC1", ("S0101", "S0102"), ("E001",)),
                                 ("CEC2", ("S0201", "S0202"), ("E010", "E011_hr"))):
        records = []
        for scene, listener in zip(scenes, ("L0001", "L0002"), strict=True):
            for system in systems:
                records.append({
                    "prompt": "the fake words were here", "scene": scene, "n_words": 5,
                    "hits": 4, "listener": listener, "system": system,
                    "correctness": next(correctness, 50.0), "response": "the fake words were",
                    "volume": 50, "signal": f"{scene}_{listener}_{system}"})
        _write(metadata / f"{cec}.train.1.json", records)
        # an evaluation partition: no correctness, an unseen listener
        _write(metadata / f"{cec}.test.1.json",
               [{"scene": scenes[0], "listener": "L0003", "system": systems[0],
                 "signal": f"{scenes[0]}_L0003_{systems[0]}"}])


def _cpc3() -> None:
    metadata = HERE / "cpc3" / "clarity_data" / "metadata"
    metadata.mkdir(parents=True, exist_ok=True)
    with (metadata / "listeners.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["listener_id", "severity"])
        writer.writerows([["L0201", "Mild"], ["L0202", "Moderate"], ["L0203", "Moderately severe"]])
    train = []
    values = iter([90.0, 10.0, 55.0, 35.0, 70.0, 0.0])
    for cec, system, scene in (("CEC1", "E001", "S00101"), ("CEC2", "E032", "S09318")):
        for listener in ("L0201", "L0202", "L0203"):
            train.append({"signal": f"{cec}_{system}_{scene}_{listener}",
                          "prompt": "a fake prompt", "response": "a fake", "n_words": 3,
                          "hits": 2, "correctness": next(values)})
    _write(metadata / "CPC3.train.json", train)
    _write(metadata / "CPC3.dev.json", [
        {"signal": "fb65e85e504ae136db0184d4", "prompt": "a fake prompt", "n_words": 3,
         "hearing_loss": "Mild"},
        {"signal": "b8149d18b271cbd671bb0e8b", "prompt": "another fake", "n_words": 2,
         "hearing_loss": "Moderately severe"}])


def _clip() -> None:
    metadata = HERE / "clip" / "cadenza_data" / "metadata"
    _write(metadata / "train_metadata.json", [
        {"signal": "c221f2084c780e8f212f4697", "fma": "000123", "original_prompt": "Hello, world",
         "prompt": "hello world", "n_words": 2, "hearing_loss": "No Loss", "correctness": 1.0},
        {"signal": "63de05fbfcab2d7748b83cb3", "fma": "000124", "original_prompt": "Fake, song",
         "prompt": "fake song now", "n_words": 3, "hearing_loss": "Mild", "correctness": 0.333333},
        {"signal": "795996ed006725199e5efc0b", "fma": "000125", "original_prompt": "No words",
         "prompt": "no words", "n_words": 2, "hearing_loss": "Moderate", "correctness": 0.0}])
    _write(metadata / "valid_metadata.json", [
        {"signal": "5ab5a95be3c18dc173fdc18e", "fma": "000200", "original_prompt": "Valid one",
         "prompt": "valid one", "n_words": 2, "hearing_loss": "Mild"}])


if __name__ == "__main__":
    _cpc2()
    _cpc3()
    _clip()
