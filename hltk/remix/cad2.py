"""CAD2 (the second Cadenza challenge) metadata -> an hltk remix manifest.

Task 2, rebalancing classical music (``recipes/cad2/task2/baseline``, ``ROOT`` as the
recipe's ``path.root``)::

    ROOT/metadata/scenes.SPLIT.json              {scene: {music, gain}}  (scene.SPLIT.json also read)
    ROOT/metadata/scene_listeners.SPLIT.json     {scene: [listener, ...]}
    ROOT/metadata/music.SPLIT.json               {music: {source_1: {instrument, track, start,
                                                  duration}, ..., mixture: {...}}}
    ROOT/metadata/gains.json                     {gain: {source_1: dB, ...}}
    ROOT/metadata/compressor_params.SPLIT.json   {listener: {cr_l, cr_r, gain_l, gain_r}}
    ROOT/metadata/listeners.SPLIT.json           Clarity listeners
    ROOT/audio/<track>                           the tracks named in music.SPLIT.json

A row per (scene, listener) pair in the recipe's order (``make_scene_listener_list``):
``id = {scene}_{listener}``, ``audio`` = the mixture track, ``stems`` = the scene's sources
(``source_1;source_2;...``, the keys of its music entry, as ``load_reference_stems`` reads
them), ``instruments`` (``Violin_1;Cello_1;...``), one column ``stem_<source>`` per source
(empty where a scene has fewer), ``scene``, ``listener``, ``song``, ``gain``, ``start_time``
and ``end_time`` of the mixture (seconds), ``split``, ``task``.

Task 1, lyric intelligibility (``recipes/cad2/task1/baseline``)::

    ROOT/metadata/scene.SPLIT.json            {scene: {segment_id, alpha}}
    ROOT/metadata/alpha.json                  {alpha_id: value}
    ROOT/metadata/music.SPLIT.json            {segment: {path, start_time, end_time, text, track_name}}
    ROOT/metadata/scene_listeners.SPLIT.json, compressor_params.SPLIT.json, listeners.SPLIT.json
    ROOT/audio/<path>/{mixture,vocals,drums,bass,other}.flac

Rows: ``id``, ``audio`` (the song's mixture), the MUSDB stems ``vocals, drums, bass, other``
when they exist, ``scene``, ``listener``, ``song`` (``track_name``), ``segment``, ``alpha``
(the value, written as the recipe's f-string writes it), ``start_time``, ``end_time``,
``lyrics``, ``split``, ``task``. The remix cuts ``[start_time, end_time)`` out of the song.

Beside the manifest: ``listeners.json``, ``compressor_params.json`` and (task 2)
``gains.json``, so ``hltk remix OUT/manifest.csv --chain cad2-task2`` and
``hltk evaluate ... --preset cad2-task2`` find them. Paths are relative to the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hltk.io.audio import atomic_path
from hltk.io.manifest import STEM_PREFIX, ManifestError, Problem, load_metadata, write_manifest
from hltk.io.paths import relative_path
from hltk.remix.chain import STEMS

#: how the challenge's metadata files are named in messages
METADATA = "CAD2 metadata file"

TASKS: tuple[int, ...] = (1, 2)
SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: the recipes' output names (``enhance.py``)
TASK2_FILENAME = "{scene}_{listener}_remix.{ext}"
TASK1_FILENAME = "{scene}_{listener}_A{alpha}_remix.{ext}"
COMPRESSOR_PARAMS = "compressor_params.json"


@dataclass(frozen=True)
class Cad2Manifest:
    """What :func:`write_cad2_manifest` wrote."""

    manifest: Path
    listeners: Path
    compressor_params: Path
    gains: Path | None
    rows: int
    scenes: int
    stems: int
    with_stems: bool




def _first(metadata: Path, *names: str) -> Path:
    """The first of ``names`` that exists (the recipes' README and config spell some files
    differently: ``scene.valid.json`` in the READMEs, ``scenes.valid.json`` in task 2's config)."""
    for name in names:
        if (metadata / name).is_file():
            return metadata / name
    return metadata / names[0]




def stem_column(stem: str) -> str:
    """The manifest column of a stem: the MUSDB four keep their names, others ``stem_<name>``."""
    return stem if stem in STEMS else f"{STEM_PREFIX}{stem}"


def _pairs(scene_listeners: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``make_scene_listener_list``: scenes in file order, then each scene's listeners."""
    return [(scene, listener) for scene in scene_listeners for listener in scene_listeners[scene]]


def task2_rows(root: Path, split: str, out: Path) -> tuple[list[dict[str, object]], list[str]]:
    """Task 2 rows (paths relative to ``out``) and the stem columns, in order."""
    metadata, music_dir = root / "metadata", root / "audio"
    scenes = load_metadata(_first(metadata, f"scenes.{split}.json", f"scene.{split}.json"), METADATA)
    scene_listeners = load_metadata(metadata / f"scene_listeners.{split}.json", METADATA)
    songs = load_metadata(metadata / f"music.{split}.json", METADATA)
    listeners = load_metadata(metadata / f"listeners.{split}.json", METADATA)
    params = load_metadata(metadata / f"compressor_params.{split}.json", METADATA)
    gains = load_metadata(metadata / "gains.json", METADATA)
    problems: list[Problem] = []
    rows: list[dict[str, object]] = []
    stem_names: list[str] = []
    for scene_id, listener_id in _pairs(scene_listeners):
        scene = scenes.get(scene_id)
        if scene is None:
            problems.append(Problem(None, "scene", f"scene {scene_id!r} is not in the scenes file"))
            continue
        song = songs.get(scene.get("music", ""))
        if song is None or "mixture" not in song:
            problems.append(Problem(None, "song", f"scene {scene_id}: music {scene.get('music')!r} "
                                    f"is not in music.{split}.json (or has no mixture)"))
            continue
        sources = [key for key, entry in song.items()
                   if key != "mixture" and "Mixture" not in str(entry.get("instrument", ""))]
        scene_gains = gains.get(scene.get("gain", ""))
        if scene_gains is None:
            problems.append(Problem(None, "gain", f"scene {scene_id}: gain {scene.get('gain')!r} "
                                    "is not in gains.json"))
        elif set(scene_gains) != set(sources):
            problems.append(Problem(None, "gain", f"scene {scene_id}: gain {scene.get('gain')!r} has "
                                    f"sources {sorted(scene_gains)}, the music {sorted(sources)}"))
        if listener_id not in listeners:
            problems.append(Problem(None, "listener", f"scene {scene_id}: listener {listener_id!r} "
                                    f"is not in listeners.{split}.json"))
        if listener_id not in params:
            problems.append(Problem(None, "listener", f"scene {scene_id}: listener {listener_id!r} "
                                    f"is not in compressor_params.{split}.json"))
        mixture = song["mixture"]
        start = float(mixture.get("start", 0.0))
        row: dict[str, object] = {
            "id": f"{scene_id}_{listener_id}",
            "audio": relative_path(music_dir / mixture["track"], out),
            "stems": ";".join(sources),
            "instruments": ";".join(str(song[s].get("instrument", "")) for s in sources),
            "scene": scene_id, "listener": listener_id, "song": scene["music"],
            "gain": str(scene.get("gain", "")), "start_time": repr(start),
            "end_time": repr(start + float(mixture["duration"])) if "duration" in mixture else "",
            "split": split, "task": 2,
        }
        for track in [mixture["track"], *(song[s]["track"] for s in sources)]:
            if not (music_dir / track).is_file():
                problems.append(Problem(None, "audio", f"scene {scene_id}: no audio at {music_dir / track}"))
        for source in sources:
            column = stem_column(source)
            row[column] = relative_path(music_dir / song[source]["track"], out)
            if column not in stem_names:
                stem_names.append(column)
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(None, None, f"split {split}: no scene-listener pairs"))
    if problems:
        raise ManifestError(f"{root} (task 2, {split})", problems)
    return rows, stem_names


def task1_rows(root: Path, split: str, out: Path) -> tuple[list[dict[str, object]], bool]:
    """Task 1 rows (paths relative to ``out``) and whether every song has its four stems."""
    metadata, music_dir = root / "metadata", root / "audio"
    scenes = load_metadata(_first(metadata, f"scene.{split}.json", f"scenes.{split}.json"), METADATA)
    scene_listeners = load_metadata(metadata / f"scene_listeners.{split}.json", METADATA)
    songs = load_metadata(metadata / f"music.{split}.json", METADATA)
    alphas = load_metadata(metadata / "alpha.json", METADATA)
    listeners = load_metadata(metadata / f"listeners.{split}.json", METADATA)
    params = load_metadata(metadata / f"compressor_params.{split}.json", METADATA)
    problems: list[Problem] = []
    rows: list[dict[str, object]] = []
    stems_everywhere = True
    for scene_id, listener_id in _pairs(scene_listeners):
        scene = scenes.get(scene_id)
        if scene is None:
            problems.append(Problem(None, "scene", f"scene {scene_id!r} is not in the scene file"))
            continue
        segment = songs.get(scene.get("segment_id", ""))
        if segment is None:
            problems.append(Problem(None, "song", f"scene {scene_id}: segment "
                                    f"{scene.get('segment_id')!r} is not in music.{split}.json"))
            continue
        if scene.get("alpha") not in alphas:
            problems.append(Problem(None, "alpha", f"scene {scene_id}: alpha {scene.get('alpha')!r} "
                                    "is not in alpha.json"))
            continue
        for name, table in ((f"listeners.{split}.json", listeners),
                            (f"compressor_params.{split}.json", params)):
            if listener_id not in table:
                problems.append(Problem(None, "listener", f"scene {scene_id}: listener "
                                        f"{listener_id!r} is not in {name}"))
        folder = music_dir / segment["path"]
        if not (folder / "mixture.flac").is_file():
            problems.append(Problem(None, "audio",
                                    f"scene {scene_id}: no mixture at {folder / 'mixture.flac'}"))
        has_stems = all((folder / f"{stem}.flac").is_file() for stem in STEMS)
        stems_everywhere = stems_everywhere and has_stems
        row: dict[str, object] = {
            "id": f"{scene_id}_{listener_id}", "audio": relative_path(folder / "mixture.flac", out),
            "scene": scene_id, "listener": listener_id,
            "song": str(segment.get("track_name", "")), "segment": scene["segment_id"],
            "alpha": f"{alphas[scene['alpha']]}",
            "start_time": repr(float(segment["start_time"])),
            "end_time": repr(float(segment["end_time"])),
            "lyrics": str(segment.get("text", "")), "split": split, "task": 1,
        }
        row.update({stem: relative_path(folder / f"{stem}.flac", out) for stem in STEMS})
        rows.append(row)
    if not rows and not problems:
        problems.append(Problem(None, None, f"split {split}: no scene-listener pairs"))
    if problems:
        raise ManifestError(f"{root} (task 1, {split})", problems)
    if not stems_everywhere:
        for row in rows:
            for stem in STEMS:
                row.pop(stem)
    return rows, stems_everywhere


def _copy(source: Path, target: Path) -> Path:
    with atomic_path(target) as temporary:
        temporary.write_bytes(source.read_bytes())
    return target


def write_cad2_manifest(root: str | Path, task: int, split: str, out: str | Path) -> Cad2Manifest:
    """``OUT/manifest.csv`` + ``listeners.json`` + ``compressor_params.json`` (+ task 2's
    ``gains.json``) for one task and split; raises :class:`ManifestError` naming every
    missing scene, song, gain, alpha, listener or file, ``ValueError`` for a bad task/split."""
    if task not in TASKS:
        raise ValueError(f"unknown CAD2 task {task!r}; choose 1 (lyrics) or 2 (classical rebalancing)")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = ["id", "audio"]
    if task == 2:
        rows, stem_columns = task2_rows(root, split, out)
        columns = [*base, "stems", "instruments", *stem_columns, "scene", "listener", "song",
                   "gain", "start_time", "end_time", "split", "task"]
        for row in rows:
            for column in stem_columns:
                row.setdefault(column, "")
        with_stems, stems = True, len(stem_columns)
    else:
        rows, with_stems = task1_rows(root, split, out)
        columns = [*base, *(STEMS if with_stems else ()), "scene", "listener", "song", "segment",
                   "alpha", "start_time", "end_time", "lyrics", "split", "task"]
        stems = len(STEMS) if with_stems else 0
    manifest = out / "manifest.csv"
    write_manifest(manifest, rows, columns)
    metadata = root / "metadata"
    listeners = _copy(metadata / f"listeners.{split}.json", out / "listeners.json")
    params = _copy(metadata / f"compressor_params.{split}.json", out / COMPRESSOR_PARAMS)
    gains = _copy(metadata / "gains.json", out / "gains.json") if task == 2 else None
    return Cad2Manifest(manifest, listeners, params, gains, len(rows),
                        len({row["scene"] for row in rows}), stems, with_stems)
