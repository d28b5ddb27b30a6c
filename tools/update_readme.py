"""Paste the latest ``hltk benchmark`` report into the README's Performance section.

Replaces the text between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md with
``OUT/report.md`` (its first line carries the date, hardware, load and wall time of the run).

    make bench && .venv/bin/python tools/update_readme.py out/bench
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def update(readme: Path, report: str) -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} markers")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), flags=re.S)
    readme.write_text(pattern.sub(lambda _: f"{START}\n{report.strip()}\n{END}", text),
                      encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=REPO / "out/bench",
                        help="the benchmark's output folder (holding report.md)")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    arguments = parser.parse_args()
    update(arguments.readme, (arguments.out / "report.md").read_text(encoding="utf-8"))
    print(f"updated {arguments.readme} from {arguments.out / 'report.md'}")


if __name__ == "__main__":
    main()
