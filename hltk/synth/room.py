"""Reverberant noisy scenes: a target talker and 1-3 noise sources in a simulated shoebox room
(``hltk synth noisy --room reverberant``), for issue 24's training and test data.

Room impulse responses come from the image-source method of pyroomacoustics (Scheibler et al.,
ICASSP 2018), a maintained library made for exactly this: ``ShoeBox.compute_rir`` gives the
responses (deterministic: no randomised image sources, no ray tracing, no air absorption),
``inverse_sabine`` the reflection order for a reverberation time; the walls' absorption starts
at Sabine's and is calibrated (below).

A scene (:func:`draw_scene`, every draw from the item's own ``md5(seed, id, "room")`` stream):

- reverberation time uniform in ``rt60_range_s`` (default 0.1-0.7 s); room length 3-9 m, width
  3-7 m, height 2.4-3.6 m, redrawn (at most 50 times, then the smallest room) until Sabine's
  absorption for that RT60 is below :data:`SABINE_DRAW_LIMIT` (0.6, leaving the calibration
  room to move);
- the listener (one omnidirectional microphone) at least 0.5 m from every wall, 1.1-1.7 m high;
  the target talker and ``noise_sources`` (uniform integer in the range, default 1-3) noise
  sources at random positions at least 0.5 m from the walls and from the listener, 1.0-2.0 m
  high.

The image-source RIR of a shoebox decays faster or slower than Sabine's formula says, by up to
about 40 % (measured); the walls' absorption is therefore calibrated on the target's RIR
(:func:`room_impulse_responses`): with the reflection order fixed, the design RT60 is moved
(secant steps in log-log) until the RIR's RT60 measured by :func:`schroeder_rt60` (Schroeder
backward integration, -5 to -25 dB fit extrapolated to 60 dB) is within :data:`RT60_TOLERANCE`
(5 %) of the drawn one. The manifest records both (``rt60_s``, ``rt60_measured_s``).

Signals (:func:`render_scene`), all the utterance's length ``T``:

- reverberant target = speech * RIR (the first ``T`` samples);
- **reference = direct path only** (the same source and listener with reflection order 0, so
  the same propagation delay, distance / 343 m/s plus pyroomacoustics' 40-sample fractional-
  delay offset, and 1/r attenuation as in the mixture): the training target of a
  system that denoises *and* dereverberates, aligned sample for sample with the mixture. The
  direct path rather than direct + early reflections, because it is one unambiguous signal that
  needs no choice of an early/late boundary; a model trained on it learns to remove all
  reverberation, which is also what the NR metrics (PESQ, ESTOI, SDR against the reference)
  reward;
- each noise source: its own noise (unit RMS, ``T + len(RIR) - 1`` samples, drawn from the
  item's noise stream in turn) convolved with its RIR, keeping the ``T`` samples where the
  reverberation is in steady state (no build-up at the start);
- levels: target and reference are scaled together so that the reverberant target has the dry
  utterance's RMS (what the listener hears stays at the corpus's speech level); the noise sum is
  scaled so that the SNR of reverberant target to noise sum, at the listener, is the drawn one;
  if the mixture would clip, all are lowered together (:func:`mix_reverberant`). ``mixture =
  reverberant + noise`` holds bit for bit in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.signal

from hltk.synth.noise import snr_scaling

__all__ = [
    "CALIBRATION_STEPS", "RT60_TOLERANCE", "RoomOptions", "RoomScene", "Scene", "draw_scene",
    "mix_reverberant", "render_scene", "room_impulse_responses", "schroeder_rt60",
]

ROOM_KINDS: tuple[str, ...] = ("anechoic", "reverberant")
ROOM_LENGTH_M, ROOM_WIDTH_M, ROOM_HEIGHT_M = (3.0, 9.0), (3.0, 7.0), (2.4, 3.6)
WALL_MARGIN_M = 0.5
MIN_DISTANCE_M = 0.5
LISTENER_HEIGHT_M, SOURCE_HEIGHT_M = (1.1, 1.7), (1.0, 2.0)
CALIBRATION_STEPS = 5
#: Rooms are drawn with Sabine absorption below this, leaving the calibration room to move.
SABINE_DRAW_LIMIT = 0.6
RT60_TOLERANCE = 0.05


@dataclass(frozen=True)
class RoomOptions:
    """What decides a reverberant corpus's rooms (recorded in ``synth.json`` as ``room``)."""

    rt60_range_s: tuple[float, float] = (0.1, 0.7)
    noise_sources: tuple[int, int] = (1, 3)

    def __post_init__(self) -> None:
        low, high = self.rt60_range_s
        if not 0.05 <= low <= high <= 2.0:
            raise ValueError(f"--rt60 {low}:{high}: give 0.05 <= LOW <= HIGH <= 2.0 seconds")
        first, last = self.noise_sources
        if not 1 <= first <= last <= 8:
            raise ValueError(f"--noise-sources {first}:{last}: give 1 <= LOW <= HIGH <= 8")


