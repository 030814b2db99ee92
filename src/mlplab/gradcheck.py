"""Central-difference checks of backpropagated gradients.

``gradient_check`` compares, array by array, the gradient that ``backward``
computes with ``(L(w + eps) - L(w - eps)) / (2 eps)`` for every entry. All
members are perturbed at once: members are independent, so member k's loss
difference is member k's partial derivative.

``check_gradients`` does the same for anyone's code: a function returning the
loss for a dict or list of arrays and one returning its claimed gradients. It
also names the kind of error (a scale factor, a sign flip or a wrong
derivative) and suggests where to look.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from ._types import Array
from ._validation import lookup
from .losses import LOSSES
from .network import (
    Dense,
    MLPConfig,
    Params,
    backward,
    forward,
    init_params,
    param_arrays,
    param_names,
)
from .training import prepare_targets

__all__ = [
    "ArrayCheck",
    "GradCheckRow",
    "GradientReport",
    "check_gradients",
    "classify_error",
    "gradient_check",
    "relative_error",
]


class GradCheckRow(NamedTuple):
    """One parameter array's result.

    ``rel_error`` is ``||g_backprop - g_numeric|| / max(||g_backprop|| +
    ||g_numeric||, 1e-12)`` over the whole array (all members); ``worst_abs``
    is the largest single ``|g_backprop - g_numeric|`` and ``worst_index`` where.
    """

    name: str
    rel_error: float
    worst_abs: float
    worst_index: tuple[int, ...]

    def passed(self, tol: float) -> bool:
        """Whether the relative error is within ``tol``."""
        return self.rel_error <= tol


def _cast_params(params: Params, dtype: type[np.floating[Any]]) -> Params:
    """Copy every weight and bias array to ``dtype``."""
    return tuple(
        Dense(
            np.array(layer.w, dtype),
            None if layer.b is None else np.array(layer.b, dtype),
        )
        for layer in params
    )


def relative_error(analytic: Array, numeric: Array) -> float:
    """Return ``||a - n|| / max(||a|| + ||n||, 1e-12)`` over the whole array."""
    diff = float(np.linalg.norm(analytic - numeric))
    return diff / max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), 1e-12)


def gradient_check(
    config: MLPConfig,
    x: Array,
    y: Array,
    *,
    loss: str,
    params: Params | None = None,
    seeds: tuple[int, ...] = (0,),
    eps: float = 1e-6,
) -> list[GradCheckRow]:
    """Compare backprop with central differences for every parameter array.

    Computation is in float64 whatever ``config.dtype`` says, so the check
    measures the formulas rather than rounding.

    Parameters
    ----------
    config : MLPConfig
        Architecture, activations and biases to check.
    x, y : arrays
        Data, ``(n_samples, n_features)`` and ``(n_samples, n_outputs)`` (or 1-D).
    loss : str
        The loss, as reported in training (a name in ``LOSSES``).
    params : Params, optional
        Weights to check at; drawn from ``seeds`` otherwise.
    seeds : tuple of int
        One seed per member when ``params`` is not given.
    eps : float
        The central-difference step; truncation error is ~eps^2, rounding
        ~1e-19 / eps with NumPy's extended ``longdouble`` (x86).

    Returns
    -------
    list of GradCheckRow
        One row per parameter array, in ``param_names`` order.

    Examples
    --------
    >>> rows = gradient_check(MLPConfig((2, 3, 1)), np.eye(2), np.ones(2), loss="mse")
    >>> all(r.rel_error < 1e-7 for r in rows)
    True
    """
    loss_fn = lookup(LOSSES, "loss", loss)
    if params is None:
        params = init_params(config, seeds)
    params = _cast_params(params, np.float64)
    x = np.asarray(x, np.float64)
    y = prepare_targets(np.asarray(y, np.float64), config.n_outputs)
    with np.errstate(over="ignore", invalid="ignore"):
        out, caches = forward(params, config, x)
        analytic = param_arrays(backward(params, config, caches, loss_fn.grad(out, y)))
    if not (
        np.all(np.isfinite(loss_fn.value(out, y)))
        and all(np.all(np.isfinite(g)) for g in analytic)
    ):
        raise ValueError(
            "the loss or its gradient is not finite at these weights (overflow); "
            "a gradient check needs finite values: use smaller weights or inputs"
        )

    # The differences are taken in extended precision where the platform has it:
    # rounding in a float64 loss (~1e-16 / eps) would otherwise swamp the small
    # gradients of deep layers and pass for a backprop error.
    wide = _cast_params(params, np.longdouble)
    x_wide, y_wide = x.astype(np.longdouble), y.astype(np.longdouble)

    def member_losses() -> Array:
        return loss_fn.value(forward(wide, config, x_wide)[0], y_wide)  # type: ignore[no-any-return]

    rows = []
    for name, array, grad in zip(
        param_names(params), param_arrays(wide), analytic, strict=True
    ):
        numeric = _central_differences(member_losses, array, eps).astype(np.float64)
        diff = np.abs(grad - numeric)
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        rows.append(
            GradCheckRow(
                name,
                relative_error(grad, numeric),
                float(diff[worst]),
                tuple(int(i) for i in worst),
            )
        )
    return rows


def _central_differences(member_losses, array: Array, eps: float) -> Array:  # type: ignore[no-untyped-def]
    """Partial derivatives of each member's loss w.r.t. its own entries of ``array``."""
    numeric = np.empty_like(array)
    per_member = array.reshape(array.shape[0], -1)  # a view: edits reach the network
    out = numeric.reshape(array.shape[0], -1)
    for j in range(per_member.shape[1]):
        saved = per_member[:, j].copy()
        per_member[:, j] = saved + eps
        up = member_losses()
        per_member[:, j] = saved - eps
        down = member_losses()
        per_member[:, j] = saved
        out[:, j] = (up - down) / (2.0 * eps)
    return numeric


