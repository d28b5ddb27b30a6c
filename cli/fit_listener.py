"""``hltk fit-listener``: a listener's psi profile by Bayesian optimisation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hltk.pipelines.psi import fit_listener as fit_listener_pipeline
from hltk.train.psi_fit import SEARCHES
from hltk_cli import common as c
from hltk_cli.output import info, print_rows


def fit_listener(
    pairs: Annotated[Path, typer.Argument(
        help="CSV: audio (input) and response (the listener's response audio), or for a "
        "simulated listener smear_scale, recruitment_scale, dead_above_hz; hl_<Hz> columns "
        "(the audiogram); optional listener (the id).", show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Profile listeners.json to write "
                                      "(an existing one is updated).", show_default=False)],
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="psi-msbg checkpoint (default: the shipped one of --n-psi).")] = None,
    n_psi: Annotated[int, typer.Option("--n-psi", min=1, help="Shipped checkpoint: 3 or 6.")] = 6,
    listener_id: Annotated[str | None, typer.Option(
        "--id", help="Listener id (default: the listener column, else the file's name).")] = None,
    init_points: Annotated[int, typer.Option("--init-points", min=1,
                                             help="Sobol initial points (4, 8, 16).")] = 8,
    max_iter: Annotated[int, typer.Option("--max-iter", min=1,
                                          help="Most loss evaluations, initial points included.")] = 50,
    target: Annotated[str, typer.Option(
        "--target", help="Stop within 2% of: auto (learned psi of a training individual, "
        "else the reference optimum), none, or a loss value.")] = "auto",
    search: Annotated[c.choices(SEARCHES), typer.Option(
        "--search", help="Where to search: cube (all of [0, 1]^n_psi) or population (the "
        "training individuals' psi range, widened by a quarter of it each side).")] = "cube",
    domain_reduction: Annotated[bool, typer.Option(
        "--domain-reduction/--no-domain-reduction", help="Shrink the search box towards the "
        "best point after each step past the Sobol points (bayes_opt's sequential domain "
        "reduction).")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Sobol scramble and GP seed.")] = 0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads.")] = 1,
    output_format: c.OutputFormatOpt = "table",
    quiet: c.QuietOpt = False,
) -> None:
    """Fit a listener's psi (network frozen) to their responses by Bayesian optimisation; the
    profile is a listeners.json entry that `hltk simulate --backend psi-msbg --listeners
    PROFILE` uses."""
    quiet = c.is_quiet(quiet)

    def report(evaluation: int, loss: float, best: float) -> None:
        info(f"evaluation {evaluation}: loss {loss:.4f} (best {best:.4f})", quiet)

    with c.exit_codes(usage=(ValueError, FileNotFoundError)):
        result, entry = fit_listener_pipeline(
            pairs, out, checkpoint=checkpoint, n_psi=n_psi, listener_id=listener_id,
            init_points=init_points, max_iter=max_iter, target=target, search=search,
            domain_reduction=domain_reduction, seed=seed, threads=threads, progress=report)
    row = {"listener": entry["name"], "profile": str(out), "psi": " ".join(f"{v:.3f}" for v in result.psi),
           "loss": round(result.loss, 4), "target": entry["psi_fit"]["target"],
           "evaluations": len(result.losses),
           "evaluations_to_target": result.iterations_to_target,
           "seconds": round(result.seconds, 2)}
    print_rows([row], list(row), output_format, title="hltk fit-listener")
