"""Per-ear STOI / PESQ error of Neuro-MSBG checkpoints against msbg, by the ear's PTA.

Reads a fidelity run (``recipes/neuro_msbg/fidelity.py``): ``OUT/eval-msbg/scores.csv`` and
``OUT/eval-<stem>/scores.csv`` for each ``--checkpoint-stem``. Both hold one row per item with
``stoi_left`` / ``stoi_right`` / ``pesq_left`` / ``pesq_right`` and the ear's hearing levels
(``hl_<ear>_<freq>``); each ear is one pair (the fidelity tables average the two ears per item
first). The PTA is the mean of 500, 1000, 2000 and 4000 Hz, the groups those of
``magnitude_diagnosis.py`` (<= 25, 25-40, 40-60, 60-80, > 80 dB HL). Prints, per checkpoint and
group, the number of ears, the bias (mean neuro-msbg minus msbg) and the MSE, and the share of
the all-ears MSE each group holds; no audio is processed, so it runs in seconds.

    .venv/bin/python recipes/neuro_msbg/pta_table.py --fidelity OUT/fidelity-recorded-broad \\
        --checkpoint-stem neuro_msbg_cnn_v3 --checkpoint-stem neuro_msbg_cnn [-o table.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

PTA_FREQUENCIES: tuple[int, ...] = (500, 1000, 2000, 4000)
PTA_EDGES: tuple[float, ...] = (-20.0, 25.0, 40.0, 60.0, 80.0, 130.0)


def per_ear(scores: pd.DataFrame) -> pd.DataFrame:
    """``[id, ear, pta, stoi, pesq]``, one row per ear of each item scored ``ok``."""
    rows = []
    for _, row in scores.iterrows():
        if str(row.get("status", "ok")) != "ok":
            continue
        for ear in ("left", "right"):
            pta = sum(float(row[f"hl_{ear}_{f}"]) for f in PTA_FREQUENCIES) / len(PTA_FREQUENCIES)
            rows.append({"id": row["id"], "ear": ear, "pta": pta,
                         "stoi": float(row[f"stoi_{ear}"]), "pesq": float(row[f"pesq_{ear}"])})
    return pd.DataFrame(rows)


def pta_table(fidelity: Path, stems: list[str]) -> pd.DataFrame:
    reference = per_ear(pd.read_csv(fidelity / "eval-msbg" / "scores.csv"))
    out = []
    for stem in stems:
        system = per_ear(pd.read_csv(fidelity / f"eval-{stem}" / "scores.csv"))
        both = system.merge(reference, on=["id", "ear"], suffixes=("", "_msbg"))
        both["group"] = pd.cut(both["pta_msbg"], list(PTA_EDGES))
        for metric in ("stoi", "pesq"):
            diff = both[metric] - both[f"{metric}_msbg"]
            total = float((diff ** 2).sum())
            for group, part in diff.groupby(both["group"], observed=True):
                out.append({"checkpoint": stem, "metric": metric, "pta": str(group),
                            "ears": len(part), "bias": float(part.mean()),
                            "mse": float((part ** 2).mean()),
                            "share_of_mse": float((part ** 2).sum()) / total if total else 0.0})
            out.append({"checkpoint": stem, "metric": metric, "pta": "all", "ears": len(diff),
                        "bias": float(diff.mean()), "mse": float((diff ** 2).mean()),
                        "share_of_mse": 1.0})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fidelity", type=Path, required=True, help="a fidelity.py output folder")
    parser.add_argument("--checkpoint-stem", action="append", required=True)
    parser.add_argument("-o", "--out", type=Path, help="write the table as CSV too")
    options = parser.parse_args()
    table = pta_table(options.fidelity, options.checkpoint_stem)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(options.out, index=False)


if __name__ == "__main__":
    main()
