"""One item scored the way a challenge recipe scores it, as a ledger entry.

The evaluate presets (``cadenza-icassp2024``, ``cec3``, ``cad2-task2``, ``cad2-task1``) differ
in what they read and how they score, not in what an item's ledger entry is: every preset item
is read (a failure there is stage ``read``), scored (stage ``score``), and recorded with its
scores, its wall time and the processed signal's duration. :func:`recipe_entry` is that shape,
so each preset supplies only its reading and its scoring. One item's failure never stops the
run: the entry says what failed, and the item goes to ``failures.csv``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

Signals = TypeVar("Signals")


def recipe_entry(item: Any, worker: bool, read: Callable[[], tuple[Signals, float]],
                 score: Callable[[Signals], dict[str, float]]) -> list[dict[str, Any]]:
    """The ledger entry of ``item`` (``id``, ``line``): ``read()`` gives the signals and the
    processed signal's duration in seconds, ``score(signals)`` the scores by column. In a
    worker process torch runs one thread (the pool supplies the parallelism)."""
    if worker:
        import torch

        torch.set_num_threads(1)
    started = time.perf_counter()
    entry: dict[str, Any] = {"id": item.id, "line": item.line, "status": "failed"}
    try:
        signals, duration = read()
    except Exception as error:
        entry.update(stage="read", message=f"{type(error).__name__}: {error}")
        return [entry]
    try:
        scores = score(signals)
    except Exception as error:  # one item's failure never stops the run
        entry.update(stage="score", message=f"{type(error).__name__}: {error}")
        return [entry]
    entry.update(status="ok", scores=scores, warnings=[], seconds=time.perf_counter() - started,
                 duration=duration)
    return [entry]
