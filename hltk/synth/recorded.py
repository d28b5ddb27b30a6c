"""Recorded speech corpora from Debian's Asterisk prompts (``hltk synth speech|noisy --source
recorded[:LANG,...]``), in the same manifest format as the synthetic corpora.

Prompts (:mod:`hltk.synth.asterisk`) are decoded with ffmpeg at their own sample rate (G.722:
16 kHz; GSM and PCM sets: 8 kHz), their leading and trailing silence is trimmed
(:func:`trim_silence`), and an item is one to four prompts of one talker joined by short
pauses (1.5-4 s drawn per item, at most 6 s), resampled with soxr to ``--sample-rate`` and
set to the synthetic corpora's active level (:func:`hltk.synth.speech.normalise_level`).
Items are drawn from ``md5(seed, id)`` (:mod:`hltk.synth.seeding`) like the synthetic ones,
so corpora are byte-identical whatever ``jobs`` is, and the first ``n`` items of a bigger
corpus equal a corpus of ``n``.

Splits (:func:`row_split`) are fixed, not drawn per seed, so that corpora made with different
seeds (training and test sets) never share a prompt across splits:

- a prompt is its file name (``vm-goodbye``, ``digits/5``) in every language, since the sets
  are translations of one list; its split comes from ``md5(name)`` with the synthetic corpora's
  fractions (80 / 10 / 10), the same for every talker and language;
- English (:data:`~hltk.synth.asterisk.TEST_ONLY_LANGUAGES`) is ``test`` whatever the name:
  every English name also exists in a training language, so English checks unseen speech and
  an unseen language, not unseen message texts;
- held-out talkers (:data:`~hltk.synth.asterisk.HELD_OUT_SPEAKERS`: Allison Smith reads both
  the English and the Mexican Spanish sets) keep only their ``test`` prompts outside English;
- the other six talkers give all three splits; their ``valid`` and ``test`` rows are unseen
  prompts of seen talkers. The ``holdout`` column says what a row holds out of training.

Talker perturbation (``--speed LOW:HIGH``, off by default): each item's talker is resampled by
a speed factor drawn per item (its own random stream, so every other draw of the item is
unchanged): the recording is resampled from the corpus rate to ``rate / factor`` and then read
at the corpus rate, so pitch and formants scale together by ``factor`` and the item lasts
``1 / factor`` as long, a virtual talker (the speed perturbation of Ko et al., Interspeech 2015,
used here for the talker variety six recorded voices lack). The babble around it is left as
recorded; the factor is in the ``speed`` column.

Noisy items mix the speech with the synthetic corpora's noises (:mod:`hltk.synth.noise`)
except ``babble``, which here is 4-8 OTHER recorded talkers (:func:`recorded_babble`): voice
sets of the same split, never the target's talker (in any language) nor its prompt names.
Babble talkers come from every voice set, whatever languages the targets are in (so English
test items have babble too), and every set must then be installed, so that a corpus never
depends on which packages happen to be there. English prompts are ``test`` only, so they are
never in the babble of training items.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from hltk.io.listeners import save_listeners
from hltk.synth.asterisk import (
    DECODER,
    HELD_OUT_SPEAKERS,
    LANGUAGES,
    TEST_ONLY_LANGUAGES,
    VoiceSet,
    sounds_root,
    voice_sets,
)
from hltk.synth.corpus import (
    DEFAULT_COUNTS,
    DEFAULT_LISTENERS,
    SPEECH_SUBTYPE,
    CorpusResult,
    SynthOptions,
    assign_listener,
    check_corpus_options,
    collect_items,
    item_id,
    write_json,
    write_manifest,
    write_noisy_files,
    write_wav,
)
from hltk.synth.listeners import load_or_make_listeners
from hltk.synth.noise import NOISE_TYPES, _loop_to, _unit_rms, make_noise, mix_at_snr
from hltk.synth.room import ROOM_COLUMNS, RoomOptions, draw_scene, render_scene, scene_columns
from hltk.synth.seeding import item_rng
from hltk.synth.speech import SPLIT_FRACTIONS, SPLITS, normalise_level, to_rate
from hltk.synth.tools import (
    Tool,
    ToolMissingError,
    missing_message,
    missing_recorded_tools,
    require_tools,
    tool_version,
)

KINDS: tuple[str, ...] = ("speech", "noisy")
#: Manifest columns per kind, in order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "speech": ("id", "audio", "listener", "split", "duration_s", "voice", "speaker", "sex",
               "language", "accent", "prompt", "package", "source_rate", "holdout"),
    "noisy": ("id", "audio", "reference", "noise", "snr_db", "noise_type", "listener", "split",
              "duration_s", "voice", "speaker", "sex", "language", "accent", "prompt", "package",
              "source_rate", "holdout", "babble_voices"),
}
#: Prompts that are tones or silence, not speech.
NON_SPEECH: frozenset[str] = frozenset(
    {"beep", "beeperr", "ascending-2tone", "descending-2tone"}
)
#: Trimming: 10 ms frames; speech is within this many dB of the loudest frame.
TRIM_FLOOR_DB = 40.0
TRIM_MARGIN_S = (0.05, 0.08)  # kept before the first / after the last speech frame
FADE_S = 0.005
#: Prompts whose trimmed length is shorter than this are left out (clicks, breaths).
MIN_PROMPT_S = 0.2
#: Items: prompts of one talker until this many seconds (drawn per item), at most MAX_PROMPTS
#: prompts and MAX_ITEM_S seconds (longer prompts, such as the voicemail instructions of up to
#: 70 s, are left out of items; babble uses them).
ITEM_SECONDS = (1.5, 4.0)
MAX_PROMPTS = 4
MAX_ITEM_S = 6.0
PAUSE_S = (0.15, 0.4)
BABBLE_TALKERS = (4, 8)
#: The column added when talkers are perturbed (``--speed``).
SPEED_COLUMNS: tuple[str, ...] = ("speed",)


class RecordedSpeechError(RuntimeError):
    """A prompt could not be decoded, or a corpus cannot be made from what is installed."""


@dataclass(frozen=True)
class Prompt:
    """One prompt file of one voice set, and the split its row belongs to."""

    voice: VoiceSet
    name: str  #: path under the voice folder, without extension, ``/``-separated, lower case
    path: Path
    split: str
    holdout: str  #: what the row holds out of training: "", "prompt", "speaker", "speaker+language"


def prompt_split(name: str) -> str:
    """The split of a prompt name, from ``md5(name)`` with :data:`SPLIT_FRACTIONS`; the same in
    every language and for every seed."""
    digest = hashlib.md5(f"asterisk-prompt:{name}".encode()).digest()
    position = int.from_bytes(digest[:8], "little") / 2.0**64
    edges = np.cumsum(SPLIT_FRACTIONS)
    return SPLITS[min(int(np.searchsorted(edges, position, side="right")), len(SPLITS) - 1)]


def row_split(voice: VoiceSet, name: str) -> tuple[str | None, str]:
    """``(split, holdout)`` of a voice set's prompt; split ``None``: the prompt is left out (a
    held-out talker's prompt whose name is in train or valid)."""
    split = prompt_split(name)
    if voice.language in TEST_ONLY_LANGUAGES:
        return "test", "speaker+language"
    if voice.speaker in HELD_OUT_SPEAKERS:
        return ("test", "speaker") if split == "test" else (None, "")
    return split, ("" if split == "train" else "prompt")


