"""Backends by (task, name). The CLI's ``--backend`` choices come from here.

A backend module registers a factory at import time::

    register("simulate", "msbg", MsbgProcessor, "pyclarity MSBG (reference)", reference=True)

Built-in backend modules are listed in :data:`BUILTIN_MODULES` and imported on first use, so
importing the registry stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hltk.processor import Processor

#: Modules whose import registers the built-in backends.
BUILTIN_MODULES: tuple[str, ...] = (
    "hltk.simulate.msbg",
    "hltk.simulate.torch_msbg",
    "hltk.simulate.neuro_msbg",
    "hltk.amplify.nalr",
    "hltk.amplify.compressor",
    "hltk.amplify.wdrc",
    "hltk.denoise.two_stage",
    "hltk.amplify.neuroamp",
    "hltk.denoise.neuroamp_denoise",
)


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: how to build it and what it is."""

    task: str
    name: str
    factory: Callable[..., Processor]
    description: str
    reference: bool = False
    default: bool = False
    options: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[tuple[str, str], BackendSpec] = {}
_loaded = False


def register(
    task: str,
    name: str,
    factory: Callable[..., Processor],
    description: str,
    *,
    reference: bool = False,
    default: bool = False,
) -> None:
    """Register (or replace) the backend ``name`` of ``task``."""
    _REGISTRY[(task, name)] = BackendSpec(task, name, factory, description, reference, default)


def unregister(task: str, name: str) -> None:
    _REGISTRY.pop((task, name), None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def tasks() -> list[str]:
    _load_builtins()
    return sorted({task for task, _ in _REGISTRY})


def backends(task: str) -> list[BackendSpec]:
    """Registered backends of ``task``, the default first."""
    _load_builtins()
    specs = [spec for (spec_task, _), spec in _REGISTRY.items() if spec_task == task]
    return sorted(specs, key=lambda spec: (not spec.default, spec.name))


def names(task: str) -> list[str]:
    return [spec.name for spec in backends(task)]


def default_backend(task: str) -> str:
    specs = backends(task)
    if not specs:
        raise KeyError(f"no backend registered for task {task!r}")
    return specs[0].name


def get(task: str, name: str) -> BackendSpec:
    _load_builtins()
    try:
        return _REGISTRY[(task, name)]
    except KeyError:
        known = ", ".join(names(task)) or "none"
        raise KeyError(f"unknown {task} backend {name!r}; known: {known}") from None


def create(task: str, name: str, **options: Any) -> Processor:
    """Build the backend ``name`` of ``task`` with backend-specific ``options``."""
    return get(task, name).factory(**options)
