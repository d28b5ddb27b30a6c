"""Backends by (task, name), each with the options it takes. The CLI is derived from here.

A backend module registers a factory and, when it takes options, a frozen dataclass that
declares them (type, default, help) at import time::

    @dataclass(frozen=True)
    class NalrOptions:
        nfir: int | None = option(None, "NAL-R FIR order (default 220 at 44.1 kHz).", min=2)

    register("amplify", "nalr", NalrProcessor, "NAL-R ...", reference=True, options=NalrOptions)

Contract (what every registration promises, and what the rest of hltk relies on):

- ``factory(device=..., **options)`` builds the processor. Every factory takes ``device``
  (``None``: follow the input's device; a CPU-only backend ignores it). ``options`` are the
  options the caller gave, by field name, never the dataclass's defaults: the factory's own
  defaults apply to the rest, so the dataclass defaults document them (``tests/test_registry.py``
  checks that they agree with the factory's signature).
- The options dataclass is the single declaration of what a backend takes: ``hltk TASK``'s
  option flags (``--nfir``, ``--attack-ms``, ...) are the union of the declared options of
  the task's backends (:func:`cli_options`), the check that refuses an option the chosen backend
  does not take is :func:`check_options`, and ``hltk backends`` lists them. Its
  ``__post_init__`` may refuse bad values (``ValueError``: exit 2 before any work starts).
  A backend registered without one takes no options from the CLI; library callers still pass
  whatever its factory takes (:func:`create` forwards them unchecked).
- Field types the CLI understands: ``bool``, ``int``, ``float``, ``str``, ``Path`` (checked to be
  an existing file, passed on as ``str``), ``tuple[float, ...]`` / ``tuple[int, ...]`` (a
  comma-separated flag value), each optionally ``| None``; ``option(choices=...)`` makes a
  choice.
- ``part_of``: the backends of a task that are a component of another task's processor rather
  than processors of their own (``separate``: the separators of ``remix``). :func:`tasks`
  lists only processor tasks (what ``hltk benchmark`` runs) unless asked for components.

Where backends come from: the built-in modules of :data:`BUILTIN_MODULES`, and every entry
point of the group :data:`ENTRY_POINT_GROUP` (``hltk.backends``) of the installed
distributions (a module, imported, or a callable, called: either registers), as pytest finds
its plugins. Both are loaded on first use, so importing the registry stays cheap.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hltk.processor import Processor

#: Modules whose import registers the built-in backends.
BUILTIN_MODULES: tuple[str, ...] = (
    "hltk.simulate.msbg",
    "hltk.simulate.torch_msbg",
    "hltk.simulate.neuro_msbg",
    "hltk.simulate.psi_msbg",
    "hltk.amplify.nalr",
    "hltk.amplify.compressor",
    "hltk.amplify.wdrc",
    "hltk.denoise.two_stage",
    "hltk.amplify.neuroamp",
    "hltk.denoise.neuroamp_denoise",
    "hltk.denoise.cnrhlc",
    "hltk.remix.separators",
    "hltk.remix.leaky_oracle",
)
#: The entry point group third-party distributions register their backends under.
ENTRY_POINT_GROUP = "hltk.backends"


class OptionError(ValueError):
    """An option the chosen backend does not take, or a bad value of one (exit 2)."""


def option(default: Any, help: str, *, min: float | None = None,  # noqa: A002
           choices: Sequence[str] | None = None, cli: bool = True) -> Any:
    """A field of a backend's options dataclass: its default and help, and for the CLI an
    optional lower bound (``min``), a set of ``choices``, or ``cli=False`` (library only)."""
    metadata = {"help": help, "min": min, "choices": tuple(choices) if choices else None, "cli": cli}
    if isinstance(default, list | dict | set):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionSpec:
    """One declared option of a backend, resolved: the field name, its Python type, default,
    help and CLI metadata."""

    name: str
    type: Any
    default: Any
    help: str
    min: float | None = None
    choices: tuple[str, ...] | None = None
    cli: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def base_type(self) -> Any:
        """The type without ``| None``."""
        args = [arg for arg in typing.get_args(self.type) if arg is not type(None)]
        if isinstance(self.type, types.UnionType) or typing.get_origin(self.type) is typing.Union:
            return args[0] if len(args) == 1 else self.type
        return self.type

    @property
    def type_name(self) -> str:
        base = self.base_type
        if self.choices:
            return "|".join(self.choices)
        if typing.get_origin(base) is tuple:
            return f"{typing.get_args(base)[0].__name__} list"
        return getattr(base, "__name__", str(base))


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: how to build it, what it is and which options it takes."""

    task: str
    name: str
    factory: Callable[..., Any]  #: builds a Processor (a component, for a component task)
    description: str
    reference: bool = False
    default: bool = False
    #: the frozen dataclass of its options (None: it declares none)
    options: type | None = None
    #: the task this backend is a component of (None: a processor task of its own)
    part_of: str | None = None

    def option_specs(self) -> list[OptionSpec]:
        """The declared options, in declaration order."""
        if self.options is None:
            return []
        hints = typing.get_type_hints(self.options)
        return [OptionSpec(f.name, hints[f.name], f.default, f.metadata.get("help", ""),
                           f.metadata.get("min"), f.metadata.get("choices"),
                           f.metadata.get("cli", True))
                for f in dataclasses.fields(self.options)]