def is_speech_name(name: str) -> bool:
    return name not in NON_SPEECH and not name.startswith("silence/")


@cache
def _scan(folder: Path, extension: str) -> tuple[tuple[str, Path], ...]:
    """``(name, path)`` of every prompt file under ``folder`` (sub-folders included)."""
    found = []
    for path in folder.rglob(f"*{extension}"):
        if path.is_file():
            name = path.relative_to(folder).with_suffix("").as_posix().lower()
            found.append((name, path))
    return tuple(sorted(found))


def catalogue(
    languages: Sequence[str] | None = None, root: str | Path | None = None
) -> list[Prompt]:
    """Every usable prompt of the installed voice sets of ``languages`` (all if ``None``), in a
    fixed order; voice sets that are not installed are skipped (see :func:`require_recorded`)."""
    prompts = []
    for voice in voice_sets(None if languages is None else tuple(languages)):
        folder = voice.path(root)
        if not folder.is_dir():
            continue
        for name, path in _scan(folder.resolve(), voice.extension):
            if not is_speech_name(name):
                continue
            split, holdout = row_split(voice, name)
            if split is not None:
                prompts.append(Prompt(voice, name, path, split, holdout))
    return prompts


def require_recorded(languages: Sequence[str], root: str | Path | None = None) -> None:
    """Raise :class:`ToolMissingError` naming the Debian packages that are missing."""
    missing = missing_recorded_tools(list(languages), root)
    if missing:
        raise ToolMissingError(missing_message(missing))


