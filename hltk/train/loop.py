"""The generic training loop every hltk model uses.

A :class:`TrainTask` says what to train (model, batches, loss); :func:`train` runs Adam with a
linear warm-up and cosine decay, gradient clipping, a fixed validation set, and writes

- the checkpoint (``CKPT``: model kind, config, weights, training record) every
  ``checkpoint_every`` steps and at the end, atomically;
- ``CKPT.resume`` beside it (optimizer, schedule and random states, history), so a run that
  was interrupted (Ctrl-C, a session limit) goes on from the last checkpoint when started
  again with the same command; a finished run started with more ``steps`` trains on.

Batches come from a :class:`numpy.random.Generator` whose state is saved with the rest, so a
resumed run draws the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from hltk import __version__
from hltk.nn.checkpoint import (
    CheckpointError,
    load_checkpoint,
    resume_path,
    save_atomic,
    save_checkpoint,
)


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 2000
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05
    grad_clip: float = 5.0
    valid_every: int = 100
    checkpoint_every: int = 100
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"


class TrainTask(Protocol):
    """What :func:`train` needs from a model family."""

    model_kind: str

    def build_model(self) -> nn.Module: ...

    def model_config(self) -> dict[str, Any]: ...

    def train_batch(self, rng: np.random.Generator, batch_size: int, device: torch.device) -> Any: ...

    def valid_batches(self, device: torch.device) -> list[Any]: ...

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    wall_seconds: float
    final_train_loss: float
    final_valid_loss: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = 0


Progress = Callable[[int, int, dict[str, float]], None]


def learning_rate_factor(step: int, settings: TrainSettings) -> float:
    """Linear warm-up to 1, then cosine decay to ``final_lr_fraction`` at ``steps``."""
    if step < settings.warmup_steps:
        return (step + 1) / settings.warmup_steps
    span = max(1, settings.steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return settings.final_lr_fraction + (1.0 - settings.final_lr_fraction) * cosine


def evaluate_loss(task: TrainTask, model: nn.Module, batches: list[Any]) -> dict[str, float]:
    model.eval()
    totals: dict[str, float] = {}
    with torch.no_grad():
        for batch in batches:
            loss, parts = task.loss(model, batch)
            for name, value in {"loss": float(loss), **parts}.items():
                totals[name] = totals.get(name, 0.0) + value / len(batches)
    model.train()
    return totals


def train(task: TrainTask, settings: TrainSettings, checkpoint: str | Path, *,
          progress: Progress | None = None, resume: bool = True,
          init: str | Path | None = None) -> TrainResult:
    """Train ``task``'s model, writing ``checkpoint`` (see the module docstring). ``init``: a
    checkpoint of the same model config to start from (fine-tuning; its own training record
    is kept under ``init`` in the new one)."""
    checkpoint = Path(checkpoint)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = torch.device(settings.device)
    torch.manual_seed(settings.seed)
    model = task.build_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    rng = np.random.default_rng(settings.seed)
    history: list[dict[str, Any]] = []
    step = 0
    wall_before = 0.0
    resumed_init: dict[str, Any] | None = None
    sidecar = resume_path(checkpoint)
    if resume and sidecar.is_file():
        state = torch.load(sidecar, map_location=device, weights_only=False)
        if state["model_config"] != task.model_config():
            raise ValueError(f"{sidecar} was made with another model config; remove it or "
                             "choose another output")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
        step = int(state["step"])
        wall_before = float(state["wall_seconds"])
        resumed_init = state.get("init")
    initial: dict[str, Any] | None = None
    if init is not None and step == 0:
        content = load_checkpoint(init, expect_model=task.model_kind)
        complete = getattr(task, "complete_config", None)  # fills fields newer than init's
        if (complete(content["config"]) if complete else content["config"]) != task.model_config():
            raise CheckpointError(f"{init} has another model config than the one trained")
        model.load_state_dict(content["state_dict"])
        initial = {"checkpoint": str(init), "training": content.get("training", {})}
    elif init is not None:
        initial = resumed_init
    resumed_from = step
    valid = task.valid_batches(device)
    started = time.perf_counter()
    model.train()
    last_train = float("nan")
    last_valid: float | None = None
    running: dict[str, float] = {}
    running_count = 0

    def write(step_done: int) -> None:
        wall = wall_before + time.perf_counter() - started
        record = {"steps": step_done, "wall_seconds": round(wall, 1), "history": history,
                  "settings": asdict(settings), "data": task.describe(), "hltk": __version__,
                  "torch": str(torch.__version__), "device": str(device),
                  **({"init": initial} if initial else {})}
        save_checkpoint(checkpoint, task.model_kind, task.model_config(), model.state_dict(), record)
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                     "history": history, "step": step_done, "wall_seconds": wall,
                     "model_config": task.model_config(), "init": initial}, sidecar)

    while step < settings.steps:
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * learning_rate_factor(step, settings)
        batch = task.train_batch(rng, settings.batch_size, device)
        loss, parts = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip))
        if not math.isfinite(float(loss.detach())) or not math.isfinite(grad_norm):
            raise FloatingPointError(f"step {step}: loss {float(loss)}, gradient norm {grad_norm}")
        optimizer.step()
        step += 1
        last_train = float(loss.detach())
        for name, value in {"loss": last_train, **parts}.items():
            running[name] = running.get(name, 0.0) + value
        running_count += 1
        if step % settings.valid_every == 0 or step == settings.steps:
            entry: dict[str, Any] = {"step": step, "lr": optimizer.param_groups[0]["lr"],
                                     "wall_seconds": round(wall_before + time.perf_counter() - started, 1)}
            entry.update({f"train_{k}": v / running_count for k, v in running.items()})
            if valid:
                scores = evaluate_loss(task, model, valid)
                entry.update({f"valid_{k}": v for k, v in scores.items()})
                last_valid = scores["loss"]
            history.append(entry)
            running, running_count = {}, 0
        if step % settings.checkpoint_every == 0 or step == settings.steps:
            write(step)
        if progress:
            progress(step, settings.steps, {"loss": last_train, **({"valid": last_valid}
                                                                    if last_valid is not None else {})})
    if step == resumed_from and not checkpoint.is_file():
        write(step)
    return TrainResult(checkpoint, step, wall_before + time.perf_counter() - started, last_train,
                       last_valid, history, resumed_from)
