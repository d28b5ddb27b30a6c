"""How far Neuro-MSBG's inference path (``NeuroMsbg()``: :meth:`NeuroMsbgNet.infer`, passes
side by side on single-threaded workers) is from the modules (``NeuroMsbg(fused=False)``, the
previous path) on real recordings with their listeners: the largest absolute sample
difference, and the difference's level relative to the output's.

    .venv/bin/python recipes/neuro_msbg/fused_difference.py \\
        --manifest /work/main/data/recorded-en/manifest.csv \\
        --listeners /work/main/data/listeners/listeners.json [--items 48] [--threads 2]

Items are read at their own rate and resampled to 16 kHz (the runner's resampler for this
backend, ``fft``) in padded batches of ``--batch`` with their lengths, both ears (the second at
-6 dB), as the runner batches them; with ``--via 44100`` each item is first taken to 44.1 kHz,
and the outputs back to it (the runner's path from a 44.1 kHz corpus).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from hltk.io.audio import read_audio, resample
from hltk.io.listeners import ListenerBatch, load_listeners
from hltk.runtime import configure_process
from hltk.simulate.neuro_msbg import NeuroMsbg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--listeners", type=Path, required=True)
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--via", type=int, default=0, help="a corpus rate to pass through")
    args = parser.parse_args()
    configure_process()
    torch.set_num_threads(args.threads)
    rows = list(csv.DictReader(args.manifest.open()))[: args.items]
    listeners = load_listeners(args.listeners)
    fused, modules = NeuroMsbg(), NeuroMsbg(fused=False)
    worst, error_energy, output_energy, samples = 0.0, 0.0, 0.0, 0
    for first in range(0, len(rows), args.batch):
        chunk = rows[first: first + args.batch]
        signals = []
        for row in chunk:
            audio, rate = read_audio(args.manifest.parent / row["audio"])
            mono = audio[0]
            if args.via:
                mono = resample(mono, rate, args.via, "fft")
                rate = args.via
            signals.append((resample(mono, rate, 16000, "fft"), rate))
        lengths = torch.tensor([signal.shape[-1] for signal, _ in signals])
        batch = torch.zeros(len(chunk), 2, int(lengths.max()))
        for index, (signal, _) in enumerate(signals):
            batch[index, 0, : signal.shape[-1]] = signal
            batch[index, 1, : signal.shape[-1]] = 0.5 * signal
        group = ListenerBatch(tuple(listeners[row["listener"]] for row in chunk))
        levels = torch.full((len(chunk),), 100.0)
        with torch.no_grad():
            new = fused(batch, group, lengths=lengths, level_db_spl=levels)
            old = modules(batch, group, lengths=lengths, level_db_spl=levels)
        for index, (_, rate) in enumerate(signals):
            size = int(lengths[index])
            a, b = new[index, :, :size], old[index, :, :size]
            if args.via:
                a, b = resample(a, 16000, rate, "fft"), resample(b, 16000, rate, "fft")
            worst = max(worst, float((a - b).abs().max()))
            error_energy += float((a - b).double().square().sum())
            output_energy += float(b.double().square().sum())
            samples += b.numel()
    print(f"{len(rows)} items x 2 ears{f' via {args.via} Hz' if args.via else ''}, "
          f"{args.threads} threads: largest |fused - modules| {worst:.3g}, difference "
          f"{10 * torch.log10(torch.tensor(error_energy / output_energy)).item():.1f} dB re the "
          f"output, output RMS {(output_energy / samples) ** 0.5:.3g}")


if __name__ == "__main__":
    main()