# ---------------------------------------------------------------- anyone's code

VERDICTS = ("ok", "scale factor", "sign flip", "missing gradient", "wrong derivative")


@dataclass(frozen=True)
class ArrayCheck:
    """One user array's check.

    ``verdict`` is one of ``VERDICTS``. For a scale factor (or a sign flip),
    ``factor`` is true / claimed, the number the claimed gradient must be
    multiplied by (2 when it is halved, -1 when its sign is flipped), and
    ``factor_label`` that number as a short fraction (``"2"``, ``"1/4"``).
    ``worst`` holds up to three ``(index, claimed, numeric)`` entries with the
    largest disagreement.
    """

    name: str
    shape: tuple[int, ...]
    rel_error: float
    verdict: str
    factor: float | None
    factor_label: str | None
    worst: tuple[tuple[tuple[int, ...], float, float], ...]
    advice: str


@dataclass(frozen=True)
class GradientReport:
    """What ``check_gradients`` found: one ``ArrayCheck`` per array and a summary."""

    arrays: tuple[ArrayCheck, ...]
    tol: float
    summary: str

    @property
    def passed(self) -> bool:
        """Whether every array's relative error is within ``tol``."""
        return all(a.verdict == "ok" for a in self.arrays)

    def text(self) -> str:
        """Return a plain-text table and the summary, for printing."""
        lines = [f"{'array':<14} {'shape':<10} {'rel. error':>10}  verdict"]
        for a in self.arrays:
            verdict = a.verdict + (f" ({a.factor_label})" if a.factor_label else "")
            lines.append(
                f"{a.name:<14} {'x'.join(map(str, a.shape)) or '()':<10} "
                f"{a.rel_error:>10.2e}  {verdict}"
            )
        by_advice: dict[str, list[str]] = {}
        for a in self.arrays:
            if a.verdict != "ok":
                by_advice.setdefault(a.advice, []).append(a.name)
        lines += [f"{', '.join(names)}: {text}" for text, names in by_advice.items()]
        lines.append(self.summary)
        return "\n".join(
            textwrap.fill(line, 88, subsequent_indent="    ") for line in lines
        )


def _factor_label(factor: float) -> str:
    """Write a factor as a small fraction when it is one (2, 1/4, -1), else 4 digits."""
    frac = Fraction(factor).limit_denominator(1000)
    if abs(float(frac) - factor) <= 1e-4 * abs(factor):
        return str(frac)
    return f"{factor:.4g}"


# A scale factor: claimed = s * numeric for one s, to this relative residual
# (central differences of a smooth loss are good to about 1e-9), with 1 / s a
# simple number to this relative tolerance.
SCALE_RESIDUAL = 1e-5
SIMPLE_FACTOR_RTOL = 1e-4


