"""``hltk simulate``: hearing-loss simulation of every item of a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hltk.pipelines.process import task_pipeline
from hltk.runner import RunError

TASK = "simulate"

simulate = task_pipeline(TASK, "Simulate each item's hearing loss (default backend: pyclarity MSBG).")


#: Backend options of ``hltk simulate`` and the backends that take them.
OPTION_BACKENDS: dict[str, tuple[str, ...]] = {"checkpoint": ("neuro-msbg",), "block": ("neuro-msbg",)}


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def backend_options(backend: str | None, **given: Any) -> dict[str, Any]:
    """The options given (not None) for ``backend``; an option another backend takes is an
    error (exit 2), not silently ignored."""
    options: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if backend not in OPTION_BACKENDS[name]:
            raise RunError(f"{flag_of(name)} applies to --backend {' / '.join(OPTION_BACKENDS[name])}, "
                           f"not {backend or 'the default'}")
        if isinstance(value, Path):
            if not value.is_file():
                raise RunError(f"{flag_of(name)}: no file {value}")
            value = str(value)
        options[name] = value
    return options
