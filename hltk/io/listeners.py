"""Listeners and their audiograms.

An :class:`Audiogram` is one ear's hearing thresholds (dB HL) at ascending frequencies; a
:class:`Listener` has one per ear. Listeners come from Clarity ``listeners.json`` files, from
inline manifest columns (``hl_left_<Hz>``, ``hl_right_<Hz>``, ``hl_<Hz>``), or by name from the
standard sets: the Bisgaard et al. (2010) profiles NH, N1-N7, S1-S3 and the presets defined in
pyclarity's MSBG code (``clarity-mild``, ``clarity-moderate``, ``clarity-moderate-severe``).

Models see audiograms as tensors on one fixed grid (:data:`AUDIOGRAM_GRID`, the Clarity
frequencies) through :class:`ListenerBatch`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Clarity's audiogram frequencies; the grid on which models receive audiograms.
CLARITY_FREQUENCIES: tuple[int, ...] = (250, 500, 1000, 2000, 3000, 4000, 6000, 8000)
AUDIOGRAM_GRID: tuple[int, ...] = CLARITY_FREQUENCIES
#: Accepted hearing levels, dB HL (inclusive).
HL_MIN, HL_MAX = -10.0, 120.0
EARS: tuple[str, str] = ("left", "right")
#: the keys of a Clarity listeners.json entry; any others are a listener's ``extras``
CLARITY_KEYS: tuple[str, ...] = ("name", "audiogram_cfs", "audiogram_levels_l",
                                 "audiogram_levels_r")

#: Bisgaard, Vlaming & Dahlquist (2010), standard audiograms for IEC 60118-15, dB HL.
BISGAARD_FREQUENCIES: tuple[int, ...] = (250, 375, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000)
BISGAARD_LEVELS: dict[str, tuple[float, ...]] = {
    "NH": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "N1": (10, 10, 10, 10, 10, 10, 15, 20, 30, 40),
    "N2": (20, 20, 20, 22.5, 25, 30, 35, 40, 45, 50),
    "N3": (35, 35, 35, 35, 40, 45, 50, 55, 60, 65),
    "N4": (55, 55, 55, 55, 55, 60, 65, 70, 75, 80),
    "N5": (65, 67.5, 70, 72.5, 75, 80, 80, 80, 80, 80),
    "N6": (75, 77.5, 80, 82.5, 85, 90, 90, 95, 100, 100),
    "N7": (90, 92.5, 95, 100, 105, 105, 105, 105, 105, 105),
    "S1": (10, 10, 10, 10, 10, 10, 15, 30, 55, 70),
    "S2": (20, 20, 20, 22.5, 25, 35, 55, 75, 95, 95),
    "S3": (30, 30, 35, 47.5, 60, 70, 75, 80, 80, 85),
}


class ListenerError(ValueError):
    """A listener or audiogram that cannot be used, with a message naming what is wrong."""


@dataclass(frozen=True)
class Audiogram:
    """One ear's thresholds: ``levels`` (dB HL) at ascending, unique ``frequencies`` (Hz)."""

    frequencies: tuple[float, ...]
    levels: tuple[float, ...]

    def __post_init__(self) -> None:
        frequencies = tuple(float(f) for f in self.frequencies)
        levels = tuple(float(v) for v in self.levels)
        object.__setattr__(self, "frequencies", frequencies)
        object.__setattr__(self, "levels", levels)
        if len(frequencies) != len(levels):
            raise ListenerError(
                f"{len(levels)} hearing levels for {len(frequencies)} frequencies"
            )
        if not frequencies:
            raise ListenerError("an audiogram needs at least one frequency")
        if any(not math.isfinite(f) or f <= 0 for f in frequencies):
            raise ListenerError(f"frequencies must be positive numbers, got {list(frequencies)}")
        if any(b <= a for a, b in zip(frequencies, frequencies[1:], strict=False)):
            raise ListenerError(f"frequencies must be ascending and unique, got {list(frequencies)}")
        for frequency, level in zip(frequencies, levels, strict=True):
            if not math.isfinite(level) or not HL_MIN <= level <= HL_MAX:
                raise ListenerError(
                    f"hearing level {level:g} dB HL at {frequency:g} Hz is outside "
                    f"{HL_MIN:g}..{HL_MAX:g} dB HL"
                )

    def on_grid(self, grid: Sequence[float] = AUDIOGRAM_GRID) -> np.ndarray:
        """Levels interpolated linearly on log frequency (constant beyond the ends), as
        pyclarity's ``Audiogram.resample`` does."""
        return np.interp(
            np.log(np.asarray(grid, dtype=np.float64)),
            np.log(np.asarray(self.frequencies)),
            np.asarray(self.levels),
        )

    def resample(self, grid: Sequence[float]) -> Audiogram:
        return Audiogram(tuple(float(f) for f in grid), tuple(self.on_grid(grid).tolist()))

    @property
    def severity(self) -> str:
        """MSBG's severity class (pyclarity's rule: mean HL from 2 to 8 kHz; >56 SEVERE,
        >35 MODERATE, >15 MILD, else NOTHING)."""
        return str(self.to_clarity().severity)

    def to_clarity(self) -> Any:
        """The pyclarity ``Audiogram`` with the same values."""
        from clarity.utils.audiogram import Audiogram as ClarityAudiogram

        return ClarityAudiogram(
            levels=np.asarray(self.levels, dtype=np.float64),
            frequencies=np.asarray(self.frequencies, dtype=np.float64),
        )


