"""The predictor trained behind the oracle, scored behind the oracle on the held-out items
(the matched condition for perfect stems; the shipped predictor is trained behind the leaky
oracle).

    .venv/bin/python recipes/remix_gains/matched_oracle.py CORPUS RUN CHECKPOINT

Writes RUN/matched_oracle_summary.json (means, per severity, paired bootstrap interval of
(b) - (a), the share of the (a)-(c) gap closed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from hltk.pipelines.train_remix_gains import held_out_items, item_objective, load_songs
from hltk.remix.gain_predictor import load_predictor, predict_gains

sys.path.insert(0, str(Path(__file__).parent))
from held_out import GROUPS, bootstrap  # noqa: E402
from search import TEST_LISTENERS_PER_SONG  # noqa: E402


def main(corpus: str, run: str, checkpoint: str) -> None:
    torch.set_num_threads(1)
    optima = {}
    for line in (Path(run) / "optima.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["separator"] == "oracle":
            optima[entry["id"]] = entry
    items = held_out_items(load_songs(corpus, "test"), TEST_LISTENERS_PER_SONG)
    model, _ = load_predictor(checkpoint)
    predicted = predict_gains(model, [i.listener for i in items], [i.song.requested for i in items])
    rows = []
    for item, gains in zip(items, predicted, strict=True):
        score = item_objective(item, "oracle", 0.0).score(gains)[2]
        cached = optima[item.id]
        rows.append((GROUPS[item.profile], cached["haaqi_requested"][2], score,
                     max(score, cached["haaqi_optimum"][2])))
    base, pred, best = (np.array([r[k] for r in rows]) for k in (1, 2, 3))
    summary = {"n": len(rows), "baseline": base.mean(), "predictor": pred.mean(),
               "optimum": best.mean(), "predictor_minus_baseline_ci95": bootstrap(pred - base),
               "gap_closed": float(np.mean(pred - base) / np.mean(best - base)),
               "per_severity": {g: [float(np.mean([r[k] for r in rows if r[0] == g])) for k in (1, 2, 3)]
                                for g in ("none/mild", "moderate", "severe")}}
    summary = {k: float(v) if isinstance(v, np.floating) else v for k, v in summary.items()}
    (Path(run) / "matched_oracle_summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:4])
