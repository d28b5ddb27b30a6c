"""The inference floor (``--min-gain-db``) and cap (``--max-gain-db``) of the cnrhlc backend
against PESQ, on VALIDATION items only (the valid rows of the three training corpora: prompts
unseen in training, never the test rows), to choose the backend's default without looking at
the test set.

    python recipes/cnrhlc/floor_sweep.py [--checkpoint CKPT] [--items 4] [--floors -10,-15,...]
        [--caps none,0,10] [--profiles NH,N1,...]

For each floor (no cap) at (1, 1): PESQ, ESTOI, SI-SDR with the NH audiogram and HASPI /
NRMSE averaged over the impaired ``--profiles``; then, at the floor given by ``--cap-floor``,
the caps (NH metrics only). Writes ``--out``/floor.csv when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from hltk import registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--items", type=int, default=4, help="valid items per corpus")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--floors", default="-10,-15,-20,-25,-30,-40")
    parser.add_argument("--caps", default="none,0,10")
    parser.add_argument("--cap-floor", type=float, default=-20.0)
    parser.add_argument("--profiles", default="N1,N3,N5,N6,N7,S2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = common.load_items(args.items, args.seconds, split_override="valid")
    nrmse = common.Nrmse("drnl")
    profiles = [p for p in args.profiles.split(",") if p]
    print(f"{len(items)} valid items ({', '.join(sorted({i.corpus for i in items}))})")
    rows = []

    def score(min_gain: float, max_gain: float | None, impaired: bool) -> dict[str, float]:
        options: dict[str, object] = {"nr": 1.0, "hlc": 1.0, "min_gain_db": min_gain,
                                      "max_gain_db": max_gain}
        if args.checkpoint is not None:
            options["checkpoint"] = args.checkpoint
        processor = registry.create("denoise-amplify", "cnrhlc", **options)
        outputs = [common.run(processor, item.noisy, "NH") for item in items]
        nh = [common.nh_metrics(item.clean, out) for item, out in zip(items, outputs, strict=True)]
        row = {k: common.mean([s[k] for s in nh]) for k in ("pesq", "estoi", "sisdr")}
        if impaired:
            haspi, errors = [], []
            for profile in profiles:
                processed = [common.run(processor, item.noisy, profile) for item in items]
                haspi += [s["haspi"] for s in common.ear_metrics([i.clean for i in items],
                                                                 processed, profile)]
                errors += [common.nrmse_value(nrmse, i.clean, out, profile)
                           for i, out in zip(items, processed, strict=True)]
            row.update(haspi=common.mean(haspi), nrmse=common.mean(errors))
        return row

    print("| min gain dB | max gain dB | PESQ (NH) | ESTOI (NH) | SI-SDR (NH) | HASPI (HI) | "
          "NRMSE (HI) |")
    print("|---|---|---|---|---|---|---|")
    plan = [(float(f), None, True) for f in args.floors.split(",")]
    plan += [(args.cap_floor, float(c), False) for c in args.caps.split(",") if c != "none"]
    for min_gain, max_gain, impaired in plan:
        row = {"min_gain_db": min_gain, "max_gain_db": max_gain, **score(min_gain, max_gain,
                                                                         impaired)}
        rows.append(row)
        print(f"| {min_gain:g} | {'-' if max_gain is None else f'{max_gain:g}'} | "
              f"{row['pesq']:.3f} | {row['estoi']:.3f} | {row['sisdr']:.2f} | "
              f"{row.get('haspi', float('nan')):.3f} | {row.get('nrmse', float('nan')):.3f} |",
              flush=True)
    if args.out is not None:
        common.write_rows(args.out / "floor.csv", rows)


if __name__ == "__main__":
    main()
