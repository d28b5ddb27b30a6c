"""Fine-tune Neuro-MSBG with the silence-aware magnitude targets (issue 28, part 2).

``hltk train neuro-msbg`` with two more loss settings of :class:`hltk.train.neuro_msbg.NeuroMsbgTask`
that its command line does not expose yet: ``--target-floor`` (the eps of the target's
magnitude, ``sqrt(re^2 + im^2 + eps)``; the first models 1e-9) and ``--log-floor`` (the ``e`` of
the log-magnitude L1, compressed magnitudes; the first models 0.01). See
``recipes/neuro_msbg/magnitude_diagnosis.py`` and ``docs/performance.md`` for why they matter:
at the old values a band that MSBG silences is trained towards a constant magnitude 50-90 dB
above MSBG's, which carries the input's envelope, and STOI scores it as intelligible.

    .venv/bin/python recipes/neuro_msbg/train_floored.py --data M1.csv [--data M2.csv ...] \\
        --cache-dir CACHE --init hltk/checkpoints/neuro_msbg_cnn.pt -o OUT/model.pt \\
        --steps 4000 --lr 1e-3 --target-floor 1e-20 --log-floor 0.002

``--stoi-weight W`` adds W times :func:`hltk.train.losses.stoi_band_loss` (STOI's band
correlations of the output matched to the target's; 0, the default, leaves it out) and
``--complex-weight`` sets the compressed complex MSE's weight (the paper's 0.1); the default
since issue 28's fifth session was made with ``--init hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt
--steps 7000 --lr 5e-4 --log-floor 0.001 --stoi-weight 3 --complex-weight 2``
(``make train-neuro-msbg-stoiband``).

The model config is the ``--init`` checkpoint's (so the same network and speed), the data,
targets (torch-msbg), batches and schedule are ``hltk train neuro-msbg``'s; the checkpoint and
its ``.resume`` are the shared loop's (a stopped run goes on when started again).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hltk.nn.checkpoint import load_checkpoint
from hltk.simulate.neuro_msbg import NeuroMsbgConfig
from hltk.train.loop import TrainSettings, train
from hltk.train.neuro_msbg import LOG_FLOOR, LOSS_WEIGHTS, TARGET_FLOOR, make_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--init", type=Path, help="start from this checkpoint (and its config)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment-seconds", type=float, default=1.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-magnitude", type=float, default=1.0)
    parser.add_argument("--phase-loss", choices=("plain", "weighted"), default="weighted")
    parser.add_argument("--target-floor", type=float, default=TARGET_FLOOR)
    parser.add_argument("--log-floor", type=float, default=LOG_FLOOR)
    parser.add_argument("--stoi-weight", type=float, default=0.0,
                        help="weight of the STOI band-correlation loss (0: off)")
    parser.add_argument("--complex-weight", type=float, default=LOSS_WEIGHTS["complex"],
                        help="weight of the compressed complex MSE (the paper's 0.1)")
    options = parser.parse_args()
    config = NeuroMsbgConfig()
    if options.init is not None:
        config = NeuroMsbgConfig(**load_checkpoint(options.init, expect_model="neuro-msbg")["config"])
    task = make_task(options.data, config, options.cache_dir, seed=options.seed,
                     segment_seconds=options.segment_seconds,
                     log_magnitude_weight=options.log_magnitude, phase_loss=options.phase_loss,
                     target_floor=options.target_floor, log_floor=options.log_floor,
                     stoi_weight=options.stoi_weight, complex_weight=options.complex_weight)
    settings = TrainSettings(steps=options.steps, batch_size=options.batch_size,
                             learning_rate=options.lr, seed=options.seed, threads=options.threads)

    def progress(step: int, total: int, values: dict[str, float]) -> None:
        if step % 100 == 0 or step == total:
            print(f"step {step}/{total}: " + " ".join(f"{k} {v:.5g}" for k, v in values.items()),
                  flush=True)

    result = train(task, settings, options.out, progress=progress, init=options.init)
    print(result)


if __name__ == "__main__":
    main()
