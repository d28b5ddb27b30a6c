"""``hltk train remix-gains`` (registered on the ``hltk train`` app): the personalised remix
gain predictor, trained on the exact Cadenza ICASSP 2024 HAAQI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.train_remix_gains import RemixGainsSettings, train_remix_gains
from hltk.remix.leaky_oracle import DEFAULT_LEAK_DB
from hltk.runner.settings import RunError
from hltk_cli import common as c
from hltk_cli.train import (
    BatchOpt,
    CheckpointOut,
    LrOpt,
    QuickOpt,
    ThreadsOpt,
    print_result,
    train_app,
)


@train_app.command("remix-gains")
def remix_gains(
    corpus: Annotated[Path, typer.Option(
        "--data", help="A `hltk synth music` corpus folder (manifest.csv with stems and split, "
        "gains.json).", exists=True, file_okay=False)],
    out: CheckpointOut,
    work: Annotated[Path | None, typer.Option(
        "--work", help="Where the per-item optimal gains are cached (optima.jsonl). Default: "
        "the checkpoint's folder.")] = None,
    separator: Annotated[str, typer.Option(
        "--separator", help="leaky-oracle (default) or oracle: the separator the predictor is "
        "trained behind.")] = "leaky-oracle",
    leak_db: Annotated[float, typer.Option(
        "--leak-db", help="--separator leaky-oracle: the leak (dB below each stem).")] = DEFAULT_LEAK_DB,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="--separator hdemucs: its weights (not trainable here: see "
        "--finetune-decoder).")] = None,
    finetune_decoder: Annotated[bool, typer.Option(
        "--finetune-decoder", help="--separator hdemucs: update only the HDemucs decoder "
        "(hltk.remix.hdemucs.freeze_encoder); needs back-propagation through the torch HAAQI "
        "and a GPU.")] = False,
    listeners_per_song: Annotated[int, typer.Option(
        "--listeners-per-song", min=1, help="Training listeners per song.")] = 1,
    max_items: Annotated[int | None, typer.Option(
        "--max-items", min=1, help="At most this many training items.")] = None,
    max_valid_items: Annotated[int | None, typer.Option(
        "--max-valid-items", min=1, help="At most this many validation items.")] = None,
    evaluations: Annotated[int, typer.Option(
        "--evaluations", min=1, help="HAAQI evaluations per item in the gain search.")] = 16,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the items.")] = 40,
    batch_size: BatchOpt = 16,
    lr: LrOpt = 3e-3,
    seed: c.SeedOpt = 0,
    threads: ThreadsOpt = 1,
    quick: QuickOpt = False,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Search each training item's best gains on the exact HAAQI, then fit the gain predictor
    to them (shared loop; resumable: run the same command again)."""
    quiet = c.is_quiet(quiet)
    with c.exit_codes():
        if separator == "hdemucs" or checkpoint is not None or finetune_decoder:
            raise RunError(
                "--separator hdemucs [--finetune-decoder] needs back-propagation through the torch "
                "HAAQI into HDemucs' decoder (9-12 s per ear and step for 2.5 s of audio on one "
                "CPU thread): not run by this command; see docs/remix-gains.md")
        settings = RemixGainsSettings(
            corpus=corpus, out=work or out.parent, separator=separator, leak_db=leak_db,
            listeners_per_song=listeners_per_song, max_items=max_items,
            max_valid_items=max_valid_items, max_evaluations=evaluations, epochs=epochs,
            batch_size=batch_size, learning_rate=lr, seed=seed, threads=threads, quick=quick)
        result = train_remix_gains(settings, out, progress=None if quiet else (
            lambda stage, done, total: print(f"\r{stage} {done}/{total}", end="", flush=True)))
        if not quiet:
            print()
    print_result(result, output_format, "hltk train remix-gains")
