"""``hltk validate``: the manifest checks every processing command runs, alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hltk.io.audio import audio_info
from hltk.io.manifest import ManifestError, Problem, load_manifest


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
) -> ValidationReport:
    """Run every manifest check; never raises for a bad manifest (see ``problems``)."""
    source = Path(manifest_path).name
    try:
        manifest = load_manifest(
            manifest_path, root=root, listeners_path=listeners_path,
            required_columns=required_columns, require_listener=require_listener,
        )
    except ManifestError as problem:
        return ValidationReport(source, problem.problems)
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
