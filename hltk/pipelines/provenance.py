"""Where scores come from: the scoring engine that made them and the system they score.

Engines of ``hltk evaluate --engine``:

- ``fast`` (the default): HASPI v2, HASQI v2 and HAAQI by the batched port of pyclarity's ear
  model and indices (:mod:`hltk.metrics.engine_torch` over :mod:`hltk.metrics.indices`); on CPU
  without autograd the ear model runs its compiled kernels (:mod:`hltk.metrics.ear.compiled`),
  elsewhere the torch path. Same scores as ``clarity`` to rounding
  (``tests/test_torch_metrics_slow.py``). ``torch``, its former name, is accepted as an alias.
- ``clarity`` (the reference): pyclarity's own functions, one item per worker
  (:mod:`hltk.metrics.engine_clarity`).

STOI, ESTOI, PESQ and SI-SDR are computed by the same reference implementations in both.
A preset that scores by its own path (the Cadenza ICASSP 2024 HAAQI replays the recipe's one
random stream per song, which only pyclarity's call order gives) names its engine in
:data:`PRESET_ENGINES`; asking such a preset for another engine is refused.

Records: ``run.json`` keeps ``engine`` (the name) and ``scoring_engine`` (the record of
:func:`engine_record`); ``scores.csv.json`` beside ``scores.csv``
(:func:`hltk.runner.records.sidecar_path`; ``hltk merge`` carries it over) holds what a score
needs to be traced when the table travels alone: the engine record, the metrics and
calibration, the seeding and the system scored. It holds no time, path or host name, so
the same run gives the same bytes.

Labels (whose scores): a system is named by ``--label`` where given, else by the backend of the
processing run whose ``run.json`` sits beside the manifest (``hltk simulate / amplify /
denoise-amplify / remix`` write one), else by the manifest's name. A ``scores.csv`` is named
by its sidecar, else by its evaluate run's ``run.json`` (followed to the manifest it scored).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from hltk.runner.records import RUN_RECORD, sidecar_path, versions, write_json
from hltk.runner.settings import RunError

#: the engines, the default first
ENGINES: tuple[str, ...] = ("fast", "clarity")
DEFAULT_ENGINE = "fast"
REFERENCE_ENGINE = "clarity"
#: former names still accepted (scripts written before ``fast`` became the default)
ENGINE_ALIASES: dict[str, str] = {"torch": "fast"}
#: presets that score by their own path, and the engine that path is
PRESET_ENGINES: dict[str, str] = {
    "cadenza-icassp2024": "clarity", "cec3": "clarity", "cad2-task2": "clarity", "cad2-task1": "clarity"}
#: metrics the engines compute differently (the others are the same code in both)
EAR_METRICS: tuple[str, ...] = ("haspi", "hasqi", "haaqi")

_DESCRIPTIONS = {
    "fast": "HASPI v2 / HASQI v2 / HAAQI by hltk's batched port of pyclarity's ear model and "
            "indices (hltk.metrics.engine_torch, hltk.metrics.indices); STOI, ESTOI, PESQ, "
            "SI-SDR by pystoi, pesq and hltk as in the clarity engine",
    "clarity": "pyclarity's haspi_v2 / hasqi_v2 / compute_haaqi, pystoi, pesq and hltk's "
               "SI-SDR, one item per worker (hltk.metrics.engine_clarity): the reference",
}


def resolve_engine(engine: str | None, preset: str | None = None) -> str:
    """The engine a run uses: ``engine`` (an alias mapped to its name), the preset's own,
    or the default. Raises :class:`RunError` for an unknown engine or one a preset refuses."""
    name = ENGINE_ALIASES.get(engine, engine) if engine is not None else None
    if name is not None and name not in ENGINES:
        known = ", ".join([*ENGINES, *ENGINE_ALIASES])
        raise RunError(f"--engine {engine!r}: available engines: {known}")
    if preset is not None and preset in PRESET_ENGINES:
        own = PRESET_ENGINES[preset]
        if name is not None and name != own:
            raise RunError(f"--preset {preset} scores with the {own} engine (it replays the "
                           f"recipe's random stream); --engine {engine} cannot run it")
        return own
    return name or DEFAULT_ENGINE


def ear_model_path(engine: str, metrics: Sequence[str], device: str = "cpu") -> str | None:
    """How the ear-model metrics ran: ``compiled`` (the fast engine on CPU: numba kernels),
    ``torch`` (the fast engine elsewhere), ``pyclarity``, or None (no ear-model metric)."""
    if not any(m in EAR_METRICS for m in metrics):
        return None
    if engine == "clarity":
        return "pyclarity"
    from hltk.metrics.engine_torch import ear_model_path as fast_path

    return fast_path(device)


def engine_record(engine: str, metrics: Sequence[str], device: str = "cpu") -> dict[str, Any]:
    """What scored a run: the engine's name, what it is, how its ear model ran, the device,
    and the versions that fix its numbers (hltk; pyclarity, whose HASPI weights both engines
    read; numba for the compiled kernels)."""
    found = versions()
    record: dict[str, Any] = {
        "name": engine,
        "description": _DESCRIPTIONS[engine],
        "ear_model": ear_model_path(engine, metrics, device),
        "device": device,
        "hltk": found.get("hltk"),
        "pyclarity": found.get("pyclarity"),
    }
    if record["ear_model"] == "compiled":
        with suppress(Exception):
            from importlib.metadata import version

            record["numba"] = version("numba")
    return record


def write_sidecar(table: Path, content: dict[str, Any]) -> None:
    write_json(sidecar_path(table), {"table": table.name, **content})


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def engine_refusal(record_dir: Path, engine: str) -> str | None:
    """What an earlier evaluate run in ``record_dir`` holds, when its ``run.json`` names
    another engine than ``engine`` (the runner refuses to mix them: its settings hash differs):
    the words of the refusal, with the option that goes on with it. None otherwise."""
    record = _read_json(record_dir / RUN_RECORD) or {}
    earlier = record.get("engine") if record.get("task") == "evaluate" else None
    if not earlier or earlier == engine:
        return None
    if ENGINE_ALIASES.get(earlier, earlier) == engine:
        return (f"scores made with the {earlier} engine, the {engine} engine's former name "
                "(the same scores)")
    return (f"scores made with the {earlier} engine (this run's: {engine}; add --engine "
            f"{earlier} to go on with them)")


def manifest_system(manifest: Path) -> dict[str, Any]:
    """The system whose audio a manifest lists: ``{"label", "backend", "task", "run"}`` from
    the ``run.json`` of the processing run that wrote it (``backend``/``task`` None without one);
    ``run`` is the folder's name (it tells two runs of one backend apart)."""
    manifest = Path(manifest)
    record = _read_json(manifest.parent / RUN_RECORD) or {}
    backend = record.get("backend") if record.get("task") != "evaluate" else None
    folder = manifest.resolve().parent.name
    fallback = folder if manifest.stem == "manifest" else manifest.stem
    return {"label": str(backend) if backend else fallback, "backend": backend,
            "task": record.get("task") if backend else None, "run": folder}


