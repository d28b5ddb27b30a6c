"""Model cards for the shipped NeuroAMP checkpoints (``hltk/checkpoints/neuroamp_<name>.md``),
written from each checkpoint's training record and (when given) the evaluation folder ``EVAL``
of ``recipes/neuroamp/run.sh`` (stages ``evaluate``, ``denoise-table``).

    python -m hltk.train.neuroamp_card [EVAL]    (writes hltk/checkpoints/neuroamp_<name>.md)

The held-out tables of the cards are those of ``recipes/neuroamp/tables.py`` (the readers are
here, so that the library does not import the recipe).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from hltk.amplify.neuroamp import NeuroAmpConfig, NeuroAmpNet
from hltk.nn.checkpoint import file_sha256, load_checkpoint, parameter_count

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
NAMES = ("cnn", "lstm", "crnn", "transformer", "denoise")

CONDITIONS = ("clean", "noisy", "denoised", "music")
CORES = ("cnn", "lstm", "crnn", "transformer")


def fidelity(evaluation: Path, conditions: tuple[str, ...] = CONDITIONS,
             cores: tuple[str, ...] = CORES, label: str = "core") -> list[str]:
    """The fidelity table (the paper's Tables II-V), Markdown lines: for each condition and
    core, ``hltk evaluate --against`` nalr-wdrc's scores from
    ``EVAL/<condition>/neuroamp-<core>/scores/summary.csv``: N, mean of NeuroAMP and of
    nalr-wdrc, LCC and SRCC with 95% bootstrap intervals, MSE. ``cores`` are the folder
    suffixes (e.g. ``before`` / ``after`` of a retraining), ``label`` their column's name."""
    lines = [f"| condition | metric | {label} | N | mean NeuroAMP | mean NAL-R+WDRC | "
             "LCC [95% CI] | SRCC [95% CI] | MSE |",
             "|---|---|---|---|---|---|---|---|---|"]
    for condition in conditions:
        for core in cores:
            path = evaluation / condition / f"neuroamp-{core}" / "scores" / "summary.csv"
            if not path.is_file():
                continue
            summary = pd.read_csv(path)
            for _, row in summary[summary["group"] == "all"].iterrows():
                lines.append(
                    f"| {condition} | {row['metric']} | {core} | {int(row['n'])} | "
                    f"{row['mean_system']:.3f} | {row['mean_reference']:.3f} | "
                    f"{row['lcc']:.4f} [{row['lcc_ci_low']:.3f}, {row['lcc_ci_high']:.3f}] | "
                    f"{row['srcc']:.4f} [{row['srcc_ci_low']:.3f}, {row['srcc_ci_high']:.3f}] | "
                    f"{row['mse']:.2e} |")
    return lines


def denoising(evaluation: Path) -> list[str]:
    """The denoising table (Table VI), Markdown lines: mean HASPI and HASQI against the clean
    reference of nalr-wdrc on the noisy input, two-stage and neuroamp-denoise, over the ids
    all three scored (``EVAL/noisy/<system>/scores/scores.csv``); none when none was scored."""
    systems = {"NAL-R+WDRC (noisy input)": "nalr-wdrc", "two-stage (RNNoise + NAL-R+WDRC)": "two-stage",
               "neuroamp-denoise": "neuroamp-denoise"}
    tables = {}
    for label, folder in systems.items():
        path = evaluation / "noisy" / folder / "scores" / "scores.csv"
        if path.is_file():
            tables[label] = pd.read_csv(path, dtype={"id": str}).set_index("id")
    if not tables:
        return []
    common = sorted(set.intersection(*(set(t.index[t["status"] == "ok"]) for t in tables.values())))
    lines = [f"| system (N = {len(common)}) | HASPI | HASQI |", "|---|---|---|"]
    for label, table in tables.items():
        part = table.loc[common]
        lines.append(f"| {label} | {part['haspi'].mean():.3f} | {part['hasqi'].mean():.3f} |")
    return lines


def card(name: str, evaluation: Path | None) -> str:
    """The Markdown card of ``hltk/checkpoints/neuroamp_<name>.pt``: use, model, training (all
    from the checkpoint's record) and, with ``evaluation``, its rows of the held-out tables."""
    path = CHECKPOINTS / f"neuroamp_{name}.pt"
    content = load_checkpoint(path)
    config = NeuroAmpConfig(**content["config"])
    training = content["training"]
    data = training["data"]
    history = training["history"]
    settings = training["settings"]
    denoiser = content["model"] == "neuroamp-denoise"
    init = training.get("init")
    stage = ("train-denoise" if denoiser else
             f"train-{config.arch}` then `finetune-{config.arch}" if init else f"train-{config.arch}")
    use = ("hltk denoise-amplify NOISY.csv -o OUT --backend neuroamp-denoise" if denoiser
           else f"hltk amplify MANIFEST.csv -o OUT --backend neuroamp --arch {config.arch}")
    sources = ", ".join(f"{Path(s['manifest']).parent.name} ({s['input_column']} -> "
                        f"{s['target_column']})" for s in data["sources"])
    valid = history[-1].get("valid_loss", float("nan"))
    lines = [
        f"# {'Denoising NeuroAMP' if denoiser else 'NeuroAMP'} — {config.arch} core (`{path.name}`)",
        "",
        f"Use: `{use}`. Trained by `recipes/neuroamp/run.sh {stage}` (the exact command is in "
        "the recipe).",
        "",
        "## Model",
        "",
        f"- kind `{content['model']}`, core `{config.arch}`, size `{config.size}`: "
        f"{parameter_count(NeuroAmpNet(config)):,} parameters, float32 weights, "
        f"{path.stat().st_size / 1e6:.1f} MB, sha256 `{file_sha256(path)[:16]}…`",
        f"- config: `{content['config']}`",
        "- 16 kHz, STFT 512 points (32 ms Hann), hop 256 (16 ms); audiogram (8 levels, dB HL / 100) "
        "through a dense layer (ReLU) concatenated to log10 magnitudes of every frame; core; "
        "257-unit output layer = gain in dB per bin; output = input spectrum x gain (input "
        "phase), iSTFT, then nalr-wdrc's peak limiter (0.95).",
        "",
        "## Training",
        "",
        f"- target: `{data['target_backend']}` (NAL-R + 6-band WDRC, 44.1 kHz) of "
        + ("the clean `reference` column; input: the noisy `audio`" if denoiser else
           "each item's own audio (input = the same audio)"),
        f"- data: {sources}; "
        f"{data['train_examples']} training ear-examples ({data['train_seconds']} s), "
        f"{data['valid_examples']} validation; items cropped to {data['max_seconds']} s, level +-6 dB; "
        f"audiograms: {data['audiograms']}",
        f"- {training['steps']} steps of Adam, batch {settings['batch_size']} x "
        f"{data['segment_seconds']} s, peak lr {settings['learning_rate']} (warm-up "
        f"{settings['warmup_steps']}, cosine to {settings['final_lr_fraction']}), "
        f"seed {settings['seed']}; loss: {data['loss']}",
        f"- cost: {training['wall_seconds']:.0f} s wall on a shared 2-core CPU, "
        f"{settings['threads']} torch thread{'s' if settings['threads'] != 1 else ''} "
        f"(torch {training['torch']}, hltk {training['hltk']})",
        f"- loss: first {history[0]['train_loss']:.4f} (train, step {history[0]['step']}) -> "
        f"final train {history[-1]['train_loss']:.4f}, valid {valid:.4f}",
    ]
    if init:
        before = init.get("training", {})
        before_settings = before.get("settings", {})
        lines.append(
            f"- fine-tuned: these steps started from `{Path(init['checkpoint']).name}`, itself "
            f"{before.get('steps')} steps at peak lr {before_settings.get('learning_rate')}, "
            f"seed {before_settings.get('seed')} ({before.get('wall_seconds', 0):.0f} s wall); "
            f"the validation pairs depend on the seed, so the two valid losses are not "
            f"comparable")
    if evaluation is not None:
        lines += ["", "## Held-out evaluation (`recipes/neuroamp/run.sh evaluate`, `tables`)", ""]
        if denoiser:
            lines += denoising(evaluation)
        else:
            table = fidelity(evaluation)
            lines += table[:2] + [row for row in table[2:] if f"| {config.arch} |" in row]
    lines += ["", "## Limits", "",
              "Trained on synthetic speech (espeak-ng) and synthetic music (fluidsynth) only, "
              "16 kHz (no gain above 8 kHz), calibration 100 dB SPL per digital RMS of 1 "
              "(other levels: the input is scaled to it and back). A CPU-budget model ("
              f"{'the published width' if config.size == 'published' else 'the basic size'}, "
              f"minutes of training); see the evaluation for how closely it follows nalr-wdrc.",
              ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hltk.train.neuroamp_card",
                                     description="Write hltk/checkpoints/neuroamp_<name>.md for "
                                     "every shipped NeuroAMP checkpoint.")
    parser.add_argument("evaluation", type=Path, nargs="?", metavar="EVAL",
                        help="the evaluation folder of recipes/neuroamp/run.sh (held-out tables)")
    evaluation = parser.parse_args(argv).evaluation
    for name in NAMES:
        if (CHECKPOINTS / f"neuroamp_{name}.pt").is_file():
            target = CHECKPOINTS / f"neuroamp_{name}.md"
            target.write_text(card(name, evaluation))
            print(target)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