_REGISTRY: dict[tuple[str, str], BackendSpec] = {}
_loaded = False


def register(
    task: str,
    name: str,
    factory: Callable[..., Any],
    description: str,
    *,
    reference: bool = False,
    default: bool = False,
    options: type | None = None,
    part_of: str | None = None,
) -> None:
    """Register (or replace) the backend ``name`` of ``task`` (see the module docstring)."""
    if options is not None and not dataclasses.is_dataclass(options):
        raise TypeError(f"{task} {name}: options must be a dataclass, got {options!r}")
    _REGISTRY[(task, name)] = BackendSpec(task, name, factory, description, reference, default,
                                          options, part_of)


def unregister(task: str, name: str) -> None:
    _REGISTRY.pop((task, name), None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _load_entry_points()


def _load_entry_points() -> None:
    """Every ``hltk.backends`` entry point: a module (imported) or a callable (called). A plugin
    that fails to load is reported as a warning and skipped: it must not break the others."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            if callable(loaded) and not isinstance(loaded, types.ModuleType):
                loaded()
        except Exception as problem:  # a broken plugin
            warnings.warn(f"hltk backend plugin {entry.name} ({entry.value}) did not load: "
                          f"{type(problem).__name__}: {problem}", stacklevel=2)


def tasks(*, components: bool = False) -> list[str]:
    """Tasks with registered backends: processor tasks, and with ``components`` also the tasks
    whose backends are parts of another task's processor (``separate``)."""
    _load_builtins()
    return sorted({task for (task, _), spec in _REGISTRY.items()
                   if components or spec.part_of is None})


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


def cli_options(task: str) -> dict[str, tuple[OptionSpec, list[str]]]:
    """The CLI options of ``task``: each declared option (``cli=True``) of its backends, first
    declaration first, with the names of the backends that take it. An option declared by
    several backends of one task must mean the same there (same type)."""
    found: dict[str, tuple[OptionSpec, list[str]]] = {}
    for spec in backends(task):
        for declared in spec.option_specs():
            if not declared.cli:
                continue
            if declared.name in found:
                first, takers = found[declared.name]
                if first.type != declared.type:
                    raise TypeError(f"{task}: option {declared.flag} is {first.type} for "
                                    f"{takers[0]} but {declared.type} for {spec.name}")
                takers.append(spec.name)
            else:
                found[declared.name] = (declared, [spec.name])
    return found


def _convert(declared: OptionSpec, value: Any) -> Any:
    """A given value in the form the factory takes and the run record stores."""
    base = declared.base_type
    if typing.get_origin(base) is tuple:
        element = typing.get_args(base)[0]
        if isinstance(value, str):
            try:
                return [element(part) for part in value.split(",") if part.strip()]
            except ValueError:
                raise OptionError(f"{declared.flag}: comma-separated {element.__name__} values, "
                                  f"got {value!r}") from None
        return [element(part) for part in value]
    if base is Path:
        if not Path(value).is_file():
            raise OptionError(f"{declared.flag}: no file {value}")
        return str(value)
    if declared.choices and value not in declared.choices:
        raise OptionError(f"{declared.flag}: one of {', '.join(declared.choices)}, got {value!r}")
    return value


def check_options(task: str, name: str, given: dict[str, Any] | None, *,
                  backend_flag: str = "--backend") -> dict[str, Any]:
    """The options of ``given`` that were given (not None), checked against what backend
    ``name`` of ``task`` declares and converted (:func:`_convert`). Raises :class:`OptionError`
    naming an option the backend does not take (and who takes it) or a bad value; the options
    dataclass's own checks run on the given values over its defaults."""
    spec = get(task, name)
    chosen = {key: value for key, value in (given or {}).items() if value is not None}
    declared = {option.name: option for option in spec.option_specs()}
    refused = [key for key in chosen if key not in declared]
    if refused:
        takers = {key: [s.name for s in backends(task)
                        if key in {o.name for o in s.option_specs()}] for key in refused}
        details = "; ".join(f"{_flag(key)} is for {backend_flag} {' / '.join(takers[key])}"
                            for key in refused if takers[key])
        raise OptionError(f"backend {name} does not take {', '.join(_flag(k) for k in refused)}"
                          + (f" ({details})" if details else ""))
    converted = {key: _convert(declared[key], value) for key, value in chosen.items()}
    if spec.options is not None:
        try:
            spec.options(**converted)
        except (TypeError, ValueError) as problem:
            raise OptionError(f"backend {name}: {problem}") from None
    return converted


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def prepare_options(task: str, name: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """The options to build backend ``name`` with (and to record): checked and converted by
    :func:`check_options` when it declares its options, else ``given`` as it is."""
    if get(task, name).options is None:
        return dict(given or {})
    return check_options(task, name, given)


def create(task: str, name: str, *, device: str | None = None, **options: Any) -> Processor:
    """Build the backend ``name`` of ``task`` on ``device`` (None: it follows the input's
    device) with the given ``options`` (:func:`prepare_options`)."""
    return get(task, name).factory(device=device, **prepare_options(task, name, options))
