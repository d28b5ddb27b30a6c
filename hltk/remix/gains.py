"""Per-stem gains (dB, relative to each stem's own loudness) for remix items.

Sources, the first that applies wins, per item:

1. inline columns ``gain_vocals``, ``gain_drums``, ``gain_bass``, ``gain_other`` (a missing
   one is 0 dB);
2. a ``gain`` column naming an entry of a Cadenza ``gains.json``
   (``{"gain_0007": {"vocals": 10, "drums": 0, "bass": 0, "other": 0}}``), given with
   ``--gains`` or found beside the manifest;
3. nothing: 0 dB for every stem (the remix is the mixture, loudness-matched).

The stems are the four MUSDB stems by default (Cadenza ICASSP 2024); ``stems`` names others
(a CAD2 scene's ``source_1 .. source_N``); ``stems=None`` in :func:`load_gains` accepts any
stem names (a CAD2 ``gains.json`` holds entries of two to five sources).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from hltk.remix.chain import STEMS

GainTable = dict[str, dict[str, float]]


class GainsError(ValueError):
    """A gains file or a row's gains that cannot be used."""


def load_gains(path: str | Path, stems: Sequence[str] | None = STEMS) -> GainTable:
    """A Cadenza ``gains.json``: ``{gain_id: {stem: dB}}``, values checked finite (and the
    stem names among ``stems`` unless it is None)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise GainsError(f"cannot read gains file {path}: {error}") from error
    if not isinstance(content, dict):
        raise GainsError(f"{path}: expected an object {{gain_id: {{stem: dB}}}}")
    table: GainTable = {}
    for gain_id, entry in content.items():
        if not isinstance(entry, dict):
            raise GainsError(f"{path}: entry {gain_id!r} is not an object of stem gains")
        values: dict[str, float] = {}
        for stem, value in entry.items():
            if stems is not None and stem not in stems:
                raise GainsError(f"{path}: entry {gain_id!r}: unknown stem {stem!r} (stems: {tuple(stems)})")
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise GainsError(f"{path}: entry {gain_id!r}: gain of {stem} is not a finite number")
            values[stem] = float(value)
        table[str(gain_id)] = values
    return table


def row_gains(row: Mapping[str, str], table: Mapping[str, Mapping[str, float]] | None,
              stems: Sequence[str] = STEMS) -> dict[str, float]:
    """The gains (dB per stem of ``stems``) of one manifest row; raises :class:`GainsError`."""
    inline = {stem: row.get(f"gain_{stem}", "") for stem in stems}
    if any(value != "" for value in inline.values()):
        gains = {}
        for stem, text in inline.items():
            try:
                value = float(text) if text != "" else 0.0
            except ValueError:
                raise GainsError(f"gain_{stem} {text!r} is not a number") from None
            if not math.isfinite(value):
                raise GainsError(f"gain_{stem} {text!r} is not finite")
            gains[stem] = value
        return gains
    gain_id = row.get("gain", "")
    if gain_id:
        if table is None:
            raise GainsError(f"gain {gain_id!r}: no gains.json given (--gains) or found beside the manifest")
        if gain_id not in table:
            raise GainsError(f"gain {gain_id!r} is not in the gains file")
        return {stem: float(table[gain_id].get(stem, 0.0)) for stem in stems}
    return {stem: 0.0 for stem in stems}
