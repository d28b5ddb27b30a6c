"""Audio input/output: the one place where files, numpy and torch layouts meet.

In memory hltk keeps audio as float32 torch tensors ``[channels, time]`` (one item) or
``[batch, channels, time]``; pyclarity wants numpy ``(time,)`` or ``(time, channels)``, and
the conversion happens here (:func:`to_numpy_channels_last`, :func:`from_numpy_channels_last`).

Writes are atomic: the data goes to a temporary file in the destination folder, which is
renamed over the destination only once it is complete, so a crash never leaves a half-written
file under its final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr
import torch
from soundfile import _ffi, _snd  # libsndfile's command interface (no public API for PEAK)

AudioFormat = Literal["wav16", "wav24", "wav32f", "flac16", "flac24"]
ClipPolicy = Literal["none", "hard", "tanh"]

AUDIO_FORMATS: dict[str, tuple[str, str, str]] = {
    # name: (extension, soundfile format, soundfile subtype)
    "wav16": ("wav", "WAV", "PCM_16"),
    "wav24": ("wav", "WAV", "PCM_24"),
    "wav32f": ("wav", "WAV", "FLOAT"),
    "flac16": ("flac", "FLAC", "PCM_16"),
    "flac24": ("flac", "FLAC", "PCM_24"),
}
CLIP_POLICIES: tuple[str, ...] = ("none", "hard", "tanh")
_SF_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command SFC_SET_ADD_PEAK_CHUNK


class AudioReadError(ValueError):
    """An audio file that cannot be used: unreadable, empty, or with non-finite samples."""


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says."""

    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | Path) -> AudioInfo:
    """Header information of an audio file; raises :class:`AudioReadError` if unreadable."""
    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises several types (LibsndfileError, RuntimeError)
        raise AudioReadError(f"unreadable audio file {path}: {error}") from error
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.subtype))


