"""The shared pipeline of every audio-to-audio task: manifest in, audio + tables out.

``simulate``, ``amplify`` and ``denoise-amplify`` differ only in their task name, their
backends and backend options; everything else (validation, the runner, records) is here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hltk import registry
from hltk.io.manifest import Manifest, load_manifest
from hltk.runner import RunSettings, RunSummary, resolve_device, run_processor


def load_task_manifest(
    manifest_path: str | Path,
    *,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    jobs: int = 8,
    skip_invalid: bool = False,
) -> Manifest:
    """A processing manifest: ``id``, ``audio`` and a listener for every row (with
    ``skip_invalid``, rows that fail are set aside, :attr:`Manifest.invalid`)."""
    return load_manifest(manifest_path, root=root, listeners_path=listeners_path,
                         required_columns=("id", "audio"), require_listener=True, jobs=jobs,
                         skip_invalid=skip_invalid)


def process_manifest(
    task: str,
    manifest_path: str | Path,
    settings: RunSettings,
    *,
    backend: str | None = None,
    backend_options: dict[str, Any] | None = None,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> RunSummary:
    """Validate the manifest, build the backend and run it over the selected items."""
    manifest = load_task_manifest(manifest_path, root=root, listeners_path=listeners_path,
                                  skip_invalid=settings.skip_invalid)
    name = backend or registry.default_backend(task)
    options = dict(backend_options or {})
    spec = registry.get(task, name)
    if _accepts_device(spec.factory):
        processor = spec.factory(device=str(resolve_device(settings.device)), **options)
    else:
        processor = spec.factory(**options)
    default_level = float(getattr(processor, "default_level_db_spl", 100.0))
    return run_processor(
        manifest, processor, settings, task=task, backend=name, backend_options=options,
        default_level_db_spl=default_level, command=command, progress=progress,
    )


def _accepts_device(factory: Callable[..., Any]) -> bool:
    import inspect

    try:
        return "device" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def task_pipeline(task: str, summary: str) -> Callable[..., RunSummary]:
    """The pipeline function of one audio-to-audio task: :func:`process_manifest` with the
    task fixed (``simulate``, ``amplify``, ``denoise-amplify`` differ only in that)."""

    def pipeline(manifest_path: str | Path, settings: RunSettings, **options: Any) -> RunSummary:
        return process_manifest(task, manifest_path, settings, **options)

    pipeline.__name__ = pipeline.__qualname__ = task.replace("-", "_")
    pipeline.__doc__ = (f"{summary}\n\nKeyword options as :func:`process_manifest`: backend, "
                        "backend_options, root, listeners_path, command, progress.")
    return pipeline
