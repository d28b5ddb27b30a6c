"""What psi-msbg shows (docs/listener-profiles.md): held-out responses (the paper's Table 1),
the same-audiogram test, Bayesian-optimisation iterations (Figure 4a-b), loss surfaces (Figure
4c-j), 10 vs 40 training individuals, fit time per listener.

    python recipes/psi/evaluate.py --runs /work/out/psi --figures docs/figures \
        --out /work/out/psi/results.json [--repeats 2] [--max-iter 60]

Reads the checkpoints ``recipes/psi/train.sh`` made under ``--runs`` and the population cache
they were trained on; one thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk.simulate.psi_msbg import PsiMsbgNet, audiogram_condition, load_model
from hltk.train.psi import PopulationData, fraction_explained, predict, response_loss
from hltk.train.psi_fit import SEARCHES, fit_psi, population_box, psi_objective, reference_optimum

#: the 10 vs 40 comparison: checkpoints under --runs (psi6_long: 40 individuals trained 4x the
#: steps, the 10-individual model's exposure per individual; psi6_10_long: 10 individuals at
#: those steps too, so that training length alone is not what differs)
SIZE_MODELS = {"psi6_10": "10", "psi6": "40", "psi6_10_long": "10 (4x steps)",
               "psi6_long": "40 (4x steps)"}


def population(runs: Path) -> PopulationData:
    caches = sorted((runs / "cache").glob("population-*.pt"), key=lambda p: p.stat().st_size)
    return PopulationData.load(caches[-1])


def condition_for(model: PsiMsbgNet, data: PopulationData, row: int,
                  psi: list[float] | None = None) -> torch.Tensor | None:
    if model.config.condition == "audiogram":
        return audiogram_condition(data.hearing_levels()[row])
    if model.config.condition == "none":
        return None
    if psi is not None:
        return torch.tensor(psi, dtype=torch.float32)
    assert model.conditioning is not None
    return model.conditioning.learned()[model.config.individuals.index(data.individuals[row].id)]


def scores(model: PsiMsbgNet, data: PopulationData, row: int, segments: list[int],
           reference: torch.Tensor, psi: list[float] | None = None) -> dict[str, float]:
    prediction = predict(model, data.inputs[segments], condition_for(model, data, row, psi))
    target = data.responses[row, segments].float()
    return {"loss": float(response_loss(prediction, target)),
            "fve": fraction_explained(prediction, target, reference[segments])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=Path("/work/out/psi"))
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    parser.add_argument("--out", type=Path, default=Path("/work/out/psi/results.json"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=60)
    parser.add_argument("--parts", default="table,pairs,bo,surfaces,sizes")
    parser.add_argument("--search", choices=SEARCHES, default="cube",
                        help="Bayesian optimisation's search space (hltk fit-listener --search)")
    parser.add_argument("--no-domain-reduction", dest="domain_reduction", action="store_false",
                        help="without bayes_opt's sequential domain reduction (hltk "
                        "fit-listener --no-domain-reduction)")
    parser.add_argument("--bo-models", default="psi3,psi6")
    parser.add_argument("--bo-kinds", default="in-sample,unseen")
    args = parser.parse_args()
    torch.set_num_threads(1)
    parts = set(args.parts.split(","))
    data = population(args.runs)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    models = {name: load_model(args.runs / f"{name}.pt") for name in ("psi3", "psi6", "twin")
              if (args.runs / f"{name}.pt").is_file()}
    train_rows = [i for i, ind in enumerate(data.individuals) if ind.split == "train"]
    unseen_rows = [i for i, ind in enumerate(data.individuals) if ind.split == "unseen"]
    fit_segments, test_segments = data.index("fit"), data.index("test")
    # population mean response per segment (training individuals): what the listener adds
    reference = data.responses[train_rows].float().mean(0)
    groups = {row: data.individuals[row].group for row in range(len(data.individuals))}

    args.figures.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        args.out.write_text(json.dumps(results, indent=1) + "\n")

    # ---- fitted psi of unseen listeners (reference optimum on the fit segments) ------------
    fitted: dict[str, dict[int, list[float]]] = {}
    optimum: dict[str, dict[int, float]] = {}
    lookup = {ind.id: row for row, ind in enumerate(data.individuals)}
    for name in ("psi3", "psi6", *SIZE_MODELS):
        path = args.runs / f"{name}.pt"
        if not path.is_file():
            continue
        model = models.get(name) or load_model(path)
        models[name] = model
        if name in results.get("reference_optimum", {}):
            stored = results["reference_optimum"][name]
            fitted[name] = {lookup[k]: v[0] for k, v in stored.items()}
            optimum[name] = {lookup[k]: v[1] for k, v in stored.items()}
            continue
        fitted[name], optimum[name] = {}, {}
        for row in unseen_rows + train_rows[:4]:
            objective = psi_objective(model, data.inputs[fit_segments],
                                      data.responses[row, fit_segments])
            psi, loss = reference_optimum(objective, model.config.n_psi)
            fitted[name][row], optimum[name][row] = psi, loss
    results["reference_optimum"] = {
        n: {data.individuals[r].id: [f[r], optimum[n][r]] for r in f} for n, f in fitted.items()}
    save()

    if "table" in parts:
        table: list[dict[str, Any]] = []
        specific = {p.stem.removeprefix("specific_"): load_model(p)
                    for p in sorted(args.runs.glob("specific_*.pt"))}
        for row in train_rows + unseen_rows:
            ind = data.individuals[row]
            entry: dict[str, Any] = {"id": ind.id, "split": "in-sample" if ind.split == "train"
                                     else "unseen", "group": ind.group}
            for name in ("psi3", "psi6", "twin"):
                if name not in models:
                    continue
                psi = fitted[name][row] if ind.split == "unseen" and name != "twin" else None
                entry[name] = scores(models[name], data, row, test_segments, reference, psi)
            if ind.id in specific:
                entry["specific"] = scores(specific[ind.id], data, row, test_segments, reference)
            table.append(entry)
        results["table"] = table
        save()

    if "pairs" in parts and "psi6" in models:
        pairs = []
        best_difference = -1.0
        for first in range(0, len(unseen_rows), 2):
            a, b = unseen_rows[first], unseen_rows[first + 1]
            true_a = data.responses[a, test_segments].float()
            true_b = data.responses[b, test_segments].float()
            twin = models["twin"]
            twin_a = predict(twin, data.inputs[test_segments], condition_for(twin, data, a))
            twin_b = predict(twin, data.inputs[test_segments], condition_for(twin, data, b))
            entry = {"a": data.individuals[a].id, "b": data.individuals[b].id,
                     "group": data.individuals[a].group,
                     "hidden_a": data.individuals[a].hidden.__dict__,
                     "hidden_b": data.individuals[b].hidden.__dict__,
                     "true_difference_db": float((true_a - true_b).square().mean().sqrt()),
                     "twin_difference_db": float((twin_a - twin_b).square().mean().sqrt())}
            for name in ("psi3", "psi6"):
                model = models[name]
                pa = predict(model, data.inputs[test_segments], torch.tensor(fitted[name][a]))
                pb = predict(model, data.inputs[test_segments], torch.tensor(fitted[name][b]))
                entry[f"{name}_difference_db"] = float((pa - pb).square().mean().sqrt())
                # told apart: each listener's own fitted psi beats the partner's on their test data
                entry[f"{name}_own_vs_swapped"] = [
                    [float(response_loss(pa, true_a)), float(response_loss(pb, true_a))],
                    [float(response_loss(pb, true_b)), float(response_loss(pa, true_b))]]
                if name == "psi6" and entry["true_difference_db"] > best_difference:
                    best_difference = entry["true_difference_db"]
                    figure_pair = (a, b, true_a, true_b, twin_a, twin_b, pa, pb)
            pairs.append(entry)
        results["pairs"] = pairs
        save()
        plot_pair(args.figures / "psi_same_audiogram.png", data, figure_pair)

    if "bo" in parts:
        runs = []
        listeners = {"in-sample": pick(data, train_rows), "unseen": pick(data, unseen_rows)}
        listeners = {k: v for k, v in listeners.items() if k in args.bo_kinds.split(",")}
        for name in args.bo_models.split(","):
            if name not in models:
                continue
            model = models[name]
            bounds = population_box(model) if args.search == "population" else None
            for kind, rows in listeners.items():
                for row in rows:
                    objective = psi_objective(model, data.inputs[fit_segments],
                                              data.responses[row, fit_segments])
                    if kind == "in-sample":
                        with torch.no_grad():
                            target = float(objective(condition_for(model, data, row)[None])[0])
                    else:
                        target = optimum[name][row]
                    for init in (4, 8, 16):
                        for seed in range(args.repeats):
                            result = fit_psi(objective, model.config.n_psi, init_points=init,
                                             max_iter=args.max_iter, target=target, seed=seed,
                                             bounds=bounds,
                                             domain_reduction=args.domain_reduction)
                            runs.append({"model": name, "kind": kind,
                                         "id": data.individuals[row].id,
                                         "group": data.individuals[row].group, "init": init,
                                         "search": args.search,
                                         "domain_reduction": args.domain_reduction,
                                         "seed": seed, "target": target,
                                         "evaluations_to_target": result.iterations_to_target,
                                         "best": result.loss, "seconds": result.seconds,
                                         "evaluations": len(result.losses),
                                         "points": result.points, "losses": result.losses})
                            print(name, kind, data.individuals[row].id, init, seed,
                                  result.iterations_to_target, round(result.seconds, 1),
                                  flush=True)
        results["bo"] = runs
        save()
        plot_bo(args.figures / "psi_bo_iterations.png", runs, args.max_iter)

    if "surfaces" in parts and "psi3" in models and results.get("bo"):
        plot_surfaces(args.figures / "psi_loss_surfaces.png", data, models["psi3"], results["bo"],
                      fitted["psi3"], train_rows, unseen_rows)

    if "sizes" in parts and "psi6_10" in models:
        sizes = []
        for row in unseen_rows:
            entry = {"id": data.individuals[row].id, "group": groups[row]}
            for name in [n for n in SIZE_MODELS if n in models]:
                entry[name] = scores(models[name], data, row, test_segments, reference,
                                     fitted[name][row])
            sizes.append(entry)
        results["sizes"] = sizes
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    summarise(results)


def pick(data: PopulationData, rows: list[int]) -> list[int]:
    """Two near-normal and two impaired listeners (the first of each pair)."""
    near = [r for r in rows if data.individuals[r].group == "near-normal"][::2][:2]
    impaired = [r for r in rows if data.individuals[r].group == "impaired"][::2][:2]
    return near + impaired


def plot_pair(path: Path, data: PopulationData, pair: tuple[Any, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b, true_a, true_b, twin_a, twin_b, psi_a, psi_b = pair
    id_a, id_b = data.individuals[a].id, data.individuals[b].id
    panels = [(true_a, f"{id_a}: MSBG response", False), (true_b, f"{id_b}: MSBG response", False),
              (true_a - true_b, "MSBG: a - b", True), (twin_a, "audiogram twin (a and b)", False),
              (psi_a, f"{id_a}: fitted psi (6)", False), (psi_b, f"{id_b}: fitted psi (6)", False),
              (psi_a - psi_b, "fitted psi: a - b", True), (twin_a - twin_b, "twin: a - b", True)]
    figure, axes = plt.subplots(2, 4, figsize=(12, 4.6), sharex=True, sharey=True)
    for axis, (values, title, diff) in zip(axes.flat, panels, strict=True):
        shown = axis.imshow(values[0].numpy(), origin="lower", aspect="auto",
                            cmap="RdBu_r" if diff else "magma",
                            vmin=-20 if diff else 10, vmax=20 if diff else 80)
        axis.set_title(title, fontsize=9)
        figure.colorbar(shown, ax=axis, fraction=0.05)
    for axis in axes[:, 0]:
        axis.set_ylabel("mel band")
    for axis in axes[1]:
        axis.set_xlabel("frame (10 ms)")
    figure.suptitle("Same audiogram, different hidden parameters (held-out segment, dB SPL)",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def plot_bo(path: Path, runs: list[dict[str, Any]], max_iter: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for axis, name in zip(axes, ("psi3", "psi6"), strict=True):
        for offset, kind in ((-0.12, "in-sample"), (0.12, "unseen")):
            for x, init in enumerate((4, 8, 16)):
                values = [r["evaluations_to_target"] or max_iter + 5 for r in runs
                          if r["model"] == name and r["kind"] == kind and r["init"] == init]
                if not values:
                    continue
                jitter = np.linspace(-0.05, 0.05, len(values))
                axis.scatter(x + offset + jitter, values, s=12,
                             color="tab:blue" if kind == "in-sample" else "tab:orange",
                             label=kind if x == 0 else None)
                axis.plot([x + offset - 0.08, x + offset + 0.08], [np.median(values)] * 2,
                          color="k")
        axis.axhline(max_iter, color="grey", lw=0.5, ls=":")
        axis.set_xticks(range(3), ["4", "8", "16"])
        axis.set_xlabel("Sobol initial points")
        axis.set_title(f"{name[3:]} psi")
    axes[0].set_ylabel("evaluations to within 2%\n(above the line: not reached)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def plot_surfaces(path: Path, data: PopulationData, model: PsiMsbgNet, runs: list[dict[str, Any]],
                  fitted: dict[int, list[float]], train_rows: list[int], unseen_rows: list[int]
                  ) -> None:
    """Loss over the plane through the listener's best psi spanned by the first two principal
    axes of the learned psi (3 psi model), with the BO points (one run, 8 initial points)
    projected onto it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert model.conditioning is not None
    learned = model.conditioning.learned().numpy()
    centred = learned - learned.mean(0)
    axes_pc = np.linalg.svd(centred, full_matrices=False)[2][:2]  # [2, n]
    fit_segments = data.index("fit")
    chosen = []
    for kind, rows in (("in-sample", pick(data, train_rows)), ("unseen", pick(data, unseen_rows))):
        near = [r for r in rows if data.individuals[r].group == "near-normal"][0]
        impaired = [r for r in rows if data.individuals[r].group == "impaired"][0]
        chosen += [(kind, near), (kind, impaired)]
    figure, axes = plt.subplots(1, 4, figsize=(13, 3.3))
    span = np.linspace(-0.6, 0.6, 25)
    for axis, (kind, row) in zip(axes, chosen, strict=True):
        ind = data.individuals[row]
        objective = psi_objective(model, data.inputs[fit_segments], data.responses[row, fit_segments])
        if kind == "in-sample":
            centre = learned[model.config.individuals.index(ind.id)]
        else:
            centre = np.asarray(fitted[row])
        grid = np.array([[centre + u * axes_pc[0] + v * axes_pc[1] for u in span] for v in span])
        inside = np.all((grid >= 0) & (grid <= 1), axis=-1)
        flat = torch.as_tensor(np.clip(grid, 0, 1).reshape(-1, grid.shape[-1]), dtype=torch.float32)
        with torch.no_grad():
            values = torch.cat([objective(flat[i : i + 25]) for i in range(0, len(flat), 25)])
        surface = np.where(inside, values.numpy().reshape(grid.shape[:2]), np.nan)
        shown = axis.contourf(span, span, surface, levels=20, cmap="viridis")
        figure.colorbar(shown, ax=axis, fraction=0.05)
        run = next((r for r in runs if r["model"] == "psi3" and r["id"] == ind.id
                    and r["init"] == 8 and r["seed"] == 0), None)
        if run:
            points = (np.asarray(run["points"]) - centre) @ axes_pc.T
            axis.scatter(points[:8, 0], points[:8, 1], s=10, c="white", edgecolors="k",
                         label="Sobol")
            axis.scatter(points[8:, 0], points[8:, 1], s=10, c="red", label="BO")
        axis.scatter([0], [0], marker="*", s=120, c="gold", edgecolors="k",
                     label="learned psi" if kind == "in-sample" else "reference optimum")
        axis.set_xlim(span[0], span[-1])
        axis.set_ylim(span[0], span[-1])
        axis.set_title(f"{ind.id} ({ind.group}, {kind})", fontsize=9)
        axis.set_xlabel("PC 1 of learned psi")
        axis.legend(fontsize=6, loc="lower left")
    axes[0].set_ylabel("PC 2")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def summarise(results: dict[str, Any]) -> None:
    if "table" in results:
        print("\n| split | group | n | psi3 loss / FVE | psi6 loss / FVE | twin loss / FVE "
              "| specific loss / FVE |")
        print("|---|---|---|---|---|---|---|")
        for split in ("in-sample", "unseen"):
            for group in ("near-normal", "impaired"):
                rows = [r for r in results["table"] if r["split"] == split and r["group"] == group]
                cells = []
                for name in ("psi3", "psi6", "twin"):
                    cells.append(f"{mean(rows, name, 'loss'):.2f} / {mean(rows, name, 'fve'):.2f}")
                spec = [r for r in rows if "specific" in r]
                if spec:
                    cells.append(f"{mean(spec, 'specific', 'loss'):.2f} / "
                                 f"{mean(spec, 'specific', 'fve'):.2f} (n={len(spec)}; psi6 on them "
                                 f"{mean(spec, 'psi6', 'loss'):.2f} / {mean(spec, 'psi6', 'fve'):.2f},"
                                 f" twin {mean(spec, 'twin', 'loss'):.2f} / {mean(spec, 'twin', 'fve'):.2f})")
                else:
                    cells.append("-")
                print(f"| {split} | {group} | {len(rows)} | " + " | ".join(cells) + " |")
    if "pairs" in results:
        print("\n| pair | group | true a-b dB | twin a-b dB | psi3 a-b dB | psi6 a-b dB "
              "| psi6 own vs swapped (a; b) |")
        print("|---|---|---|---|---|---|---|")
        for p in results["pairs"]:
            own = p["psi6_own_vs_swapped"]
            print(f"| {p['a']}/{p['b']} | {p['group']} | {p['true_difference_db']:.2f} | "
                  f"{p['twin_difference_db']:.2f} | {p['psi3_difference_db']:.2f} | "
                  f"{p['psi6_difference_db']:.2f} | {own[0][0]:.1f} vs {own[0][1]:.1f}; "
                  f"{own[1][0]:.1f} vs {own[1][1]:.1f} |")
    if "bo" in results:
        print("\n| model | listeners | init 4 | init 8 | init 16 | reached | fit s (median) |")
        print("|---|---|---|---|---|---|---|")
        for name in ("psi3", "psi6"):
            for kind in ("in-sample", "unseen"):
                runs = [r for r in results["bo"] if r["model"] == name and r["kind"] == kind]
                if not runs:
                    continue
                cells = []
                for init in (4, 8, 16):
                    values = [r["evaluations_to_target"] for r in runs if r["init"] == init]
                    got = [v for v in values if v is not None]
                    cells.append(f"{statistics.median(got) if got else '-'} "
                                 f"({len(got)}/{len(values)})")
                reached = sum(r["evaluations_to_target"] is not None for r in runs)
                seconds = statistics.median(r["seconds"] for r in runs)
                print(f"| {name} | {kind} | " + " | ".join(cells) +
                      f" | {reached}/{len(runs)} | {seconds:.1f} |")
    if "sizes" in results:
        print("\n| training individuals | unseen test loss | unseen FVE |")
        print("|---|---|---|")
        for name, label in SIZE_MODELS.items():
            if name not in results["sizes"][0]:
                continue
            print(f"| {label} | {mean(results['sizes'], name, 'loss'):.2f} | "
                  f"{mean(results['sizes'], name, 'fve'):.2f} |")


def mean(rows: list[dict[str, Any]], name: str, key: str) -> float:
    values = [r[name][key] for r in rows if name in r]
    return float(np.mean(values)) if values else float("nan")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.0f} s")
