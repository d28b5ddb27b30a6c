"""Songs composed in code as MIDI and rendered per stem with fluidsynth: exact stems.

A song has a style (rock, pop, ballad, funk, waltz, swing, electronic), a key (any tonic,
major or minor), a tempo and a chord progression. Its parts are written as separate MIDI
files, one per Cadenza stem:

- ``vocals``: a sung-like lead line on a choir/voice program (GM 53 choir aahs, 54 voice oohs,
  55 synth voice, 86 voice lead) in a singer's range, phrased with breaths;
- ``drums``: a style's groove on the General MIDI percussion channel (channel 10, index 9),
  with fills and crashes at phrase ends;
- ``bass``: a bass line on a bass program (root/fifth patterns, walking bass, syncopation);
- ``other``: the chords (piano, organ, guitars, strings, pads by style) and a counter-melody.

Each stem is rendered on its own by fluidsynth with the GM soundfont at 44.1 kHz stereo
(float32 output, reverb and chorus as fluidsynth's defaults, which are linear), trimmed to the
song's length with a short fade, and all stems share one gain; the mixture is defined as the
float32 sum of the stems, so stems sum to the mixture exactly.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from hltk.synth.tools import TOOLS, missing_message, soundfont_path

MUSIC_SAMPLE_RATE = 44100
STEMS: tuple[str, ...] = ("vocals", "drums", "bass", "other")
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # General MIDI channel 10
#: RMS level of the mixture, dB re a digital RMS of 1 (lowered if the peak would pass 0.9).
MIXTURE_LEVEL_DB = -20.0
FADE_SECONDS = 0.05

#: Mean level of each stem in a mix relative to the vocals, dB (each song varies it by +-2 dB).
STEM_BALANCE_DB: dict[str, float] = {"vocals": 0.0, "drums": -3.0, "bass": -4.0, "other": -3.0}

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: Chord progressions as scale degrees (0 = tonic), per mode.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (0, 3, 0, 4), (5, 3, 0, 4),
              (1, 4, 0, 0), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 6, 2), (0, 5, 3, 4)),
}
VOCAL_PROGRAMS: tuple[int, ...] = (52, 53, 54, 85)  # GM 53, 54, 55, 86 (0-based)

# GM percussion keys
KICK, SNARE, SIDESTICK, CLAP, CLOSED_HAT, PEDAL_HAT, OPEN_HAT = 36, 38, 37, 39, 42, 44, 46
CRASH, RIDE, LOW_TOM, MID_TOM, HIGH_TOM, TAMBOURINE, SHAKER = 49, 51, 45, 47, 50, 54, 70


@dataclass(frozen=True)
class Style:
    """What a style plays: tempo range, meter, swing and the programs of bass and chords."""

    name: str
    tempo: tuple[int, int]
    beats_per_bar: int
    swing: bool
    bass_programs: tuple[int, ...]
    chord_programs: tuple[int, ...]
    counter_programs: tuple[int, ...]
    sevenths: bool = False


STYLES: dict[str, Style] = {
    "rock": Style("rock", (100, 140), 4, False, (33, 34), (29, 30, 27), (25, 81, 61)),
    "pop": Style("pop", (88, 124), 4, False, (33, 38), (0, 4, 48), (73, 11, 81)),
    "ballad": Style("ballad", (60, 80), 4, False, (32, 33), (0, 48, 49), (73, 40, 71), True),
    "funk": Style("funk", (92, 112), 4, False, (36, 37), (7, 4, 28), (65, 61, 17), True),
    "waltz": Style("waltz", (84, 126), 3, False, (32, 43), (21, 48, 0), (40, 73, 68)),
    "swing": Style("swing", (110, 160), 4, True, (32,), (0, 26, 16), (65, 66, 56), True),
    "electronic": Style("electronic", (116, 128), 4, False, (38, 39), (89, 90, 94),
                        (80, 81, 98)),
}


@dataclass
class Part:
    """One stem's notes: ``(start_beat, duration_beats, note, velocity)`` on one channel."""

    program: int
    channel: int
    notes: list[tuple[float, float, int, int]] = field(default_factory=list)

    def add(self, start: float, duration: float, note: int, velocity: float | np.integer) -> None:
        self.notes.append((start, duration, int(note), int(np.clip(velocity, 1, 127))))


