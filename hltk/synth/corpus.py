"""Whole synthetic corpora: audio files, ``manifest.csv``, ``listeners.json`` (and
``gains.json`` for music) in the project's manifest format.

Layout of ``OUT`` (paths in the manifest are relative to ``OUT``)::

    manifest.csv     one row per item (columns: :data:`COLUMNS`)
    listeners.json   Clarity format; every row's ``listener`` is in it
    synth.json       how the corpus was made (kind, seed, options, tool versions; no times)
    audio/ID.wav     speech / noisy mixture / music mixture / listeners probe
    reference/ID.wav noise/ID.wav                   (noisy)
    stems/ID/{vocals,drums,bass,other}.wav, midi/ID.mid, gains.json   (music)

Item ``i`` has id ``{kind}_{i:05d}`` and every random draw for it comes from
``md5(seed, id)`` (:mod:`hltk.synth.seeding`), so a corpus is byte-identical whatever
``jobs`` is, and the first ``n`` items of a bigger corpus are the same as a corpus of ``n``.
Float WAVs are written without libsndfile's PEAK chunk (it holds a timestamp).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hltk.io.audio import atomic_path, write_audio
from hltk.io.listeners import Listener, save_listeners
from hltk.synth.listeners import PROFILES, load_or_make_listeners
from hltk.synth.noise import NOISE_TYPES, make_noise, mix_at_snr
from hltk.synth.room import ROOM_COLUMNS, RoomOptions, draw_scene, render_scene, scene_columns
from hltk.synth.seeding import item_rng
from hltk.synth.speech import SPLITS, draw_split, draw_utterance
from hltk.synth.tools import require_tools, tool_version

KINDS: tuple[str, ...] = ("speech", "noisy", "music", "listeners")
DEFAULT_SAMPLE_RATES: dict[str, int] = {
    "speech": 16000, "noisy": 16000, "music": 44100, "listeners": 44100,
}
DEFAULT_COUNTS: dict[str, int] = {"speech": 100, "noisy": 100, "music": 20, "listeners": 22}
DEFAULT_LISTENERS = 22
#: Manifest columns per kind, in order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "speech": ("id", "audio", "listener", "split", "duration_s", "text", "voice", "sex",
               "accent", "rate_wpm", "pitch"),
    "noisy": ("id", "audio", "reference", "noise", "snr_db", "noise_type", "listener", "split",
              "duration_s", "text", "voice"),
    "music": ("id", "audio", "vocals", "drums", "bass", "other", "gain", "listener", "split",
              "duration_s", "style", "key", "mode", "tempo_bpm"),
    "listeners": ("id", "audio", "listener", "profile"),
}
SPEECH_SUBTYPE = "PCM_16"
FLOAT_SUBTYPE = "FLOAT"


@dataclass(frozen=True)
class SynthOptions:
    """Everything that decides a corpus's content (recorded in ``synth.json``)."""

    kind: str
    seed: int = 0
    sample_rate: int | None = None
    snr_range_db: tuple[float, float] = (-5.0, 15.0)
    noise_types: tuple[str, ...] = NOISE_TYPES
    music_seconds: float = 10.0
    listeners: int = DEFAULT_LISTENERS

    @property
    def rate(self) -> int:
        return int(self.sample_rate or DEFAULT_SAMPLE_RATES[self.kind])


@dataclass
class CorpusResult:
    """What :func:`make_corpus` made."""

    manifest: Path
    items: int
    audio_seconds: float
    elapsed_seconds: float
    rows: list[dict[str, str]] = field(default_factory=list, repr=False)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str) -> None:
    """Write ``(time,)`` or ``[channels, time]`` audio atomically and byte-reproducibly as WAV
    (``PCM_16`` clamps to [-1, 1]; ``FLOAT`` keeps the float32 values)."""
    write_audio(path, np.asarray(audio, dtype=np.float32), sample_rate,
                "wav32f" if subtype == FLOAT_SUBTYPE else "wav16")


def item_id(kind: str, index: int) -> str:
    return f"{kind}_{index:05d}"


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _speech_item(item: str, options: SynthOptions, out: Path) -> dict[str, Any]:
    rng = item_rng(options.seed, item, "speech")
    split = draw_split(rng)
    utterance = draw_utterance(rng, options.rate, split=split)
    audio = f"audio/{item}.wav"
    write_wav(out / audio, utterance.audio, options.rate, SPEECH_SUBTYPE)
    return {
        "id": item, "audio": audio, "split": split, "duration_s": _seconds(utterance.duration),
        "text": utterance.text, "voice": utterance.voice.name, "sex": utterance.voice.sex,
        "accent": utterance.voice.accent, "rate_wpm": str(utterance.rate_wpm),
        "pitch": str(utterance.pitch), "_files": [audio], "_seconds": utterance.duration,
    }


