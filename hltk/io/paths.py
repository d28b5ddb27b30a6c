"""Output file names from ``--filename`` templates, refused if they would leave ``OUT``.

Templates use ``{column}`` fields filled with the row's values (plus ``{ext}``). Only plain
field names are allowed (no attribute or index access): manifest values are data, never code.
A filled name that is absolute, contains ``..``, or gets a path separator from a value (rather
than from the template itself) is refused.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from pathlib import Path, PurePosixPath


class OutputPathError(ValueError):
    """A ``--filename`` template or filled value that cannot be used."""


def template_fields(template: str) -> list[str]:
    """Field names of a template; raises :class:`OutputPathError` for unsupported fields."""
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise OutputPathError(f"--filename {template!r}: {error}") from error
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or not name.replace("_", "a").replace("-", "a").isalnum():
            raise OutputPathError(
                f"--filename {template!r}: field {{{name}}} must be a plain column name"
            )
        if spec or conversion:
            raise OutputPathError(f"--filename {template!r}: no format specs or conversions")
        fields.append(name)
    if not fields:
        raise OutputPathError(f"--filename {template!r} has no field: every item would overwrite one file")
    return fields


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """The relative output path for one row; raises :class:`OutputPathError` if unsafe."""
    fields = template_fields(template)
    filled: dict[str, str] = {}
    for name in fields:
        if name not in values:
            raise OutputPathError(f"--filename field {{{name}}} is not a manifest column")
        value = str(values[name])
        if not value:
            raise OutputPathError(f"--filename field {{{name}}} is empty")
        if "/" in value or "\\" in value or "\x00" in value or value in (".", ".."):
            raise OutputPathError(
                f"--filename field {{{name}}} value {value!r} would make a path "
                "(separators, '.' or '..' are not allowed in values)"
            )
        filled[name] = value
    result = template.format(**filled)
    pure = PurePosixPath(result)
    if pure.is_absolute() or result.startswith("\\") or ".." in pure.parts or not pure.parts:
        raise OutputPathError(f"output path {result!r} would be outside the output folder")
    return result


def relative_path(path: str | Path, start: str | Path) -> str:
    """``path`` relative to the folder ``start`` (both resolved), with ``/`` separators: how
    manifests written by hltk name their files, so an output folder can be moved whole."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()
