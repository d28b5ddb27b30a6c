"""The two exact routes to training remix gains on HAAQI, and the predictor's inference cost.

1. Route (a): one HAAQI ear through the torch path with autograd, forward and backward (the
   cost of one gradient of the exact score with respect to the processed signal, which a
   network update through the chain needs per ear and item).
2. Route (b): one HAAQI ear through the compiled path (no autograd) and one evaluation of
   :class:`hltk.remix.gain_search.ItemObjective` (both ears, the gains -> 32 kHz -> FLAC
   round trip -> 24 kHz -> HAAQI), after a warm-up call.
3. The gain predictor's inference per item against the chain after separation
   (:func:`hltk.remix.chain.remix_for_listener`) on the same item.

One song of a ``hltk synth music`` corpus (``--music``), cut to ``--seconds``; one thread.

    .venv/bin/python bench/remix_gains_speed.py --music DIR [--seconds 2.5]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--music", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=2.5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from hltk.metrics import indices
    from hltk.remix.chain import STEMS, remix_for_listener
    from hltk.remix.gain_predictor import load_predictor, predict_gains
    from hltk.remix.gain_search import ItemObjective
    from hltk.remix.leaky_oracle import leaky_stems
    from hltk.remix.processor import read_stem
    from hltk.synth.listeners import make_listeners

    row = next(csv.DictReader((args.music / "manifest.csv").open()))
    cut = int(args.seconds * 44100)
    true = {s: read_stem(str(args.music / row[s]))[:cut] for s in STEMS}
    mixture = read_stem(str(args.music / row["audio"]))[:cut]
    listener = make_listeners(11, 9)[5]
    requested = {s: 0.0 for s in STEMS}
    estimated = leaky_stems(true, 16.0, 1)
    objective = ItemObjective.build(estimated, true, mixture, requested, listener, 1)
    objective.score(requested)  # warm-up (numba kernels)
    results: dict[str, float] = {"seconds_of_audio": args.seconds}

    clock = time.perf_counter()
    objective.score({"vocals": 3.0, "drums": 0.0, "bass": 0.0, "other": 0.0})
    results["route_b_objective_both_ears_s"] = time.perf_counter() - clock

    reference = torch.from_numpy(objective.reference_24k[0].copy())
    processed = torch.from_numpy(objective.reference_24k[0][: reference.shape[0]].copy() * 0.9)
    common = dict(sample_rate=24000, audiograms=[(listener.left.levels, listener.left.frequencies)],
                  equalisation=2, level1=torch.tensor([objective.levels[0]], dtype=torch.float64),
                  seeds=[1])
    clock = time.perf_counter()
    with torch.no_grad():
        indices.haaqi([reference], [processed], **common)
    results["route_b_compiled_one_ear_s"] = time.perf_counter() - clock
    signal = processed.clone().requires_grad_(True)
    clock = time.perf_counter()
    value = indices.haaqi([reference], [signal], **common)
    middle = time.perf_counter()
    value.sum().backward()
    results["route_a_torch_forward_one_ear_s"] = middle - clock
    results["route_a_torch_backward_one_ear_s"] = time.perf_counter() - middle

    model, _ = load_predictor()
    predict_gains(model, [listener], [requested])
    clock = time.perf_counter()
    for _ in range(100):
        predict_gains(model, [listener], [requested])
    results["predictor_per_item_s"] = (time.perf_counter() - clock) / 100
    remix_for_listener(estimated, mixture, requested, listener)
    clock = time.perf_counter()
    remix_for_listener(estimated, mixture, requested, listener)
    results["chain_after_separation_per_item_s"] = time.perf_counter() - clock
    results["predictor_share_of_chain"] = (results["predictor_per_item_s"]
                                           / results["chain_after_separation_per_item_s"])
    print(json.dumps({k: round(v, 5) for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
