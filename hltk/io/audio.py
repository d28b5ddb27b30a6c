"""Audio input/output: the one place where files, numpy and torch layouts meet.

In memory hltk keeps audio as float32 torch tensors ``[channels, time]`` (one item) or
``[batch, channels, time]``; pyclarity wants numpy ``(time,)`` or ``(time, channels)``, and
the conversion happens here (:func:`to_numpy_channels_last`, :func:`from_numpy_channels_last`).

Writes are atomic: the data goes to a temporary file in the destination folder, which is
renamed over the destination only once it is complete, so a crash never leaves a half-written
file under its final name.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.fft
import soundfile as sf
import soxr
import torch
from soundfile import _ffi, _snd  # libsndfile's command interface (no public API for PEAK)

from hltk.dsp.fftconv import smooth_fft_size

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


def resampled_length(length: int, rate_in: int, rate_out: int) -> int:
    """Samples that ``length`` samples at ``rate_in`` become at ``rate_out``: soxr's
    convention, ``floor(length * rate_out / rate_in + 1/2)`` (halves round up), in integers.
    Both resamplers (:data:`RESAMPLERS`) give exactly this length."""
    return (2 * length * rate_out + rate_in) // (2 * rate_in)


def resample(audio: torch.Tensor, rate_in: int, rate_out: int,
             method: str = "soxr") -> torch.Tensor:
    """Resample ``[..., time]`` float audio; identity (the same tensor) if the rates are equal.

    ``method`` is one of :data:`RESAMPLERS`: ``soxr`` (very high quality, the default and every
    backend's unless it declares another, :mod:`hltk.processor`) or ``fft``
    (:func:`fft_resample`).

    soxr: float32 audio is passed to soxr as float32 (soxr's VHQ filter computes in double
    precision either way; converting to float64 first only made the call 1.5x slower).
    Every leading row is its own soxr channel, resampled independently, so the rows are split
    over up to ``torch.get_num_threads()`` threads (soxr releases the GIL): the result is the
    same to the bit as one call over all rows, or one call per row."""
    if method == "fft":
        return fft_resample(audio, rate_in, rate_out)
    if method != "soxr":
        raise ValueError(f"unknown resampler {method!r}; choose one of {', '.join(RESAMPLERS)}")
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


#: The resamplers :func:`resample` knows; a processor names its own with the optional
#: ``resampler`` attribute (:mod:`hltk.processor`), soxr when it names none.
RESAMPLERS: tuple[str, ...] = ("soxr", "fft")
#: Zeros appended to every row before the FFT, in seconds of the input (at least; the 7-smooth
#: size adds more): the resampling is circular, so the end of a row wraps onto its start
#: through the tails of the (tapered) interpolation kernel. Measured on white noise, 4 s,
#: 44.1 <-> 16 kHz, against a 1 s margin: 10 ms of zeros leave -84 dB (re the signal) in the
#: first and last 5 ms of the output, 20 ms -97 dB, 30 ms -105 dB (-121 dB over the whole).
FFT_MARGIN_SECONDS = 0.02
#: The raised-cosine taper of :func:`fft_resample`, as fractions of the lower rate's Nyquist
#: frequency: gain 1 below the first, 0 from the second on. It follows soxr VHQ's own roll-off
#: (flat to 0.93, -0.5 dB at 0.94, -2.8 dB at 0.95, -22 dB at 0.97, -40 dB at 0.98).
FFT_TAPER = (0.93, 0.98)


def smooth_size(length: int) -> int:
    """Smallest ``2^a 3^b 5^c 7^d >= length`` (a fast pocketfft size; 1 for ``length <= 1``)."""
    return smooth_fft_size(length, (3, 5, 7))


def fft_sizes(length: int, rate_in: int, rate_out: int) -> tuple[int, int]:
    """The transform sizes of :func:`fft_resample` for rows of ``length`` samples:
    ``(p * k, q * k)`` with ``p / q = rate_in / rate_out`` in lowest terms and ``k`` the
    smallest 7-smooth integer with ``p * k >= length`` + :data:`FFT_MARGIN_SECONDS`."""
    common = math.gcd(rate_in, rate_out)
    p, q = rate_in // common, rate_out // common
    margin = math.ceil(FFT_MARGIN_SECONDS * rate_in)
    k = smooth_size(-(-(length + margin) // p))
    return p * k, q * k


def _fft_weights(bins: int, lower_size: int, scale: float, dtype: np.dtype) -> np.ndarray:
    """The taper (:data:`FFT_TAPER`) times ``scale`` on the first ``bins`` bins of a spectrum
    whose Nyquist frequency (the lower rate's) is bin ``lower_size / 2``."""
    start, stop = FFT_TAPER
    fraction = np.arange(bins) / (lower_size / 2)
    ramp = np.clip((fraction - start) / (stop - start), 0.0, 1.0)
    return (scale * 0.5 * (1.0 + np.cos(np.pi * ramp))).astype(dtype)


def fft_resample(audio: torch.Tensor, rate_in: int, rate_out: int) -> torch.Tensor:
    """Band-limited resampling of ``[..., time]`` float audio by the FFT; identity (the same
    tensor) if the rates are equal. Any length, any integer rates.

    Each row is zero-padded at its end to ``p * k`` samples (:func:`fft_sizes`), transformed
    (real FFT), its spectrum cut or zero-extended to ``q * k // 2 + 1`` bins and multiplied by
    a raised-cosine taper over 0.93 to 0.98 of the lower rate's Nyquist frequency
    (:data:`FFT_TAPER`, which also zeroes both Nyquist bins, so an even size needs no special
    case), transformed back to ``q * k`` samples, scaled by ``q / p`` and cut to
    :func:`resampled_length`, the length soxr gives: swapping resamplers never changes a
    file's length. It is linear and zero-phase, like soxr VHQ (linear phase, delay removed);
    on speech-like signals the two differ by about -60 dB (``tests/test_resample.py`` holds
    the bound), less than soxr's own HQ differs from its VHQ.

    float32 rows are transformed in single precision, float64 rows in double (scipy's
    pocketfft, over ``torch.get_num_threads()`` threads). Rows are independent: a batch gives
    the same bits as its rows one by one, and rows of different lengths whose
    :func:`fft_sizes` agree can be stacked with zeros (:func:`resample_many`) for the same
    bits again; many rows in one call are several times faster than one at a time (pocketfft
    transforms rows side by side in SIMD lanes).
    """
    if rate_in == rate_out:
        return audio
    length = audio.shape[-1]
    leading = audio.shape[:-1]
    working = torch.float32 if audio.dtype == torch.float32 else torch.float64
    flat = audio.detach().cpu().reshape(-1, length).to(working).numpy()
    size_in, size_out = fft_sizes(length, rate_in, rate_out)
    workers = max(1, torch.get_num_threads())
    spectrum = scipy.fft.rfft(flat, n=size_in, axis=-1, workers=workers)
    kept = min(size_in, size_out) // 2 + 1
    weights = _fft_weights(kept, min(size_in, size_out), size_out / size_in, flat.dtype)
    narrowed = spectrum[:, :kept]
    narrowed *= weights  # in place: the spectrum is this function's own
    # up-sampling: irfft zero-extends the kept bins to size_out // 2 + 1 itself
    out = scipy.fft.irfft(narrowed, n=size_out, axis=-1, workers=workers)
    # a view of the first samples of each row (no copy; torch keeps numpy's strides)
    result = torch.from_numpy(out[:, : resampled_length(length, rate_in, rate_out)])
    return result.to(audio.dtype).reshape(*leading, result.shape[-1]).to(audio.device)


def resample_many(signals: Sequence[torch.Tensor], rates_in: Sequence[int],
                  rates_out: Sequence[int], method: str = "soxr") -> list[torch.Tensor]:
    """:func:`resample` of each ``[channels, time]`` signal from its rate to its rate, with the
    same bits as one call per signal.

    ``fft``: the signals with the same rates and transform sizes (:func:`fft_sizes`) are
    stacked, zero-padded at their ends, and resampled in one call, then each is cut to its own
    :func:`resampled_length` (the padding is zeros the transform would have added itself).
    ``soxr``: one call per signal, as before."""
    if not len(signals) == len(rates_in) == len(rates_out):
        raise ValueError("one input and one output rate per signal")
    if method != "fft":
        return [resample(signal, rate_in, rate_out, method)
                for signal, rate_in, rate_out in zip(signals, rates_in, rates_out, strict=True)]
    groups: dict[tuple[int, int, int, torch.dtype], list[int]] = {}
    for index, (signal, rate_in, rate_out) in enumerate(zip(signals, rates_in, rates_out,
                                                            strict=True)):
        if rate_in == rate_out:
            continue
        size = fft_sizes(signal.shape[-1], rate_in, rate_out)[0]
        groups.setdefault((rate_in, rate_out, size, signal.dtype), []).append(index)
    results = list(signals)
    for (rate_in, rate_out, _, _), members in groups.items():
        longest = max(signals[i].shape[-1] for i in members)
        stacked = torch.cat([
            torch.nn.functional.pad(signals[i].reshape(-1, signals[i].shape[-1]),
                                    (0, longest - signals[i].shape[-1]))
            for i in members])
        out = fft_resample(stacked, rate_in, rate_out)
        first = 0
        for i in members:
            rows = signals[i].reshape(-1, signals[i].shape[-1]).shape[0]
            length = resampled_length(signals[i].shape[-1], rate_in, rate_out)
            part = out[first: first + rows, :length]
            results[i] = part.reshape(*signals[i].shape[:-1], length).to(signals[i].device)
            first += rows
    return results


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
