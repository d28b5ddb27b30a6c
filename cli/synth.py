"""``hltk synth``: synthetic speech, noisy speech, music with stems and listener corpora."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.io.listeners import ListenerError
from hltk.io.manifest import ManifestError
from hltk.pipelines.synth import NOISE_TYPES
from hltk.pipelines.synth import synth as synth_corpus
from hltk.synth.recorded import RecordedSpeechError
from hltk.synth.tools import ToolMissingError
from hltk_cli import common as c
from hltk_cli.output import info, print_rows, progress_bar

SUMMARY_COLUMNS = ["kind", "items", "audio_hours", "seconds", "manifest"]


def _snr_range(text: str) -> tuple[float, float]:
    low, separator, high = text.partition(":")
    try:
        values = (float(low), float(high if separator else low))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give LOW:HIGH in dB, e.g. -5:15") from None
    return values


def _noise_types(text: str) -> tuple[str, ...]:
    if text.strip() in ("", "all"):
        return NOISE_TYPES
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in NOISE_TYPES]
    if unknown:
        raise typer.BadParameter(f"unknown noise types {unknown}; choose from "
                                 f"{', '.join(NOISE_TYPES)} or all")
    return names


def _rt60_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    low, separator, high = text.partition(":")
    try:
        return float(low), float(high if separator else low)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give LOW:HIGH in seconds, e.g. 0.1:0.7") from None


def _source_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    low, separator, high = text.partition(":")
    try:
        return int(low), int(high if separator else low)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give LOW:HIGH source counts, e.g. 1:3") from None


def _speed_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give LOW:HIGH speed factors, e.g. 0.88:1.12") from None
    return low, high


def synth(
    kind: Annotated[Literal["speech", "noisy", "music", "listeners"], typer.Argument(
        help="speech: espeak-ng sentences; noisy: speech + noise at SNRs; music: MIDI songs "
        "with stems; listeners: jittered Bisgaard audiograms (+ a probe sentence).",
        show_default=False)],
    out: c.OutOpt,
    n: Annotated[int | None, typer.Option(
        "--n", min=1, help="Items (listeners for KIND=listeners). Default: speech/noisy 100, "
        "music 20, listeners 22.")] = None,
    hours: Annotated[float | None, typer.Option(
        "--hours", min=0.0, help="Make items until this much audio (instead of --n).")] = None,
    seed: c.SeedOpt = 0,
    sample_rate: Annotated[int | None, typer.Option(
        "--sample-rate", help="Hz. Default: speech/noisy 16000, music/listeners 44100.")] = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1, help="Parallel workers.")] = 1,
    listeners: Annotated[Path | None, typer.Option(
        "--listeners", help="Reuse this Clarity listeners.json instead of drawing new "
        "listeners.")] = None,
    n_listeners: Annotated[int, typer.Option(
        "--n-listeners", min=1, help="Listeners to draw for the rows (speech/noisy/music).")] = 22,
    snr: Annotated[str, typer.Option("--snr", help="noisy: SNR range LOW:HIGH in dB.")] = "-5:15",
    noise: Annotated[str, typer.Option(
        "--noise", help=f"noisy: noise types, comma-separated ({', '.join(NOISE_TYPES)}) or "
        "all.")] = "all",
    seconds: Annotated[float, typer.Option(
        "--seconds", min=1.0, help="music: length of each song in seconds.")] = 10.0,
    source: Annotated[str, typer.Option(
        "--source", help="speech/noisy: espeak (synthetic) or recorded[:LANG,...] (Debian's "
        "Asterisk prompts, decoded by ffmpeg; default languages es,fr,it,ru; en rows are "
        "always split=test; noisy babble is other recorded talkers).")] = "espeak",
    room: Annotated[Literal["anechoic", "reverberant"], typer.Option(
        "--room", help="noisy: anechoic (the mixture as before) or reverberant: the talker and "
        "noise sources in a simulated shoebox room (image-source RIRs, pyroomacoustics); the "
        "reference is then the direct-path talker.")] = "anechoic",
    rt60: Annotated[str | None, typer.Option(
        "--rt60", help="reverberant: reverberation time range LOW:HIGH in seconds "
        "[default: 0.1:0.7].")] = None,
    noise_sources: Annotated[str | None, typer.Option(
        "--noise-sources", help="reverberant: number of noise sources LOW:HIGH "
        "[default: 1:3].")] = None,
    speed: Annotated[str | None, typer.Option(
        "--speed", help="recorded noisy: perturb each item's talker by a speed factor drawn in "
        "LOW:HIGH, e.g. 0.88:1.12 (resampling: pitch and formants scale together, a virtual "
        "talker; the babble is left as recorded) [default: as recorded].")] = None,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Make a synthetic corpus in OUT: audio, manifest.csv and listeners.json (same seed ->
    byte-identical files). Needs espeak-ng / fluidsynth / fluid-soundfont-gm; --source
    recorded needs ffmpeg and the asterisk prompt packages (make system-deps)."""
    quiet = c.is_quiet(quiet)
    snr_range = _snr_range(snr)
    noise_types = _noise_types(noise)
    rt60_range = _rt60_range(rt60)
    source_range = _source_range(noise_sources)
    speed_range = _speed_range(speed)
    usage_errors = (ValueError, ListenerError)
    fatal = {ToolMissingError: "{}", RecordedSpeechError: "{}",
             ManifestError: "the written manifest does not validate (a bug in hltk synth): {}"}
    with c.exit_codes(usage=usage_errors, fatal=fatal):
        with progress_bar(f"synth {kind}", quiet) as update:
            summary = synth_corpus(
                kind, out, n=n, hours=hours, seed=seed, sample_rate=sample_rate, jobs=jobs,
                listeners_path=listeners, n_listeners=n_listeners, snr_range_db=snr_range,
                noise_types=noise_types, music_seconds=seconds, source=source,
                room=room, rt60_range_s=rt60_range, noise_sources=source_range,
                speed_range=speed_range,
                command=sys.argv,
                progress=lambda done, total: update(done, total),
            )
    print_rows([summary.row], SUMMARY_COLUMNS, output_format, title=f"hltk synth {kind}")
    info(f"synth {kind}: {summary.result.items} items, "
         f"{summary.result.audio_seconds / 60.0:.1f} min of audio in "
         f"{summary.result.elapsed_seconds:.1f} s -> {summary.result.manifest}", quiet)
