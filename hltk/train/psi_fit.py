"""Fitting a listener's psi to their responses: Bayesian optimisation of psi alone, the
network frozen (Pellatt et al., psi-ICNet, "fitting new individuals").

- The objective is the response loss (mean squared dB error of the log-mel,
  :func:`hltk.train.psi.response_loss`) of the frozen psi-msbg network with a candidate psi,
  over the listener's (input, response) pairs: :func:`psi_objective`.
- Search space: psi after the sigmoid (what the network's expansion sees). Either the unit
  cube ``[0, 1]^n_psi`` (the default of ``hltk fit-listener``) or the *population box*
  (:func:`population_box`): per dimension, the range of the training individuals' learned psi
  widened by :data:`BOX_MARGIN` of that range on each side, clipped to the cube. The box is
  where listeners like the training population lie; but an unseen listener's best psi often
  sits outside it (towards the cube's faces, along directions the training population did
  not spread in), so the box is an option, not the default (docs/listener-profiles.md has
  both measured). The reference optimum always searches the whole cube.
- Initial points: a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``, ``init_points`` of
  4 / 8 / 16, powers of two keep its balance); then the ``bayesian-optimization`` package's
  Gaussian process (Matern 5/2) with expected improvement, one point per iteration. The
  library was chosen over botorch because it is light (scikit-learn's GP, no gpytorch) and the
  problem is 3-6 dimensional with a cheap objective.
- ``domain_reduction`` (default): after the Sobol points, the search box shrinks towards the
  best point after every step (the library's ``SequentialDomainReductionTransformer``); with
  the longer-trained 6-psi network the whole-box GP reached 2% of the target in under half the
  runs, the shrinking box in most (docs/listener-profiles.md). Its risk: a box that closes on
  the wrong basin.
- Stopping: as soon as the best loss is within ``tolerance`` (2%) of ``target``, or at
  ``max_iter`` evaluations. The target: for a listener the network was trained on, the loss at
  their learned psi; for an unseen one, :func:`reference_optimum` (a dense Sobol search refined
  by gradient descent through the frozen network: the best this network can do for them),
  unless the caller has a better one. Without a target the run goes to ``max_iter``.

Iterations are counted as loss evaluations, the Sobol points included.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hltk.simulate.psi_msbg import PsiMsbgNet

TOLERANCE = 0.02
#: the population box's margin on each side, as a fraction of the learned psi's range
BOX_MARGIN = 0.25
SEARCHES = ("population", "cube")


def population_box(model: PsiMsbgNet, margin: float = BOX_MARGIN
                   ) -> tuple[list[float], list[float]]:
    """``(low, high)`` per psi dimension: the learned psi's range over the training
    individuals, widened by ``margin`` of the range on each side, within ``[0, 1]``."""
    if model.conditioning is None or not model.conditioning.individuals:
        raise ValueError("a population box needs a psi-conditioned model")
    learned = model.conditioning.learned()
    low, high = learned.min(0).values, learned.max(0).values
    span = high - low
    return ((low - margin * span).clamp(0.0, 1.0).tolist(),
            (high + margin * span).clamp(0.0, 1.0).tolist())


def psi_objective(model: PsiMsbgNet, inputs: torch.Tensor, targets: torch.Tensor
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """``psi [K, n_psi]`` (unit cube) -> ``[K]`` response losses over all pairs (differentiable
    in psi; the model's weights are not touched)."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    inputs = inputs.float()
    targets = targets.float()

    def loss(psi: torch.Tensor) -> torch.Tensor:
        values = []
        for row in psi:
            prediction = model(inputs, row[None].expand(inputs.shape[0], -1))
            values.append((prediction - targets).square().mean())
        return torch.stack(values)

    return loss


@dataclass
class FitResult:
    psi: list[float]
    loss: float
    losses: list[float]  # every evaluation, in order
    points: list[list[float]]
    init_points: int
    target: float | None
    iterations_to_target: int | None  # evaluations until within tolerance (None: not reached)
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best_trace(self) -> list[float]:
        return np.minimum.accumulate(np.asarray(self.losses)).tolist()


def fit_psi(objective: Callable[[torch.Tensor], torch.Tensor], n_psi: int, *, init_points: int = 8,
            max_iter: int = 50, target: float | None = None, tolerance: float = TOLERANCE,
            seed: int = 0, xi: float = 0.01,
            bounds: tuple[list[float], list[float]] | None = None, domain_reduction: bool = True,
            progress: Callable[[int, float, float], None] | None = None) -> FitResult:
    """Bayesian optimisation of psi (see the module docstring) within ``bounds`` (``(low,
    high)`` per dimension; default the unit cube). ``progress(evaluation, loss, best)`` after
    each evaluation."""
    from bayes_opt import BayesianOptimization, acquisition
    from scipy.stats import qmc

    started = time.perf_counter()
    names = [f"psi{i}" for i in range(n_psi)]
    class ExpectedImprovement(acquisition.ExpectedImprovement):  # type: ignore[misc]
        """Expected improvement, its maximum sought from 2000 random points and 3 L-BFGS
        starts (the library's 10000 and 10 cost ~1 s a step; in <= 6 dimensions the fewer
        find the same maxima)."""

        def suggest(self, gp: Any, target_space: Any, n_random: int = 2000, n_smart: int = 3,
                    fit_gp: bool = True, random_state: Any = None) -> Any:
            return super().suggest(gp, target_space, n_random=n_random, n_smart=n_smart,
                                   fit_gp=fit_gp, random_state=random_state)

    low = np.asarray(bounds[0] if bounds else [0.0] * n_psi, dtype=np.float64)
    high = np.asarray(bounds[1] if bounds else [1.0] * n_psi, dtype=np.float64)
    if low.shape != (n_psi,) or high.shape != (n_psi,) or np.any(low >= high):
        raise ValueError(f"bounds must be {n_psi} (low, high) pairs with low < high")
    from bayes_opt import SequentialDomainReductionTransformer

    reducer = SequentialDomainReductionTransformer() if domain_reduction else None
    optimizer = BayesianOptimization(
        f=None, bounds_transformer=reducer,
        pbounds={name: (float(a), float(b)) for name, a, b in zip(names, low, high, strict=True)},
        acquisition_function=ExpectedImprovement(xi=xi),
        random_state=seed, verbose=0, allow_duplicate_points=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy: Sobol balance for non-powers of two
        initial = low + (high - low) * qmc.Sobol(d=n_psi, scramble=True,
                                                 seed=seed).random(init_points)
    losses: list[float] = []
    points: list[list[float]] = []
    reached: int | None = None

    def evaluate(point: np.ndarray) -> float:
        nonlocal reached
        with torch.no_grad():
            value = float(objective(torch.as_tensor(point, dtype=torch.float32)[None])[0])
        losses.append(value)
        points.append([float(v) for v in point])
        best = min(losses)
        if progress:
            progress(len(losses), value, best)
        if reached is None and target is not None and best <= target * (1 + tolerance):
            reached = len(losses)
        # the GP maximises: the negative loss
        optimizer.register(params=dict(zip(names, point.tolist(), strict=True)), target=-value)
        return value

    for point in initial:
        if len(losses) >= max_iter or reached is not None:
            break
        evaluate(point)
    while len(losses) < max_iter and reached is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GP convergence warnings
            suggestion = optimizer.suggest()
        evaluate(np.clip(np.asarray([suggestion[n] for n in names], dtype=np.float64), low, high))
        if reducer is not None:
            optimizer.set_bounds(reducer.transform(optimizer.space))  # type: ignore[arg-type]
    best = int(np.argmin(losses))
    return FitResult(points[best], losses[best], losses, points, init_points, target, reached,
                     time.perf_counter() - started,
                     {"bounds": [low.round(6).tolist(), high.round(6).tolist()],
                      "final_bounds": np.asarray(optimizer.space.bounds).T.round(6).tolist()})


def reference_optimum(objective: Callable[[torch.Tensor], torch.Tensor], n_psi: int, *,
                      candidates: int = 256, starts: int = 2, steps: int = 100,
                      seed: int = 0) -> tuple[list[float], float]:
    """The best psi this network can give a listener, found without Bayesian optimisation:
    ``candidates`` Sobol points, then Adam on ``logit(psi)`` from the ``starts`` best (the
    frozen network is differentiable in psi). Returns (psi, loss)."""
    from scipy.stats import qmc

    grid = torch.as_tensor(qmc.Sobol(d=n_psi, scramble=True, seed=seed).random(candidates),
                           dtype=torch.float32)
    with torch.no_grad():
        values = torch.cat([objective(grid[i : i + 16]) for i in range(0, candidates, 16)])
    best_psi, best_loss = grid[int(torch.argmin(values))], float(values.min())
    for start in torch.argsort(values)[:starts]:
        logit = torch.logit(grid[int(start)].clamp(1e-3, 1 - 1e-3)).clone().requires_grad_(True)
        optimiser = torch.optim.Adam([logit], lr=0.1)
        for _ in range(steps):
            loss = objective(torch.sigmoid(logit)[None])[0]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            final = float(objective(torch.sigmoid(logit)[None])[0])
        if final < best_loss:
            best_psi, best_loss = torch.sigmoid(logit.detach()), final
    return [float(v) for v in best_psi], best_loss


def within(losses: list[float], target: float, tolerance: float = TOLERANCE) -> int | None:
    """Evaluations until the best loss is within ``tolerance`` of ``target`` (None: never)."""
    best = math.inf
    for index, value in enumerate(losses):
        best = min(best, value)
        if best <= target * (1 + tolerance):
            return index + 1
    return None
