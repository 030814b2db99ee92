"""What a diagnosis measures on a network: the run record and layer health.

``_Run`` trains a configuration through ``fit`` in chunks, keeping per-layer
gradient norms and their ratio to the weight norms at checkpoints, or
(``_Run.at_weights``) records a saved model's weights and loss history with
no training; ``layer_health`` gives each layer's fractions of saturated
sigmoid/tanh and dead ReLU units; ``_member`` and ``_value`` pick one
member's weights or hyperparameter. Judging these numbers is left to
``_diagnosis_findings``, the gradients themselves to ``stability``.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._types import Array
from .losses import LOSSES
from .network import Dense, MLPConfig, Params, forward, init_params, param_names
from .stability import loss_gradient
from .training import DivergenceWarning, fit

SATURATION_TOL = 1e-3  # a sigmoid/tanh output this close to a bound is saturated
_BOUNDS = {
    "sigmoid": (0.0, 1.0),
    "sigmoid_wrong_derivative": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
}


def layer_health(params: Params, config: MLPConfig, x: Array) -> list[dict[str, Any]]:
    """Per layer: the fractions of saturated and of dead units, per member.

    A sigmoid or tanh unit is saturated when its output is within
    ``SATURATION_TOL`` of a bound on every row; a ReLU unit is dead when its
    input is <= 0 on every row (it then passes no gradient at all).
    """
    rows = []
    a = np.asarray(x, config.np_dtype)
    for i, layer in enumerate(params):
        z = np.matmul(a, layer.w) + (0.0 if layer.b is None else layer.b[:, None, :])
        act = config.layer_activation(i)
        a = act.forward(z)
        saturated = dead = np.zeros(layer.w.shape[0])
        if act.name in _BOUNDS:
            low, high = _BOUNDS[act.name]
            near = np.minimum(a - low, high - a) < SATURATION_TOL
            saturated = np.mean(np.all(near, axis=1), axis=-1)
        if act.name == "relu":
            dead = np.mean(np.all(z <= 0, axis=1), axis=-1)
        rows.append(
            {
                "layer": i,
                "activation": act.name,
                "units": int(layer.w.shape[-1]),
                "saturated": saturated,
                "dead": dead,
            }
        )
    return rows


class _Run:
    """A training run with per-layer weight and gradient norms at checkpoints."""

    def __init__(
        self,
        config: MLPConfig,
        x: Array,
        y: Array,
        loss: str,
        optimizer: Any,
        n_epochs: int,
        seeds: Sequence[int],
        batch_size: int | None,
        params: Params | None,
        n_checkpoints: int = 20,
    ) -> None:
        self.initial = init_params(config, seeds) if params is None else params
        bounds = np.unique(np.linspace(0, n_epochs, n_checkpoints + 1).astype(int))
        self.epochs: list[int] = [0]
        ratios: list[Array] = []
        norms: list[Array] = []
        losses: list[Array] = []
        self.diverged = np.full(len(seeds), -1)
        state, current = None, self.initial
        ratios.append(self._norms(current, config, x, y, loss, norms))
        for start, stop in itertools.pairwise(bounds):
            with warnings.catch_warnings():  # divergence is reported as a finding
                warnings.simplefilter("ignore", DivergenceWarning)
                result = fit(
                    config,
                    x,
                    y,
                    loss=loss,
                    optimizer=optimizer,
                    n_epochs=int(stop - start),
                    seeds=seeds,
                    batch_size=batch_size,
                    params=current if state is None else None,
                    state=state,
                )
            state, current = result.state, result.params
            losses.append(result.history.loss)
            new = result.history.diverged_epoch
            self.diverged = np.where(self.diverged < 0, new, self.diverged)
            self.epochs.append(int(stop))
            ratios.append(self._norms(current, config, x, y, loss, norms))
        self.params = current
        self.loss = np.concatenate(losses)  # (n_epochs, K)
        self.grad_ratio = np.array(ratios)  # (n_checkpoints + 1, n_layers, K)
        self.grad_norm = np.array(norms)
        self.step = max(0, len(self.loss) - 1)  # the step whose rate is in force

    @classmethod
    def at_weights(
        cls,
        config: MLPConfig,
        x: Array,
        y: Array,
        loss: str,
        params: Params,
        past_loss: Array,
        step: int,
        diverged_epoch: int = -1,
    ) -> _Run:
        """Build a finished run: saved weights, their recorded losses, no training.

        ``step`` is the optimizer's step count (the schedule position);
        ``diverged_epoch`` the epoch the history records for a divergence.
        """
        run = cls.__new__(cls)
        run.initial = run.params = params
        norms: list[Array] = []
        run.grad_ratio = np.array([cls._norms(params, config, x, y, loss, norms)])
        run.grad_norm = np.array(norms)
        config64 = dataclasses.replace(config, dtype="float64")
        now = LOSSES[loss].value(forward(params, config64, x)[0], y)  # (K,)
        run.loss = np.concatenate([np.reshape(past_loss, (-1, 1)), now[None, :]])
        n_epochs = len(past_loss)
        run.epochs = [n_epochs]
        run.diverged = np.where(
            diverged_epoch >= 0,
            diverged_epoch,
            np.where(np.isfinite(now), -1, n_epochs),
        )
        run.step = step
        return run

    @staticmethod
    def _norms(
        params: Params,
        config: MLPConfig,
        x: Array,
        y: Array,
        loss: str,
        norms: list[Array],
    ) -> Array:
        """Return per-layer gradient/weight norm ratios; append the gradient norms."""
        with np.errstate(over="ignore", invalid="ignore"):
            grads = loss_gradient(params, config, x, y, loss)
        by_name = dict(zip(param_names(params), grads, strict=True))
        g = np.array(
            [_member_norm(by_name[f"layers.{i}.weight"]) for i in range(len(params))]
        )
        w = np.array([_member_norm(layer.w) for layer in params])
        norms.append(g)
        ratio: Array = g / np.maximum(w, 1e-300)
        return ratio


def _member_norm(a: Array) -> Array:
    """Euclidean norm of each member's entries, shape ``(K,)``."""
    with np.errstate(over="ignore"):  # a diverged run's norm is honestly inf
        norm: Array = np.sqrt(np.sum(np.square(a.reshape(a.shape[0], -1)), axis=1))
    return norm


def _member(params: Params, k: int) -> Params:
    """Member k alone, as a one-member ``Params``, in float64."""
    return tuple(
        Dense(
            np.asarray(w[k : k + 1], np.float64),
            None if b is None else np.asarray(b[k : k + 1], np.float64),
        )
        for w, b in params
    )


def _value(hyper: Any, k: int = 0) -> float:
    """Member k's value of a scalar-or-per-member hyperparameter."""
    arr = np.ravel(np.asarray(hyper, np.float64))
    return float(arr[k] if arr.size > 1 else arr[0])