@dataclass(frozen=True)
class Listener:
    """A listener: an id, one audiogram per ear, and ``extras``: the other keys of their
    listeners.json entry (e.g. a fitted profile's ``psi``, written by ``hltk fit-listener``),
    kept for the backends that use them and written back by :func:`save_listeners`. Extras take
    no part in equality or hashing: two listeners are the same when id and audiograms are."""

    id: str
    left: Audiogram
    right: Audiogram
    extras: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def ear(self, name: str) -> Audiogram:
        if name == "left":
            return self.left
        if name == "right":
            return self.right
        raise ValueError(f"unknown ear {name!r}")

    def to_clarity(self) -> Any:
        from clarity.utils.audiogram import Listener as ClarityListener

        return ClarityListener(
            audiogram_left=self.left.to_clarity(),
            audiogram_right=self.right.to_clarity(),
            id=self.id,
        )

    def to_clarity_dict(self) -> dict[str, Any]:
        """The Clarity ``listeners.json`` entry (both ears on one frequency list)."""
        left, right = self.left, self.right
        if left.frequencies != right.frequencies:
            frequencies = tuple(sorted(set(left.frequencies) | set(right.frequencies)))
            left, right = left.resample(frequencies), right.resample(frequencies)
        return {
            "name": self.id,
            "audiogram_cfs": [_number(f) for f in left.frequencies],
            "audiogram_levels_l": [_number(v) for v in left.levels],
            "audiogram_levels_r": [_number(v) for v in right.levels],
            **self.extras,
        }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _clarity_presets() -> dict[str, Audiogram]:
    from clarity.utils import audiogram as clarity_audiogram

    presets = {
        "clarity-nh": clarity_audiogram.AUDIOGRAM_REF,
        "clarity-mild": clarity_audiogram.AUDIOGRAM_MILD,
        "clarity-moderate": clarity_audiogram.AUDIOGRAM_MODERATE,
        "clarity-moderate-severe": clarity_audiogram.AUDIOGRAM_MODERATE_SEVERE,
    }
    return {
        name: Audiogram(tuple(a.frequencies.tolist()), tuple(a.levels.tolist()))
        for name, a in presets.items()
    }


