"""Compare hltk's CAD2 remixes and scores with the pyclarity recipe's own functions.

    python tests/data/cad2/compare_recipe.py CLARITY_CHECKOUT FAKE_ROOT HLTK_RUNS

``CLARITY_CHECKOUT``: a claritychallenge/clarity tree at v0.6.x (holding ``recipes/cad2``);
``FAKE_ROOT``: ``make_fake.py``'s output; ``HLTK_RUNS``: a folder with ``t2`` and ``t1``, the
``hltk remix --chain cad2-task2`` / ``cad2-task1`` outputs of the fake manifests, and
``e2`` / ``e1``, their ``hltk evaluate --preset cad2-task2`` / ``cad2-task1`` folders.

Not a test (it needs the recipe checkout, which the test suite does not have): it prints, per
pair, the largest sample difference between hltk's FLAC and the recipe's enhance steps run on
the true stems (``apply_gains``, ``remix_stems``, ``adjust_level`` imported from
``recipes/cad2/task2/baseline/evaluate.py``; ``process_remix_for_listener`` from
``enhance.py``; pyclarity's ``save_flac_signal``), and hltk's HAAQI against the recipe's
(``compute_quality`` / ``load_reference_signal`` of task 1's ``evaluate.py``, imported with
``whisper`` and ``alt_eval`` stubbed). Task 2's ``run_calculate_aq`` can be run as is on
hltk's outputs (see the module's report in the CAD2 README section).
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pyloudnorm as pyln


def _stub(name: str, **attributes: object) -> None:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    sys.modules[name] = module


def main(checkout: Path, fake: Path, runs: Path) -> None:
    sys.path.insert(0, str(checkout))
    # enhance.py imports torchaudio's Fade (for its separator) and the ConvTasNet; neither runs here
    _stub("torchaudio")
    _stub("torchaudio.transforms", Fade=object)
    _stub("recipes.cad2.task2.ConvTasNet.local.tasnet", ConvTasNetStereo=object)
    _stub("recipes.cad2.task1.ConvTasNet.local.tasnet", ConvTasNetStereo=object)
    _stub("whisper")
    _stub("alt_eval", compute_metrics=None)
    from clarity.enhancer.multiband_compressor import MultibandCompressor
    from clarity.utils.audiogram import Listener
    from clarity.utils.flac_encoder import read_flac_signal, save_flac_signal
    from recipes.cad2.task1.baseline import enhance as enhance1
    from recipes.cad2.task1.baseline import evaluate as evaluate1
    from recipes.cad2.task2.baseline import enhance as enhance2
    from recipes.cad2.task2.baseline import evaluate as evaluate2

    config = {"crossover_frequencies": [353.55, 707.11, 1414.21, 2828.43, 5656.85],
              "attack": [11, 11, 14, 13, 11, 11], "release": [80, 80, 80, 80, 100, 100],
              "threshold": [-30, -30, -30, -30, -30, -30]}

    def mbc_params(params: dict, listener_id: str) -> dict:
        out: dict[str, dict] = {}
        for ear, side in (("left", "l"), ("right", "r")):
            out[ear] = {"release": config["release"], "attack": config["attack"],
                        "threshold": config["threshold"], "ratio": params[listener_id][f"cr_{side}"],
                        "makeup_gain": params[listener_id][f"gain_{side}"]}
        return out

    scratch = Path(tempfile.mkdtemp())
    # ---------------------------------------------------------------- task 2
    root = fake / "task2" / "metadata"
    scenes = json.loads((root / "scenes.valid.json").read_text())
    songs = json.loads((root / "music.valid.json").read_text())
    gains = json.loads((root / "gains.json").read_text())
    params = json.loads((root / "compressor_params.valid.json").read_text())
    pairs = evaluate2.make_scene_listener_list(json.loads((root / "scene_listeners.valid.json").read_text()))
    enhancer = MultibandCompressor(crossover_frequencies=config["crossover_frequencies"], sample_rate=44100)
    print("task 2: pair, max |hltk - recipe| (16-bit samples), hltk FLAC")
    for scene_id, listener_id in pairs:
        scene = scenes[scene_id]
        stems = evaluate2.load_reference_stems(fake / "task2" / "audio", songs[scene["music"]])
        stems = evaluate2.apply_gains(stems, 44100, gains[scene["gain"]])
        signal = evaluate2.adjust_level(evaluate2.remix_stems(stems), gains[scene["gain"]])
        signal = enhance2.process_remix_for_listener(signal, enhancer, mbc_params(params, listener_id), None)
        target = scratch / f"{scene_id}_{listener_id}_remix.flac"
        save_flac_signal(signal, target, 44100, 32000, do_clip_signal=True, do_soft_clip=False)
        recipe, _ = read_flac_signal(target)
        ours, _ = read_flac_signal(runs / "t2" / "audio" / target.name)
        print(f"  {scene_id}_{listener_id}: {np.max(np.abs(recipe - ours)) * 32768:.0f}  {target.name}")
    # ---------------------------------------------------------------- task 1
    root = fake / "task1" / "metadata"
    scenes = json.loads((root / "scene.valid.json").read_text())
    songs = json.loads((root / "music.valid.json").read_text())
    alphas = json.loads((root / "alpha.json").read_text())
    params = json.loads((root / "compressor_params.valid.json").read_text())
    listeners = Listener.load_listener_dict(root / "listeners.valid.json")
    pairs = evaluate1.make_scene_listener_list(json.loads((root / "scene_listeners.valid.json").read_text()))
    ours_scores = {row["id"]: row for row in csv.DictReader((runs / "e1" / "scores.csv").open())}
    print("task 1: pair, max |hltk - recipe| (16-bit samples), HAAQI left/right hltk vs recipe")
    for scene_id, listener_id in pairs:
        scene, segment = scenes[scene_id], songs[scenes[scene_id]["segment_id"]]
        alpha = alphas[scene["alpha"]]
        folder = fake / "task1" / "audio" / segment["path"]
        start, end = int(segment["start_time"] * 44100), int(segment["end_time"] * 44100)
        mixture, _ = read_flac_signal(folder / "mixture.flac")
        mixture = mixture[start:end]
        # enhance.py normalises the segment to -40 LUFS (normalise_luft) and separates it; the
        # true stems stand for a perfect separation of that normalised segment
        loudness_scale = 10 ** ((-40 - pyln.Meter(44100).integrated_loudness(mixture)) / 20)
        vocals = read_flac_signal(folder / "vocals.flac")[0][start:end] * loudness_scale
        accompaniment = sum(read_flac_signal(folder / f"{n}.flac")[0][start:end]
                            for n in ("bass", "drums", "other")) * loudness_scale
        mixed = enhance1.downmix_signal(vocals.T, accompaniment.T, beta=alpha)
        ears = []
        for side, ear in enumerate(("left", "right")):
            enhancer.set_compressors(**mbc_params(params, listener_id)[ear])
            ears.append(enhancer(signal=mixed[side, :])[0])
        name = f"{scene_id}_{listener_id}_A{alpha}_remix.flac"
        save_flac_signal(np.stack(ears, axis=1), scratch / name, 44100, 44100, do_clip_signal=True)
        recipe, _ = read_flac_signal(scratch / name)
        ours, _ = read_flac_signal(runs / "t1" / "audio" / name)
        reference = evaluate1.load_reference_signal(folder, start, end)
        compressed = []
        for side, ear in enumerate(("left", "right")):
            enhancer.set_compressors(**mbc_params(params, listener_id)[ear])
            compressed.append(enhancer(signal=reference[:, side])[0])
        evaluate1.set_song_seed(scene_id)
        scores = evaluate1.compute_quality(np.stack(compressed, axis=1), ours, listeners[listener_id],
                                           44100, 44100, 24000)
        row = ours_scores[f"{scene_id}_{listener_id}"]
        print(f"  {scene_id}_{listener_id}: {np.max(np.abs(recipe - ours)) * 32768:.0f}  "
              f"{float(row['haaqi_left']):.10f}/{float(row['haaqi_right']):.10f} vs "
              f"{scores[0]:.10f}/{scores[1]:.10f}  {name}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
