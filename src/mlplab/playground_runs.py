"""What the playground computes about runs: findings in plain words, many seeds.

``findings`` diagnoses the live run of a session (the original's wrong
derivative, divergence, the constant-output plateau, saturated and dead units,
the step size against the curvature), with ``diagnosis.layer_health`` and
``stability``'s eigenvalue and stability bound. ``run_seeds`` and
``lr_momentum_heatmap`` train many seeds of a setting as one ensemble with
``fit`` and report success rates with Wilson intervals
(``outcomes.wilson_interval``) and the epochs to solve. The settings and data
come from ``playground_core``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ._types import Array, BoolArray
from .diagnosis import layer_health
from .network import Dense, Params
from .outcomes import wilson_interval
from .playground_core import LIMITS, Run, Settings, accuracy, build_run, constant_loss
from .stability import largest_eigenvalue, stability_bound
from .training import DivergenceWarning, EpochView, fit

__all__ = [
    "findings",
    "heatmap_axes",
    "largest_curvature",
    "lr_momentum_heatmap",
    "run_seeds",
]


# ---------------------------------------------------------------- findings


def findings(
    run: Run, params: Params, losses: Array, epoch: int, diverged: bool
) -> list[dict[str, str]]:
    """Diagnose a one-member run in plain words: ``[{kind, title, text}]``.

    ``kind`` is ``"problem"``, ``"ok"`` or ``"info"``. Covered: the
    original's wrong derivative, divergence, the constant-predictor plateau,
    saturated and dead hidden units, and the step size against the
    curvature (the largest Hessian eigenvalue, by power iteration).
    """
    out = []
    if run.config.activation == "sigmoid_wrong_derivative":
        out.append(
            _finding(
                "problem",
                "Backpropagation is wrong",
                "This run keeps the original program's mistake: it multiplies by "
                "s'(s(z)) instead of s'(z) = s(z)(1 - s(z)), so the steps do not "
                "follow the gradient of the loss. Load the corrected preset.",
            )
        )
    if diverged:
        out.append(
            _finding(
                "problem",
                "Diverged",
                "The loss or the weights became infinite; "
                "the last finite weights are kept. Lower the learning rate.",
            )
        )
    out.append(_plateau_finding(run, losses, epoch))
    out.extend(_unit_findings(run, params))
    out.append(_curvature_finding(run, params))
    return [f for f in out if f]


def _finding(kind: str, title: str, text: str) -> dict[str, str]:
    return {"kind": kind, "title": title, "text": text}


def _plateau_finding(run: Run, losses: Array, epoch: int) -> dict[str, str]:
    constant = constant_loss(run)
    if len(losses) == 0:
        return _finding(
            "info",
            "Not trained yet",
            f"The best constant output has loss "
            f"{constant:.4g}: that is the plateau where a stalled run sits.",
        )
    last = float(losses[-1])
    recent = losses[-min(len(losses), 200) :]
    flat = float(np.ptp(recent)) <= 1e-3 * max(constant, 1e-12)
    if epoch >= 200 and abs(last - constant) <= 0.02 * constant and flat:
        return _finding(
            "problem",
            "Stuck on the constant-output plateau",
            f"For the last {len(recent)} epochs the loss has stayed at {last:.4g}, "
            f"the loss of outputting the class average everywhere "
            f"({constant:.4g}). The network predicts the same value for every "
            "row. Try another seed (see how often this setting works with "
            "'run N seeds'), a larger learning rate or classical momentum.",
        )
    if last <= 0.05 * constant:
        return _finding(
            "ok",
            "Learning",
            f"The loss {last:.4g} is far below the "
            f"constant-output plateau {constant:.4g}.",
        )
    return _finding(
        "info",
        "Training",
        f"The loss is {last:.4g}; the constant-output plateau is at {constant:.4g}.",
    )


def _unit_findings(run: Run, params: Params) -> list[dict[str, str]]:
    """Saturated sigmoid/tanh units and dead ReLUs of the hidden layers."""
    out = []
    for row in layer_health(params, run.config, run.x)[:-1]:
        i, n = row["layer"], row["units"]
        saturated = round(float(row["saturated"][0]) * n)
        dead = round(float(row["dead"][0]) * n)
        if saturated:
            out.append(
                _finding(
                    "problem",
                    f"Saturated units in layer {i + 1}",
                    f"{saturated} of {n} units output almost exactly their lowest or "
                    "highest value on every row, so almost no gradient passes through "
                    "them. Smaller initial weights or a smaller rate help.",
                )
            )
        if dead:
            out.append(
                _finding(
                    "problem",
                    f"Dead units in layer {i + 1}",
                    f"{dead} of {n} ReLU units are negative on every row: they "
                    "output 0 and never learn again. Try leaky_relu, biases, or a "
                    "smaller rate.",
                )
            )
    return out


def largest_curvature(run: Run, params: Params) -> float:
    """Largest Hessian eigenvalue of member 0's training loss (``stability``)."""
    member = tuple(
        Dense(layer.w[:1], None if layer.b is None else layer.b[:1]) for layer in params
    )
    return float(
        largest_eigenvalue(
            run.config,
            run.x,
            run.y[:, None],
            loss=run.loss,
            params=member,
            n_iter=50,
            rtol=1e-6,
        )[0]
    )


