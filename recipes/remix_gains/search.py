"""Per-item optimal gains (exact HAAQI, compass search) for the training, validation and
held-out items of the remix-gains recipe; cached in OUT/optima.jsonl (resumable).

    .venv/bin/python recipes/remix_gains/search.py CORPUS OUT

Training and validation items behind the leaky oracle at the default leak; the held-out test
items (test songs x held-out listeners, every severity) behind the leaky oracle at two leaks
and behind the oracle: their optimum is the upper bound of the comparison."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from hltk.pipelines.train_remix_gains import (
    HELD_OUT_LISTENER_SEED,
    TRAIN_LISTENER_SEED,
    held_out_items,
    load_songs,
    make_items,
    optimise_items,
)
from hltk.remix.leaky_oracle import DEFAULT_LEAK_DB

WORSE_LEAK_DB = 10.0
TEST_LISTENERS_PER_SONG = 3
#: what one CPU thread affords in this session (see docs/remix-gains.md)
TRAIN_ITEMS, VALID_ITEMS, EVALUATIONS, TEST_EVALUATIONS = 48, 7, 16, 20
CONDITIONS = (("leaky-oracle", DEFAULT_LEAK_DB), ("leaky-oracle", WORSE_LEAK_DB), ("oracle", 0.0))


def main(corpus: str, out: str) -> None:
    torch.set_num_threads(1)
    cache = Path(out) / "optima.jsonl"
    stages = [
        ("train", make_items(load_songs(corpus, "train"), 1, TRAIN_LISTENER_SEED, seed=0)[:TRAIN_ITEMS],
         CONDITIONS[:1]),
        ("valid", make_items(load_songs(corpus, "valid"), 1, HELD_OUT_LISTENER_SEED, seed=1)[:VALID_ITEMS],
         CONDITIONS[:1]),
        ("test", held_out_items(load_songs(corpus, "test"), TEST_LISTENERS_PER_SONG), CONDITIONS),
    ]
    for name, items, conditions in stages:
        for separator, leak in conditions:
            label = f"{name} {separator}@{leak:g}"
            clock = time.perf_counter()

            def report(done: int, total: int, label: str = label, clock: float = clock) -> None:
                print(f"{label}: {done}/{total} {time.perf_counter() - clock:.0f}s", flush=True)

            optimise_items(items, separator, leak, cache,
                           max_evaluations=TEST_EVALUATIONS if name == "test" else EVALUATIONS,
                           progress=report)


if __name__ == "__main__":
    main(*sys.argv[1:3])
