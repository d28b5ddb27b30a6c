"""``hltk train remix-gains``: the personalised gain predictor trained on exact HAAQI.

The objective is the HAAQI of the evaluate preset ``cadenza-icassp2024`` (per ear, mean of
the ears), computed exactly by :class:`hltk.remix.gain_search.ItemObjective` (no learned
proxy). Route, chosen by measurement (``docs/remix-gains.md``): back-propagating through the
torch HAAQI costs 9-12 s per ear and step for a 2-2.5 s excerpt on one CPU thread, while the
compiled HAAQI scores one ear in 0.23-0.36 s (``bench/remix_gains_speed.py``); so each
training item's four gains are first optimised directly
(:func:`hltk.remix.gain_search.search_gains`, a compass search on the exact score, some 20
evaluations), and the network is then fitted to those per-item optimal
gains by regression (MSE on the centred offsets from the requested gains, dB) with the shared
loop (:func:`hltk.train.loop.train`: resumable, checkpoint + ``.resume``). Validation, every
epoch: the regression loss and the exact HAAQI of the predicted gains on held-out items (both
ears: the paper's Figure 2).

Items: ``hltk synth music`` songs (a corpus folder: manifest.csv with stems, gains.json) x
jittered Bisgaard listeners (:func:`hltk.synth.listeners.make_listeners`, all eleven
profiles). An item's id is ``{song}_{listener}``; its separator seed is the runner's
``item_seed(seed, id)`` (what ``hltk remix --separator leaky-oracle --seed SEED`` draws) and
its HAAQI seed ``md5(id)`` (what ``hltk evaluate --preset cadenza-icassp2024`` uses on the
remix's output manifest). The searched optima are cached in ``OUT/optima.jsonl`` (one line
per item and separator, appended as they finish: an interrupted run resumes).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hltk.io.listeners import Listener
from hltk.remix.chain import STEMS
from hltk.remix.gain_predictor import (
    BOUND_DB,
    MODEL_KIND,
    GainPredictor,
    audiogram_image,
    requested_vector,
)
from hltk.remix.gain_search import ItemObjective, SearchResult, search_gains
from hltk.remix.leaky_oracle import DEFAULT_LEAK_DB, leaky_stems
from hltk.remix.processor import read_stem
from hltk.remix.scoring import song_seed
from hltk.runner.settings import item_seed
from hltk.synth.listeners import listener_profile, make_listeners
from hltk.train.loop import TrainResult, TrainSettings, train

#: listener pools: training and held-out listeners are drawn with different seeds
TRAIN_LISTENER_SEED, HELD_OUT_LISTENER_SEED = 101, 202
SEPARATORS: tuple[str, ...] = ("leaky-oracle", "oracle")


@dataclass(frozen=True)
class Song:
    id: str
    folder: Path
    row: dict[str, str]
    requested: dict[str, float]


@dataclass(frozen=True)
class Item:
    """One (song, listener) pair."""

    song: Song
    listener: Listener
    profile: str

    @property
    def id(self) -> str:
        return f"{self.song.id}_{self.listener.id}"


def load_songs(corpus: str | Path, split: str) -> list[Song]:
    """The songs of one split of a ``hltk synth music`` corpus, with their requested gains."""
    folder = Path(corpus)
    gains = json.loads((folder / "gains.json").read_text(encoding="utf-8"))
    with (folder / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("split") == split]
    return [Song(row["id"], folder, row, {k: float(v) for k, v in gains[row["gain"]].items()})
            for row in rows]


def make_items(songs: Sequence[Song], listeners_per_song: int, listener_seed: int,
               pool: int = 44, seed: int = 0) -> list[Item]:
    """Each song with ``listeners_per_song`` listeners of a pool of jittered Bisgaard
    listeners (every profile in turn); which ones is drawn from ``seed``."""
    listeners = make_listeners(pool, listener_seed)
    rng = np.random.default_rng(seed)
    items = []
    for song in songs:
        for index in rng.choice(pool, size=listeners_per_song, replace=False):
            items.append(Item(song, listeners[int(index)], listener_profile(int(index))))
    return items


def held_out_items(songs: Sequence[Song], listeners_per_song: int,
                   listener_seed: int = HELD_OUT_LISTENER_SEED) -> list[Item]:
    """Song ``k`` with listeners ``k * n .. k * n + n - 1`` of a fresh pool: the profiles go
    round in turn, so every severity is present once there are eleven items or more."""
    listeners = make_listeners(len(songs) * listeners_per_song, listener_seed)
    return [Item(song, listeners[k * listeners_per_song + j],
                 listener_profile(k * listeners_per_song + j))
            for k, song in enumerate(songs) for j in range(listeners_per_song)]


def separate(item: Item, separator: str, leak_db: float, seed: int
             ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """(estimated stems, true stems, mixture) of an item, ``(time, 2)`` float64 at 44.1 kHz."""
    folder, row = item.song.folder, item.song.row
    mixture = read_stem(str(folder / row["audio"]))
    true = {name: read_stem(str(folder / row[name]), mixture.shape[0]) for name in STEMS}
    if separator == "oracle":
        estimated = true
    elif separator == "leaky-oracle":
        estimated = leaky_stems(true, leak_db, item_seed(seed, item.id))
    else:
        raise ValueError(f"training separator {separator!r}: choose one of {', '.join(SEPARATORS)}")
    return estimated, true, mixture


def item_objective(item: Item, separator: str, leak_db: float, seed: int = 0) -> ItemObjective:
    estimated, true, mixture = separate(item, separator, leak_db, seed)
    return ItemObjective.build(estimated, true, mixture, item.song.requested, item.listener,
                               song_seed(item.id))


def separator_key(separator: str, leak_db: float) -> str:
    return separator if separator == "oracle" else f"{separator}@{leak_db:g}"


def optimise_items(items: Sequence[Item], separator: str, leak_db: float, cache: str | Path, *,
                   seed: int = 0, max_evaluations: int = 20,
                   progress: Callable[[int, int], Any] | None = None) -> dict[str, dict[str, Any]]:
    """The per-item optimal gains (:func:`search_gains` on the exact HAAQI), appended to
    ``cache`` (JSON lines) as they finish; items already there are read back."""
    cache = Path(cache)
    key = separator_key(separator, leak_db)
    done: dict[str, dict[str, Any]] = {}
    if cache.is_file():
        for line in cache.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry["separator"] == key:
                done[entry["id"]] = entry
    cache.parent.mkdir(parents=True, exist_ok=True)
    for number, item in enumerate(items):
        if item.id not in done:
            started = time.perf_counter()
            objective = item_objective(item, separator, leak_db, seed)
            result: SearchResult = search_gains(objective.score, item.song.requested, bound=BOUND_DB,
                                                max_evaluations=max_evaluations)
            entry = {"id": item.id, "separator": key, "song": item.song.id,
                     "listener": item.listener.id, "profile": item.profile,
                     "requested": item.song.requested, "optimum": result.gains,
                     "haaqi_optimum": list(result.haaqi), "haaqi_requested": list(result.start_haaqi),
                     "clipped_requested": objective.clipped_samples(item.song.requested),
                     "clipped_optimum": objective.clipped_samples(result.gains),
                     "evaluations": result.evaluations,
                     "seconds": round(time.perf_counter() - started, 2)}
            with cache.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
            done[item.id] = entry
        if progress:
            progress(number + 1, len(items))
    return {item.id: done[item.id] for item in items}


# ------------------------------------------------------------------------------ the network


def features(items: Sequence[Item]) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.stack([audiogram_image(i.listener) for i in items])).float()
    wanted = torch.from_numpy(np.stack([requested_vector(i.song.requested) for i in items])).float()
    return images, wanted


def centred_offsets(optimum: dict[str, float], requested: dict[str, float]) -> np.ndarray:
    offsets = requested_vector(optimum) - requested_vector(requested)
    return offsets - offsets.mean()


@dataclass
class RemixGainsTask:
    """The shared loop's task: regression of the centred optimal offsets; validation adds the
    exact HAAQI (per ear) of the predicted gains on held-out items."""

    train_items: list[Item]
    train_targets: np.ndarray
    valid_items: list[Item]
    valid_targets: np.ndarray
    valid_objectives: list[ItemObjective]
    model_kind: str = MODEL_KIND
    description: dict[str, Any] | None = None

    def build_model(self) -> nn.Module:
        return GainPredictor()

    def model_config(self) -> dict[str, Any]:
        return {"channels": 16, "hidden": 32, "bound_db": BOUND_DB}

    def train_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Any:
        chosen = rng.choice(len(self.train_items), size=min(batch_size, len(self.train_items)),
                            replace=False)
        images, wanted = features([self.train_items[int(i)] for i in chosen])
        return images, wanted, torch.from_numpy(self.train_targets[chosen]).float(), None

    def valid_batches(self, device: torch.device) -> list[Any]:
        if not self.valid_items:
            return []
        images, wanted = features(self.valid_items)
        return [(images, wanted, torch.from_numpy(self.valid_targets).float(), "haaqi")]

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        images, wanted, targets, score = batch
        assert isinstance(model, GainPredictor)
        offsets = model.offsets(images, wanted)
        loss = torch.mean((offsets - targets) ** 2)
        parts: dict[str, float] = {"rmse_db": float(torch.sqrt(loss.detach()))}
        if score:  # the exact HAAQI of the predicted gains (validation only)
            gains = (wanted + offsets).detach().double().numpy()
            values = np.array([objective.score(dict(zip(STEMS, row.tolist(), strict=True)))
                               for objective, row in zip(self.valid_objectives, gains, strict=True)])
            parts.update(haaqi_left=float(values[:, 0].mean()), haaqi_right=float(values[:, 1].mean()),
                         haaqi=float(values[:, 2].mean()))
        return loss, parts

    def describe(self) -> dict[str, Any]:
        return dict(self.description or {})


@dataclass(frozen=True)
class RemixGainsSettings:
    corpus: Path
    out: Path
    separator: str = "leaky-oracle"
    leak_db: float = DEFAULT_LEAK_DB
    listeners_per_song: int = 1
    valid_listeners_per_song: int = 1
    max_items: int | None = None
    max_valid_items: int | None = None
    max_evaluations: int = 20
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 3e-3
    seed: int = 0
    threads: int | None = 1
    quick: bool = False


def train_remix_gains(settings: RemixGainsSettings, checkpoint: str | Path, *,
                      progress: Callable[[str, int, int], Any] | None = None) -> TrainResult:
    """Search the training items' optimal gains (cached), then fit the predictor."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if settings.separator not in SEPARATORS:
        raise ValueError(f"--separator {settings.separator!r}: training runs behind "
                         f"{' or '.join(SEPARATORS)} (hdemucs: see docs/remix-gains.md)")
    train_songs = load_songs(settings.corpus, "train")
    valid_songs = load_songs(settings.corpus, "valid")
    if settings.quick:
        train_songs, valid_songs = train_songs[:4], valid_songs[:1]
    train_items = make_items(train_songs, settings.listeners_per_song, TRAIN_LISTENER_SEED,
                             seed=settings.seed)
    valid_items = make_items(valid_songs, settings.valid_listeners_per_song,
                             HELD_OUT_LISTENER_SEED, seed=settings.seed + 1)
    train_items = train_items[:settings.max_items]
    valid_items = valid_items[:settings.max_valid_items]
    cache = settings.out / "optima.jsonl"
    evaluations = 4 if settings.quick else settings.max_evaluations
    clock = time.perf_counter()
    optima = optimise_items(train_items, settings.separator, settings.leak_db, cache,
                            seed=settings.seed, max_evaluations=evaluations,
                            progress=(lambda d, t: progress("search", d, t)) if progress else None)
    search_seconds = time.perf_counter() - clock
    valid_optima = optimise_items(valid_items, settings.separator, settings.leak_db, cache,
                                  seed=settings.seed, max_evaluations=evaluations)
    targets = np.stack([centred_offsets(optima[i.id]["optimum"], i.song.requested)
                        for i in train_items])
    valid_targets = (np.stack([centred_offsets(valid_optima[i.id]["optimum"], i.song.requested)
                               for i in valid_items]) if valid_items else np.zeros((0, 4)))
    objectives = [item_objective(i, settings.separator, settings.leak_db, settings.seed)
                  for i in valid_items]
    steps_per_epoch = max(1, -(-len(train_items) // settings.batch_size))
    epochs = 2 if settings.quick else settings.epochs
    description = {
        "corpus": str(settings.corpus), "separator": settings.separator,
        "leak_db": settings.leak_db if settings.separator == "leaky-oracle" else None,
        "train_items": len(train_items), "valid_items": len(valid_items),
        "train_songs": len(train_songs), "listeners": "jittered Bisgaard, all profiles "
        f"(train pool seed {TRAIN_LISTENER_SEED}, held-out pool seed {HELD_OUT_LISTENER_SEED})",
        "objective": "exact cadenza-icassp2024 HAAQI (compiled), per-item compass search "
                     f"({evaluations} evaluations), then MSE regression of the centred offsets",
        "search_seconds": round(search_seconds, 1), "steps_per_epoch": steps_per_epoch,
        "epochs": epochs, "settings": {k: str(v) for k, v in asdict(settings).items()},
    }
    task = RemixGainsTask(train_items, targets, valid_items, valid_targets, objectives,
                          description=description)
    loop = TrainSettings(steps=epochs * steps_per_epoch, batch_size=settings.batch_size,
                         learning_rate=settings.learning_rate,
                         warmup_steps=min(20, steps_per_epoch), valid_every=steps_per_epoch,
                         checkpoint_every=steps_per_epoch, seed=settings.seed,
                         threads=settings.threads)
    return train(task, loop, checkpoint,
                 progress=(lambda s, t, _: progress("train", s, t)) if progress else None)