def read_audio(path: str | Path, check_finite: bool = True) -> tuple[torch.Tensor, int]:
    """Read WAV/FLAC of any bit depth as float32 ``[channels, time]`` and its sample rate.

    Integer formats are scaled to [-1, 1). Raises :class:`AudioReadError` for unreadable or
    zero-length files and (with ``check_finite``) for NaN or infinite samples.
    """
    try:
        samples, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioReadError(f"unreadable audio file {path}: {error}") from error
    if samples.shape[0] == 0:
        raise AudioReadError(f"zero-length audio file {path}")
    if check_finite and not np.isfinite(samples).all():
        count = int((~np.isfinite(samples)).sum())
        raise AudioReadError(f"audio file {path} has {count} NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(samples.T)), int(sample_rate)


def format_extension(audio_format: str) -> str:
    """File extension (without dot) written by an ``--audio-format`` choice."""
    return AUDIO_FORMATS[audio_format][0]


def apply_clip(audio: torch.Tensor, policy: str) -> tuple[torch.Tensor, int]:
    """The clipping policy, in one place. Returns the audio and how many samples exceeded 1.

    ``none`` leaves the samples as they are (integer formats still saturate at full scale when
    written: see :func:`write_audio`), ``hard`` clamps to [-1, 1], ``tanh`` applies a tanh soft
    clip to the whole signal (as the Clarity CEC2 baseline does).
    """
    over = int((audio.abs() > 1.0).sum())
    if policy == "none":
        return audio, over
    if policy == "hard":
        return audio.clamp(-1.0, 1.0), over
    if policy == "tanh":
        return torch.tanh(audio), over
    raise ValueError(f"unknown clip policy {policy!r}; choose one of {', '.join(CLIP_POLICIES)}")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it over ``destination`` on success.

    On any exception the temporary file is removed and ``destination`` is left untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal modes
    try:
        yield temporary
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_audio(
    path: str | Path, audio: torch.Tensor | np.ndarray, sample_rate: int, audio_format: str
) -> None:
    """Write ``[channels, time]`` float audio atomically in one of :data:`AUDIO_FORMATS`.

    Integer subtypes saturate at full scale (values beyond [-1, 1] are clamped, never wrapped);
    apply :func:`apply_clip` first to choose and count the policy.
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"unknown audio format {audio_format!r}; choose one of {list(AUDIO_FORMATS)}")
    _, container, subtype = AUDIO_FORMATS[audio_format]
    samples = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else audio
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[np.newaxis]
    if subtype != "FLOAT":
        samples = np.clip(samples, -1.0, 1.0)
    with atomic_path(path) as temporary, sf.SoundFile(
        str(temporary), "w", sample_rate, samples.shape[0], subtype=subtype, format=container
    ) as handle:
        if container == "WAV":
            # no PEAK chunk: it holds a timestamp, and outputs must be byte-reproducible
            _snd.sf_command(handle._file, _SF_SET_ADD_PEAK_CHUNK, _ffi.NULL, 0)
        handle.write(np.ascontiguousarray(samples.T))


#: Below this many rows per thread, one soxr call is cheaper than starting threads.
_ROWS_PER_THREAD = 4


def _soxr_vhq(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """soxr VHQ of ``(time, channels)`` samples, always 2-D out."""
    out = np.asarray(soxr.resample(samples, rate_in, rate_out, quality="VHQ"))
    return out.reshape(out.shape[0], -1)


def resample(audio: torch.Tensor, rate_in: int, rate_out: int) -> torch.Tensor:
    """Resample ``[..., time]`` float audio with soxr (very high quality); identity if equal.

    float32 audio is passed to soxr as float32 (soxr's VHQ filter computes in double
    precision either way; converting to float64 first only made the call 1.5x slower).
    Every leading row is its own soxr channel, resampled independently, so the rows are split
    over up to ``torch.get_num_threads()`` threads (soxr releases the GIL): the result is the
    same to the bit as one call over all rows, or one call per row."""
    if rate_in == rate_out:
        return audio
    leading = audio.shape[:-1]
    working = torch.float32 if audio.dtype == torch.float32 else torch.float64
    flat = audio.detach().cpu().reshape(-1, audio.shape[-1]).to(working).numpy()
    workers = max(1, min(torch.get_num_threads(), flat.shape[0] // _ROWS_PER_THREAD))
    groups = [np.ascontiguousarray(part.T) for part in np.array_split(flat, workers)]
    if workers == 1:
        parts = [_soxr_vhq(groups[0], rate_in, rate_out)]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda group: _soxr_vhq(group, rate_in, rate_out), groups))
    out = np.concatenate(parts, axis=1)
    result = torch.from_numpy(np.ascontiguousarray(out.T)).to(audio.dtype)
    return result.reshape(*leading, result.shape[-1]).to(audio.device)


def to_numpy_channels_last(audio: torch.Tensor) -> np.ndarray:
    """``[channels, time]`` tensor -> float64 numpy ``(time, channels)`` (pyclarity layout)."""
    return audio.detach().cpu().to(torch.float64).numpy().T.copy()


def from_numpy_channels_last(samples: np.ndarray) -> torch.Tensor:
    """numpy ``(time,)`` or ``(time, channels)`` -> float32 ``[channels, time]`` tensor."""
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    return torch.from_numpy(np.ascontiguousarray(array.T))


def select_ears(audio: torch.Tensor, ear: str) -> torch.Tensor:
    """Map input channels to the ears processed.

    ``both``: mono input is duplicated to (left, right); stereo is kept. ``left``/``right``:
    stereo input keeps that channel, mono input is used as it is. Output ``[ears, time]``.
    """
    channels = audio.shape[0]
    if channels > 2:
        raise ValueError(f"{channels} channels; hltk processes mono or stereo (left, right)")
    if ear == "both":
        return audio.expand(2, -1).clone() if channels == 1 else audio
    if ear in ("left", "right"):
        if channels == 1:
            return audio
        return audio[0:1] if ear == "left" else audio[1:2]
    raise ValueError(f"unknown ear {ear!r}; choose both, left or right")


def rms_db(audio: torch.Tensor | np.ndarray) -> float:
    """RMS level in dB relative to a digital RMS of 1 (``-inf`` for silence)."""
    samples = np.asarray(audio.detach().cpu() if isinstance(audio, torch.Tensor) else audio)
    mean_square = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * np.log10(mean_square) if mean_square > 0 else float("-inf")