def standard_audiograms() -> dict[str, Audiogram]:
    """Every audiogram available by name: Bisgaard NH, N1-N7, S1-S3 and the Clarity presets."""
    named = {
        name: Audiogram(BISGAARD_FREQUENCIES, levels) for name, levels in BISGAARD_LEVELS.items()
    }
    named.update(_clarity_presets())
    return named


def standard_listener(name: str) -> Listener:
    """A symmetric listener with a standard audiogram (see :func:`standard_audiograms`)."""
    audiograms = standard_audiograms()
    if name not in audiograms:
        raise ListenerError(
            f"unknown standard audiogram {name!r}; known: {', '.join(sorted(audiograms))}"
        )
    return Listener(name, audiograms[name], audiograms[name])


def listener_from_clarity_dict(listener_id: str, entry: Mapping[str, Any]) -> Listener:
    """One entry of a Clarity ``listeners.json``; raises :class:`ListenerError` naming the key."""
    if not isinstance(entry, Mapping):
        raise ListenerError(f"listener {listener_id!r}: expected an object, got {type(entry).__name__}")
    for key in ("audiogram_cfs", "audiogram_levels_l", "audiogram_levels_r"):
        if key not in entry:
            raise ListenerError(f"listener {listener_id!r}: missing key {key!r}")
        if not isinstance(entry[key], list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in entry[key]
        ):
            raise ListenerError(f"listener {listener_id!r}: {key!r} must be a list of numbers")
    try:
        left = Audiogram(tuple(entry["audiogram_cfs"]), tuple(entry["audiogram_levels_l"]))
        right = Audiogram(tuple(entry["audiogram_cfs"]), tuple(entry["audiogram_levels_r"]))
    except ListenerError as error:
        raise ListenerError(f"listener {listener_id!r}: {error}") from error
    extras = {key: value for key, value in entry.items() if key not in CLARITY_KEYS}
    return Listener(str(entry.get("name", listener_id)), left, right, extras)


def load_listeners(path: str | Path) -> dict[str, Listener]:
    """Read a Clarity ``listeners.json`` (``{id: {name, audiogram_cfs, audiogram_levels_l,
    audiogram_levels_r}}``); malformed files raise :class:`ListenerError` naming the problem."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ListenerError(f"listeners file not found: {path}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ListenerError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ListenerError(f"{path}: expected an object of listeners keyed by id")
    listeners = {}
    for listener_id, entry in raw.items():
        try:
            listeners[str(listener_id)] = listener_from_clarity_dict(str(listener_id), entry)
        except ListenerError as error:
            raise ListenerError(f"{path}: {error}") from error
    return listeners


def save_listeners(listeners: Iterable[Listener], path: str | Path) -> None:
    """Write listeners as a Clarity ``listeners.json`` (atomically)."""
    from hltk.io.audio import atomic_path

    content = {listener.id: listener.to_clarity_dict() for listener in listeners}
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class ListenerBatch:
    """The listeners of a batch of items, and which ears the audio channels are.

    ``ears`` names the channels of the audio given to a processor alongside this batch:
    ``("left", "right")`` for two-ear audio, ``("left",)`` or ``("right",)`` for one ear.
    """

    listeners: tuple[Listener, ...]
    ears: tuple[str, ...] = EARS

    def __len__(self) -> int:
        return len(self.listeners)

    def audiogram(self, item: int, channel: int) -> Audiogram:
        """The audiogram that applies to channel ``channel`` of item ``item``."""
        return self.listeners[item].ear(self.ears[channel])

    def audiograms(
        self,
        grid: Sequence[float] = AUDIOGRAM_GRID,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Hearing levels ``[batch, ears, len(grid)]`` in dB HL on ``grid``."""
        levels = np.stack(
            [
                np.stack([listener.ear(ear).on_grid(grid) for ear in self.ears])
                for listener in self.listeners
            ]
        )
        return torch.as_tensor(levels, dtype=dtype, device=device)

    def select(self, indices: Sequence[int]) -> ListenerBatch:
        return ListenerBatch(tuple(self.listeners[i] for i in indices), self.ears)