def write_noisy_files(out: Path, item: str, rate: int, mixture: np.ndarray,
                      reference: np.ndarray, noise: np.ndarray) -> dict[str, str]:
    """Write a noisy item's ``audio`` (the mixture), ``reference`` and ``noise`` as float WAV
    under ``out``; returns their manifest paths by column."""
    paths = {"audio": f"audio/{item}.wav", "reference": f"reference/{item}.wav",
             "noise": f"noise/{item}.wav"}
    for column, signal in (("audio", mixture), ("reference", reference), ("noise", noise)):
        write_wav(out / paths[column], signal, rate, FLOAT_SUBTYPE)
    return paths


def _noisy_item(item: str, options: SynthOptions, out: Path) -> dict[str, Any]:
    rng = item_rng(options.seed, item, "noisy")
    split = draw_split(rng)
    utterance = draw_utterance(rng, options.rate, split=split)
    noise_type = options.noise_types[int(rng.integers(len(options.noise_types)))]
    low, high = options.snr_range_db
    target_snr = round(float(rng.uniform(low, high)), 1)
    noise_rng = item_rng(options.seed, item, "noise")
    noise = make_noise(noise_type, utterance.audio.size, noise_rng, options.rate,
                       speech=utterance.audio, split=split)
    mixture, reference, scaled_noise = mix_at_snr(utterance.audio, noise, target_snr)
    paths = write_noisy_files(out, item, options.rate, mixture, reference, scaled_noise)
    return {
        "id": item, **paths, "snr_db": f"{target_snr:.1f}", "noise_type": noise_type,
        "split": split, "duration_s": _seconds(utterance.duration), "text": utterance.text,
        "voice": utterance.voice.name, "_files": list(paths.values()),
        "_seconds": utterance.duration,
    }


def _reverberant_item(item: str, options: SynthOptions, room: RoomOptions,
                      out: Path) -> dict[str, Any]:
    """A noisy item in a simulated room (:mod:`hltk.synth.room`): the same utterance, noise type
    and SNR draws as the anechoic item of that id; ``reference`` is the direct-path target."""
    rng = item_rng(options.seed, item, "noisy")
    split = draw_split(rng)
    utterance = draw_utterance(rng, options.rate, split=split)
    noise_type = options.noise_types[int(rng.integers(len(options.noise_types)))]
    low, high = options.snr_range_db
    target_snr = round(float(rng.uniform(low, high)), 1)
    noise_rng = item_rng(options.seed, item, "noise")
    scene = draw_scene(item_rng(options.seed, item, "room"), room)

    def draw_noise(length: int) -> np.ndarray:
        return make_noise(noise_type, length, noise_rng, options.rate, speech=utterance.audio,
                          split=split)

    rendered = render_scene(utterance.audio, scene, options.rate, target_snr, draw_noise)
    paths = write_noisy_files(out, item, options.rate, rendered.mixture, rendered.reference,
                              rendered.noise)
    return {
        "id": item, **paths, "snr_db": f"{target_snr:.1f}", "noise_type": noise_type,
        "split": split, "duration_s": _seconds(utterance.duration), "text": utterance.text,
        "voice": utterance.voice.name, **scene_columns(rendered), "_files": list(paths.values()),
        "_seconds": utterance.duration,
    }


def _music_item(item: str, options: SynthOptions, out: Path) -> dict[str, Any]:
    from hltk.synth.music import STEMS, compose_song, draw_gains, render_stems, song_midi

    rng = item_rng(options.seed, item, "music")
    split = SPLITS[int(rng.choice(len(SPLITS), p=(0.8, 0.1, 0.1)))]
    song = compose_song(rng, duration=options.music_seconds)
    stems, mixture = render_stems(song, options.rate, seconds=options.music_seconds)
    paths = {"audio": f"audio/{item}.wav"}
    paths.update({stem: f"stems/{item}/{stem}.wav" for stem in STEMS})
    write_wav(out / paths["audio"], mixture, options.rate, FLOAT_SUBTYPE)
    for stem in STEMS:
        write_wav(out / paths[stem], stems[stem], options.rate, FLOAT_SUBTYPE)
    midi = f"midi/{item}.mid"
    (out / "midi").mkdir(parents=True, exist_ok=True)
    with atomic_path(out / midi) as temporary:
        song_midi(song).save(str(temporary))
    gain_id = f"gain_{item}"
    return {
        "id": item, **paths, "gain": gain_id, "split": split,
        "duration_s": _seconds(mixture.shape[-1] / options.rate), "style": song.style,
        "key": song.key, "mode": song.mode, "tempo_bpm": str(song.tempo_bpm),
        "_gains": (gain_id, draw_gains(item_rng(options.seed, item, "gain"))),
        "_files": [*paths.values(), midi], "_seconds": mixture.shape[-1] / options.rate,
    }


