"""Held-out results of the remix-gains predictor, and its figures.

    .venv/bin/python recipes/remix_gains/held_out.py CORPUS RUN CHECKPOINT [MANIFEST_OUT [LONG_RUN]]

On the test songs x held-out listeners (every severity), behind the leaky oracle at two leaks
and behind the oracle, the exact Cadenza HAAQI (:class:`hltk.remix.gain_search.ItemObjective`,
equal to ``hltk evaluate --preset cadenza-icassp2024`` to 1e-6) of (a) the requested gains
(the baseline's fixed gains), (b) the predictor's gains, (c) the per-item optimum found by
``search.py`` (cached in RUN/optima.jsonl). Writes RUN/held_out.csv (one row per item and
condition), RUN/held_out_summary.json (means, per severity, paired bootstrap intervals, the
share of the (a)-(c) gap closed, clipped samples), docs/figures/remix_gains_*.png, and with
MANIFEST_OUT a remix manifest of the held-out items (for ``hltk remix`` + ``hltk evaluate
--against``)."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hltk.io.listeners import CLARITY_FREQUENCIES, save_listeners
from hltk.pipelines.train_remix_gains import (
    HELD_OUT_LISTENER_SEED,
    held_out_items,
    item_objective,
    load_songs,
    make_items,
    separator_key,
)
from hltk.remix.chain import STEMS
from hltk.remix.gain_predictor import audiogram_image, load_predictor, predict_gains
from hltk.remix.leaky_oracle import DEFAULT_LEAK_DB
from hltk.synth.listeners import make_listeners

sys.path.insert(0, str(Path(__file__).parent))
from search import CONDITIONS, TEST_LISTENERS_PER_SONG  # noqa: E402

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"

#: severity groups of the Bisgaard profiles
GROUPS = {"NH": "none/mild", "N1": "none/mild", "N2": "none/mild", "N3": "moderate",
          "N4": "moderate", "S1": "moderate", "S2": "moderate", "N5": "severe", "N6": "severe",
          "N7": "severe", "S3": "severe"}


def bootstrap(differences: np.ndarray, resamples: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    means = [float(np.mean(rng.choice(differences, differences.size))) for _ in range(resamples)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def main(corpus: str, run: str, checkpoint: str, manifest_out: str | None = None,
         long_run: str | None = None) -> None:
    torch.set_num_threads(1)
    run_dir = Path(run)
    optima = {}
    for line in (run_dir / "optima.jsonl").read_text().splitlines():
        entry = json.loads(line)
        optima[(entry["id"], entry["separator"])] = entry
    items = held_out_items(load_songs(corpus, "test"), TEST_LISTENERS_PER_SONG)
    model, content = load_predictor(checkpoint)
    clock = time.perf_counter()
    predicted = predict_gains(model, [i.listener for i in items], [i.song.requested for i in items])
    inference = (time.perf_counter() - clock) / len(items)
    rows = []
    for separator, leak in CONDITIONS:
        key = separator_key(separator, leak)
        for item, gains in zip(items, predicted, strict=True):
            cached = optima.get((item.id, key))
            if cached is None:
                continue
            objective = item_objective(item, separator, leak)
            score = objective.score(gains)
            rows.append({"condition": key, "id": item.id, "profile": item.profile,
                         "severity": GROUPS[item.profile],
                         "baseline": cached["haaqi_requested"][2], "predictor": score[2],
                         "optimum": max(cached["haaqi_optimum"][2], score[2]),
                         "predictor_left": score[0], "predictor_right": score[1],
                         "clipped_baseline": cached["clipped_requested"],
                         "clipped_predictor": objective.clipped_samples(gains),
                         **{f"predicted_{s}": gains[s] for s in STEMS},
                         **{f"optimum_{s}": cached["optimum"][s] for s in STEMS}})
    with (run_dir / "held_out.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary: dict[str, object] = {"items": len(items), "predictor_inference_seconds_per_item": inference}
    for condition in dict.fromkeys(r["condition"] for r in rows):
        part = [r for r in rows if r["condition"] == condition]
        base = np.array([r["baseline"] for r in part])
        pred = np.array([r["predictor"] for r in part])
        best = np.array([r["optimum"] for r in part])
        gap = float(np.mean(best - base))
        entry: dict[str, object] = {
            "n": len(part), "baseline": float(base.mean()), "predictor": float(pred.mean()),
            "optimum": float(best.mean()),
            "predictor_minus_baseline": float(np.mean(pred - base)),
            "predictor_minus_baseline_ci95": bootstrap(pred - base),
            "gap_closed": float(np.mean(pred - base)) / gap if gap > 0 else None,
            "clipped_baseline": int(sum(r["clipped_baseline"] for r in part)),
            "clipped_predictor": int(sum(r["clipped_predictor"] for r in part)),
            "per_severity": {}}
        for group in ("none/mild", "moderate", "severe"):
            chosen = [r for r in part if r["severity"] == group]
            if chosen:
                entry["per_severity"][group] = {  # type: ignore[index]
                    "n": len(chosen),
                    "baseline": float(np.mean([r["baseline"] for r in chosen])),
                    "predictor": float(np.mean([r["predictor"] for r in chosen])),
                    "optimum": float(np.mean([r["optimum"] for r in chosen]))}
        summary[condition] = entry
    (run_dir / "held_out_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    valid = make_items(load_songs(corpus, "valid"), 1, HELD_OUT_LISTENER_SEED, seed=1)
    key = separator_key("leaky-oracle", DEFAULT_LEAK_DB)
    baseline = [optima[(i.id, key)]["haaqi_requested"] for i in valid if (i.id, key) in optima]
    figures(content, model, np.mean(baseline, axis=0) if baseline else None,
            Path(long_run) if long_run else None)
    if manifest_out:
        write_manifest(items, Path(manifest_out))


def figures(content: dict, model: torch.nn.Module, baseline: np.ndarray | None,
            long_run: Path | None) -> None:
    """The validation curve per epoch, both ears (with ``long_run``'s beside it), and the
    predicted gains of unseen listeners against audiogram features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    FIGURES.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    runs = [(content, "shipped, 10 epochs", "-")]
    if long_run is not None:  # the longer run that chose the number of epochs
        runs.insert(0, (torch.load(long_run, weights_only=False), "30 epochs", ":"))
    for record, label, style in runs:
        history = [h for h in record["training"]["history"] if "valid_haaqi_left" in h]
        steps_per_epoch = record["training"]["data"]["steps_per_epoch"]
        epochs = [h["step"] / steps_per_epoch for h in history]
        axis.plot(epochs, [h["valid_haaqi_left"] for h in history], style, color="C0",
                  label=f"left ear ({label})")
        axis.plot(epochs, [h["valid_haaqi_right"] for h in history], style, color="C1",
                  label=f"right ear ({label})")
    if baseline is not None:
        axis.axhline(baseline[0], color="C0", lw=0.8, alpha=0.5, label="left ear, fixed gains")
        axis.axhline(baseline[1], color="C1", lw=0.8, alpha=0.5, label="right ear, fixed gains")
    axis.legend(fontsize=7)
    axis.set_xlabel("epoch")
    axis.set_ylabel("held-out HAAQI (exact)")
    axis.set_title("Validation HAAQI per epoch (cf. the paper's Fig. 2)")
    figure.tight_layout()
    figure.savefig(FIGURES / "remix_gains_valid_haaqi.png", dpi=110)
    plt.close(figure)

    listeners = make_listeners(44, 303)
    zero = {s: 0.0 for s in STEMS}
    gains = np.array([[g[s] for s in STEMS] for g in predict_gains(model, listeners, [zero] * 44)])
    images = np.stack([audiogram_image(lis) for lis in listeners])  # [N, 2, 8]
    mean_loss = images.mean(axis=(1, 2))
    octaves = np.log2(np.asarray(CLARITY_FREQUENCIES, dtype=float))
    slope = np.array([np.polyfit(octaves[2:], img.mean(axis=0)[2:], 1)[0] for img in images])
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for index, stem in enumerate(STEMS):
        axes[0].scatter(mean_loss, gains[:, index], s=12, label=stem)
        axes[1].scatter(slope, gains[:, index], s=12, label=stem)
    axes[0].set_xlabel("mean hearing loss, both ears (dB HL)")
    axes[1].set_xlabel("slope above 1 kHz (dB per octave)")
    axes[0].set_ylabel("predicted gain (dB, requested 0)")
    axes[0].legend(fontsize=8)
    figure.suptitle(f"Predicted gains against the audiogram: {len(listeners)} unseen listeners, "
                    "requested gains 0 dB", fontsize=10)
    figure.tight_layout()
    figure.savefig(FIGURES / "remix_gains_vs_audiogram.png", dpi=110)
    plt.close(figure)


def write_manifest(items: list, out: Path) -> None:
    """The held-out items as a remix manifest (absolute paths, listeners.json, gains.json)."""
    out.mkdir(parents=True, exist_ok=True)
    save_listeners([i.listener for i in items], out / "listeners.json")
    gains = {}
    with (out / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "audio", *STEMS, "gain", "listener", "profile"])
        for item in items:
            folder, row = item.song.folder.resolve(), item.song.row
            writer.writerow([item.id, folder / row["audio"], *(folder / row[s] for s in STEMS),
                             row["gain"], item.listener.id, item.profile])
            gains[row["gain"]] = item.song.requested
    (out / "gains.json").write_text(json.dumps(gains, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:6])