@dataclass(frozen=True)
class RoomScene:
    """One drawn room: size (m), drawn RT60 (s), listener, target and noise positions (m)."""

    size: tuple[float, float, float]
    rt60_s: float
    listener: tuple[float, float, float]
    target: tuple[float, float, float]
    noises: tuple[tuple[float, float, float], ...]

    @property
    def target_distance_m(self) -> float:
        return float(np.linalg.norm(np.subtract(self.target, self.listener)))


@dataclass(frozen=True)
class Scene:
    """A rendered scene: float32 signals of the utterance's length, and what was measured."""

    mixture: np.ndarray
    reference: np.ndarray  # direct path of the target
    reverberant: np.ndarray  # the target as it reaches the listener
    noise: np.ndarray  # sum of the noise sources at the listener
    rt60_measured_s: float
    room: RoomScene


def _sabine_absorption(size: tuple[float, float, float], rt60: float) -> float:
    """Sabine's energy absorption coefficient for ``rt60`` in a shoebox: 0.161 V / (S T)."""
    length, width, height = size
    volume = length * width * height
    surface = 2 * (length * width + length * height + width * height)
    return 0.161 * volume / (surface * rt60)


def _sabine_ok(size: tuple[float, float, float], rt60: float, limit: float = 1.0) -> bool:
    return _sabine_absorption(size, rt60) < limit


def _position(rng: np.random.Generator, size: tuple[float, float, float],
              height: tuple[float, float]) -> tuple[float, float, float]:
    return (float(rng.uniform(WALL_MARGIN_M, size[0] - WALL_MARGIN_M)),
            float(rng.uniform(WALL_MARGIN_M, size[1] - WALL_MARGIN_M)),
            float(rng.uniform(*height)))


def _source(rng: np.random.Generator, size: tuple[float, float, float],
            listener: tuple[float, float, float]) -> tuple[float, float, float]:
    for _ in range(100):
        position = _position(rng, size, SOURCE_HEIGHT_M)
        if np.linalg.norm(np.subtract(position, listener)) >= MIN_DISTANCE_M:
            return position
    raise RuntimeError("no source position 0.5 m from the listener")  # pragma: no cover


def draw_scene(rng: np.random.Generator, options: RoomOptions) -> RoomScene:
    """A room, a reverberation time and the positions (see the module docstring)."""
    rt60 = round(float(rng.uniform(*options.rt60_range_s)), 3)
    size = (ROOM_LENGTH_M[0], ROOM_WIDTH_M[0], ROOM_HEIGHT_M[0])
    for _ in range(50):
        drawn = (round(float(rng.uniform(*ROOM_LENGTH_M)), 2), round(float(rng.uniform(*ROOM_WIDTH_M)), 2),
                 round(float(rng.uniform(*ROOM_HEIGHT_M)), 2))
        if _sabine_ok(drawn, rt60, SABINE_DRAW_LIMIT):
            size = drawn
            break
    listener = _position(rng, size, LISTENER_HEIGHT_M)
    target = _source(rng, size, listener)
    count = int(rng.integers(options.noise_sources[0], options.noise_sources[1] + 1))
    noises = tuple(_source(rng, size, listener) for _ in range(count))
    return RoomScene(size, rt60, listener, target, noises)