def scores_system(scores: Path) -> dict[str, Any]:
    """The system a ``scores.csv`` (or its folder) scores: its sidecar's ``system``, else its
    run's ``run.json`` followed to the manifest it scored, else the folder's name."""
    scores = Path(scores)
    table = scores / "scores.csv" if scores.is_dir() else scores
    sidecar = _read_json(sidecar_path(table)) or {}
    system = sidecar.get("system")
    if isinstance(system, dict) and system.get("label"):
        return system
    record = _read_json(table.parent / RUN_RECORD) or {}
    manifest = record.get("manifest")
    if record.get("task") == "evaluate" and manifest:
        return manifest_system(Path(manifest))
    folder = table.resolve().parent.name
    return {"label": folder, "backend": None, "task": None, "run": folder}


def distinct_labels(system: dict[str, Any], reference: dict[str, Any], label: str | None = None,
                    against_label: str | None = None) -> tuple[str, str]:
    """The two names a comparison prints: given labels win; two systems with the same derived
    name (two runs of one backend) are told apart by their run folders, then by their roles."""
    first = label or str(system.get("label") or "system")
    second = against_label or str(reference.get("label") or "reference")
    if first == second and not (label and against_label):
        runs = (system.get("run"), reference.get("run"))
        if all(runs) and runs[0] != runs[1]:
            first = first if label else f"{first} ({runs[0]})"
            second = second if against_label else f"{second} ({runs[1]})"
        if first == second:
            first = first if label else f"{first} (system)"
            second = second if against_label else f"{second} (reference)"
    return first, second
