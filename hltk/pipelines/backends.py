"""``hltk backends``: every registered backend with the options it declares (:mod:`hltk.registry`)."""

from __future__ import annotations

from typing import Any

from hltk import registry

#: One row per (backend, option); a backend without options has one row with no option.
COLUMNS: tuple[str, ...] = ("task", "backend", "default", "reference", "option", "flag", "type",
                            "option_default", "help", "description")


def _value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def backend_rows(task: str | None = None) -> list[dict[str, Any]]:
    """The rows of every backend of ``task`` (a task, or the task a component task belongs to:
    ``remix`` lists its separators) or of every task. ``flag`` is empty for an option the CLI
    does not offer (library only). Raises ValueError for a task nothing is registered for."""
    every = registry.tasks(components=True)
    chosen = every if task is None else [
        name for name in every
        if name == task or any(spec.part_of == task for spec in registry.backends(name))]
    if not chosen:
        raise ValueError(f"no backend registered for task {task!r}; tasks: {', '.join(every)}")
    rows: list[dict[str, Any]] = []
    for name in chosen:
        default = registry.default_backend(name)
        for spec in registry.backends(name):
            base = {"task": name, "backend": spec.name, "default": spec.name == default,
                    "reference": spec.reference, "description": spec.description}
            options = spec.option_specs()
            if not options:
                rows.append({**base, "option": None, "flag": None, "type": None,
                             "option_default": None, "help": None})
            for declared in options:
                rows.append({**base, "option": declared.name,
                             "flag": declared.flag if declared.cli else None,
                             "type": declared.type_name, "option_default": _value(declared.default),
                             "help": declared.help})
    return rows
