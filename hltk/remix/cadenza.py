"""Cadenza ICASSP 2024 metadata -> an hltk remix manifest (+ listeners.json, gains.json).

The challenge layout (``ROOT`` as the baseline's ``path.root``)::

    ROOT/metadata/scenes.SPLIT.json           {scene: {music, gain, head_loudspeaker_positions}}
    ROOT/metadata/scene_listeners.SPLIT.json  {scene: [listener, ...]}
    ROOT/metadata/listeners.SPLIT.json        Clarity listeners
    ROOT/metadata/at_mic_music.SPLIT.json     {"<music>-<head position>": {"Path": ...}}
    ROOT/metadata/gains.json                  {gain: {vocals, drums, bass, other: dB}}
    ROOT/audio/at_mic_music/<Path>/{mixture,vocals,drums,bass,other}.wav

One manifest row per (scene, listener) pair, in the recipe's order (``make_scene_listener_list``):
``id = {scene}_{listener}``, ``audio`` = the song's at-mic mixture, the four stems when they
exist (the evaluation split has mixtures only: then no stem columns, and only
a separator such as Hybrid Demucs applies), ``scene``, ``listener``, ``song``, ``gain``,
``head_position``, ``split``. Paths are written relative to the manifest's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hltk.io.audio import atomic_path
from hltk.io.manifest import ManifestError, Problem, load_metadata, write_manifest
from hltk.io.paths import relative_path
from hltk.remix.chain import STEMS

#: how the challenge's metadata files are named in messages
METADATA = "Cadenza metadata file"

SPLITS: tuple[str, ...] = ("train", "valid", "test")
COLUMNS: tuple[str, ...] = ("id", "audio", *STEMS, "scene", "listener", "song", "gain",
                            "head_position", "split")


@dataclass(frozen=True)
class CadenzaManifest:
    """What :func:`write_cadenza_manifest` wrote."""

    manifest: Path
    listeners: Path
    gains: Path
    rows: int
    scenes: int
    with_stems: bool






def cadenza_rows(root: str | Path, split: str, out: str | Path) -> tuple[list[dict[str, object]], bool]:
    """Manifest rows for ``split`` with paths relative to ``out``, and whether stems exist.

    Raises :class:`ManifestError` naming every missing scene, song, listener, gain or file.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    root, out = Path(root), Path(out)
    metadata = root / "metadata"
    scenes = load_metadata(metadata / f"scenes.{split}.json", METADATA)
    scene_listeners = load_metadata(metadata / f"scene_listeners.{split}.json", METADATA)
    songs = load_metadata(metadata / f"at_mic_music.{split}.json", METADATA)
    listeners = load_metadata(metadata / f"listeners.{split}.json", METADATA)
    gains = load_metadata(metadata / "gains.json", METADATA)
    music_dir = root / "audio" / "at_mic_music"
    problems: list[Problem] = []
    rows: list[dict[str, object]] = []
    stems_everywhere = True
    for scene_id, listener_ids in scene_listeners.items():
        scene = scenes.get(scene_id)
        if scene is None:
            problems.append(Problem(None, "scene", f"scene {scene_id!r} is not in scenes.{split}.json"))
            continue
        position = scene.get("head_loudspeaker_positions", scene.get("head_position", ""))
        song_name = f"{scene.get('music', '')}-{position}"
        song = songs.get(song_name)
        if song is None:
            problems.append(Problem(None, "song", f"scene {scene_id}: song {song_name!r} is not in "
                                    f"at_mic_music.{split}.json"))
            continue
        if scene.get("gain") not in gains:
            problems.append(Problem(None, "gain", f"scene {scene_id}: gain {scene.get('gain')!r} "
                                    "is not in gains.json"))
        folder = music_dir / song["Path"]
        if not (folder / "mixture.wav").is_file():
            problems.append(Problem(None, "audio", f"scene {scene_id}: no mixture at "
                                    f"{folder / 'mixture.wav'}"))
        has_stems = all((folder / f"{stem}.wav").is_file() for stem in STEMS)
        stems_everywhere = stems_everywhere and has_stems
        for listener_id in listener_ids:
            if listener_id not in listeners:
                problems.append(Problem(None, "listener", f"scene {scene_id}: listener {listener_id!r} "
                                        f"is not in listeners.{split}.json"))
            row = {"id": f"{scene_id}_{listener_id}", "audio": relative_path(folder / "mixture.wav", out),
                   "scene": scene_id, "listener": listener_id, "song": song_name,
                   "gain": str(scene.get("gain", "")), "head_position": str(position), "split": split}
            row.update({stem: relative_path(folder / f"{stem}.wav", out) for stem in STEMS})
            rows.append(row)
    if not rows and not problems:
        problems.append(Problem(None, None, f"split {split}: no scene-listener pairs"))
    if problems:
        raise ManifestError(f"{root} ({split})", problems)
    if not stems_everywhere:
        for row in rows:
            for stem in STEMS:
                row.pop(stem)
    return rows, stems_everywhere


def write_cadenza_manifest(root: str | Path, split: str, out: str | Path) -> CadenzaManifest:
    """``OUT/manifest.csv`` + ``OUT/listeners.json`` + ``OUT/gains.json`` for one split, ready
    for ``hltk remix OUT/manifest.csv -o ...``."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, with_stems = cadenza_rows(root, split, out)
    columns = [c for c in COLUMNS if with_stems or c not in STEMS]
    manifest = out / "manifest.csv"
    write_manifest(manifest, rows, columns)
    copies = {}
    for source, name in ((f"listeners.{split}.json", "listeners.json"), ("gains.json", "gains.json")):
        with atomic_path(out / name) as temporary:
            temporary.write_bytes((root / "metadata" / source).read_bytes())
        copies[name] = out / name
    return CadenzaManifest(manifest, copies["listeners.json"], copies["gains.json"], len(rows),
                           len({row["scene"] for row in rows}), with_stems)