def schroeder_rt60(rir: np.ndarray, sample_rate: int, fit_db: tuple[float, float] = (-5.0, -25.0)) -> float:
    """Reverberation time of an impulse response by Schroeder backward integration.

    The energy decay curve ``EDC(t) = sum_{tau >= t} h(tau)^2`` in dB re its start; a straight
    line is fitted (least squares) where it falls from ``fit_db[0]`` to ``fit_db[1]`` (T20 by
    default) and extrapolated to -60 dB.
    """
    energy = np.cumsum(np.square(np.asarray(rir, dtype=np.float64))[::-1])[::-1]
    edc = 10 * np.log10(np.maximum(energy / energy[0], 1e-300))
    start = int(np.argmax(edc <= fit_db[0]))
    stop = int(np.argmax(edc <= fit_db[1]))
    if stop <= start + 1:
        raise ValueError("the impulse response does not decay by the fitted range")
    t = np.arange(start, stop) / sample_rate
    slope, _ = np.polyfit(t, edc[start:stop], 1)
    return float(-60.0 / slope)


def _shoebox_rirs(size: tuple[float, float, float], design_rt60: float, max_order: int,
                  sources: tuple[tuple[float, float, float], ...],
                  listener: tuple[float, float, float], sample_rate: int) -> list[np.ndarray]:
    """Image-source RIRs, walls of Sabine absorption for ``design_rt60``."""
    import pyroomacoustics as pra

    absorption = _sabine_absorption(size, design_rt60)
    room = pra.ShoeBox(list(size), fs=sample_rate, materials=pra.Material(float(absorption)),
                       max_order=int(max_order), air_absorption=False, use_rand_ism=False)
    for source in sources:
        room.add_source(list(source))
    room.add_microphone(list(listener))
    room.compute_rir()
    return [np.asarray(room.rir[0][index], dtype=np.float64) for index in range(len(sources))]


def room_impulse_responses(scene: RoomScene, sample_rate: int) -> tuple[
        np.ndarray, np.ndarray, list[np.ndarray], float]:
    """``(target RIR, target direct-path RIR, noise RIRs, measured RT60)`` of a scene.

    The reflection order is the one pyroomacoustics' ``inverse_sabine`` gives for the drawn
    RT60 (image sources up to about RT60 seconds: the RIR reaches about -60 dB, well past the
    -25 dB the measurement fits) and stays fixed; the walls' absorption is then
    calibrated on the target's RIR: the design RT60 (Sabine) starts at the drawn one, the next
    is drawn^2 / measured, then secant steps in log-log, until the Schroeder RT60 is within
    :data:`RT60_TOLERANCE` of the drawn one (at most :data:`CALIBRATION_STEPS` designs; the
    closest is kept). The noise sources use the same walls.
    """
    import pyroomacoustics as pra

    target_rt60 = scene.rt60_s
    order = int(pra.inverse_sabine(target_rt60, list(scene.size))[1])
    lowest = _sabine_absorption(scene.size, 1.0) / 0.99  # the design RT60 of absorption 0.99
    tried: list[tuple[float, float, np.ndarray]] = []  # (design, measured, rir)
    design = target_rt60
    for _ in range(CALIBRATION_STEPS):
        rir = _shoebox_rirs(scene.size, design, order, (scene.target,), scene.listener,
                            sample_rate)[0]
        measured = schroeder_rt60(rir, sample_rate)
        tried.append((design, measured, rir))
        if abs(measured / target_rt60 - 1.0) <= RT60_TOLERANCE:
            break
        if len(tried) == 1:
            design = design * target_rt60 / measured
        else:
            (d0, m0, _), (d1, m1, _) = tried[-2], tried[-1]
            slope = (np.log(m1) - np.log(m0)) / (np.log(d1) - np.log(d0)) if d1 != d0 else 1.0
            slope = slope if np.isfinite(slope) and slope > 0.2 else 1.0
            design = float(np.exp(np.log(d1) + (np.log(target_rt60) - np.log(m1)) / slope))
        design = float(np.clip(design, max(lowest, target_rt60 / 3), target_rt60 * 3))
    design, measured, target = min(tried, key=lambda entry: abs(entry[1] / target_rt60 - 1.0))
    direct = _shoebox_rirs(scene.size, design, 0, (scene.target,), scene.listener, sample_rate)[0]
    noises = _shoebox_rirs(scene.size, design, order, scene.noises, scene.listener, sample_rate)
    return target, direct, noises, measured


