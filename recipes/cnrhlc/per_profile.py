"""Per-profile tables (mean over items) of Table I runs' ``rows.csv`` files, as markdown, and
(``--summary``) the Table I summary of the pooled rows (as ``table.py`` writes it).

    python recipes/cnrhlc/per_profile.py ROWS.csv [ROWS.csv ...] [--metrics haspi,nrmse,hasqi]
        [--summary]

Rows of every file are pooled; a system's cell is the mean over its items for that profile.
The item count per system is printed, so that tables over different item sets are not mixed
unknowingly.
"""

from __future__ import annotations

import argparse
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


if __name__ == "__main__":
    main()