def _curvature_finding(run: Run, params: Params) -> dict[str, str]:
    """Compare rate x curvature with the stability limit of the momentum convention."""
    opt = run.optimizer
    if type(opt).__name__ != "SGD":
        return _finding(
            "info",
            "Step size and curvature",
            "The step-size limit from the curvature is computed for SGD only: "
            "adaptive optimizers rescale every step by their own statistics.",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        curvature = largest_curvature(run, params)
    if not math.isfinite(curvature) or curvature <= 0:
        return _finding(
            "info",
            "Step size and curvature",
            "The loss has no positive curvature here, so there is no step-size "
            "limit to compare with.",
        )
    lr, mu = float(opt.learning_rate), float(opt.momentum)
    limit = float(stability_bound(opt))
    step = lr * curvature
    verdict = "below" if step < limit else "ABOVE"
    text = (
        f"The sharpest direction of the loss has curvature {curvature:.3g}, so "
        f"rate x curvature = {step:.3g}, {verdict} the stability limit {limit:.3g} "
        f"of {opt.momentum_style} momentum {mu:g}"
        + (" with Nesterov" if opt.nesterov else "")
        + (
            f" (the EMA form steps with rate x (1 - momentum) = {lr * (1 - mu):.3g})"
            if opt.momentum_style == "ema"
            else ""
        )
        + ". "
    )
    text += (
        "Steps of this size are stable here."
        if step < limit
        else "Expect oscillation or divergence; lower the rate."
    )
    return _finding(
        "ok" if step < limit else "problem", "Step size and curvature", text
    )


# ---------------------------------------------------------------- many seeds


def _check_seed_budget(run: Run, n_members: int, n_epochs: int) -> None:
    steps = 1 if run.batch_size is None else math.ceil(len(run.x) / run.batch_size)
    work = n_members * n_epochs * steps
    if work > LIMITS["seed_steps"]:
        raise ValueError(
            f"seeds x epochs x steps per epoch must be <= "
            f"{LIMITS['seed_steps']:,}; got {n_members} x {n_epochs} x {steps} "
            f"= {work:,} (use fewer seeds or epochs, or a larger batch)"
        )


class _SolveTracker:
    """A fit callback recording each member's first solved epoch in ``first``.

    Accuracy is checked every ``ceil(n_epochs / 1000)`` epochs (and on the
    last), which costs a forward pass each time; that is the resolution of
    the epochs to solve. A solved member is stopped (masked), so the run ends
    as soon as every member has solved; ``cancelled()`` stops them all.
    """

    def __init__(
        self,
        run: Run,
        threshold: float,
        n_members: int,
        n_epochs: int,
        cancelled: Callable[[], bool],
    ) -> None:
        self.run, self.threshold, self.cancelled = run, threshold, cancelled
        self.first = np.full(n_members, -1)
        self.every = math.ceil(n_epochs / 1000)

    def __call__(self, view: EpochView) -> BoolArray | None:
        if view.epoch % self.every and not view.last:
            return None
        assert view.params is not None  # fit always passes the weights
        run = self.run
        solved = accuracy(run, view.params, run.x, run.y) >= self.threshold
        self.first[(self.first < 0) & solved & view.active] = view.epoch
        if self.cancelled():
            return np.ones(len(self.first), bool)
        return self.first >= 0


def _train_members(
    run: Run, optimizer: Any, n_members: int, epochs: int, solve: float, cancelled: Any
) -> tuple[Array, Array, Array]:
    """Train seeds 0..K-1 as one ensemble: first solved epoch, final loss, diverged."""
    tracker = _SolveTracker(run, solve, n_members, epochs, cancelled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        result = fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=optimizer,
            n_epochs=epochs,
            seeds=range(n_members),
            batch_size=run.batch_size,
            callbacks=[tracker],
        )
    final = (
        result.history.loss[-1]
        if result.history.n_epochs
        else np.full(n_members, np.nan)
    )
    return tracker.first, final, result.history.diverged_epoch


def run_seeds(
    s: Settings, n_seeds: int, cancelled: Any = lambda: False
) -> dict[str, Any]:
    """Train seeds 0..N-1 of ``s`` for ``s.epochs`` epochs as one ensemble.

    A seed succeeds when its training accuracy reaches ``s.solve`` at some
    epoch and it never diverges. Returns the success count and rate, its 95%
    Wilson interval, every seed's first solved epoch (-1 if never), and how
    many stalled on the constant-output plateau or diverged.
    """
    run = build_run(s)
    _check_seed_budget(run, n_seeds, s.epochs)
    first, final, diverged = _train_members(
        run, run.optimizer, n_seeds, s.epochs, s.solve, cancelled
    )
    solved = (first >= 0) & (diverged < 0)
    constant = constant_loss(run)
    plateau = (~solved) & (np.abs(final - constant) <= 0.02 * constant)
    low, high = wilson_interval(int(solved.sum()), n_seeds)
    return {
        "n_seeds": n_seeds,
        "epochs": s.epochs,
        "solved": int(solved.sum()),
        "rate": float(solved.mean()),
        "interval": [low, high],
        "plateau": int(plateau.sum()),
        "diverged": int((diverged >= 0).sum()),
        "epochs_to_solve": [int(e) for e in np.where(solved, first, -1)],
    }


def heatmap_axes(s: Settings) -> tuple[list[float], list[float]]:
    """Five learning rates (x1/4 to x4) and five momenta around the current setting."""
    rates = [min(s.lr * f, LIMITS["learning_rate"]) for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    # six candidates, so that five remain when the current one is among them
    momenta = sorted({0.0, 0.5, 0.8, 0.9, 0.95, 0.99, s.momentum})
    while len(momenta) > 5:
        momenta.remove(
            min(
                (m for m in momenta if m != s.momentum),
                key=lambda m: abs(m - s.momentum),
            )
        )
    return rates, momenta


def lr_momentum_heatmap(
    s: Settings, n_seeds: int, cancelled: Any = lambda: False
) -> dict[str, Any]:
    """Success rates on a 5 x 5 grid of learning rate x momentum around ``s``.

    Every cell trains seeds 0..n_seeds-1; all cells run as one ensemble with
    per-member learning rates and momenta.
    """
    if s.optimizer not in ("sgd", "rmsprop"):
        raise ValueError(
            f"the heatmap varies momentum, which optimizer {s.optimizer!r} "
            "does not have; choose sgd or rmsprop"
        )
    run = build_run(s)
    rates, momenta = heatmap_axes(s)
    cells = [(r, m) for m in momenta for r in rates]
    n_members = len(cells) * n_seeds
    _check_seed_budget(run, n_members, s.epochs)
    per_lr = tuple(r for r, _ in cells for _ in range(n_seeds))
    per_mu = tuple(m for _, m in cells for _ in range(n_seeds))
    optimizer = dataclasses.replace(
        run.optimizer, learning_rate=per_lr, momentum=per_mu
    )
    seeds = np.tile(np.arange(n_seeds), len(cells))
    tracker = _SolveTracker(run, s.solve, n_members, s.epochs, cancelled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        result = fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=optimizer,
            n_epochs=s.epochs,
            seeds=seeds.tolist(),
            batch_size=run.batch_size,
            callbacks=[tracker],
        )
    solved = (tracker.first >= 0) & (result.history.diverged_epoch < 0)
    table = solved.reshape(len(momenta), len(rates), n_seeds).mean(axis=2)
    return {
        "learning_rates": rates,
        "momenta": momenta,
        "n_seeds": n_seeds,
        "rate": table.tolist(),
    }
