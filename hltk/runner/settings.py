"""What a run is asked to do: its settings, the options' checks, exit codes, seeds, hashes.

Everything here is pure (no file is read or written): :mod:`hltk.runner.plan` calls these
checks before a run writes anything, so a refused run leaves ``OUT`` as it was.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXECUTORS: tuple[str, ...] = ("local", "dask")


class RunError(RuntimeError):
    """A run that cannot start (exit 2): bad options, or an OUT made with other settings."""


def item_seed(seed: int, item_id: str) -> int:
    """The per-item seed: ``md5("{seed}:{id}")`` reduced to 32 bits, so an item's random draws
    do not depend on order, batching, sharding or worker count."""
    digest = hashlib.md5(f"{seed}:{item_id}".encode()).hexdigest()
    return int(digest[:8], 16)


def config_hash(config: dict[str, Any]) -> str:
    """The 16-hex-digit digest of a configuration (sha256 of its sorted JSON): two runs (or a
    run and a cached file) with the same digest were made with the same settings."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``; None stays None."""
    if text is None:
        return None
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise RunError(f"--shard {text!r}: expected I/N, for example 2/8") from None
    if not 1 <= index <= count:
        raise RunError(f"--shard {text!r}: I must be between 1 and N")
    return index, count


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda[:N]`` must be available."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"--device {device}: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise RunError(f"--device {device!r}: {error}") from None


def check_workers(executor: str, jobs: int, batch_size: int = 1) -> None:
    """The executor is known; ``--jobs`` and ``--batch-size`` are at least 1."""
    if executor not in EXECUTORS:
        raise RunError(f"--executor {executor!r}: choose local or dask")
    if jobs < 1 or batch_size < 1:
        raise RunError("--jobs and --batch-size must be at least 1")


@dataclass(frozen=True)
class RunSettings:
    """Everything about a run that is not the manifest or the backend."""

    out: Path
    audio_format: str = "wav16"
    filename: str = "{id}.{ext}"
    clip: str = "hard"
    ear: str = "both"
    level_db_spl: float | None = None
    seed: int = 0
    jobs: int = 1
    batch_size: int = 1
    device: str = "auto"
    executor: str = "local"
    scheduler: str | None = None
    shard: tuple[int, int] | None = None
    overwrite: bool = False
    retry_failed: bool = False
    limit: int | None = None
    quiet: bool = False
    #: rows that fail validation become failures (stage ``validate``) instead of refusing the run
    skip_invalid: bool = False

    def output_affecting(self) -> dict[str, Any]:
        """Settings that change what is written (resume refuses to mix them)."""
        return {
            "audio_format": self.audio_format,
            "filename": self.filename,
            "clip": self.clip,
            "ear": self.ear,
            "level_db_spl": self.level_db_spl,
            "seed": self.seed,
        }
