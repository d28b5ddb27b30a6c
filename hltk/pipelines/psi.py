"""``hltk train psi-msbg`` and ``hltk fit-listener``: listener profiles beyond the audiogram
(:mod:`hltk.simulate.psi_msbg`, :mod:`hltk.train.psi`, :mod:`hltk.train.psi_fit`)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from hltk.io.audio import atomic_path, read_audio, resample
from hltk.io.listeners import Audiogram
from hltk.nn.checkpoint import file_sha256
from hltk.simulate.psi_msbg import LogMel, default_checkpoint, load_model
from hltk.simulate.torch_msbg import Suprathreshold
from hltk.train.loop import TrainResult, TrainSettings, train
from hltk.train.psi import (
    SAMPLE_RATE,
    PsiTask,
    build_population,
    simulate_responses,
)
from hltk.train.psi_fit import (
    SEARCHES,
    FitResult,
    fit_psi,
    population_box,
    psi_objective,
    reference_optimum,
)

StepProgress = Callable[[int, int, dict[str, float]], None]
QUICK_SETTINGS = TrainSettings(steps=40, batch_size=8, warmup_steps=5, valid_every=20,
                               checkpoint_every=20)
HIDDEN_COLUMNS = ("smear_scale", "recruitment_scale", "dead_above_hz")
HL_COLUMN = re.compile(r"^hl_(\d+(?:\.\d+)?)$")


#: a manifest's split names -> the population's segment splits (:data:`hltk.train.psi.SPLITS`)
MANIFEST_SPLITS = {"train": "train", "valid": "fit", "test": "test"}


def audio_files(data: Path) -> list[Path] | dict[str, list[Path]]:
    """The population's speech: a folder's ``*.wav`` (sorted; the segment splits follow file
    order), or a manifest's ``audio`` column. A manifest whose split column has train, valid
    and test rows gives each segment split its own rows (train -> train, valid -> fit, test ->
    test), so no talker or prompt of the corpus crosses them; otherwise its ``split=train``
    rows (or every row without a split column), in file order."""
    if data.is_dir():
        files = sorted(data.glob("*.wav"))
    else:
        with data.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows and "audio" not in rows[0]:
            raise ValueError(f"{data}: a manifest needs an 'audio' column")
        by_split = {segment: [data.parent / r["audio"] for r in rows if r.get("split") == name]
                    for name, segment in MANIFEST_SPLITS.items()}
        if all(by_split.values()):
            return by_split
        files = [data.parent / r["audio"] for r in rows if r.get("split", "train") == "train"]
    if not files:
        raise FileNotFoundError(f"no training audio in {data}")
    return files


def train_psi_msbg(
    data: Path,
    listeners_path: Path,
    checkpoint: Path,
    *,
    n_psi: int = 6,
    condition: str = "psi",
    individuals: int | None = None,
    individual: str | None = None,
    channels: int = 32,
    audiogram_penalty: float = 0.0,
    audiogram_penalty_steps: int = 0,
    settings: TrainSettings,
    quick: bool = False,
    cache_dir: Path | None = None,
    data_progress: Callable[[int, int], None] | None = None,
    progress: StepProgress | None = None,
) -> TrainResult:
    """Simulate (or reuse) the population's responses and train one model into
    ``checkpoint``: ``condition="psi"`` (``n_psi`` learned parameters per individual),
    ``"audiogram"`` (the twin) or ``"none"`` with ``individual`` (an individual-specific model).
    ``individuals``: train on the first this many training individuals (default all; even
    numbers keep the same-audiogram pairs whole). ``quick``: 3 audiograms, 16 segments, a
    16-channel model, 40 steps."""
    population: dict[str, Any] = {}
    if quick:
        population = {"train_audiograms": 2, "unseen_audiograms": 1, "segments": (8, 4, 4)}
        channels = 16
        settings = replace(QUICK_SETTINGS, seed=settings.seed, threads=settings.threads,
                           device=settings.device)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    cache_dir = cache_dir or checkpoint.parent / "cache"
    files = audio_files(data)
    population_data, path = build_population(listeners_path, files, cache_dir,
                                             progress=data_progress, **population)
    train_ids = [i.id for i in population_data.individuals if i.split == "train"]
    if individual is not None:
        if individual not in {i.id for i in population_data.individuals}:
            raise ValueError(f"no individual {individual!r} in the population")
        chosen = [individual]
    else:
        chosen = train_ids[: individuals or len(train_ids)]
    if condition == "none" and len(chosen) != 1:
        raise ValueError("an individual-specific model (condition none) needs --individual")
    task = PsiTask(population_data, chosen, condition=condition, n_psi=n_psi, channels=channels,
                   audiogram_penalty=audiogram_penalty,
                   audiogram_penalty_steps=audiogram_penalty_steps, data_path=str(path))
    return train(task, settings, checkpoint, progress=progress)


def _read_pairs(pairs: Path) -> tuple[list[dict[str, str]], Audiogram | None]:
    with pairs.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{pairs}: no rows")
    columns = list(rows[0])
    if "audio" not in columns:
        raise ValueError(f"{pairs}: needs an 'audio' column (the input audio)")
    if "response" not in columns and not any(c in columns for c in HIDDEN_COLUMNS):
        raise ValueError(f"{pairs}: needs a 'response' column (the listener's response audio) "
                         f"or the simulated listener's {', '.join(HIDDEN_COLUMNS)} columns")
    hl = sorted((float(m.group(1)), c) for c in columns if (m := HL_COLUMN.match(c)))
    audiogram = None
    if hl:
        audiogram = Audiogram(tuple(f for f, _ in hl), tuple(float(rows[0][c]) for _, c in hl))
    return rows, audiogram


def _mono16k(path: Path) -> torch.Tensor:
    audio, rate = read_audio(path)
    return resample(audio.mean(0), rate, SAMPLE_RATE)


def listener_pairs(pairs: Path, progress: Callable[[int, int], None] | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, Audiogram | None, dict[str, Any]]:
    """A fit manifest -> (input log-mel ``[S, M, F]``, response log-mel, audiogram, hidden).

    Each row: ``audio`` (input, at 100 dB SPL per digital unit) and either ``response`` (the
    listener's response audio to it) or, for a simulated listener, ``hl_<Hz>`` and the hidden
    parameter columns (empty: MSBG's own rule), from which torch-msbg makes the response.
    Audio is mono 16 kHz, all rows cropped to the shortest."""
    rows, audiogram = _read_pairs(pairs)
    if audiogram is None:
        raise ValueError(f"{pairs}: needs the listener's audiogram as hl_<Hz> columns (the "
                         "profile is a listeners.json entry)")
    base = pairs.parent
    inputs = [_mono16k(base / r["audio"]) for r in rows]
    length = min(x.shape[-1] for x in inputs)
    hidden: dict[str, Any] = {}
    logmel = LogMel()
    if rows[0].get("response"):
        responses = [_mono16k(base / r["response"]) for r in rows]
        length = min(length, *(r.shape[-1] for r in responses))
        targets = logmel(torch.stack([r[:length] for r in responses]))
    else:
        hidden = {c: (float(rows[0][c]) if rows[0].get(c) else None) for c in HIDDEN_COLUMNS}
        waveforms = torch.stack([x[:length] for x in inputs])
        targets = simulate_responses(waveforms, audiogram, Suprathreshold(**hidden))
    if progress:
        progress(len(rows), len(rows))
    return logmel(torch.stack([x[:length] for x in inputs])), targets, audiogram, hidden


def fit_listener(
    pairs: Path,
    profile: Path,
    *,
    checkpoint: Path | None = None,
    n_psi: int = 6,
    listener_id: str | None = None,
    init_points: int = 8,
    max_iter: int = 50,
    target: str = "auto",
    search: str = "cube",
    domain_reduction: bool = True,
    seed: int = 0,
    threads: int | None = 1,
    progress: Callable[[int, float, float], None] | None = None,
) -> tuple[FitResult, dict[str, Any]]:
    """Fit one listener's psi by Bayesian optimisation (:func:`hltk.train.psi_fit.fit_psi`)
    and add their entry to ``profile`` (a listeners.json, created or updated): the audiogram
    keys of the Clarity format plus ``psi``, ``psi_checkpoint`` (+ sha256) and ``psi_fit``
    (losses, target, evaluations to it, seconds).

    ``target``: ``auto`` (a training individual of the checkpoint, by ``listener_id``: the
    loss at their learned psi; else :func:`hltk.train.psi_fit.reference_optimum`), ``none``
    (run to ``max_iter``) or a number. ``search``: ``population`` (within
    :func:`hltk.train.psi_fit.population_box`) or ``cube``."""
    if threads:
        torch.set_num_threads(threads)
    path = checkpoint or default_checkpoint(n_psi)
    model = load_model(path)
    if model.config.condition != "psi" or model.conditioning is None:
        raise ValueError(f"{path} is not a psi-conditioned model")
    rows, _ = _read_pairs(pairs)
    listener_id = listener_id or rows[0].get("listener") or pairs.stem
    inputs, targets, audiogram, hidden = listener_pairs(pairs)
    objective = psi_objective(model, inputs, targets)
    n = model.config.n_psi
    target_value: float | None
    target_kind = target
    if target == "none":
        target_value = None
    elif target == "auto":
        if listener_id in model.config.individuals:
            learned = model.conditioning.learned()[model.config.individuals.index(listener_id)]
            with torch.no_grad():
                target_value = float(objective(learned[None])[0])
            target_kind = "learned psi"
        else:
            target_value = reference_optimum(objective, n, seed=seed)[1]
            target_kind = "reference optimum"
    else:
        target_value = float(target)
        target_kind = "given"
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {search!r}")
    bounds = population_box(model) if search == "population" else None
    result = fit_psi(objective, n, init_points=init_points, max_iter=max_iter,
                     target=target_value, seed=seed, bounds=bounds,
                     domain_reduction=domain_reduction, progress=progress)
    entry: dict[str, Any] = {"name": listener_id}
    if audiogram is not None:
        levels = [int(v) if float(v).is_integer() else v for v in audiogram.levels]
        entry.update({"audiogram_cfs": [int(f) if float(f).is_integer() else f
                                        for f in audiogram.frequencies],
                      "audiogram_levels_l": levels, "audiogram_levels_r": levels})
    entry.update({
        "psi": [round(v, 6) for v in result.psi],
        "psi_checkpoint": path.name, "psi_checkpoint_sha256": file_sha256(path),
        "psi_fit": {"loss": result.loss, "losses": [round(v, 5) for v in result.losses],
                    "init_points": init_points, "max_iter": max_iter,
                    "target": target_value, "target_kind": target_kind,
                    "evaluations_to_target": result.iterations_to_target,
                    "evaluations": len(result.losses), "seconds": round(result.seconds, 2),
                    "search": search, "bounds": result.extra["bounds"],
                    "domain_reduction": domain_reduction,
                    "pairs": str(pairs), "seed": seed,
                    **({"hidden": hidden} if hidden else {})},
    })
    existing: dict[str, Any] = {}
    if profile.is_file():
        existing = json.loads(profile.read_text(encoding="utf-8"))
    existing[listener_id] = entry
    with atomic_path(profile) as temporary:
        temporary.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    return result, entry
