"""Speed of the Hybrid Demucs separator (``hdemucs_high``): real-time factor.

Random weights saved in the checkpoint format (the compute is that of the real weights), a
stereo music mixture (a synthetic song when fluidsynth is installed, else noise), separated
as ``hltk remix --separator hdemucs`` separates: mono-mix standardisation, 11 s segments
(10 s + 10 %) with 1 s cross-fades, the segments of the item batched. Timed after a warm-up
call; prints JSON: wall seconds per second of audio (``rtf``) and CPU seconds (all threads)
per second of audio (``cpu_s_per_audio_s``, the steadier figure on a shared machine).

    .venv/bin/python bench/hdemucs_speed.py [--seconds 30] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from hltk.runtime import configure_process


def music(seconds: float, rate: int) -> tuple[torch.Tensor, str]:
    """``[2, time]``: a synthetic song's mixture, or noise without fluidsynth."""
    from hltk.synth import signals

    if signals.has_fluidsynth():
        _, mixture = signals.song_stems(seed=5, seconds=seconds, sample_rate=rate)
        return mixture.float(), "synthetic song (fluidsynth)"
    return 0.1 * torch.randn(2, int(seconds * rate), generator=torch.Generator().manual_seed(0)), "noise"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--segments-per-batch", type=int, default=None)
    arguments = parser.parse_args()
    configure_process()  # the hltk command's process settings (hltk.runtime)
    torch.set_num_threads(arguments.threads)

    from hltk.remix.hdemucs import HDEMUCS_HIGH, HDemucs, save_hdemucs
    from hltk.remix.separators import SEGMENTS_PER_BATCH, HDemucsSeparator, segment_starts

    rate = HDEMUCS_HIGH.sample_rate
    mixture, source = music(arguments.seconds, rate)
    batch = arguments.segments_per_batch or SEGMENTS_PER_BATCH
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "hdemucs_high_random.pt"
        torch.manual_seed(0)
        save_hdemucs(HDemucs(HDEMUCS_HIGH), checkpoint)
        separator = HDemucsSeparator(checkpoint, device=arguments.device, segments_per_batch=batch)
    device = torch.device(arguments.device)
    separator.separate(mixture[:, : rate].to(device), rate)  # warm-up: allocations, kernels

    def timed(signal: torch.Tensor) -> tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started, cpu_started = time.perf_counter(), time.process_time()
        stems = separator.separate(signal.to(device), rate)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        assert stems.shape == (4, *signal.shape) and torch.isfinite(stems).all()
        return time.perf_counter() - started, time.process_time() - cpu_started

    load_before = os.getloadavg()
    whole, whole_cpu = timed(mixture)
    one_segment, _ = timed(mixture[:, : separator.segment])
    segments = len(segment_starts(mixture.shape[-1], separator.segment, separator.overlap_samples))
    result = {
        "config": "hdemucs_high (random weights)",
        "parameters": sum(p.numel() for p in separator.model(device).parameters()),
        "audio": source,
        "audio_seconds": arguments.seconds,
        "segments": segments,
        "segments_per_batch": batch,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "seconds": round(whole, 2),
        "rtf": round(whole / arguments.seconds, 3),
        "cpu_seconds": round(whole_cpu, 2),
        "cpu_s_per_audio_s": round(whole_cpu / arguments.seconds, 3),
        "one_11s_segment_seconds": round(one_segment, 2),
        "max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average": [round(v, 2) for v in (*load_before, *os.getloadavg())],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
