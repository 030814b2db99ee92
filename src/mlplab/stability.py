"""Step size against curvature: Hessian estimates, stability bounds, effective rates.

On a quadratic with curvature h (a Hessian eigenvalue), every SGD momentum
convention of ``optimizers.SGD`` with rate a and momentum mu follows, after its
first step, the linear recursion

    w_{t+1} = (1 + mu - p A) w_t - mu (1 - p B) w_{t-1},    p = a h,

with ``(A, B)`` depending on the convention (derived by eliminating the
velocity from the update rules in ``optimizers``):

==========================  =====================  ==========
convention                  A                      B
==========================  =====================  ==========
classical, lr-inside        1                      0
  with Nesterov             1 + mu                 1
dampened (d)                1 - d                  0
  with Nesterov             1 + mu (1 - d)         1
ema (b = mu)                1 - b                  0
  with Nesterov             (1 + b)(1 - b)         1 - b
==========================  =====================  ==========

The Jury conditions for the roots of ``z^2 - (1 + mu - p A) z + mu (1 - p B)``
to lie inside the unit circle reduce, for 0 <= mu < 1 and p > 0, to

    a h < 2 (1 + mu) / (A + mu B),

the other two conditions holding whenever ``A > mu B``, which every row
satisfies. This gives a h < 2 (1 + mu) for heavy ball (classical and
lr-inside, which are the same iteration while the rate is constant),
2 (1 + mu) / (1 + 2 mu) for Nesterov, 2 (1 + b) / (1 - b) for EMA and
2 (1 + mu) / (1 - d) for PyTorch's dampening (its first step, with the raw
gradient, does not change the asymptotic rate; d = 1 freezes the velocity and
has no bound). EMA with bias correction divides the step by 1 - b^(t+1) -> 1,
so it has the EMA bound asymptotically. Coupled weight decay wd adds wd to
every curvature.

The largest Hessian eigenvalue comes from power iteration on finite-difference
Hessian-vector products, ``H v ~ (g(w + e v) - g(w - e v)) / (2 e)``, using
backpropagation only: no second-order code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array
from .losses import LOSSES
from .network import (
    Dense,
    MLPConfig,
    Params,
    backward,
    forward,
    param_arrays,
    with_arrays,
)
from .optimizers import SGD
from .training import prepare_targets

__all__ = [
    "Equivalent",
    "RateReport",
    "effective_rates",
    "largest_eigenvalue",
    "stability_bound",
    "true_gradient_config",
]


def _recursion(style: str, nesterov: bool, mu: Array, d: Array) -> tuple[Array, Array]:
    """Return ``(A, B)`` of a convention's quadratic recursion (module docstring)."""
    one, zero = np.ones_like(mu), np.zeros_like(mu)
    if style == "dampened":
        return (1.0 + mu * (1.0 - d), one) if nesterov else (1.0 - d, zero)
    if style == "ema":
        return ((1.0 + mu) * (1.0 - mu), 1.0 - mu) if nesterov else (1.0 - mu, zero)
    return (1.0 + mu, one) if nesterov else (one, zero)


def stability_bound(optimizer: SGD) -> Array:
    """Return the largest stable ``a * h`` (rate times curvature) for ``optimizer``.

    Returns ``2 (1 + mu) / (A + mu B)`` (module docstring), one value per
    member when a hyperparameter has one per member, else a 0-d array; infinite
    when ``A + mu B`` is 0 (dampening 1).

    Examples
    --------
    >>> float(stability_bound(SGD(0.1, momentum=0.9)))
    3.8
    >>> round(float(stability_bound(SGD(0.1, momentum=0.9, momentum_style="ema"))), 6)
    38.0
    """
    mu = np.asarray(optimizer.momentum, np.float64)
    d = np.asarray(optimizer.dampening, np.float64)
    mu, d = np.broadcast_arrays(mu, d)
    a_coef, b_coef = _recursion(optimizer.momentum_style, optimizer.nesterov, mu, d)
    denominator = a_coef + mu * b_coef
    with np.errstate(divide="ignore"):
        return np.where(denominator > 0, 2.0 * (1.0 + mu) / denominator, np.inf)


# ---------------------------------------------------------------- effective rates


@dataclass(frozen=True)
class Equivalent:
    """An optimizer setting that runs the same iteration in another convention.

    ``exact`` says whether the trajectories are the same (up to rounding) or
    only the same after the first step.
    """

    optimizer: SGD
    exact: bool
    also: str


@dataclass(frozen=True)
class RateReport:
    """Nominal rate, the classical-momentum rate it amounts to, and equivalents.

    ``classical_rate`` is the rate of classical momentum (v <- mu v + g,
    w <- w - a v) with the same mu that runs the same iteration;
    ``terminal_rate = classical_rate / (1 - mu)`` is the step per unit of a
    constant gradient once the velocity has built up.
    """

    nominal_rate: float
    classical_rate: float
    terminal_rate: float
    equivalents: tuple[Equivalent, ...]
    note: str


