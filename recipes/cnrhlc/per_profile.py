"""Per-profile tables (mean over items) of Table I runs' ``rows.csv`` files, as markdown, and
(``--summary``) the Table I summary of the pooled rows (as ``table.py`` writes it).

    python recipes/cnrhlc/per_profile.py ROWS.csv [ROWS.csv ...] [--metrics haspi,nrmse,hasqi]
        [--summary] [--paired 'SYSTEM_A|SYSTEM_B' ...]

Rows of every file are pooled; a system's cell is the mean over its items for that profile.
The item count per system is printed, so that tables over different item sets are not mixed
unknowingly. ``--paired 'A|B'`` prints, per metric, the mean over the impaired profiles of A
minus B on the items both scored, with a 95 % bootstrap interval over items (an item's
profiles resampled together, 2,000 draws, seed 0): how far a margin of the summary is from
the spread of the items.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=Path, nargs="+")
    parser.add_argument("--metrics", default="haspi,nrmse")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--paired", action="append", default=[], metavar="A|B")
    args = parser.parse_args()
    rows = [{k: v for k, v in row.items() if v != ""}
            for path in args.rows for row in common.read_rows(path)]
    systems = list(dict.fromkeys(r["system"] for r in rows))
    for system in systems:
        items = {(r["corpus"], r["id"]) for r in rows if r["system"] == system}
        print(f"{system}: {len(items)} items")
    if args.summary:
        print()
        print(table.markdown(table.summarise(rows, systems, list(common.PROFILES))))
    for metric in args.metrics.split(","):
        print(f"\n| {metric.upper()} | " + " | ".join(common.PROFILES) + " |")
        print("|---|" + "---|" * len(common.PROFILES))
        for system in systems:
            cells = []
            for profile in common.PROFILES:
                values = [float(r[metric]) for r in rows
                          if r["system"] == system and r["profile"] == profile and r.get(metric)]
                cells.append(f"{common.mean(values):.2f}")
            print(f"| {system} | " + " | ".join(cells) + " |")
    for pair in args.paired:
        first, second = pair.split("|")
        scope = f"mean (N1-S3; NH for {', '.join(NH_ONLY)})"
        print(f"\n| {first} minus {second} | items | {scope} | 95 % bootstrap |")
        print("|---|---|---|---|")
        for metric in args.metrics.split(","):
            print(paired_line(rows, first, second, metric))


NH_ONLY = ("pesq", "estoi", "sisdr")


def item_means(rows: list[dict[str, str]], system: str, metric: str) -> dict[tuple[str, str], float]:
    """Per item, the mean of ``metric`` over the impaired profiles (items missing one are left
    out); PESQ, ESTOI and SI-SDR, which Table I reads at NH only, at the NH profile."""
    impaired = ["NH"] if metric in NH_ONLY else [p for p in common.PROFILES if p != "NH"]
    values: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        if r["system"] == system and r["profile"] in impaired and r.get(metric):
            values.setdefault((r["corpus"], r["id"]), {})[r["profile"]] = float(r[metric])
    return {item: sum(v.values()) / len(v) for item, v in values.items() if len(v) == len(impaired)}


def paired_line(rows: list[dict[str, str]], first: str, second: str, metric: str,
                draws: int = 2000) -> str:
    a, b = item_means(rows, first, metric), item_means(rows, second, metric)
    items = sorted(set(a) & set(b))
    if not items:
        return f"| {metric} | 0 | - | - |"
    diffs = [a[i] - b[i] for i in items]
    rng = random.Random(0)
    boot = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(draws))
    low, high = boot[int(0.025 * draws)], boot[int(0.975 * draws) - 1]
    return f"| {metric} | {len(items)} | {sum(diffs) / len(diffs):+.4f} | [{low:+.4f}, {high:+.4f}] |"


if __name__ == "__main__":
    main()
