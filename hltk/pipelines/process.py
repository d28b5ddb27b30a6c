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
from hltk.processor import optional
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
    """Check the backend options (:func:`hltk.registry.prepare_options`: an option the
    backend does not take is refused before anything is read), validate the manifest, build the
    backend on ``settings.device`` and run it over the selected items. The options recorded
    (and hashed into the run's configuration) are the given ones, never the defaults."""
    name = backend or registry.default_backend(task)
    options = registry.prepare_options(task, name, backend_options)
    manifest = load_task_manifest(manifest_path, root=root, listeners_path=listeners_path,
                                  skip_invalid=settings.skip_invalid)
    processor = registry.get(task, name).factory(device=str(resolve_device(settings.device)),
                                                 **options)
    return run_processor(
        manifest, processor, settings, task=task, backend=name, backend_options=options,
        default_level_db_spl=float(optional(processor, "default_level_db_spl")), command=command,
        progress=progress,
    )


def task_pipeline(task: str, summary: str) -> Callable[..., RunSummary]:
    """The pipeline function of one audio-to-audio task: :func:`process_manifest` with the
    task fixed (``simulate``, ``amplify``, ``denoise-amplify`` differ only in that)."""

    def pipeline(manifest_path: str | Path, settings: RunSettings, **options: Any) -> RunSummary:
        return process_manifest(task, manifest_path, settings, **options)

    pipeline.__name__ = pipeline.__qualname__ = task.replace("-", "_")
    pipeline.__doc__ = (f"{summary}\n\nKeyword options as :func:`process_manifest`: backend, "
                        "backend_options, root, listeners_path, command, progress.")
    return pipeline