def effective_rates(optimizer: SGD) -> RateReport:
    """Translate an SGD setting into the other momentum conventions.

    With a the rate, mu the momentum and d the dampening, the classical rate
    is a (classical, lr-inside), a (1 - mu) (ema) or a (1 - d) (dampened).
    Exact equivalents: classical and lr-inside with that rate and mu, and EMA
    with rate ``classical_rate / (1 - mu)``; PyTorch's dampening d = mu with
    that same rate matches EMA except on the first step. A per-member or
    scheduled rate, EMA bias correction and dampening make the translations
    approximate (``exact=False``), as the note says.

    Examples
    --------
    >>> r = effective_rates(SGD(0.5, momentum=0.9, momentum_style="ema"))
    >>> round(r.classical_rate, 12), round(r.terminal_rate, 12)
    (0.05, 0.5)
    """
    a, mu, d = (
        _scalar(optimizer, f) for f in ("learning_rate", "momentum", "dampening")
    )
    style, nesterov = optimizer.momentum_style, optimizer.nesterov
    classical = {
        "classical": a,
        "lr-inside": a,
        "ema": a * (1.0 - mu),
        "dampened": a * (1.0 - d),
    }[style]
    approximate = (style == "dampened" and d > 0) or (
        style == "ema" and optimizer.bias_correction
    )
    base = dataclasses.replace(optimizer, dampening=0.0, bias_correction=False)
    candidates = [
        (
            dataclasses.replace(
                base, learning_rate=classical, momentum_style="classical"
            ),
            True,
            f"PyTorch SGD(lr={classical:.6g}, momentum={mu:g}"
            f"{', nesterov=True' if nesterov else ''}), Optax sgd",
        ),
        (
            dataclasses.replace(
                base, learning_rate=classical, momentum_style="lr-inside"
            ),
            True,
            f"Keras SGD(learning_rate={classical:.6g}, momentum={mu:g}), "
            f"scikit-learn MLP(learning_rate_init={classical:.6g}, momentum={mu:g})",
        ),
        (
            dataclasses.replace(
                base, learning_rate=classical / (1.0 - mu), momentum_style="ema"
            ),
            True,
            "the Code Review program's form",
        ),
    ]
    if mu > 0 and not nesterov:
        candidates.append(
            (
                dataclasses.replace(
                    base,
                    learning_rate=classical / (1.0 - mu),
                    momentum_style="dampened",
                    dampening=mu,
                ),
                False,
                f"PyTorch SGD(lr={classical / (1.0 - mu):.6g}, momentum={mu:g}, "
                f"dampening={mu:g}): EMA but for its first step",
            )
        )
    equivalents = tuple(
        Equivalent(opt, exact and not approximate, also)
        for opt, exact, also in candidates
        if not (opt.momentum_style == style and style != "dampened")
    )
    note = _rate_note(style, a, mu, classical, approximate)
    return RateReport(a, classical, classical / (1.0 - mu), equivalents, note)


def _scalar(optimizer: SGD, field: str) -> float:
    """Return a hyperparameter as one float (member 0, or a schedule at step 0)."""
    value: Any = getattr(optimizer, field)
    if callable(value):
        value = value(0)
    return float(np.ravel(np.asarray(value, np.float64))[0])


def _rate_note(
    style: str, a: float, mu: float, classical: float, approximate: bool
) -> str:
    """One sentence on what the convention does to the step size."""
    if style == "ema" and mu > 0:
        text = (
            f"EMA momentum {mu:g} with rate {a:g} is classical momentum {mu:g} "
            f"with rate {classical:.6g}: averaging the gradients does not enlarge "
            f"the step, whose long-run size stays {a:g} per unit gradient"
        )
    elif mu > 0:
        text = (
            f"momentum {mu:g} multiplies the long-run step by 1/(1 - mu) = "
            f"{1 / (1 - mu):.4g}, to {classical / (1 - mu):.6g} per unit gradient"
        )
    else:
        text = "no momentum: the effective rate is the nominal rate"
    if approximate:
        text += " (the translations hold after the first steps, not exactly)"
    return text


# ---------------------------------------------------------------- curvature


def true_gradient_config(config: MLPConfig) -> MLPConfig:
    """Return ``config`` with the original's wrong derivative replaced by the sigmoid's.

    Curvature is a property of the loss, so it is measured with the true gradient.
    """
    fix = {"sigmoid_wrong_derivative": "sigmoid"}
    return dataclasses.replace(
        config,
        activation=fix.get(config.activation, config.activation),
        output_activation=fix.get(config.output_activation, config.output_activation),
    )


