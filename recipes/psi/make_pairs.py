"""Fit manifests for ``hltk fit-listener``: the population's ``fit`` segments as wav files and
one PAIRS.csv per unseen simulated listener (audio, hl_<Hz>, hidden parameters).

    python recipes/psi/make_pairs.py --runs /work/out/psi --out /work/out/psi/pairs
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from hltk.io.audio import write_audio
from hltk.train.psi import SAMPLE_RATE, PopulationData, speech_segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("/work/out/psi"))
    parser.add_argument("--out", type=Path, default=Path("/work/out/psi/pairs"))
    args = parser.parse_args()
    caches = sorted((args.runs / "cache").glob("population-*.pt"), key=lambda p: p.stat().st_size)
    data = PopulationData.load(caches[-1])
    fit = data.index("fit")
    # the same segments the population was made from (same files, seed and levels)
    waveforms, sources, _ = speech_segments(data.sources, len(data.sources),
                                            levels=data.levels.tolist())
    assert sources == data.sources
    args.out.mkdir(parents=True, exist_ok=True)
    names = []
    for index in fit:
        name = f"segment_{index:03d}.wav"
        write_audio(args.out / name, waveforms[index][None].to(torch.float32), SAMPLE_RATE,
                    "wav32f")
        names.append(name)
    for individual in data.individuals:
        if individual.split != "unseen":
            continue
        hl = {f"hl_{int(f)}": v for f, v in zip(individual.audiogram.frequencies,
                                                  individual.audiogram.levels, strict=True)}
        hidden = individual.hidden.__dict__
        with (args.out / f"{individual.id}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["audio", "listener", *hl, *hidden])
            writer.writeheader()
            for name in names:
                writer.writerow({"audio": name, "listener": individual.id, **hl, **hidden})
    print(f"{len(names)} segments and the unseen listeners' manifests in {args.out}")


if __name__ == "__main__":
    main()
