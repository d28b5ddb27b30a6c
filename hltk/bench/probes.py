"""Workloads the speed probes of ``bench/`` share (see ``bench/README.md``), so that a probe
imports them instead of a sibling script: the amplification batch and timer
(``bench/amplify_speed.py``, ``bench/neuroamp_speed.py``), the metric pairs and the torch
engine's scoring call (``bench/torch_metrics_speed.py``, ``bench/torch_metrics_profile.py``)
and the MSBG signals and listeners (``bench/torch_msbg_speed.py``,
``bench/torch_msbg_recursion.py``). Every workload is seeded: the probes measure the same
work on every run and machine.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import soundfile as sf
import soxr
import torch

from hltk.bench.data import DEMO_AUDIO
from hltk.io.listeners import Listener, ListenerBatch, standard_listener

#: the amplification probes' rate (what ``hltk amplify`` runs NAL-R at) and listeners
AMPLIFY_RATE = 44100
AMPLIFY_PROFILES = ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "S1", "S2", "S3")


def speech_batch(items: int, seconds: float) -> torch.Tensor:
    """``[items, 2, seconds * AMPLIFY_RATE]`` speech at RMS 10^(-35/20) (65 dB SPL at level 100)."""
    voices = []
    for path in sorted(DEMO_AUDIO.glob("s0*.*")):
        samples, rate = sf.read(path, dtype="float64")
        samples = samples if samples.ndim == 1 else samples[:, 0]
        voices.append(soxr.resample(samples, rate, AMPLIFY_RATE))
    stream = np.concatenate(voices)
    length = int(seconds * AMPLIFY_RATE)
    audio = np.zeros((items, 2, length), dtype=np.float32)
    for item in range(items):
        for ear in range(2):
            start = (item * 7919 + ear * 104729) % (len(stream) - length)
            segment = stream[start : start + length]
            audio[item, ear] = segment / np.sqrt(np.mean(segment**2)) * 10 ** (-35 / 20)
    return torch.from_numpy(audio)


def time_processor(
    processor: object, audio: torch.Tensor, listeners: ListenerBatch, repeats: int
) -> dict[str, float]:
    """Wall and process CPU time of ``processor`` on the batch (after a 2-item warm-up call),
    best and median of ``repeats``, and the real-time factors from each (audio at
    :data:`AMPLIFY_RATE`)."""
    lengths = torch.full((audio.shape[0],), audio.shape[-1])
    levels = torch.full((audio.shape[0],), 100.0)
    processor(audio[:2], listeners.select([0, 1]), lengths=lengths[:2], level_db_spl=levels[:2])  # type: ignore[operator]
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        processor(audio, listeners, lengths=lengths, level_db_spl=levels)  # type: ignore[operator]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    duration = audio.shape[0] * audio.shape[-1] / AMPLIFY_RATE
    return {
        "wall_s_best": round(min(walls), 3),
        "wall_s_median": round(statistics.median(walls), 3),
        "cpu_s_best": round(min(cpus), 3),
        "rtf_wall_best": round(duration / min(walls), 1),
        "rtf_wall_median": round(duration / statistics.median(walls), 1),
        "rtf_cpu_best": round(duration / min(cpus), 1),
    }


#: the metric probes' rate, audiogram frequencies and audiograms (one per pair, cycled)
METRIC_RATE = 24000
METRIC_FREQUENCIES = np.array([250, 500, 1000, 2000, 4000, 6000])
METRIC_AUDIOGRAMS = np.array([
    [10, 10, 10, 15, 30, 40],
    [35, 35, 40, 50, 60, 65],
    [20, 20, 25, 55, 95, 95],
    [55, 55, 55, 65, 75, 80],
], dtype=float)


def metric_speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced-speech-like signal: harmonic complex with a gliding f0 and syllabic AM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * METRIC_RATE)) / METRIC_RATE
    f0 = 100 + 40 * rng.uniform() + 20 * np.sin(2 * np.pi * 1.1 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / METRIC_RATE
    voiced = sum(np.sin(k * phase) * rng.uniform(0.3, 1.0) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * (3 + rng.uniform()) * t + rng.uniform(0, 6)), 0,
                       None) ** 2
    signal = voiced * envelope + 0.05 * rng.standard_normal(t.size) * envelope
    return 0.05 * signal / np.sqrt(np.mean(signal**2))


def metric_pairs(n: int, seconds: float) -> list[dict[str, Any]]:
    """``n`` (reference, processed) pairs of ``seconds`` at :data:`METRIC_RATE`: speech-like
    references; processed = noisy at 0-15 dB SNR, delayed and scaled; one audiogram, level and
    seed per pair."""
    pairs = []
    for i in range(n):
        rng = np.random.default_rng(1000 + i)
        reference = metric_speech_like(seconds, i)
        noise = rng.standard_normal(reference.size)
        snr = [0.0, 5.0, 10.0, 15.0][i % 4]
        noise *= np.sqrt(np.mean(reference**2) / np.mean(noise**2)) * 10 ** (-snr / 20)
        delay = int(rng.integers(0, 200))
        processed = np.concatenate((np.zeros(delay), (reference + noise)[: reference.size - delay]))
        pairs.append(dict(reference=reference, processed=rng.uniform(0.5, 2.0) * processed,
                          audiogram=METRIC_AUDIOGRAMS[i % 4], level=[65.0, 100.0][i % 2], seed=i))
    return pairs


def torch_metric_scores(metric: str, pairs: list[dict[str, Any]], device: str,
                        batch_size: int, workers: int = 1) -> np.ndarray:
    """``metric`` (haspi, hasqi or haaqi) of every pair with the batched torch engine."""
    from hltk.metrics import indices as te

    reference = torch.tensor(np.stack([p["reference"] for p in pairs]), device=device)
    processed = torch.tensor(np.stack([p["processed"] for p in pairs]), device=device)
    audiograms = np.stack([p["audiogram"] for p in pairs])
    levels = torch.tensor([p["level"] for p in pairs])
    seeds = [p["seed"] for p in pairs]
    with torch.no_grad():
        if metric == "haspi":
            out = te.haspi_v2(reference, processed, METRIC_RATE, audiograms, levels, seeds,
                              batch_size=batch_size, workers=workers)
        elif metric == "hasqi":
            out = te.hasqi_v2(reference, processed, METRIC_RATE, audiograms, 1, levels, seeds,
                              batch_size=batch_size, workers=workers)
        else:
            out = te.haaqi(reference, processed, METRIC_RATE, audiograms, 2, levels, seeds,
                           batch_size=batch_size, workers=workers)
    return out.cpu().numpy()


#: the MSBG probes' rate and profiles (each item's two ears differ)
MSBG_RATE = 44100
MSBG_PROFILES = ["NH", "N1", "N2", "N3", "N4", "N5", "S1", "S2", "S3"]


def msbg_signals(items: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """Speech-like test signals ``[items, 2, T]``: noise with a 4 Hz syllabic envelope and a
    harmonic voiced part, different per item and ear."""
    rng = np.random.default_rng(seed)
    time_axis = np.arange(int(seconds * MSBG_RATE)) / MSBG_RATE
    audio = np.zeros((items, 2, len(time_axis)))
    for i in range(items):
        for ear in range(2):
            pitch = rng.uniform(90, 220)
            voiced = sum(np.sin(2 * np.pi * pitch * k * time_axis) / k for k in range(1, 15))
            envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * time_axis), 0, None)
            noise = rng.standard_normal(len(time_axis)) * 0.3
            signal = (voiced + noise) * envelope
            audio[i, ear] = signal * 0.05 / np.sqrt(np.mean(signal**2))
    return torch.from_numpy(audio).float()


def msbg_listeners(items: int) -> ListenerBatch:
    """Mixed audiograms (NH to severe, different per ear) for ``items`` items."""
    return ListenerBatch(tuple(
        Listener(f"L{i}", standard_listener(MSBG_PROFILES[i % len(MSBG_PROFILES)]).left,
                 standard_listener(MSBG_PROFILES[(i * 4 + 3) % len(MSBG_PROFILES)]).left)
        for i in range(items)
    ))

#: The probes' names for torch-msbg's two paths -> ``TorchMsbg(compiled=...)``.
TORCH_MSBG_PATHS: dict[str, bool | None] = {"auto": None, "compiled": True, "torch": False}