def decode(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode a prompt file to float32 mono at ``sample_rate`` with ffmpeg (raw ``.g722`` and
    ``.gsm`` files have no header, so their format is named)."""
    path = Path(path)
    formats = {".g722": ["-f", "g722"], ".gsm": ["-f", "gsm"]}
    command = [DECODER, "-nostdin", "-hide_banner", "-loglevel", "error",
               *formats.get(path.suffix.lower(), []), "-i", str(path),
               "-ac", "1", "-ar", str(int(sample_rate)), "-f", "s16le", "-acodec", "pcm_s16le",
               "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    except FileNotFoundError as error:
        raise RecordedSpeechError(missing_message(
            [Tool(DECODER, "ffmpeg", "decoding the recorded prompts")])) from error
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RecordedSpeechError(f"ffmpeg could not decode {path}: {message}")
    data = result.stdout[: len(result.stdout) // 2 * 2]
    if not data:
        raise RecordedSpeechError(f"ffmpeg decoded no samples from {path}")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def trim_silence(
    audio: np.ndarray, sample_rate: int, floor_db: float = TRIM_FLOOR_DB,
    margins_s: tuple[float, float] = TRIM_MARGIN_S,
) -> np.ndarray:
    """Cut leading and trailing silence: keep from ``margins_s[0]`` before the first 10 ms frame
    within ``floor_db`` of the loudest frame to ``margins_s[1]`` after the last one, with 5 ms
    raised-cosine fades at the new edges (so no click). Empty input or all-zero input gives an
    empty array."""
    frame = max(1, int(0.01 * sample_rate))
    count = audio.size // frame
    if count == 0:
        return np.zeros(0, dtype=np.float32)
    powers = np.mean(audio[: count * frame].astype(np.float64).reshape(count, frame) ** 2, axis=1)
    peak = float(powers.max())
    if peak <= 0:
        return np.zeros(0, dtype=np.float32)
    active = np.flatnonzero(powers >= peak * 10.0 ** (-floor_db / 10.0))
    start = max(0, int(active[0]) * frame - int(margins_s[0] * sample_rate))
    end = min(audio.size, (int(active[-1]) + 1) * frame + int(margins_s[1] * sample_rate))
    trimmed = np.array(audio[start:end], dtype=np.float32)
    fade = min(trimmed.size // 2, int(FADE_S * sample_rate))
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
        trimmed[:fade] *= ramp
        trimmed[-fade:] *= ramp[::-1]
    return trimmed


@lru_cache(maxsize=1024)
def prompt_audio(path: Path, sample_rate: int) -> np.ndarray:
    """A prompt decoded at its own rate and trimmed (cached; read-only array)."""
    audio = trim_silence(decode(path, sample_rate), sample_rate)
    audio.setflags(write=False)
    return audio


def usable(prompt: Prompt) -> bool:
    """Whether the prompt, trimmed, is long enough to be speech (:data:`MIN_PROMPT_S`). An empty
    file (Debian's ``asterisk-core-sounds-ru-g722`` ships one) is not: it stays in the
    catalogue, so the draws among the other prompts do not move, and is skipped like a short
    one."""
    if prompt.path.stat().st_size == 0:
        return False
    return prompt_audio(prompt.path, prompt.voice.sample_rate).size >= (
        MIN_PROMPT_S * prompt.voice.sample_rate)


@dataclass(frozen=True)
class RecordedUtterance:
    """Prompts of one talker joined by pauses, at the corpus's rate and level."""

    audio: np.ndarray
    sample_rate: int
    prompts: tuple[Prompt, ...]

    @property
    def voice(self) -> VoiceSet:
        return self.prompts[0].voice

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


def _by_voice(prompts: Sequence[Prompt], split: str) -> dict[str, list[Prompt]]:
    pools: dict[str, list[Prompt]] = {}
    for prompt in prompts:
        if prompt.split == split:
            pools.setdefault(prompt.voice.name, []).append(prompt)
    return pools


def _join(
    rng: np.random.Generator, pool: Sequence[Prompt], seconds: float, max_prompts: int,
    exclude: frozenset[str] = frozenset(), max_seconds: float | None = None,
) -> tuple[np.ndarray, list[Prompt]]:
    """Prompts drawn without replacement from ``pool`` (names in ``exclude`` left out; unusable
    ones skipped, and those that would pass ``max_seconds``) and joined with pauses at the
    voice's own rate, until ``seconds``."""
    rate = pool[0].voice.sample_rate
    order = rng.permutation(len(pool))
    pieces: list[np.ndarray] = []
    chosen: list[Prompt] = []
    total = 0
    limit = None if max_seconds is None else int(max_seconds * rate)
    for index in order:
        prompt = pool[int(index)]
        if prompt.name in exclude or not usable(prompt):
            continue
        audio = prompt_audio(prompt.path, rate)
        pause_size = int(rng.uniform(*PAUSE_S) * rate) if pieces else 0
        if limit is not None and total + pause_size + audio.size > limit:
            if total >= 0.5 * seconds * rate:
                break  # long enough: stop rather than search the pool for a short prompt
            continue
        if pieces:
            pieces.append(np.zeros(pause_size, dtype=np.float32))
            total += pause_size
        pieces.append(audio)
        chosen.append(prompt)
        total += audio.size
        if total >= seconds * rate or len(chosen) >= max_prompts:
            break
    if not chosen:
        raise RecordedSpeechError(f"no usable prompt of {pool[0].voice.name}")
    return np.concatenate(pieces), chosen


def draw_recorded_split(rng: np.random.Generator, prompts: Sequence[Prompt]) -> str:
    """A split drawn with :data:`SPLIT_FRACTIONS` among the splits that have prompts (an
    English-only catalogue gives ``test`` every time)."""
    available = [split for split in SPLITS if any(p.split == split for p in prompts)]
    if not available:
        raise RecordedSpeechError("no recorded prompts installed for these languages")
    weights = np.array([SPLIT_FRACTIONS[SPLITS.index(split)] for split in available])
    return available[int(rng.choice(len(available), p=weights / weights.sum()))]


def draw_recorded_utterance(
    rng: np.random.Generator, prompts: Sequence[Prompt], sample_rate: int, split: str,
) -> RecordedUtterance:
    """Draw a talker of ``split`` uniformly, then its prompts until a drawn length
    (:data:`ITEM_SECONDS`); resample to ``sample_rate`` and set the active level."""
    pools = _by_voice(prompts, split)
    names = sorted(pools)
    pool = pools[names[int(rng.integers(len(names)))]]
    seconds = float(rng.uniform(*ITEM_SECONDS))
    audio, chosen = _join(rng, pool, seconds, MAX_PROMPTS, max_seconds=MAX_ITEM_S)
    audio = to_rate(audio, pool[0].voice.sample_rate, sample_rate)
    return RecordedUtterance(normalise_level(audio, sample_rate), sample_rate, tuple(chosen))


def recorded_babble(
    length: int, rng: np.random.Generator, sample_rate: int, prompts: Sequence[Prompt],
    split: str, target: RecordedUtterance, talkers: int | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Babble of ``talkers`` (default 4-8, at most the voice sets available) OTHER recorded
    talkers, RMS 1: voice sets with prompts in ``split``, never the target's talker (whatever
    the language) nor its prompt names; each talker's prompts joined, at the same active level,
    looped from a random start. Returns the babble and the voice sets used."""
    exclude = frozenset(prompt.name for prompt in target.prompts)
    pools = {name: pool for name, pool in _by_voice(prompts, split).items()
             if pool[0].voice.speaker != target.voice.speaker
             and any(prompt.name not in exclude for prompt in pool)}
    if not pools:
        raise RecordedSpeechError(
            f"no other recorded talker in split={split} for babble around "
            f"{target.voice.speaker}; install more voice sets or leave babble out (--noise)")
    if talkers is None:
        talkers = int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))
    names = sorted(pools)
    chosen = [names[int(index)] for index in rng.permutation(len(names))[: max(1, talkers)]]
    mixture = np.zeros(length)
    for name in chosen:
        pool = pools[name]
        rate = pool[0].voice.sample_rate
        audio, _ = _join(rng, pool, length / sample_rate, len(pool), exclude)
        stream = normalise_level(to_rate(audio, rate, sample_rate), sample_rate)
        mixture += _loop_to(stream.astype(np.float64), length, int(rng.integers(stream.size)))
    return _unit_rms(mixture), sorted(chosen)


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _describe(utterance: RecordedUtterance) -> dict[str, str]:
    voice = utterance.voice
    return {
        "voice": voice.name, "speaker": voice.speaker, "sex": voice.sex,
        "language": voice.language, "accent": voice.locale,
        "prompt": "+".join(prompt.name for prompt in utterance.prompts),
        "package": voice.package, "source_rate": str(voice.sample_rate),
        "holdout": utterance.prompts[0].holdout,
    }


@dataclass(frozen=True)
class RecordedOptions:
    """What decides a recorded corpus beyond :class:`SynthOptions` (in ``synth.json``)."""

    languages: tuple[str, ...]
    root: str
    #: talker speed factors drawn per item (``None``: as recorded)
    speed_range: tuple[float, float] | None = None


def perturb_speed(utterance: RecordedUtterance, item: str, seed: int,
                  speed_range: tuple[float, float]) -> tuple[RecordedUtterance, float]:
    """The utterance with its talker's speed scaled by a factor drawn from ``speed_range``
    (uniform, from ``item_rng(seed, item, "speed")``): resampled to ``round(rate / factor)``
    samples per second and read at ``rate``, at the corpus's active level again. Returns it and
    the factor as applied (``rate / round(rate / factor)``)."""
    rng = item_rng(seed, item, "speed")
    drawn = float(rng.uniform(*speed_range))
    rate = utterance.sample_rate
    stretched_rate = max(1, round(rate / drawn))
    audio = to_rate(utterance.audio, rate, stretched_rate)
    perturbed = RecordedUtterance(normalise_level(audio, rate), rate, utterance.prompts)
    return perturbed, rate / stretched_rate


def _speech_item(item: str, options: SynthOptions, prompts: Sequence[Prompt],
                 out: Path) -> dict[str, Any]:
    rng = item_rng(options.seed, item, "recorded")
    split = draw_recorded_split(rng, prompts)
    utterance = draw_recorded_utterance(rng, prompts, options.rate, split)
    audio = f"audio/{item}.wav"
    write_wav(out / audio, utterance.audio, options.rate, SPEECH_SUBTYPE)
    return {"id": item, "audio": audio, "split": split,
            "duration_s": _seconds(utterance.duration), **_describe(utterance),
            "_files": [audio], "_seconds": utterance.duration}


def _noisy_item(item: str, options: SynthOptions, prompts: Sequence[Prompt],
                babble_prompts: Sequence[Prompt], out: Path,
                speed_range: tuple[float, float] | None = None) -> dict[str, Any]:
    rng = item_rng(options.seed, item, "recorded-noisy")
    split = draw_recorded_split(rng, prompts)
    utterance = draw_recorded_utterance(rng, prompts, options.rate, split)
    speed: dict[str, str] = {}
    if speed_range is not None:
        utterance, factor = perturb_speed(utterance, item, options.seed, speed_range)
        speed = {"speed": f"{factor:.4f}"}
    noise_type = options.noise_types[int(rng.integers(len(options.noise_types)))]
    low, high = options.snr_range_db
    target_snr = round(float(rng.uniform(low, high)), 1)
    noise_rng = item_rng(options.seed, item, "noise")
    babble_voices: list[str] = []
    if noise_type == "babble":
        noise, babble_voices = recorded_babble(utterance.audio.size, noise_rng, options.rate,
                                               babble_prompts, split, utterance)
    else:
        noise = make_noise(noise_type, utterance.audio.size, noise_rng, options.rate,
                           speech=utterance.audio, split=split)
    mixture, reference, scaled_noise = mix_at_snr(utterance.audio, noise, target_snr)
    paths = write_noisy_files(out, item, options.rate, mixture, reference, scaled_noise)
    return {"id": item, **paths, "snr_db": f"{target_snr:.1f}", "noise_type": noise_type,
            "split": split, "duration_s": _seconds(utterance.duration), **_describe(utterance),
            "babble_voices": "+".join(babble_voices), **speed, "_files": list(paths.values()),
            "_seconds": utterance.duration}


def _reverberant_item(item: str, options: SynthOptions, prompts: Sequence[Prompt],
                      babble_prompts: Sequence[Prompt], room: RoomOptions,
                      out: Path) -> dict[str, Any]:
    """A recorded noisy item in a simulated room (:mod:`hltk.synth.room`): the anechoic item's
    utterance, noise type and SNR; each noise source its own draw (babble: its own talkers)."""
    rng = item_rng(options.seed, item, "recorded-noisy")
    split = draw_recorded_split(rng, prompts)
    utterance = draw_recorded_utterance(rng, prompts, options.rate, split)
    noise_type = options.noise_types[int(rng.integers(len(options.noise_types)))]
    low, high = options.snr_range_db
    target_snr = round(float(rng.uniform(low, high)), 1)
    noise_rng = item_rng(options.seed, item, "noise")
    scene = draw_scene(item_rng(options.seed, item, "room"), room)
    babble_voices: set[str] = set()

    def draw_noise(length: int) -> np.ndarray:
        if noise_type == "babble":
            noise, voices = recorded_babble(length, noise_rng, options.rate, babble_prompts,
                                            split, utterance)
            babble_voices.update(voices)
            return noise
        return make_noise(noise_type, length, noise_rng, options.rate, speech=utterance.audio,
                          split=split)

    rendered = render_scene(utterance.audio, scene, options.rate, target_snr, draw_noise)
    paths = write_noisy_files(out, item, options.rate, rendered.mixture, rendered.reference,
                              rendered.noise)
    return {"id": item, **paths, "snr_db": f"{target_snr:.1f}", "noise_type": noise_type,
            "split": split, "duration_s": _seconds(utterance.duration), **_describe(utterance),
            "babble_voices": "+".join(sorted(babble_voices)), **scene_columns(rendered),
            "_files": list(paths.values()), "_seconds": utterance.duration}


def _package_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        return ""
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                                capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def make_recorded_corpus(
    kind: str,
    out: str | Path,
    languages: Sequence[str],
    n: int | None = None,
    hours: float | None = None,
    seed: int = 0,
    sample_rate: int | None = None,
    jobs: int = 1,
    listeners_file: str | Path | None = None,
    n_listeners: int = DEFAULT_LISTENERS,
    snr_range_db: tuple[float, float] = (-5.0, 15.0),
    noise_types: Sequence[str] = NOISE_TYPES,
    progress: Callable[[int, float], None] | None = None,
    root: str | Path | None = None,
    room: RoomOptions | None = None,
    speed_range: tuple[float, float] | None = None,
) -> CorpusResult:
    """Make a recorded ``speech`` or ``noisy`` corpus of ``languages`` under ``out`` (options as
    :func:`hltk.synth.corpus.make_corpus`; ``root``: the Asterisk sounds folder). Raises
    ``ValueError`` for bad options and :class:`ToolMissingError` naming the Debian packages
    when ffmpeg, a voice set, or (for music noise) fluidsynth is missing. ``room``: reverberant
    noisy scenes, as :func:`hltk.synth.corpus.make_corpus`. ``speed_range``: talker speed
    factors LOW:HIGH (anechoic noisy corpora; :func:`perturb_speed`)."""
    if kind not in KINDS:
        raise ValueError(f"recorded corpora are {' or '.join(KINDS)}, not {kind!r}")
    if speed_range is not None:
        low, high = float(speed_range[0]), float(speed_range[1])
        if kind != "noisy" or room is not None:
            raise ValueError("--speed applies to anechoic recorded noisy corpora")
        if not 0.5 <= low <= high <= 2.0:
            raise ValueError(f"--speed {low}:{high}: give LOW <= HIGH within 0.5:2")
        speed_range = (low, high)
    if room is not None and kind != "noisy":
        raise ValueError(f"--room reverberant applies to noisy corpora, not {kind}")
    unknown = [language for language in languages if language not in LANGUAGES]
    if unknown or not languages:
        raise ValueError(f"no recorded speech for {list(unknown)}; choose from "
                         f"{', '.join(LANGUAGES)}")
    check_corpus_options(kind, n, hours, jobs, noise_types, snr_range_db, sample_rate)
    require_recorded(languages, root)
    if kind == "noisy" and "music" in noise_types:
        require_tools("music")
    if kind == "noisy" and "babble" in noise_types:
        require_recorded(LANGUAGES, root)  # babble talkers come from every voice set
    prompts = catalogue(languages, root)
    babble_prompts = catalogue(None, root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    options = SynthOptions(kind=kind, seed=int(seed), sample_rate=sample_rate,
                           snr_range_db=(float(snr_range_db[0]), float(snr_range_db[1])),
                           noise_types=tuple(noise_types), listeners=int(n_listeners))
    recorded = RecordedOptions(tuple(languages), str(sounds_root(root)), speed_range)
    listeners = load_or_make_listeners(options.listeners, options.seed, listeners_file)
    if not listeners:
        raise ValueError(f"no listeners in {listeners_file}")
    save_listeners(listeners, out / "listeners.json")

    def make(index: int) -> dict[str, Any]:
        name = item_id(kind, index)
        if kind == "speech":
            return _speech_item(name, options, prompts, out)
        if room is not None:
            return _reverberant_item(name, options, prompts, babble_prompts, room, out)
        return _noisy_item(name, options, prompts, babble_prompts, out, speed_range)

    count = n if n is not None else (None if hours is not None else DEFAULT_COUNTS[kind])
    rows = collect_items(make, count, hours, 16 * jobs, jobs, out, progress)
    listener_ids = [listener.id for listener in listeners]
    for row in rows:
        assign_listener(row, options.seed, listener_ids)
    write_manifest(out / "manifest.csv", COLUMNS[kind] + (ROOM_COLUMNS if room is not None else ())
                   + (SPEED_COLUMNS if speed_range is not None else ()), rows)
    used = sorted({prompt.voice.package for prompt in prompts})
    record: dict[str, Any] = {
        "kind": kind, "source": "recorded", "items": len(rows), "hours": hours,
        "listeners_file": str(listeners_file) if listeners_file is not None else None,
        "options": {**asdict(options), "sample_rate": options.rate, **asdict(recorded)},
        "tools": {DECODER: tool_version(DECODER, "-version")},
        "packages": {package: _package_version(package) for package in used},
    }
    if room is not None:
        record["room"] = {"kind": "reverberant", **asdict(room)}
    write_json(out / "synth.json", record)
    return CorpusResult(
        manifest=out / "manifest.csv", items=len(rows),
        audio_seconds=float(sum(row["_seconds"] for row in rows)),
        elapsed_seconds=time.perf_counter() - started,
        rows=[{key: value for key, value in row.items() if not key.startswith("_")}
              for row in rows],
    )
