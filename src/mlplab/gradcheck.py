"""Central-difference checks of backpropagated gradients.

``gradient_check`` compares, array by array, the gradient that ``backward``
computes with ``(L(w + eps) - L(w - eps)) / (2 eps)`` for every entry. All
members are perturbed at once: members are independent, so member k's loss
difference is member k's partial derivative.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._types import Array
from ._validation import lookup
from .losses import LOSSES
from .network import MLPConfig, Params, backward, forward, init_params, param_arrays, param_names
from .training import prepare_targets

__all__ = ["GradCheckRow", "gradient_check", "relative_error"]


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


def relative_error(analytic: Array, numeric: Array) -> float:
    """``||a - n|| / max(||a|| + ||n||, 1e-12)``, norms over the whole array."""
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
    eps: float = 1e-5,
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
        The central-difference step. 1e-5 balances truncation error (~eps^2)
        against rounding in the loss (~1e-16 / eps) for losses of order one.

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
    params = tuple(
        type(layer)(*(None if a is None else np.array(a, np.float64) for a in layer))
        for layer in params
    )
    x = np.asarray(x, np.float64)
    y = prepare_targets(np.asarray(y, np.float64), config.n_outputs)
    out, caches = forward(params, config, x)
    analytic = param_arrays(backward(params, config, caches, loss_fn.grad(out, y)))

    def member_losses() -> Array:
        return loss_fn.value(forward(params, config, x)[0], y)  # type: ignore[no-any-return]

    rows = []
    for name, array, grad in zip(param_names(params), param_arrays(params), analytic, strict=True):
        numeric = _central_differences(member_losses, array, eps)
        diff = np.abs(grad - numeric)
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        rows.append(
            GradCheckRow(name, relative_error(grad, numeric), float(diff[worst]),
                         tuple(int(i) for i in worst))
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