@dataclass
class Song:
    """A composed song: its description and one :class:`Part` list per stem."""

    style: str
    key: str
    mode: str
    tempo_bpm: int
    beats_per_bar: int
    bars: int
    progression: tuple[int, ...]
    parts: dict[str, list[Part]]
    #: Each stem's RMS relative to the others in the mix, dB (vocals lead).
    balance_db: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def duration(self) -> float:
        return self.bars * self.beats_per_bar * self.seconds_per_beat


def _swing(beat: float, swing: bool) -> float:
    """Delay off-beat eighths to the third triplet when the style swings."""
    if swing and abs((beat % 1.0) - 0.5) < 1e-9:
        return beat + 1.0 / 6.0
    return beat


def _chord(tonic: int, scale: tuple[int, ...], degree: int, sevenths: bool) -> list[int]:
    """Pitch classes (relative to C, not wrapped) of the triad or seventh on ``degree``."""
    steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    notes = []
    for step in steps:
        index = degree + step
        notes.append(tonic + scale[index % 7] + 12 * (index // 7))
    return notes


def _in_range(note: int, low: int, high: int) -> int:
    while note < low:
        note += 12
    while note > high:
        note -= 12
    return note


def _drums(rng: np.random.Generator, style: Style, bars: int, part: Part) -> None:
    beats = style.beats_per_bar
    for bar in range(bars):
        start = bar * beats
        fill = bar % 4 == 3 and rng.random() < 0.6
        if bar % 4 == 0:
            part.add(start, 0.5, CRASH, 100 + rng.integers(-10, 10))
        if style.name == "waltz":
            part.add(start, 0.5, KICK, 100)
            for beat in (1, 2):
                part.add(start + beat, 0.5, SIDESTICK, 70 + rng.integers(-8, 8))
            for beat in range(3):
                part.add(start + beat, 0.5, CLOSED_HAT, 60 + rng.integers(-8, 8))
            continue
        if style.name == "swing":
            for beat in range(beats):
                part.add(start + beat, 0.5, RIDE, 80 + rng.integers(-8, 8))
                if beat in (1, 3):
                    part.add(start + beat, 0.5, PEDAL_HAT, 60)
                    part.add(_swing(start + beat + 0.5, True), 0.3, RIDE, 60)
            part.add(start, 0.5, KICK, 70)
            if rng.random() < 0.5:
                part.add(_swing(start + 2.5, True), 0.3, SNARE, 50)
            continue
        for eighth in range(beats * 2 if not fill else 4):
            hat = OPEN_HAT if style.name == "electronic" and eighth % 2 == 1 else CLOSED_HAT
            accent = 80 if eighth % 2 == 0 else 60
            part.add(start + eighth / 2, 0.4, hat, accent + rng.integers(-8, 8))
        if style.name == "electronic":
            for beat in range(beats):
                part.add(start + beat, 0.5, KICK, 110)
            part.add(start + 1, 0.5, CLAP, 95)
            part.add(start + 3, 0.5, CLAP, 95)
        elif style.name == "funk":
            for position in (0, 0.75, 2.5):
                part.add(start + position, 0.25, KICK, 100 + rng.integers(-8, 8))
            part.add(start + 1, 0.5, SNARE, 105)
            part.add(start + 3, 0.5, SNARE, 105)
            part.add(start + 3.75, 0.25, SNARE, 45)
        elif style.name == "ballad":
            part.add(start, 0.5, KICK, 85)
            part.add(start + 2.5, 0.5, KICK, 70)
            part.add(start + 2, 0.5, SIDESTICK, 75)
        else:  # rock, pop
            part.add(start, 0.5, KICK, 105)
            part.add(start + 2, 0.5, KICK, 100)
            if rng.random() < 0.5:
                part.add(start + 2.5, 0.5, KICK, 85)
            part.add(start + 1, 0.5, SNARE, 105)
            part.add(start + 3, 0.5, SNARE, 105)
            if style.name == "pop" and rng.random() < 0.5:
                part.add(start + 1, 0.5, TAMBOURINE, 60)
                part.add(start + 3, 0.5, TAMBOURINE, 60)
        if fill:
            toms = (HIGH_TOM, HIGH_TOM, MID_TOM, MID_TOM, LOW_TOM, LOW_TOM, SNARE, SNARE)
            for index, tom in enumerate(toms):
                part.add(start + 2 + index * 0.25, 0.25, tom, 90 + rng.integers(-10, 10))


def _bass(rng: np.random.Generator, style: Style, chords: list[list[int]], part: Part) -> None:
    beats = style.beats_per_bar
    for bar, chord in enumerate(chords):
        start = bar * beats
        root = _in_range(chord[0], 28, 43)
        fifth = _in_range(chord[2], root, root + 12)
        if style.name == "swing":  # walking bass: chord tones and approach notes
            next_root = _in_range(chords[(bar + 1) % len(chords)][0], 28, 43)
            line = [root, _in_range(chord[1], root, root + 12), fifth, next_root + 1
                    if rng.random() < 0.5 else next_root - 1]
            for beat, note in enumerate(line):
                part.add(start + beat, 0.9, note, 90 + rng.integers(-8, 8))
        elif style.name == "waltz":
            part.add(start, 1.0, root, 95)
            part.add(start + 2, 1.0, fifth - 12 if fifth - 12 >= 28 else fifth, 80)
        elif style.name == "ballad":
            part.add(start, 2.0, root, 90)
            part.add(start + 2, 2.0, root if rng.random() < 0.5 else fifth, 80)
        elif style.name == "funk":
            pattern = ((0, root), (0.75, root), (1.5, root + 12), (2.5, fifth), (3.0, root),
                       (3.5, root + 10))
            for position, note in pattern:
                part.add(start + position, 0.25, note, 100 + rng.integers(-10, 10))
        elif style.name == "electronic":
            for beat in range(beats):
                part.add(start + beat + 0.5, 0.45, root, 105)
        else:  # rock, pop: driving eighths or root-fifth
            if rng.random() < 0.5:
                for eighth in range(beats * 2):
                    part.add(start + eighth / 2, 0.45, root, 95 if eighth % 2 == 0 else 80)
            else:
                for beat, note in enumerate((root, root, fifth, root + 12)[:beats]):
                    part.add(start + beat, 0.9, note, 95)


def _chords(rng: np.random.Generator, style: Style, chords: list[list[int]], part: Part) -> None:
    beats = style.beats_per_bar
    for bar, chord in enumerate(chords):
        start = bar * beats
        voicing = [_in_range(note, 55, 72) for note in chord]
        if style.name in ("ballad", "electronic") or (style.name == "pop" and rng.random() < 0.4):
            hits = [(0.0, float(beats))]
        elif style.name == "waltz":
            hits = [(1.0, 0.9), (2.0, 0.9)]
        elif style.name == "funk":
            hits = [(0.5, 0.2), (1.5, 0.2), (2.25, 0.2), (3.5, 0.3)]
        elif style.name == "swing":
            hits = [(0.0, 1.2), (_swing(1.5, True), 0.4), (3.0, 0.8)]
        else:  # rock, pop: strums on every beat
            hits = [(float(beat), 0.9) for beat in range(beats)]
        for position, duration in hits:
            for index, note in enumerate(sorted(voicing)):
                part.add(start + position + 0.01 * index, duration, note, 70 + rng.integers(-8, 8))


def _melody(
    rng: np.random.Generator,
    style: Style,
    chords: list[list[int]],
    scale_notes: list[int],
    part: Part,
    low: int,
    high: int,
    density: float,
) -> None:
    """A phrased line: chord tones on strong beats, steps in the scale between, a breath (rest)
    at the end of every two bars."""
    beats = style.beats_per_bar
    allowed = [note for note in scale_notes if low <= note <= high]
    current = allowed[len(allowed) // 2]
    rhythms = ((1.0,), (0.5, 0.5), (1.5, 0.5), (0.5, 1.0, 0.5), (2.0,), (0.75, 0.25))
    for bar, chord in enumerate(chords):
        start = bar * beats
        position = 0.0
        end = beats - (1.0 if bar % 2 == 1 else 0.0)
        if bar == 0 and rng.random() < 0.5:
            position = 1.0  # pick-up rest
        while position < end - 1e-9:
            rhythm = rhythms[int(rng.integers(len(rhythms)))]
            for duration in rhythm:
                if position >= end - 1e-9:
                    break
                duration = min(duration, end - position)
                if rng.random() > density:
                    position += duration
                    continue
                strong = abs(position - round(position)) < 1e-9 and int(position) % 2 == 0
                if strong:
                    tones = [n for n in allowed if n % 12 in {c % 12 for c in chord}]
                    previous = current
                    current = min(tones, key=lambda n: (abs(n - previous), n))
                else:
                    index = allowed.index(current) if current in allowed else len(allowed) // 2
                    step = int(rng.choice((-2, -1, -1, 1, 1, 2)))
                    current = allowed[int(np.clip(index + step, 0, len(allowed) - 1))]
                onset = _swing(start + position, style.swing)
                part.add(onset, duration * 0.92, current, 85 + rng.integers(-12, 12))
                position += duration


def compose_song(
    rng: np.random.Generator, duration: float = 12.0, style: str | None = None
) -> Song:
    """Compose a song of at least ``duration`` seconds (whole bars) from ``rng``."""
    style_spec = STYLES[style] if style else STYLES[list(STYLES)[int(rng.integers(len(STYLES)))]]
    mode = "minor" if rng.random() < 0.4 else "major"
    tonic = int(rng.integers(12))
    scale = MAJOR if mode == "major" else MINOR
    tempo = int(rng.integers(style_spec.tempo[0], style_spec.tempo[1] + 1))
    seconds_per_bar = style_spec.beats_per_bar * 60.0 / tempo
    bars = max(2, int(np.ceil(duration / seconds_per_bar)))
    progression = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    chords = [_chord(tonic, scale, progression[bar % len(progression)], style_spec.sevenths)
              for bar in range(bars)]
    scale_notes = [octave * 12 + tonic + step for octave in range(11) for step in scale]

    def program(choices: tuple[int, ...]) -> int:
        return int(choices[int(rng.integers(len(choices)))])

    vocals = Part(program(VOCAL_PROGRAMS), 0)
    _melody(rng, style_spec, chords, scale_notes, vocals, 57, 76, 0.9)
    drums = Part(0, DRUM_CHANNEL)
    _drums(rng, style_spec, bars, drums)
    bass = Part(program(style_spec.bass_programs), 1)
    _bass(rng, style_spec, chords, bass)
    chord_part = Part(program(style_spec.chord_programs), 2)
    _chords(rng, style_spec, chords, chord_part)
    counter = Part(program(style_spec.counter_programs), 3)
    _melody(rng, style_spec, chords, scale_notes, counter, 74, 93, 0.45)
    return Song(
        style=style_spec.name,
        key=KEY_NAMES[tonic],
        mode=mode,
        tempo_bpm=tempo,
        beats_per_bar=style_spec.beats_per_bar,
        bars=bars,
        progression=progression,
        parts={"vocals": [vocals], "drums": [drums], "bass": [bass],
               "other": [chord_part, counter]},
        balance_db={stem: round(float(base + rng.uniform(-2.0, 2.0)), 2)
                    for stem, base in STEM_BALANCE_DB.items()},
    )


def _track(part: Part, tempo_bpm: int, name: str) -> mido.MidiTrack:
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0))
    if part.channel != DRUM_CHANNEL:
        track.append(mido.Message("program_change", program=part.program, channel=part.channel,
                                  time=0))
    events: list[tuple[int, int, mido.Message]] = []
    for start, duration, note, velocity in part.notes:
        on = int(round(start * TICKS_PER_BEAT))
        off = max(on + 1, int(round((start + duration) * TICKS_PER_BEAT)))
        events.append((on, 1, mido.Message("note_on", note=note, velocity=velocity,
                                           channel=part.channel)))
        events.append((off, 0, mido.Message("note_off", note=note, velocity=0,
                                            channel=part.channel)))
    events.sort(key=lambda event: (event[0], event[1], event[2].note))
    now = 0
    for tick, _, message in events:
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def song_midi(song: Song, stems: tuple[str, ...] = STEMS) -> mido.MidiFile:
    """A type-1 MIDI file with one track per part of ``stems``."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    for stem in stems:
        for index, part in enumerate(song.parts[stem]):
            midi.tracks.append(_track(part, song.tempo_bpm, f"{stem}{index}"))
    return midi


def render_midi(
    midi: mido.MidiFile, sample_rate: int = MUSIC_SAMPLE_RATE, gain: float = 0.5
) -> np.ndarray:
    """Render with fluidsynth and the GM soundfont; float32 ``[2, time]`` (whole render,
    including the release tail)."""
    with tempfile.TemporaryDirectory(prefix="hltk-fluidsynth-") as folder:
        midi_path = Path(folder) / "song.mid"
        wav_path = Path(folder) / "song.wav"
        midi.save(str(midi_path))
        command = ["fluidsynth", "-n", "-i", "-q", "-g", str(gain), "-r", str(sample_rate),
                   "-O", "float", "-T", "wav", "-F", str(wav_path), str(soundfont_path()),
                   str(midi_path)]
        try:
            result = subprocess.run(command, capture_output=True, timeout=600, check=False)
        except FileNotFoundError as error:
            raise RuntimeError(missing_message([TOOLS["fluidsynth"]])) from error
        if result.returncode != 0 or not wav_path.is_file():
            message = result.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"fluidsynth failed ({result.returncode}): {message}")
        samples, rate = sf.read(str(wav_path), dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise RuntimeError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate} Hz")
    return np.ascontiguousarray(samples.T)


def _fit_length(audio: np.ndarray, length: int, fade: int) -> np.ndarray:
    """Trim or zero-pad ``[channels, time]`` to ``length`` and fade out the last ``fade``."""
    fitted = np.zeros((audio.shape[0], length), dtype=np.float32)
    used = min(length, audio.shape[1])
    fitted[:, :used] = audio[:, :used]
    if fade > 0:
        fitted[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return fitted


def render_stems(
    song: Song,
    sample_rate: int = MUSIC_SAMPLE_RATE,
    level_db: float = MIXTURE_LEVEL_DB,
    seconds: float | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Render every stem on its own; returns float32 stems ``{stem: [2, time]}`` and their
    float32 sum (the mixture), all ``seconds`` long (default: the song plus a one-beat tail).

    Each stem is set to its level in ``song.balance_db``, then all are scaled together so the
    mixture's RMS is ``level_db`` (or its peak 0.9, whichever is lower)."""
    if seconds is None:
        seconds = song.duration + song.seconds_per_beat
    length = int(round(seconds * sample_rate))
    fade = int(FADE_SECONDS * sample_rate)
    stems = {}
    for stem in STEMS:
        audio = _fit_length(render_midi(song_midi(song, (stem,)), sample_rate), length, fade)
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if rms > 0:
            audio = audio * np.float32(10.0 ** (song.balance_db.get(stem, 0.0) / 20.0) / rms)
        stems[stem] = audio
    mixture = np.sum([stems[stem].astype(np.float64) for stem in STEMS], axis=0)
    rms = float(np.sqrt(np.mean(mixture**2)))
    gain = 10.0 ** (level_db / 20.0) / rms if rms > 0 else 1.0
    peak = float(np.max(np.abs(mixture))) * gain
    if peak > 0.9:
        gain *= 0.9 / peak
    stems = {stem: (audio * np.float32(gain)).astype(np.float32) for stem, audio in stems.items()}
    return stems, mix_stems(stems)


def mix_stems(stems: dict[str, np.ndarray]) -> np.ndarray:
    """The mixture: float32 sum of the stems in :data:`STEMS` order (the definition used for
    the written files)."""
    mixture = np.zeros_like(stems[STEMS[0]], dtype=np.float32)
    for stem in STEMS:
        mixture += stems[stem]
    return mixture


def draw_gains(rng: np.random.Generator) -> dict[str, int]:
    """A Cadenza-style gain entry: 1-3 stems changed by one of -10/-6/-3/3/6/10 dB."""
    gains = {stem: 0 for stem in STEMS}
    count = int(rng.integers(1, 4))
    for stem in rng.permutation(len(STEMS))[:count]:
        gains[STEMS[int(stem)]] = int(rng.choice((-10, -6, -3, 3, 6, 10)))
    return gains


def render_song_mixture(song: Song, sample_rate: int = MUSIC_SAMPLE_RATE) -> np.ndarray:
    """The whole song in one fluidsynth render (all parts), float32 ``[2, time]`` trimmed to
    the song's length (for music used as a noise, where stems are not needed)."""
    length = int(round(song.duration * sample_rate))
    return _fit_length(render_midi(song_midi(song), sample_rate), length,
                       int(FADE_SECONDS * sample_rate))