def mix_reverberant(reverberant: np.ndarray, direct: np.ndarray, noise: np.ndarray,
                    target_snr_db: float, peak_limit: float = 0.99) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mixture, reference, reverberant, noise)`` float32, as :func:`hltk.synth.noise.mix_at_snr`
    with the SNR of ``reverberant`` to ``noise``; ``direct`` gets the same gain as
    ``reverberant`` (so it stays the direct-path part of the mixture's speech)."""
    reverberant64 = np.asarray(reverberant, dtype=np.float64)
    noise64, scale = snr_scaling(reverberant64, noise, target_snr_db, peak_limit, "target")
    reverberant32 = (reverberant64 * scale).astype(np.float32)
    noise32 = (noise64 * scale).astype(np.float32)
    direct32 = (np.asarray(direct, dtype=np.float64) * scale).astype(np.float32)
    return reverberant32 + noise32, direct32, reverberant32, noise32


def render_scene(speech: np.ndarray, scene: RoomScene, sample_rate: int, target_snr_db: float,
                 draw_noise: Callable[[int], np.ndarray]) -> Scene:
    """Put ``speech`` and ``len(scene.noises)`` noises (``draw_noise(length)``, RMS 1, called in
    order) into the room; see the module docstring for levels and the reference."""
    dry = np.asarray(speech, dtype=np.float64)
    length = dry.size
    target_rir, direct_rir, noise_rirs, measured = room_impulse_responses(scene, sample_rate)
    reverberant = scipy.signal.fftconvolve(dry, target_rir)[:length]
    direct = scipy.signal.fftconvolve(dry, direct_rir)[:length]
    gain = np.sqrt(np.mean(dry**2) / max(float(np.mean(reverberant**2)), 1e-30))
    noise = np.zeros(length)
    for rir in noise_rirs:
        source = np.asarray(draw_noise(length + rir.size - 1), dtype=np.float64)
        noise += scipy.signal.fftconvolve(source, rir, mode="valid")[:length]
    mixture, reference, reverberant32, noise32 = mix_reverberant(
        reverberant * gain, direct * gain, noise, target_snr_db)
    return Scene(mixture, reference, reverberant32, noise32, measured, scene)


def scene_columns(scene: Scene) -> dict[str, str]:
    """The manifest columns a reverberant item adds."""
    room = scene.room
    return {
        "room": "reverberant", "rt60_s": f"{room.rt60_s:.3f}",
        "rt60_measured_s": f"{scene.rt60_measured_s:.3f}",
        "room_size_m": "x".join(f"{value:.2f}" for value in room.size),
        "noise_sources": str(len(room.noises)),
        "target_distance_m": f"{room.target_distance_m:.2f}",
    }


#: Columns added to a noisy manifest by ``--room reverberant`` (after the corpus's own).
ROOM_COLUMNS: tuple[str, ...] = ("room", "rt60_s", "rt60_measured_s", "room_size_m",
                                 "noise_sources", "target_distance_m")
