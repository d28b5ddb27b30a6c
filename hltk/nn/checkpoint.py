"""hltk checkpoints: one ``torch.save`` dict with the model kind, its config, the weights and
the training record, written atomically.

``{"format": "hltk-checkpoint/1", "model": "neuro-msbg", "config": {...}, "state_dict": {...},
"training": {...}}``. The optimizer and random states that resuming needs live in a sidecar
file ``<checkpoint>.resume`` so the shipped file stays small.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "hltk-checkpoint/1"


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (recorded in run.json for the checkpoint a backend used)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class CheckpointError(ValueError):
    """Not an hltk checkpoint, or one of another model."""


def save_atomic(content: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    torch.save(content, temporary)
    os.replace(temporary, path)


def save_checkpoint(path: str | Path, model: str, config: dict[str, Any],
                    state_dict: dict[str, torch.Tensor], training: dict[str, Any]) -> None:
    weights = {name: tensor.detach().cpu().clone() for name, tensor in state_dict.items()}
    save_atomic({"format": FORMAT, "model": model, "config": config, "state_dict": weights,
                 "training": training}, path)


def load_checkpoint(path: str | Path, expect_model: str | None = None) -> dict[str, Any]:
    path = Path(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as problem:
        raise CheckpointError(f"{path} is not a readable checkpoint: {problem}") from problem
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an hltk checkpoint (format {FORMAT})")
    if expect_model is not None and content.get("model") != expect_model:
        raise CheckpointError(f"{path} holds a {content.get('model')} model, not {expect_model}")
    return content


def resume_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".resume")
