"""The external programs the synthetic corpora need, and a clear message when one is missing.

Speech comes from ``espeak-ng``, music from ``fluidsynth`` with the General MIDI soundfont of
``fluid-soundfont-gm``; recorded speech (``--source recorded``) from Debian's Asterisk prompt
packages (:mod:`hltk.synth.asterisk`), decoded by ``ffmpeg``. All are Debian packages;
``make install`` installs them when it can (as root or with passwordless sudo; ``make
system-deps`` alone does just that) and otherwise prints the ``apt-get`` command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Where ``fluid-soundfont-gm`` puts its soundfont; ``HLTK_SOUNDFONT`` overrides it.
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


class ToolMissingError(RuntimeError):
    """An external program or file that a synthetic corpus needs is not installed."""


@dataclass(frozen=True)
class Tool:
    """One external requirement: a program (or file) and the Debian package that provides it."""

    name: str
    package: str
    needed_for: str


TOOLS: dict[str, Tool] = {
    "espeak-ng": Tool("espeak-ng", "espeak-ng", "speech, noisy and listeners corpora"),
    "fluidsynth": Tool("fluidsynth", "fluidsynth", "music corpora and music noise"),
    "soundfont": Tool(
        str(DEFAULT_SOUNDFONT), "fluid-soundfont-gm", "music corpora and music noise"
    ),
}

#: Which requirements each corpus kind has.
KIND_TOOLS: dict[str, tuple[str, ...]] = {
    "speech": ("espeak-ng",),
    "noisy": ("espeak-ng", "fluidsynth", "soundfont"),
    "music": ("fluidsynth", "soundfont"),
    "listeners": ("espeak-ng",),
}


def soundfont_path() -> Path:
    """The General MIDI soundfont: ``$HLTK_SOUNDFONT`` or :data:`DEFAULT_SOUNDFONT`."""
    return Path(os.environ.get("HLTK_SOUNDFONT", str(DEFAULT_SOUNDFONT)))


def missing_tools(names: tuple[str, ...] | list[str]) -> list[Tool]:
    """The requirements among ``names`` that are not installed."""
    missing = []
    for name in names:
        tool = TOOLS[name]
        if name == "soundfont":
            if not soundfont_path().is_file():
                missing.append(Tool(str(soundfont_path()), tool.package, tool.needed_for))
        elif shutil.which(tool.name) is None:
            missing.append(tool)
    return missing


def missing_recorded_tools(
    languages: tuple[str, ...] | list[str] | None = None, root: str | Path | None = None
) -> list[Tool]:
    """ffmpeg and the Asterisk voice sets of ``languages`` (all if ``None``) under the sounds
    folder ``root`` (:func:`hltk.synth.asterisk.sounds_root`) that are not installed."""
    from hltk.synth.asterisk import DECODER, voice_sets

    missing = []
    if shutil.which(DECODER) is None:
        missing.append(Tool(DECODER, "ffmpeg", "decoding the recorded prompts"))
    for voice in voice_sets(None if languages is None else tuple(languages)):
        if not voice.path(root).is_dir():
            missing.append(Tool(str(voice.path(root)), voice.package,
                                f"recorded speech ({voice.locale}, {voice.speaker})"))
    return missing


def missing_message(missing: list[Tool]) -> str:
    """What to install, naming the Debian packages and the make target."""
    packages = sorted({tool.package for tool in missing})
    lines = [f"missing: {tool.name} (Debian package {tool.package}, for {tool.needed_for})"
             for tool in missing]
    lines.append(
        f"install with: sudo apt-get install -y {' '.join(packages)}   "
        "(or: make system-deps, as root or with passwordless sudo)"
    )
    return "\n".join(lines)


def require_tools(kind: str) -> None:
    """Raise :class:`ToolMissingError` naming the Debian packages if ``kind`` cannot be made."""
    missing = missing_tools(KIND_TOOLS[kind])
    if missing:
        raise ToolMissingError(missing_message(missing))


@cache
def tool_version(program: str, flag: str = "--version") -> str:
    """First line of ``program --version`` (``flag``; ffmpeg's is ``-version``; recorded in
    ``synth.json``), or ``""``."""
    if shutil.which(program) is None:
        return ""
    try:
        result = subprocess.run(
            [program, flag], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[0] if lines else ""


def main() -> int:
    """``python -m hltk.synth.tools``: check every requirement; exit 1 with a message if any
    is missing (used by ``make data``)."""
    import sys

    missing = missing_tools(list(TOOLS)) + missing_recorded_tools()
    if missing:
        print(missing_message(missing), file=sys.stderr)
        return 1
    print("espeak-ng, fluidsynth, the GM soundfont, ffmpeg and the Asterisk prompts are "
          "installed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
