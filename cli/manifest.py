"""``hltk manifest``: build hltk manifests from challenge metadata (``hltk manifest cadenza``,
``hltk manifest cec3``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from hltk.pipelines.cec3 import cec3_manifest
from hltk.pipelines.predict import ChallengeManifest, clip_manifest, cpc2_manifest, cpc3_manifest
from hltk.pipelines.remix import cad2_manifest, cadenza_manifest
from hltk_cli import common as c
from hltk_cli.output import info, print_rows

manifest_app = typer.Typer(name="manifest", help="Build manifests from challenge metadata.",
                           no_args_is_help=True)


@manifest_app.command("cadenza")
def cadenza(
    root: Annotated[Path, typer.Option("--root", help="Cadenza ICASSP 2024 data root (holds "
                                       "metadata/ and audio/at_mic_music/).", show_default=False)],
    out: c.OutOpt,
    split: Annotated[Literal["train", "valid", "test"], typer.Option(
        "--split", help="Which split's scenes and listeners.")] = "valid",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) of a Cadenza ICASSP 2024 split: OUT/manifest.csv,
    listeners.json and gains.json, ready for `hltk remix OUT/manifest.csv`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cadenza_manifest(root, split, out)
    summary = {"split": split, "rows": result.rows, "scenes": result.scenes,
               "stems": result.with_stems, "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cadenza")
    info(f"cadenza {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_stems else " (no stems: the oracle separator cannot run on it)"),
         c.is_quiet(quiet))


@manifest_app.command("cec3")
def cec3(
    root: Annotated[Path, typer.Option("--root", help="CEC3 data root (clarity_CEC3_data: holds "
                                       "task1/, task2/, task3/).", show_default=False)],
    out: c.OutOpt,
    task: Annotated[int, typer.Option("--task", min=1, max=3, help="CEC3 task: 1, 2 or 3.")] = 1,
    split: Annotated[Literal["dev", "eval"], typer.Option(
        "--split", help="Which split's scene-listener pairs.")] = "dev",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) pair of a CEC3 task and split: OUT/manifest.csv (the three
    microphone pairs, the reference, SNR) and listeners.json, ready for `hltk amplify
    OUT/manifest.csv --backend nalr-compressor --preset cec3`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cec3_manifest(root, task, split, out)
    rates = ",".join(str(rate) for rate in result.sample_rates)
    summary = {"task": task, "split": split, "rows": result.rows, "scenes": result.scenes,
               "reference": result.with_reference, "sample_rate": rates,
               "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cec3")
    info(f"cec3 task {task} {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_reference else " (no references: it cannot be scored)")
         + f"; amplify with --preset cec3 --sample-rate {rates.split(',')[0]}", c.is_quiet(quiet))


def _report_challenge(name: str, result: ChallengeManifest, output_format: str, quiet: bool) -> None:
    summary = {"split": result.split, "rows": result.rows, "correctness": result.with_correctness,
               **result.notes, "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title=f"hltk manifest {name}")
    info(f"{name} {result.split}: {result.rows} signals -> {result.manifest}"
         + ("" if result.with_correctness else " (no correctness: predict it, cannot --score it)"),
         c.is_quiet(quiet))


@manifest_app.command("cpc2")
def cpc2(
    root: Annotated[Path, typer.Option("--root", help="CPC2 data root (clarity_CPC2_data, "
                                       "holding clarity_data/metadata).", show_default=False)],
    out: c.OutOpt,
    split: Annotated[str, typer.Option(
        "--split", help="The partition: train.1, train.2, train.3 (or an evaluation "
        "partition's name), read from CEC1.<split>.json and CEC2.<split>.json.")] = "train.1",
    cec: Annotated[str, typer.Option(
        "--cec", help="Which enhancement challenges' signals (comma-separated).")] = "CEC1,CEC2",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per CPC2 signal (hearing-aid output, its scene's target reference, listener,
    system, correctness): OUT/manifest.csv and listeners.json, ready for `hltk evaluate`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cpc2_manifest(root, split, out, tuple(x.strip() for x in cec.split(",") if x.strip()))
    _report_challenge("cpc2", result, output_format, quiet)


@manifest_app.command("cpc3")
def cpc3(
    root: Annotated[Path, typer.Option("--root", help="CPC3 data root (clarity_CPC3_data, or "
                                       "the dataset folder holding metadata/).", show_default=False)],
    out: c.OutOpt,
    split: Annotated[Literal["train", "dev", "eval"], typer.Option(
        "--split", help="Which CPC3.<split>.json.")] = "train",
    dataset: Annotated[str, typer.Option(
        "--dataset", help="The dataset folder under ROOT (clarity_demo_data for the demo).")
    ] = "clarity_data",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per CPC3 signal, the listener given the recipe's audiogram for its severity
    (listeners.csv, or the dev records' hearing_loss): OUT/manifest.csv and listeners.json."""
    with c.exit_codes(usage=(ValueError,)):
        result = cpc3_manifest(root, split, out, dataset)
    _report_challenge("cpc3", result, output_format, quiet)


@manifest_app.command("clip")
def clip(
    root: Annotated[Path, typer.Option("--root", help="CLIP data root (cadenza_data, or "
                                       "cadenza_data/clip2).", show_default=False)],
    out: c.OutOpt,
    split: Annotated[Literal["train", "valid", "eval"], typer.Option(
        "--split", help="Which <split>_metadata.json.")] = "train",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per CLIP (Cadenza lyric intelligibility) signal: audio (1) against the
    unprocessed audio (2), listener NH (the loss is simulated in the signal), correctness in
    percent: OUT/manifest.csv."""
    with c.exit_codes(usage=(ValueError,)):
        result = clip_manifest(root, split, out)
    _report_challenge("clip", result, output_format, quiet)


@manifest_app.command("cad2")
def cad2(
    root: Annotated[Path, typer.Option("--root", help="CAD2 task data root (holds metadata/ and "
                                       "audio/).", show_default=False)],
    out: c.OutOpt,
    task: Annotated[int, typer.Option("--task", help="1 (lyric intelligibility) or 2 (rebalancing "
                                      "classical music).")] = 2,
    split: Annotated[Literal["train", "valid", "test"], typer.Option(
        "--split", help="Which split's scenes and listeners.")] = "valid",
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """One row per (scene, listener) of a CAD2 task's split: OUT/manifest.csv, listeners.json,
    compressor_params.json (and task 2's gains.json), ready for
    `hltk remix OUT/manifest.csv --chain cad2-taskN`."""
    with c.exit_codes(usage=(ValueError,)):
        result = cad2_manifest(root, task, split, out)
    summary = {"task": task, "split": split, "rows": result.rows, "scenes": result.scenes,
               "stem_columns": result.stems, "manifest": str(result.manifest)}
    print_rows([summary], list(summary), output_format, title="hltk manifest cad2")
    info(f"cad2 task {task} {split}: {result.rows} scene-listener pairs -> {result.manifest}"
         + ("" if result.with_stems else " (no stems: the oracle separator cannot run on it)"),
         c.is_quiet(quiet))
