"""``hltk amplify``: hearing-aid amplification of every item of a manifest, and the fitting
figure (prescribed gain by frequency) of a listener."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hltk import registry
from hltk.pipelines.process import task_pipeline

TASK = "amplify"


def backend_options(backend: str, **given: Any) -> dict[str, Any]:
    """The options of ``given`` (None = not given) that amplify ``backend`` takes, checked and
    converted (:func:`hltk.registry.check_options`; :class:`~hltk.registry.OptionError`, a
    ValueError, names an option the backend does not take or a bad value)."""
    return registry.check_options(TASK, backend, given)


def wdrc_settings(options: dict[str, Any] | None) -> Any:
    """The WDRC settings of the WDRC options among ``options`` (the others ignored)."""
    from dataclasses import fields

    from hltk.amplify.wdrc import WdrcOptions

    names = {field.name for field in fields(WdrcOptions)}
    return WdrcOptions(**{k: v for k, v in (options or {}).items() if k in names}).settings()


amplify = task_pipeline(TASK, "Amplify each item for its listener (default backend: NAL-R + WDRC).")


def resolve_listener(name: str, listeners_path: str | Path | None = None) -> Any:
    """A listener by id from a Clarity ``listeners.json``, or a standard audiogram name
    (NH, N1-N7, S1-S3, clarity-mild, ...)."""
    from hltk.io.listeners import ListenerError, load_listeners, standard_listener

    if listeners_path is not None:
        listeners = load_listeners(listeners_path)
        if name in listeners:
            return listeners[name]
    try:
        return standard_listener(name)
    except ListenerError:
        where = f" in {listeners_path}" if listeners_path is not None else ""
        raise ListenerError(f"no listener {name!r}{where} and no standard audiogram of that name") from None


def gain_plot(
    listener_name: str,
    out_png: str | Path,
    *,
    listeners_path: str | Path | None = None,
    input_levels_db_spl: Sequence[float] = (50.0, 65.0, 80.0),
    sample_rate: int = 44100,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the fitting figure of a listener (PNG) and return its gains at the audiometric
    frequencies as rows ``{ear, curve, 250, 500, ..., 8000}`` (dB)."""
    from hltk.amplify.plot import plot_prescribed_gains, prescribed_gains

    listener = resolve_listener(listener_name, listeners_path)
    settings = wdrc_settings(options)
    path = plot_prescribed_gains(listener, out_png, input_levels_db_spl, sample_rate, settings)
    frequencies = (250, 500, 1000, 2000, 4000, 8000)
    gains = prescribed_gains(listener, input_levels_db_spl, sample_rate, settings, frequencies)
    rows = []
    for ear in ("left", "right"):
        rows.append(
            {
                "ear": ear,
                "curve": "nalr",
                **{str(f): round(float(g), 1) for f, g in zip(frequencies, gains["nalr"][ear], strict=True)},
            }
        )
        for level, values in gains["nalr-wdrc"][ear].items():
            rows.append(
                {
                    "ear": ear,
                    "curve": f"nalr-wdrc {level:g} dB SPL",
                    **{str(f): round(float(g), 1) for f, g in zip(frequencies, values, strict=True)},
                }
            )
    return {"path": path, "listener": listener.id, "rows": rows}


def _safe_name(text: str) -> str:
    """A file name made from a listener id (data, never a path): anything outside
    ``[A-Za-z0-9_.-]`` becomes ``_``, and no leading dot."""
    cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in text)
    return cleaned.lstrip(".") or "listener"


def plot_manifest_listeners(
    manifest_path: str | Path,
    folder: str | Path,
    *,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    sample_rate: int = 44100,
    options: dict[str, Any] | None = None,
) -> list[Path]:
    """The fitting figure of every distinct listener of a manifest, as ``folder/{id}.png``
    (ids made safe for file names; two ids that map to the same name get a numeric suffix)."""
    from hltk.amplify.plot import plot_prescribed_gains
    from hltk.pipelines.process import load_task_manifest

    manifest = load_task_manifest(manifest_path, root=root, listeners_path=listeners_path)
    settings = wdrc_settings(options)
    seen: dict[tuple[str, object, object], Path] = {}
    used: set[str] = set()
    written: list[Path] = []
    for item in manifest.items:
        listener = item.listener
        if listener is None:
            continue
        key = (listener.id, listener.left, listener.right)
        if key in seen:
            continue
        name = _safe_name(listener.id)
        candidate, counter = name, 1
        while candidate in used:
            counter += 1
            candidate = f"{name}-{counter}"
        used.add(candidate)
        path = Path(folder) / f"{candidate}.png"
        seen[key] = plot_prescribed_gains(listener, path, sample_rate=sample_rate, settings=settings)
        written.append(path)
    return written