def loss_gradient(
    params: Params, config: MLPConfig, x: Array, y: Array, loss: str
) -> tuple[Array, ...]:
    """Return the backpropagated gradient of ``loss`` per parameter array."""
    loss_fn = LOSSES[loss]
    out, caches = forward(params, config, x)
    return param_arrays(backward(params, config, caches, loss_fn.grad(out, y)))


def _member_dot(u: tuple[Array, ...], v: tuple[Array, ...]) -> Array:
    """Per-member inner product of two parameter tuples, shape ``(K,)``."""
    total: Array = sum(
        np.sum((a * b).reshape(a.shape[0], -1), axis=1)
        for a, b in zip(u, v, strict=True)
    )
    return total


def _scale(v: tuple[Array, ...], s: Array) -> tuple[Array, ...]:
    """Multiply member k of every array by ``s[k]``."""
    return tuple(a * s.reshape((-1,) + (1,) * (a.ndim - 1)) for a in v)


def largest_eigenvalue(
    config: MLPConfig,
    x: Array,
    y: Array,
    *,
    loss: str,
    params: Params,
    n_iter: int = 200,
    rtol: float = 1e-10,
    seed: int = 0,
) -> Array:
    """Estimate the largest Hessian eigenvalue of each member's loss.

    Power iteration on ``H v ~ (g(w + e v) - g(w - e v)) / (2 e)`` with
    ``e = 1e-5 max(1, ||w||)`` and ``||v|| = 1`` per member. If the dominant
    eigenvalue is negative, a second iteration on ``H - lambda I`` finds the
    largest (algebraic) one, which is the one that limits the step size.
    Computed in float64 with the true gradient (``true_gradient_config``).

    Parameters
    ----------
    config, x, y, loss
        The network, data ``(n_samples, n_features)``, targets and loss name.
    params : Params
        The weights, ``(K, ...)`` per array.
    n_iter : int
        The most power-iteration steps.
    rtol : float
        Stop when every member's estimate changes by less than this, relatively.
    seed : int
        Seeds the random start vector.

    Returns
    -------
    array, shape (n_members,)
        The largest eigenvalue per member.
    """
    config = dataclasses.replace(true_gradient_config(config), dtype="float64")
    params = tuple(
        Dense(
            np.asarray(w, np.float64), None if b is None else np.asarray(b, np.float64)
        )
        for w, b in params
    )
    x = np.asarray(x, np.float64)
    y = prepare_targets(np.asarray(y, np.float64), config.n_outputs)
    w = param_arrays(params)
    eps = 1e-5 * np.maximum(1.0, np.sqrt(_member_dot(w, w)))

    def hvp(v: tuple[Array, ...]) -> tuple[Array, ...]:
        up = loss_gradient(
            with_arrays(
                params, [a + b for a, b in zip(w, _scale(v, eps), strict=True)]
            ),
            config,
            x,
            y,
            loss,
        )
        down = loss_gradient(
            with_arrays(
                params, [a - b for a, b in zip(w, _scale(v, eps), strict=True)]
            ),
            config,
            x,
            y,
            loss,
        )
        return _scale(tuple(u - d for u, d in zip(up, down, strict=True)), 0.5 / eps)

    rng = np.random.default_rng(seed)
    return _top_eigenvalue(
        hvp, tuple(rng.standard_normal(a.shape) for a in w), n_iter, rtol
    )


def _top_eigenvalue(
    matvec: Any, start: tuple[Array, ...], n_iter: int, rtol: float
) -> Array:
    """Return the largest algebraic eigenvalue per member (shifted power iteration)."""
    top = _power_iteration(matvec, start, n_iter, rtol)
    if np.all(top >= 0):
        return top
    shift = np.minimum(top, 0.0)  # the dominant one is negative: look at H - shift I

    def shifted(v: tuple[Array, ...]) -> tuple[Array, ...]:
        return tuple(h - s for h, s in zip(matvec(v), _scale(v, shift), strict=True))

    return _power_iteration(shifted, start, n_iter, rtol) + shift


def _power_iteration(
    matvec: Any, v: tuple[Array, ...], n_iter: int, rtol: float
) -> Array:
    """Rayleigh quotients of power iteration, per member, until they settle."""
    v = _scale(v, 1.0 / np.sqrt(_member_dot(v, v)))
    estimate = np.full(v[0].shape[0], np.nan)
    for _ in range(n_iter):
        hv = matvec(v)
        new = _member_dot(v, hv)
        norm = np.sqrt(_member_dot(hv, hv))
        v = _scale(hv, 1.0 / np.where(norm == 0, 1.0, norm))  # a zero Hv stays zero
        if np.all(np.abs(new - estimate) <= rtol * np.abs(new)):
            return new
        estimate = new
    return estimate