_MAKERS: dict[str, Callable[[str, SynthOptions, Path], dict[str, Any]]] = {
    "speech": _speech_item, "noisy": _noisy_item, "music": _music_item,
}


def make_item(kind: str, index: int, options: SynthOptions, out: str | Path) -> dict[str, Any]:
    """Make item ``index`` of a ``kind`` corpus under ``out``; returns its manifest row
    (keys starting with ``_`` are bookkeeping: files written, seconds of audio)."""
    return _MAKERS[kind](item_id(kind, index), options, Path(out))


def assign_listener(row: dict[str, Any], seed: int, listener_ids: Sequence[str]) -> None:
    rng = item_rng(seed, row["id"], "listener")
    row["listener"] = listener_ids[int(rng.integers(len(listener_ids)))]


def _remove_item_files(out: Path, row: dict[str, Any]) -> None:
    """Remove an item's files (and its own folder, such as ``stems/ID``)."""
    for relative in row["_files"]:
        path = out / relative
        path.unlink(missing_ok=True)
        if path.parent.name == row["id"] and not any(path.parent.iterdir()):
            path.parent.rmdir()


def write_manifest(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n",
                                    extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({column: row.get(column, "") for column in columns})


def write_json(path: Path, content: Any) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def _run_items(
    make: Callable[[int], dict[str, Any]], indices: Sequence[int], jobs: int
) -> list[dict[str, Any]]:
    """Make items with joblib threads: the work is mostly in espeak-ng / fluidsynth
    subprocesses, soxr and numpy FFTs, which run outside the GIL; threads avoid starting and
    importing torch in worker processes (measured: 3x faster than loky processes for speech
    on 2 cores)."""
    if jobs == 1 or len(indices) <= 1:
        return [make(index) for index in indices]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=jobs, prefer="threads")(
        delayed(make)(index) for index in indices
    ))


