"""``hltk validate``: the manifest checks every processing command runs, alone.

What ``simulate``, ``amplify`` and ``denoise-amplify`` refuse, this refuses: the manifest's
own checks (:func:`hltk.io.manifest.load_manifest`) and the output names of the plan
(:func:`hltk.runner.plan.output_names`) with the ``--filename`` template, the processing
commands' default ``{id}.{ext}`` unless given: an id such as ``../../escape`` would write
outside ``OUT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hltk.io.audio import audio_info
from hltk.io.manifest import ManifestError, Problem, load_manifest
from hltk.runner.plan import output_names
from hltk.runner.settings import RunSettings


@dataclass
class ValidationReport:
    """Problems found (empty when the manifest is fine) and a summary of what it holds."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def messages(self) -> list[str]:
        return [problem.describe(self.source) for problem in self.problems]


def validate_manifest(
    manifest_path: str | Path,
    *,
    root: str | Path | None = None,
    listeners_path: str | Path | None = None,
    require_listener: bool = True,
    required_columns: Sequence[str] = ("id", "audio"),
    filename: str = RunSettings.filename,
    audio_format: str = RunSettings.audio_format,
) -> ValidationReport:
    """Run every manifest check, and the output names by ``filename``; never raises for a bad
    manifest (see ``problems``). ``filename`` problems of the template itself (a field that is
    not a plain name) are problems too."""
    source = Path(manifest_path).name
    try:
        manifest = load_manifest(
            manifest_path, root=root, listeners_path=listeners_path,
            required_columns=required_columns, require_listener=require_listener,
        )
    except ManifestError as problem:
        return ValidationReport(source, problem.problems)
    _, problems = output_names(manifest, filename, audio_format)
    if problems:
        return ValidationReport(source, problems)
    durations = [audio_info(item.paths["audio"]).duration
                 for item in manifest.items if "audio" in item.paths]
    summary = {
        "items": len(manifest.items),
        "columns": len(manifest.columns),
        "listeners": len(manifest.listeners) or len({i.listener.id for i in manifest.items
                                                     if i.listener is not None}),
        "audio_hours": round(sum(durations) / 3600.0, 4),
    }
    return ValidationReport(source, [], summary)