def classify_error(
    claimed: Array, numeric: Array, tol: float = 1e-6, atol: float = 0.0
) -> tuple[str, float | None]:
    """Name the kind of disagreement between a claimed and a numeric gradient.

    The gradients agree when their ``relative_error`` is within ``tol`` or
    every entry differs by at most ``atol`` (the rounding noise of the
    central differences, which swamps the relative error of tiny gradients).

    Fits ``claimed ~ s * numeric`` by least squares. The error is a scale
    factor ``1 / s`` (a sign flip when that is -1) only if the fit leaves a
    residual within ``max(SCALE_RESIDUAL, tol)`` of ``||claimed||`` (plus the
    rounding noise ``atol``) and ``1 / s`` is a simple number (n, 1/n, or p/q
    with p, q <= 4, within ``SIMPLE_FACTOR_RTOL``); otherwise the entries
    disagree by varying ratios, which is a wrong derivative. A wrong
    derivative can keep the ratio constant to a few parts in 1e4 on a small
    array; a real scale mistake keeps it to rounding.

    Returns
    -------
    verdict : str
        One of ``VERDICTS``.
    factor : float or None
        true / claimed for a scale factor or sign flip, else None.

    Examples
    --------
    >>> g = np.array([1.0, -2.0, 3.0])
    >>> classify_error(g / 2, g), classify_error(-g, g)
    (('scale factor', 2.0), ('sign flip', -1.0))
    """
    if relative_error(claimed, numeric) <= tol or np.all(
        np.abs(claimed - numeric) <= atol
    ):
        return "ok", None
    norm_claimed = float(np.linalg.norm(claimed))
    norm_numeric = float(np.linalg.norm(numeric))
    if norm_claimed == 0.0:
        return "missing gradient", None
    if norm_numeric == 0.0:
        return "wrong derivative", None
    s = float(np.vdot(claimed, numeric)) / norm_numeric**2
    residual = float(np.linalg.norm(claimed - s * numeric))
    noise = max(SCALE_RESIDUAL, tol) * norm_claimed + atol * np.sqrt(claimed.size)
    simple = s != 0.0 and abs(s - 1.0) >= 1e-3 and _is_simple(1.0 / s)
    if residual > noise or not simple:
        return "wrong derivative", None
    factor = 1.0 / s
    if abs(factor + 1.0) < SIMPLE_FACTOR_RTOL:
        return "sign flip", -1.0
    return "scale factor", factor


def _is_simple(factor: float) -> bool:
    """Tell whether ``|factor|`` is n, 1/n or p/q with p, q <= 4.

    Within ``SIMPLE_FACTOR_RTOL``: the factors a real scale mistake leaves (a
    2 from a square, a 1/n from an average over n rows, a 2/3), not a ratio
    that a wrong derivative happens to keep nearly constant. Every factor
    above 1/SIMPLE_FACTOR_RTOL / 2 (or below its inverse) passes: that far
    from 1, a missing n or 1/n is the likely cause.
    """
    a = abs(factor)
    if a == 0.0 or not np.isfinite(a):
        return False
    n = max(1.0, round(a))
    candidates = [n, 1.0 / max(1.0, round(1.0 / a))]
    candidates += [p / q for p in range(1, 5) for q in range(1, 5)]
    return any(abs(a - c) <= SIMPLE_FACTOR_RTOL * a for c in candidates)


_ADVICE = {
    "scale factor": (
        "the claimed gradient is off by a constant factor {label}: multiply it by "
        "{label}. A factor 2 is usually the derivative of a square, d(p - y)^2/dp = "
        "2 (p - y); a factor 1/n a loss that averages over n rows while the "
        "gradient sums them (or the reverse)."
    ),
    "sign flip": (
        "the claimed gradient points uphill: it is the negative gradient (a "
        "descent direction, as in code that adds its 'gradient' to the weights). "
        "Return its negation, and subtract the gradient when you update."
    ),
    "missing gradient": (
        "the claimed gradient is exactly zero but the loss depends on this array: "
        "is the array used in the loss but left out of backpropagation?"
    ),
    "wrong derivative": (
        "entries disagree by varying ratios, so this is no constant factor: a "
        "derivative is taken at the wrong point or a term is missing. Look at the "
        "backward step that produces this array: a classic is an activation's "
        "derivative applied to the layer's output when it expects the input, "
        "s'(s(z)) instead of s'(z) = s(z)(1 - s(z))."
    ),
}


def _summary(checks: Sequence[ArrayCheck], tol: float) -> str:
    """Where to look, from the pattern of passing and failing arrays."""
    failed = [c for c in checks if c.verdict != "ok"]
    if not failed:
        return f"all {len(checks)} arrays match central differences (tolerance {tol:g})"
    names = ", ".join(c.name for c in failed)
    if len(failed) < len(checks):
        ok = ", ".join(c.name for c in checks if c.verdict == "ok")
        where = (
            f"{ok} pass, so the code they share is right; the mistake is in "
            "the backward steps that only the failing arrays go through"
        )
    elif len({(c.verdict, c.factor_label) for c in failed}) == 1:
        where = (
            "every array fails the same way, so look first at what they all "
            "share: the loss's derivative and the first backward step"
        )
    else:
        where = "every array fails: start from the backward step nearest the loss"
    return f"gradient check FAILED for {names} (tolerance {tol:g}): {where}"