def collect_items(
    make: Callable[[int], dict[str, Any]], count: int | None, hours: float | None, chunk: int,
    jobs: int, out: Path, progress: Callable[[int, float], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows of items ``make(0), make(1), ...``: ``count`` of them, or (``count=None``) until
    ``hours`` of audio, made ``chunk`` at a time (the items past the one that reaches the total
    are removed with their files). ``progress(items, seconds)`` after each chunk."""
    rows: list[dict[str, Any]] = []
    target_seconds = hours * 3600.0 if hours is not None else None
    total_seconds = 0.0
    next_index = 0
    while True:
        if count is not None:
            indices = list(range(next_index, min(count, next_index + chunk)))
        else:
            indices = list(range(next_index, next_index + chunk))
        if not indices:
            break
        made = _run_items(make, indices, jobs)
        next_index = indices[-1] + 1
        stop = False
        for position, row in enumerate(made):
            rows.append(row)
            total_seconds += row["_seconds"]
            if target_seconds is not None and total_seconds >= target_seconds:
                for extra in made[position + 1 :]:
                    _remove_item_files(out, extra)
                stop = True
                break
        if progress is not None:
            progress(len(rows), total_seconds)
        if stop:
            break
    return rows


def check_corpus_options(
    kind: str, n: int | None, hours: float | None, jobs: int, noise_types: Sequence[str],
    snr_range_db: tuple[float, float], sample_rate: int | None,
) -> None:
    """Raise ``ValueError`` for options no corpus accepts (shared by the recorded corpora)."""
    if n is not None and hours is not None:
        raise ValueError("give --n or --hours, not both")
    if n is not None and n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    if hours is not None and hours <= 0:
        raise ValueError(f"--hours must be positive, got {hours}")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    if kind == "listeners" and hours is not None:
        raise ValueError("--hours does not apply to listeners; give --n")
    unknown = [name for name in noise_types if name not in NOISE_TYPES]
    if unknown or not noise_types:
        raise ValueError(f"unknown noise types {unknown}; choose from {', '.join(NOISE_TYPES)}")
    if snr_range_db[0] > snr_range_db[1]:
        raise ValueError(f"SNR range {snr_range_db} is not ascending")
    if sample_rate is not None and not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample rate {sample_rate} Hz is outside 8000..192000")


def _listeners_corpus(
    options: SynthOptions, out: Path, listeners: list[Listener], generated: bool
) -> list[dict[str, Any]]:
    """One row per listener, all on one probe sentence (``audio/probe.wav``): a manifest on
    which ``hltk simulate`` shows what each listener hears."""
    rng = item_rng(options.seed, "probe", "speech")
    utterance = draw_utterance(rng, options.rate, sentences=1)
    probe = "audio/probe.wav"
    write_wav(out / probe, utterance.audio, options.rate, SPEECH_SUBTYPE)
    rows = []
    for index, listener in enumerate(listeners):
        profile = PROFILES[index % len(PROFILES)] if generated else ""
        rows.append({"id": listener.id, "audio": probe, "listener": listener.id,
                     "profile": profile, "_files": [], "_seconds": utterance.duration})
    return rows


def make_corpus(
    kind: str,
    out: str | Path,
    n: int | None = None,
    hours: float | None = None,
    seed: int = 0,
    sample_rate: int | None = None,
    jobs: int = 1,
    listeners_file: str | Path | None = None,
    n_listeners: int = DEFAULT_LISTENERS,
    snr_range_db: tuple[float, float] = (-5.0, 15.0),
    noise_types: Sequence[str] = NOISE_TYPES,
    music_seconds: float = 10.0,
    progress: Callable[[int, float], None] | None = None,
    room: RoomOptions | None = None,
) -> CorpusResult:
    """Make a corpus of ``kind`` (:data:`KINDS`) under ``out``.

    Size: ``n`` items, or as many as make ``hours`` of audio (items are made in chunks and
    the corpus stops at the first item that reaches the total; extra items' files are
    removed). Default: :data:`DEFAULT_COUNTS`. ``listeners_file`` reuses an existing Clarity
    ``listeners.json`` instead of drawing ``n_listeners`` new listeners. ``progress(items,
    seconds)`` is called after each chunk. Raises :class:`ValueError` for bad options, then
    :class:`hltk.io.listeners.ListenerError` for a bad ``listeners_file``, and only then
    :class:`hltk.synth.tools.ToolMissingError` when espeak-ng or fluidsynth is missing (usage
    errors first: they exit 2 whatever the machine has); ``out`` is created after all three.

    ``room`` (noisy only): reverberant scenes (:mod:`hltk.synth.room`), columns
    :data:`~hltk.synth.room.ROOM_COLUMNS` added and ``room`` recorded in ``synth.json``;
    ``None`` (default) is the anechoic corpus, unchanged.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown corpus kind {kind!r}; choose from {', '.join(KINDS)}")
    if room is not None and kind != "noisy":
        raise ValueError(f"--room reverberant applies to noisy corpora, not {kind}")
    check_corpus_options(kind, n, hours, jobs, noise_types, snr_range_db, sample_rate)
    started = time.perf_counter()
    options = SynthOptions(kind=kind, seed=int(seed), sample_rate=sample_rate,
                           snr_range_db=(float(snr_range_db[0]), float(snr_range_db[1])),
                           noise_types=tuple(noise_types), music_seconds=float(music_seconds),
                           listeners=int(n_listeners if kind != "listeners" else
                                         (n or DEFAULT_COUNTS["listeners"])))
    listeners = load_or_make_listeners(options.listeners, options.seed, listeners_file)
    if not listeners:
        raise ValueError(f"no listeners in {listeners_file}")
    # usage errors (options, the listeners file) before the environment, and both before OUT
    noisy_tools = kind == "noisy" and "music" not in noise_types
    require_tools("speech" if noisy_tools else kind)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_listeners(listeners, out / "listeners.json")

    if kind == "listeners":
        rows = _listeners_corpus(options, out, listeners, listeners_file is None)
    else:
        count = n if n is not None else (None if hours is not None else DEFAULT_COUNTS[kind])
        chunk = (2 if kind == "music" else 16) * jobs  # songs are slow: overshoot less
        if room is not None:
            reverberant = room

            def make(index: int) -> dict[str, Any]:
                return _reverberant_item(item_id(kind, index), options, reverberant, out)
        else:
            def make(index: int) -> dict[str, Any]:
                return make_item(kind, index, options, out)
        rows = collect_items(make, count, hours, chunk, jobs, out, progress)
        listener_ids = [listener.id for listener in listeners]
        for row in rows:
            assign_listener(row, options.seed, listener_ids)
        if kind == "music":
            write_json(out / "gains.json", dict(row["_gains"] for row in rows))

    columns = COLUMNS[kind] + (ROOM_COLUMNS if room is not None else ())
    write_manifest(out / "manifest.csv", columns, rows)
    record: dict[str, Any] = {
        "kind": kind, "items": len(rows), "hours": hours, "listeners_file":
        str(listeners_file) if listeners_file is not None else None,
        "options": {**asdict(options), "sample_rate": options.rate},
        "tools": {program: tool_version(program) for program in ("espeak-ng", "fluidsynth")},
    }
    if room is not None:
        record["room"] = {"kind": "reverberant", **asdict(room)}
    write_json(out / "synth.json", record)
    return CorpusResult(
        manifest=out / "manifest.csv",
        items=len(rows),
        audio_seconds=float(sum(row["_seconds"] for row in rows)),
        elapsed_seconds=time.perf_counter() - started,
        rows=[{key: value for key, value in row.items() if not key.startswith("_")}
              for row in rows],
    )
