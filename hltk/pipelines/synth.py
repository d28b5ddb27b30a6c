"""``hltk synth``: make a synthetic corpus, check its manifest, record the run.

The corpus itself (audio, ``manifest.csv``, ``listeners.json``, ``gains.json``,
``synth.json``) is byte-identical for the same options and seed; ``run.json`` is the run
record (command line, versions, start/end, timing) and is the one file that differs between
runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hltk.io.manifest import load_manifest
from hltk.runner.records import RUN_RECORD, versions, write_json
from hltk.synth.asterisk import parse_source
from hltk.synth.corpus import DEFAULT_COUNTS, DEFAULT_LISTENERS, KINDS, CorpusResult, make_corpus
from hltk.synth.noise import NOISE_TYPES
from hltk.synth.room import ROOM_KINDS, RoomOptions
from hltk.synth.tools import tool_version

__all__ = ["KINDS", "NOISE_TYPES", "SynthSummary", "synth"]


@dataclass
class SynthSummary:
    """What :func:`synth` made, and its run record."""

    kind: str
    out: Path
    result: CorpusResult
    run_record: dict[str, Any] = field(default_factory=dict)

    @property
    def row(self) -> dict[str, Any]:
        """One summary row for stdout."""
        return {
            "kind": self.kind,
            "items": self.result.items,
            "audio_hours": round(self.result.audio_seconds / 3600.0, 4),
            "seconds": round(self.result.elapsed_seconds, 2),
            "manifest": str(self.result.manifest),
        }


def synth(
    kind: str,
    out: str | Path,
    *,
    n: int | None = None,
    hours: float | None = None,
    seed: int = 0,
    sample_rate: int | None = None,
    jobs: int = 1,
    listeners_path: str | Path | None = None,
    n_listeners: int = DEFAULT_LISTENERS,
    snr_range_db: tuple[float, float] = (-5.0, 15.0),
    noise_types: Sequence[str] = NOISE_TYPES,
    music_seconds: float = 10.0,
    source: str = "espeak",
    room: str = "anechoic",
    rt60_range_s: tuple[float, float] | None = None,
    noise_sources: tuple[int, int] | None = None,
    speed_range: tuple[float, float] | None = None,
    command: Sequence[str] | None = None,
    progress: Callable[[int, int | None], Any] | None = None,
) -> SynthSummary:
    """Make a ``kind`` corpus under ``out`` (see :func:`hltk.synth.corpus.make_corpus`), then
    load its manifest with the same checks every command runs (headers of every audio file),
    and write ``OUT/run.json``.

    ``source`` (speech / noisy): ``espeak`` (synthetic) or ``recorded[:LANG,...]``, Debian's
    Asterisk prompts (:mod:`hltk.synth.recorded`).

    ``room`` (noisy): ``anechoic`` (default, the corpus as before) or ``reverberant``: the target
    and ``noise_sources`` (default 1-3) noise sources in a shoebox room of RT60 in
    ``rt60_range_s`` (default 0.1-0.7 s), :mod:`hltk.synth.room`; giving ``rt60_range_s`` or
    ``noise_sources`` without ``reverberant`` is refused.

    ``speed_range`` (recorded noisy, anechoic): each item's talker perturbed by a speed factor
    drawn in LOW:HIGH (:func:`hltk.synth.recorded.perturb_speed`).

    ``progress(items_done, items_total_or_None)`` is called as chunks finish. Raises, in this
    order (usage errors before the environment, all before ``out`` is created):
    ``ValueError`` for bad options, ``ListenerError`` for a bad ``listeners_path``,
    ``ToolMissingError`` when espeak-ng / fluidsynth / the soundfont is missing; and
    ``ManifestError`` if the written manifest does not validate (a bug).
    """
    out = Path(out)
    started = datetime.now(UTC)
    clock = time.perf_counter()

    total = n if n is not None else (DEFAULT_COUNTS[kind] if hours is None else None)

    def report(items: int, _seconds: float) -> None:
        if progress is not None:
            progress(items, total)

    if room not in ROOM_KINDS:
        raise ValueError(f"--room {room!r}: choose from {', '.join(ROOM_KINDS)}")
    room_options: RoomOptions | None = None
    if room == "reverberant":
        defaults = RoomOptions()
        room_options = RoomOptions(rt60_range_s=rt60_range_s or defaults.rt60_range_s,
                                   noise_sources=noise_sources or defaults.noise_sources)
    elif rt60_range_s is not None or noise_sources is not None:
        raise ValueError("--rt60 and --noise-sources need --room reverberant")
    source_kind, languages = parse_source(source)
    if source_kind == "recorded":
        from hltk.synth.recorded import make_recorded_corpus

        result = make_recorded_corpus(
            kind, out, languages, n=n, hours=hours, seed=seed, sample_rate=sample_rate,
            jobs=jobs, listeners_file=listeners_path, n_listeners=n_listeners,
            snr_range_db=snr_range_db, noise_types=noise_types, progress=report,
            room=room_options, speed_range=speed_range,
        )
    else:
        if speed_range is not None:
            raise ValueError("--speed applies to --source recorded")
        result = make_corpus(
            kind, out, n=n, hours=hours, seed=seed, sample_rate=sample_rate, jobs=jobs,
            listeners_file=listeners_path, n_listeners=n_listeners, snr_range_db=snr_range_db,
            noise_types=noise_types, music_seconds=music_seconds, progress=report,
            room=room_options,
        )
    load_manifest(result.manifest, check_audio="header")
    record = {
        "command": list(command) if command is not None else None,
        "task": "synth",
        "kind": kind,
        "options": {
            "n": n, "hours": hours, "seed": seed, "sample_rate": sample_rate, "jobs": jobs,
            "listeners": str(listeners_path) if listeners_path is not None else None,
            "n_listeners": n_listeners, "snr_range_db": list(snr_range_db),
            "noise_types": list(noise_types), "music_seconds": music_seconds,
            "source": source, "room": room,
            **({"speed_range": list(speed_range)} if speed_range is not None else {}),
            **({"rt60_range_s": list(room_options.rt60_range_s),
                "noise_sources": list(room_options.noise_sources)} if room_options else {}),
        },
        "versions": {**versions(), "espeak-ng": tool_version("espeak-ng"),
                     "fluidsynth": tool_version("fluidsynth"),
                     **({"ffmpeg": tool_version("ffmpeg", "-version")}
                        if source_kind == "recorded" else {})},
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "seconds": round(time.perf_counter() - clock, 3),
        "counts": {"items": result.items, "audio_seconds": round(result.audio_seconds, 3)},
    }
    write_json(out / RUN_RECORD, record)
    return SynthSummary(kind, out, result, record)
