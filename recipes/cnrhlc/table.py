"""The paper's Table I, scaled down: every system of :data:`common.TABLE_SYSTEMS` on held-out
noisy speech, PESQ / ESTOI / SI-SDR with the NH audiogram, HASPI / HASQI / NRMSE per profile.

    python recipes/cnrhlc/table.py --out OUT [--checkpoint CKPT] [--items 4] [--seconds 3]
        [--profiles NH,N1,...] [--nrmse-model msbg|drnl]

Writes ``OUT/rows.csv`` (one row per system, profile and item) and ``OUT/table.csv`` /
``OUT/table.md`` (means: NH metrics; HASPI, HASQI, NRMSE over the hearing-impaired profiles).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--items", type=int, default=4, help="test items per corpus")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--profiles", default=",".join(common.PROFILES))
    parser.add_argument("--systems", default=",".join(common.TABLE_SYSTEMS))
    parser.add_argument("--nrmse-model", default="msbg")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-gain-db", type=float, default=None,
                        help="the cnrhlc systems' floor (default: the backend's)")
    parser.add_argument("--tag", default="", help="appended to the cnrhlc systems' names")
    parser.add_argument("--merge", type=Path, nargs="*", default=(),
                        help="rows.csv of other runs to add to the table (same items)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    profiles = args.profiles.split(",")
    systems_names = args.systems.split(",")
    items = common.load_items(args.items, args.seconds)
    systems = common.Systems(args.checkpoint, args.min_gain_db)
    nrmse = common.Nrmse(args.nrmse_model)
    rows = []
    started = time.perf_counter()
    for system in systems_names:
        for profile in profiles:
            processed = [systems.process(system, item.noisy, profile) for item in items]
            ear = common.ear_metrics([i.clean for i in items], processed, profile)
            for item, output, scores in zip(items, processed, ear, strict=True):
                name = system + args.tag if system.startswith("cnrhlc") else system
                row = {"system": name, "profile": profile, "corpus": item.corpus, "id": item.id,
                       **scores, "nrmse": common.nrmse_value(nrmse, item.clean, output, profile)}
                if profile == "NH":
                    row.update(common.nh_metrics(item.clean, output))
                rows.append(row)
            print(f"{system} {profile} {time.perf_counter() - started:.0f} s", file=sys.stderr)
        common.write_rows(args.out / "rows.csv", rows)
    for other in args.merge:
        rows += [{k: v for k, v in r.items() if v != ""} for r in common.read_rows(other)]
    names = list(dict.fromkeys(r["system"] for r in rows))
    summary = summarise(rows, names, profiles)
    common.write_rows(args.out / "table.csv", summary)
    (args.out / "table.md").write_text(markdown(summary) + "\n")
    print(markdown(summary))


def summarise(rows: list[dict], systems: list[str], profiles: list[str]) -> list[dict]:
    impaired = [p for p in profiles if p != "NH"]
    table = []
    for system in systems:
        mine = [r for r in rows if r["system"] == system]
        nh = [r for r in mine if r["profile"] == "NH"]
        hi = [r for r in mine if r["profile"] in impaired]
        table.append({
            "system": system,
            "PESQ": common.mean([float(r.get("pesq", "nan")) for r in nh]),
            "ESTOI": common.mean([float(r.get("estoi", "nan")) for r in nh]),
            "SI-SDR": common.mean([float(r.get("sisdr", "nan")) for r in nh]),
            "HASPI": common.mean([float(r["haspi"]) for r in hi]),
            "HASQI": common.mean([float(r["hasqi"]) for r in hi]),
            "NRMSE": common.mean([float(r["nrmse"]) for r in hi]),
            "HASPI_NH": common.mean([float(r["haspi"]) for r in nh]),
        })
    return table


def markdown(table: list[dict]) -> str:
    columns = list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table:
        lines.append("| " + " | ".join(row["system"] if c == "system" else f"{row[c]:.3f}"
                                       for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
