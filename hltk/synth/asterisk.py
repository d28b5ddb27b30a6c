"""The recorded speech that Debian ships as Asterisk telephone prompts: which packages, which
talkers, which languages, and where the files are.

Each :class:`VoiceSet` is one folder of prompts read by one talker, from one Debian package.
The prompt texts are Digium's English IVR prompts and their translations, so the same file
name (``vm-goodbye``, ``digits/5``) is the same message in every language. Sample rates are the
files' own: the ``asterisk-core-sounds-*-g722`` sets are wideband G.722 (16 kHz, speech up to
about 7 kHz); ``asterisk-prompt-fr-armelle`` and ``asterisk-prompt-es-co`` are GSM 06.10 and
``asterisk-prompt-it-menardi-wav`` is 16-bit PCM, all three at 8 kHz (telephone band, speech up
to about 3.4 kHz).

Talkers (from each package's ``copyright`` file): the US English and the Mexican Spanish core
sets are both read by Allison Smith, so she is one speaker; English is held out of training
altogether (:data:`HELD_OUT_SPEAKERS`), and so are her Spanish prompts. The other sets have one
talker each. Licences: the core sets are CC-BY-SA-3.0 (Russian: CC-BY-3.0), Menardi is
CC-BY-SA-3.0 (Italian port, with visible attribution asked for), es-co is GPL-2, Armelle is a
BSD-style licence; none of their audio is copied into this repository (tests make their own).

This module has no heavy imports: :mod:`hltk.synth.tools` reads it for the install check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Where the Debian packages install the prompts; ``HLTK_ASTERISK_SOUNDS`` overrides it.
DEFAULT_SOUNDS_ROOT = Path("/usr/share/asterisk/sounds")
#: Languages used by ``--source recorded`` when none are named (English is left out).
DEFAULT_LANGUAGES: tuple[str, ...] = ("es", "fr", "it", "ru")


@dataclass(frozen=True)
class VoiceSet:
    """One talker's prompt folder from one Debian package."""

    name: str  #: short id, used in the manifest's ``voice`` column
    folder: str  #: folder under the sounds root
    extension: str  #: file extension of its prompts (``.g722``, ``.gsm``, ``.wav``)
    sample_rate: int  #: the files' own sample rate in Hz
    language: str  #: ISO 639-1
    locale: str  #: language and region as the package names it
    speaker: str  #: the talker (one person may read several sets)
    sex: str
    package: str  #: the Debian package that installs the folder

    def path(self, root: str | Path | None = None) -> Path:
        return sounds_root(root) / self.folder


VOICE_SETS: tuple[VoiceSet, ...] = (
    VoiceSet("es-mx-allison", "es_MX_f_Allison", ".g722", 16000, "es", "es-MX", "allison-smith",
             "F", "asterisk-core-sounds-es-g722"),
    VoiceSet("fr-ca-june", "fr_CA_f_June", ".g722", 16000, "fr", "fr-CA", "june-wallack", "F",
             "asterisk-core-sounds-fr-g722"),
    VoiceSet("it-carlo", "it_IT_m_Carlo", ".g722", 16000, "it", "it-IT", "carlo-flora", "M",
             "asterisk-core-sounds-it-g722"),
    VoiceSet("ru-ivrvoice", "ru_RU_f_IvrvoiceRU", ".g722", 16000, "ru", "ru-RU", "ivrvoice-ru",
             "F", "asterisk-core-sounds-ru-g722"),
    VoiceSet("fr-armelle", "fr", ".gsm", 8000, "fr", "fr-FR", "armelle-desjardins", "F",
             "asterisk-prompt-fr-armelle"),
    VoiceSet("es-co-july", "es", ".gsm", 8000, "es", "es-CO", "july-jimenez", "F",
             "asterisk-prompt-es-co"),
    VoiceSet("it-menardi", "it_IT_f_Menardi", ".wav", 8000, "it", "it-IT", "paola-dal-zot", "F",
             "asterisk-prompt-it-menardi-wav"),
    VoiceSet("en-us-allison", "en_US_f_Allison", ".g722", 16000, "en", "en-US", "allison-smith",
             "F", "asterisk-core-sounds-en-g722"),
)
LANGUAGES: tuple[str, ...] = tuple(sorted({voice.language for voice in VOICE_SETS}))
#: Languages whose every row is ``split=test``: never in training, not even in babble.
TEST_ONLY_LANGUAGES: tuple[str, ...] = ("en",)
#: Talkers held out of training: their rows are ``split=test`` only.
HELD_OUT_SPEAKERS: tuple[str, ...] = ("allison-smith",)
#: The program that decodes the prompts, and its Debian package.
DECODER = "ffmpeg"


def sounds_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$HLTK_ASTERISK_SOUNDS``, else :data:`DEFAULT_SOUNDS_ROOT`."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("HLTK_ASTERISK_SOUNDS", str(DEFAULT_SOUNDS_ROOT)))


def voice_sets(languages: tuple[str, ...] | list[str] | None = None) -> list[VoiceSet]:
    """The voice sets of ``languages`` (all of them if ``None``), in :data:`VOICE_SETS` order."""
    return [voice for voice in VOICE_SETS if languages is None or voice.language in languages]


def parse_source(text: str) -> tuple[str, tuple[str, ...]]:
    """``espeak`` -> ``("espeak", ())``; ``recorded`` -> ``("recorded", DEFAULT_LANGUAGES)``;
    ``recorded:es,en`` -> ``("recorded", ("es", "en"))``. Raises ``ValueError``."""
    kind, separator, rest = text.strip().partition(":")
    if kind == "espeak" and not separator:
        return "espeak", ()
    if kind != "recorded":
        raise ValueError(f"unknown speech source {text!r}; give espeak or recorded[:LANG,...]")
    if not separator or rest.strip() in ("", "default"):
        return "recorded", DEFAULT_LANGUAGES
    if rest.strip() == "all":
        return "recorded", LANGUAGES
    languages = tuple(dict.fromkeys(part.strip() for part in rest.split(",") if part.strip()))
    unknown = [language for language in languages if language not in LANGUAGES]
    if unknown:
        raise ValueError(f"no recorded speech for {unknown}; choose from {', '.join(LANGUAGES)}")
    return "recorded", languages
