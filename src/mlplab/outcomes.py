"""What happened to each run of a sweep, and statistics over many runs.

A run's outcome is decided in this order:

1. ``diverged``: its loss turned non-finite or exceeded ``1e6`` times its
   initial loss (at ``diverged_epoch``);
2. ``solved``: at the end every training row is classified correctly (for
   regression: the loss is below a threshold); ``epochs_to_solve`` is the
   first epoch from which that held without interruption to the end;
3. ``plateau``: the loss improved by less than a relative ``plateau_tol``
   over the last ``window`` epochs; flagged ``constant_stall`` when the loss
   is within 1% of the best constant predictor's loss (XOR's stall at 1.0);
4. ``unfinished``: still improving when the epochs ran out.

Times to solve are survival data: an unsolved run is censored at its last
epoch, not dropped, and ``survival_quantiles`` reads the median and quartiles
off the Kaplan-Meier estimate. Success rates carry Wilson score intervals.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._types import Array

__all__ = [
    "OUTCOMES",
    "Outcomes",
    "classify",
    "constant_predictor_loss",
    "kaplan_meier",
    "survival_quantiles",
    "wilson_interval",
]

OUTCOMES = ("diverged", "solved", "plateau", "unfinished")
CONSTANT_STALL_RTOL = 0.01


class Outcomes(NamedTuple):
    """Per-member outcomes, each ``(K,)``; -1 marks "does not apply"."""

    outcome: Array
    epochs_to_solve: Array
    diverged_epoch: Array
    constant_stall: Array


def classify(  # noqa: PLR0913
    *, n_epochs: int, final_loss: Array, window_loss: Array, diverged_epoch: Array,
    last_bad: Array, constant_loss: float, plateau_tol: float = 1e-4,
) -> Outcomes:
    """Decide each member's outcome (see the module docstring for the rules).

    Parameters
    ----------
    n_epochs : int
        Epochs trained.
    final_loss, window_loss : array, shape (K,)
        The loss after the last epoch and ``window`` epochs before it.
    diverged_epoch : array of int, shape (K,)
        The epoch of divergence, or -1.
    last_bad : array of int, shape (K,)
        The last epoch (0..n_epochs) at which the solved condition failed, -1
        if it never failed; ``n_epochs`` means unsolved at the end.
    constant_loss : float
        The loss of the best constant predictor on the training data.
    plateau_tol : float
        Relative improvement over the window below which a run has stalled.

    Examples
    --------
    >>> o = classify(n_epochs=100, final_loss=np.array([1.0, 0.5, 0.01, 0.2]),
    ...              window_loss=np.array([1.0, 0.5, 0.3, 0.3]),
    ...              diverged_epoch=np.array([-1, -1, -1, 7]),
    ...              last_bad=np.array([100, 100, 41, 100]), constant_loss=1.0)
    >>> o.outcome.tolist(), o.epochs_to_solve.tolist(), o.constant_stall.tolist()
    (['plateau', 'plateau', 'solved', 'diverged'], [-1, -1, 42, -1], [True, False, False, False])
    """
    diverged = np.asarray(diverged_epoch) >= 0
    solved = ~diverged & (np.asarray(last_bad) < n_epochs)
    improvement = np.asarray(window_loss) - np.asarray(final_loss)
    with np.errstate(invalid="ignore"):
        stalled = improvement <= plateau_tol * np.abs(window_loss)
    plateau = ~diverged & ~solved & stalled
    outcome = np.select([diverged, solved, plateau], list(OUTCOMES[:3]), OUTCOMES[3])
    near_constant = np.abs(np.asarray(final_loss) - constant_loss) <= (
        CONSTANT_STALL_RTOL * abs(constant_loss)
    )
    return Outcomes(
        outcome.astype(object),
        np.where(solved, np.asarray(last_bad) + 1, -1),
        np.where(diverged, diverged_epoch, -1),
        plateau & near_constant,
    )


def constant_predictor_loss(loss: str, y: Array) -> float:
    """The loss of the best constant prediction (each output's mean target).

    ``y`` is ``(n_samples, n_outputs)``. For XOR's targets and the sum of
    squared errors this is 1.0, where the original program stalled.

    Examples
    --------
    >>> constant_predictor_loss("sse", np.array([[0.0], [1.0], [1.0], [0.0]]))
    1.0
    """
    y = np.asarray(y, np.float64)
    mean = y.mean(axis=0)
    if loss in ("sse", "mse"):
        sse = float(((y - mean) ** 2).sum())
        return sse if loss == "sse" else sse / y.size
    p = np.clip(mean, 1e-300, 1.0)
    if loss == "binary_cross_entropy":
        q = np.clip(1.0 - mean, 1e-300, 1.0)
        return float(np.mean(-(mean * np.log(p) + (1.0 - mean) * np.log(q))))
    if loss == "cross_entropy":
        return float(-(mean * np.log(p)).sum())
    raise ValueError(f"unknown loss {loss!r} for the constant predictor")


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054
                    ) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def kaplan_meier(times: Array, events: Array) -> tuple[Array, Array]:
    """Kaplan-Meier survival estimate: ``(event_times, S(t) just after each)``.

    ``times`` are event or censoring times, ``events`` True where the event
    (here: solving) happened. A run censored at t is at risk at t.
    """
    times = np.asarray(times, np.float64)
    events = np.asarray(events, bool)
    event_times = np.unique(times[events])
    at_risk = np.array([(times >= t).sum() for t in event_times], np.float64)
    happened = np.array([(events & (times == t)).sum() for t in event_times], np.float64)
    return event_times, np.cumprod(1.0 - happened / np.maximum(at_risk, 1.0))


def survival_quantiles(times: Array, events: Array,
                       quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
                       ) -> tuple[float | None, ...]:
    """Times by which a fraction q of runs has solved, censoring included.

    The q-quantile is the first event time at which ``1 - S(t) >= q``; None
    when too few runs solved for it to be reached (e.g. the median when
    fewer than half solved).

    Examples
    --------
    >>> survival_quantiles([10, 20, 30, 100], [True, True, True, False])
    (10.0, 20.0, 30.0)
    >>> survival_quantiles([10, 100, 100, 100], [True, False, False, False])
    (10.0, None, None)
    """
    t, s = kaplan_meier(np.asarray(times), np.asarray(events))
    out: list[float | None] = []
    for q in quantiles:
        reached = np.flatnonzero(1.0 - s >= q - 1e-12)
        out.append(float(t[reached[0]]) if reached.size else None)
    return tuple(out)