def _as_named(params: Mapping[str, Any] | Sequence[Any], what: str) -> dict[str, Array]:
    """Copy a dict or list of arrays to float64, keyed by name (list: '0', '1', ...)."""
    if isinstance(params, Mapping):
        items = list(params.items())
    elif isinstance(params, Sequence) and not isinstance(params, str):
        items = [(str(i), a) for i, a in enumerate(params)]
    else:
        raise TypeError(
            f"{what} must be a dict or a list of arrays; got {type(params).__name__}"
        )
    return {str(k): np.array(v, dtype=np.float64) for k, v in items}


def check_gradients(
    loss_fn: Callable[[Any], float],
    grad_fn: Callable[[Any], Any],
    params: Mapping[str, Any] | Sequence[Any],
    *,
    eps: float = 1e-6,
    tol: float = 1e-6,
) -> GradientReport:
    """Check anyone's gradient code against central differences of their loss.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params) -> float``: the loss at ``params``, a dict or list of
        NumPy arrays of any shapes (no member axis).
    grad_fn : callable
        ``grad_fn(params)`` returns the claimed gradients in the same structure
        (same keys or same order) and shapes as ``params``.
    params : dict or list of arrays
        The point to check at; it is copied, never modified.
    eps : float
        The central-difference step.
    tol : float
        The relative error (``relative_error``) an array may have and pass.
        An array also passes when no entry differs by more than the rounding
        noise of central differences, ``100 * machine epsilon * max(1, |loss|)
        / eps`` (about 2e-8 for a loss near 1 and the default eps): such
        gradients are too small to check at this step.

    Returns
    -------
    GradientReport
        Per array the relative error, the verdict (ok, scale factor, sign
        flip, missing gradient, wrong derivative), the worst entries and
        advice; ``.passed``, ``.summary`` and ``.text()``.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> loss = lambda p: float(np.sum((p["w"] * x - 1.0) ** 2))
    >>> halved = lambda p: {"w": (p["w"] * x - 1.0) * x}
    >>> report = check_gradients(loss, halved, {"w": np.array([0.5, 0.5])})
    >>> report.arrays[0].verdict, report.arrays[0].factor_label
    ('scale factor', '2')
    """
    if not eps > 0 or not tol > 0:
        raise ValueError(f"eps and tol must be > 0; got {eps} and {tol}")
    work = _as_named(params, "params")
    as_given = work if isinstance(params, Mapping) else list(work.values())
    claimed = _as_named(grad_fn(as_given), "grad_fn's result")
    if list(claimed) != list(work):
        raise ValueError(
            f"grad_fn must return gradients for {list(work)}; got {list(claimed)}"
        )
    atol = (
        100.0
        * np.finfo(np.float64).eps
        * max(1.0, abs(float(_scalar_loss(loss_fn, as_given)[0])))
        / eps
    )
    checks = []
    for name, array in work.items():
        if claimed[name].shape != array.shape:
            raise ValueError(
                f"grad_fn's gradient for {name!r} has shape {claimed[name].shape}; "
                f"expected {array.shape}"
            )
        numeric = _central_differences(
            lambda: _scalar_loss(loss_fn, as_given), array[None], eps
        )[0]
        checks.append(_check_one(name, claimed[name], numeric, tol, atol))
    return GradientReport(tuple(checks), tol, _summary(checks, tol))


def _scalar_loss(loss_fn: Callable[[Any], float], params: Any) -> Array:
    """Return the user's loss as a one-member array; check that it is finite."""
    value = float(loss_fn(params))
    if not np.isfinite(value):
        raise ValueError(f"loss_fn must return a finite number; got {value}")
    return np.array([value])


def _check_one(
    name: str, claimed: Array, numeric: Array, tol: float, atol: float
) -> ArrayCheck:
    """Relative error, verdict, worst entries and advice for one array."""
    verdict, factor = classify_error(claimed, numeric, tol, atol)
    label = None if factor is None else _factor_label(factor)
    diff = np.abs(claimed - numeric).ravel()
    worst = tuple(
        (
            tuple(int(i) for i in np.unravel_index(j, claimed.shape)),
            float(claimed.flat[j]),
            float(numeric.flat[j]),
        )
        for j in np.argsort(-diff, kind="stable")[:3]
        if diff[j] > 0
    )
    advice = "" if verdict == "ok" else _ADVICE[verdict].format(label=label)
    return ArrayCheck(
        name,
        claimed.shape,
        relative_error(claimed, numeric),
        verdict,
        factor,
        label,
        worst,
        advice,
    )
