"""``hltk train psi-msbg`` (registered on the ``hltk train`` app): the psi-conditioned
listener model, its audiogram-conditioned twin, or an individual-specific model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.psi import train_psi_msbg
from hltk.simulate.psi_msbg import CONDITIONS
from hltk.train.loop import TrainSettings
from hltk_cli import common as c
from hltk_cli.train import (
    BatchOpt,
    CacheOpt,
    CheckpointOut,
    LrOpt,
    QuickOpt,
    StepsOpt,
    ThreadsOpt,
    print_result,
    train_app,
    training,
)


@train_app.command("psi-msbg")
def psi_msbg(
    data: Annotated[Path, typer.Option(
        "--data", help="Speech: a manifest (its train / valid / test rows give the train / fit / "
        "test segments) or a folder of .wav files (sorted; split in file order). Train, fit and "
        "test segments come from different files.", show_default=False)],
    listeners: Annotated[Path, typer.Option(
        "--listeners", help="listeners.json whose audiograms the population is drawn from.",
        show_default=False)],
    out: CheckpointOut,
    n_psi: Annotated[int, typer.Option("--n-psi", min=1, help="Learned parameters per "
                                       "individual (the paper: 3 or 6).")] = 6,
    condition: Annotated[c.choices(CONDITIONS), typer.Option(
        "--condition", help="psi (learned profiles), audiogram (the twin), none (an "
        "individual-specific model: give --individual).")] = "psi",
    individuals: Annotated[int | None, typer.Option(
        "--individuals", min=1, help="Train on the first N training individuals (even: "
        "same-audiogram pairs stay whole; default all).")] = None,
    individual: Annotated[str | None, typer.Option(
        "--individual", help="The one individual of a --condition none model.")] = None,
    channels: Annotated[int, typer.Option("--channels", min=4, help="Network width.")] = 32,
    audiogram_penalty: Annotated[float, typer.Option(
        "--audiogram-penalty", min=0.0, help="Weight of the early psi/audiogram distance "
        "penalty (the paper's L_ABR; 0: off).")] = 0.0,
    audiogram_penalty_steps: Annotated[int, typer.Option(
        "--audiogram-penalty-steps", min=0, help="Steps the penalty applies for.")] = 0,
    steps: StepsOpt = 1200,
    batch_size: BatchOpt = 24,
    lr: LrOpt = 2e-3,
    cache_dir: CacheOpt = None,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = None,
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Train psi-msbg: simulated listeners (torch-msbg with hidden supra-threshold parameters,
    responses as log-mel) and one network conditioned on learned per-listener psi; resumable
    (run the same command again)."""
    quiet = c.is_quiet(quiet)
    settings = TrainSettings(steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed,
                             threads=threads, valid_every=100, checkpoint_every=100, warmup_steps=50)
    with training(settings, quiet) as (data_update, report), c.exit_codes(usage=(ValueError,)):
        result = train_psi_msbg(
            data, listeners, out, n_psi=n_psi, condition=condition, individuals=individuals,
            individual=individual, channels=channels, audiogram_penalty=audiogram_penalty,
            audiogram_penalty_steps=audiogram_penalty_steps, settings=settings, quick=quick,
            cache_dir=cache_dir, data_progress=data_update, progress=report)
    print_result(result, output_format, "hltk train psi-msbg")
