"""Optimizers as frozen dataclasses with explicit state: ``init`` / ``update``.

``update(grads, state, params)`` returns ``(updates, new_state)`` and never
modifies its inputs; ``apply_updates(params, updates)`` adds them. Gradients,
parameters and updates are tuples of arrays with a leading member axis K, so an
optimizer never needs to know what a network is. Any numeric hyperparameter is
one value or one value per member, and the learning rate may be a schedule.

Momentum conventions (all in ``SGD``; g is the gradient, w the weights, a the
learning rate, mu the momentum, v the velocity starting at zero, t = 0, 1, ...
the step):

======================  ================================================  ====================
``momentum_style``      rule                                              used by
======================  ================================================  ====================
``"classical"``         v <- mu v + g;          w <- w - a v              PyTorch (dampening
                                                                          0), Optax ``sgd``
``"lr-inside"``         v <- mu v - a g;        w <- w + v                scikit-learn, Keras
``"dampened"``          v <- g at t = 0, then                             PyTorch with
                        v <- mu v + (1 - d) g;  w <- w - a v              ``dampening=d``
``"ema"``               v <- mu v + (1 - mu) g; w <- w - a v              the Code Review
                        (with ``bias_correction``: w <- w - a v /         program
                        (1 - mu^(t+1)))
======================  ================================================  ====================

With ``nesterov=True`` the step uses the look-ahead velocity instead of v:
``g + mu v`` (classical, dampened), ``mu v - a g`` (lr-inside, as
scikit-learn's ``nesterovs_momentum``), ``(1 - mu) g + mu v`` (ema).

Equivalences (tested): while the rate is constant, ``lr-inside`` equals
``classical``; ``ema`` with rate a and coefficient b equals ``classical`` with
rate ``a (1 - b)`` and momentum b, which is why the original program's EMA
momentum never enlarges the step the way classical momentum (effective rate
``a / (1 - mu)``) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._types import Array, HyperParam, Schedule
from ._validation import check_choice, check_hyper, per_member
from .schedules import learning_rate_at

__all__ = ["MOMENTUM_STYLES", "SGD", "SGDState", "apply_updates"]

MOMENTUM_STYLES = ("classical", "lr-inside", "dampened", "ema")

Arrays = tuple[Array, ...]


def apply_updates(params: Sequence[Array], updates: Sequence[Array]) -> Arrays:
    """Return ``params + updates``, array by array."""
    return tuple(p + u for p, u in zip(params, updates, strict=True))


def _with_weight_decay(
    grads: Sequence[Array], params: Sequence[Array], weight_decay: HyperParam,
    decay_biases: bool,
) -> Arrays:
    """Coupled L2: ``g + wd * w`` for weight matrices (3-D), biases only if asked."""
    if np.all(np.asarray(weight_decay) == 0):
        return tuple(grads)
    return tuple(
        g + per_member(weight_decay, p) * p if (p.ndim == 3 or decay_biases) else g
        for g, p in zip(grads, params, strict=True)
    )


class SGDState(NamedTuple):
    """SGD's state: the update count and one velocity per parameter array."""

    step: int
    velocity: Arrays


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with every momentum convention in use.

    Parameters
    ----------
    learning_rate : float, tuple of float, or Schedule
        The rate a: one value, one per member, or a schedule of the step.
    momentum : float or tuple of float
        mu (or the EMA coefficient b), in [0, 1); ``"ema"`` accepts no 1.
    momentum_style : {"classical", "lr-inside", "dampened", "ema"}
        Where the rate and the gradient enter the velocity (module docstring).
    dampening : float or tuple of float
        d for ``"dampened"``: the gradient's weight ``1 - d`` after step 0.
    nesterov : bool
        Use the look-ahead velocity for the step.
    weight_decay : float or tuple of float
        Coupled L2: the gradient becomes ``g + weight_decay * w`` before any
        momentum (as PyTorch's SGD does), on weight matrices only.
    decay_biases : bool
        Apply ``weight_decay`` to biases too (PyTorch's default does).
    bias_correction : bool
        For ``"ema"``: divide v by ``1 - mu^(t+1)``, as Adam does.

    Examples
    --------
    One classical step from x = 1 on f(x) = x (gradient 1):

    >>> opt = SGD(learning_rate=0.1, momentum=0.9)
    >>> x = (np.ones((1, 1, 1)),)
    >>> state = opt.init(x)
    >>> updates, state = opt.update((np.ones((1, 1, 1)),), state, x)
    >>> float(apply_updates(x, updates)[0][0, 0, 0])
    0.9
    """

    learning_rate: HyperParam | Schedule = 0.01
    momentum: HyperParam = 0.0
    momentum_style: str = "classical"
    dampening: HyperParam = 0.0
    nesterov: bool = False
    weight_decay: HyperParam = 0.0
    decay_biases: bool = False
    bias_correction: bool = False

    def __post_init__(self) -> None:
        if not callable(self.learning_rate):
            object.__setattr__(
                self, "learning_rate",
                check_hyper("learning_rate", self.learning_rate, low=0.0, low_open=True),
            )
        check_choice("momentum_style", self.momentum_style, MOMENTUM_STYLES)
        object.__setattr__(
            self, "momentum",
            check_hyper("momentum", self.momentum, low=0.0, high=1.0, high_open=True),
        )
        object.__setattr__(
            self, "dampening", check_hyper("dampening", self.dampening, low=0.0, high=1.0)
        )
        object.__setattr__(
            self, "weight_decay", check_hyper("weight_decay", self.weight_decay, low=0.0)
        )

    def init(self, params: Sequence[Array]) -> SGDState:
        """Return step 0 and zero velocities shaped like ``params``."""
        return SGDState(0, tuple(np.zeros_like(p) for p in params))

    def update(
        self, grads: Sequence[Array], state: SGDState, params: Sequence[Array]
    ) -> tuple[Arrays, SGDState]:
        """Return ``(updates, new_state)`` for one step; inputs are not modified."""
        lr = learning_rate_at(self.learning_rate, state.step)
        grads = _with_weight_decay(grads, params, self.weight_decay, self.decay_biases)
        updates, velocities = [], []
        for g, v in zip(grads, state.velocity, strict=True):
            step, v = self._one(g, v, lr, state.step)
            updates.append(step)
            velocities.append(v)
        return tuple(updates), SGDState(state.step + 1, tuple(velocities))

    @property
    def elementwise(self) -> bool:
        """True when every entry follows the same rule (``update_into`` applies).

        That is the classical and lr-inside styles without weight decay: the
        step of an entry then depends on nothing but its own gradient,
        velocity and member, so the parameters may be updated as one array.
        """
        return self.momentum_style in ("classical", "lr-inside") and bool(
            np.all(np.asarray(self.weight_decay) == 0)
        )

    def update_into(
        self, grads: Sequence[Array], step: int, params: Sequence[Array],
        velocity: Sequence[Array], out_params: Sequence[Array],
        out_velocity: Sequence[Array],
    ) -> None:
        """``update`` and ``apply_updates`` fused, written into buffers.

        For an ``elementwise`` SGD at step ``step`` with velocities
        ``velocity``: writes ``apply_updates(params, updates)`` into
        ``out_params`` and the new velocities into ``out_velocity`` (arrays
        shaped like ``params``, none of them an input), with the same bits as
        ``update``, in four in-place passes per array and no temporaries.
        ``grads`` are overwritten (used as scratch). ``fit`` runs on this
        (the caller checks ``elementwise`` once; it is not checked per step).
        """
        lr = learning_rate_at(self.learning_rate, step)
        rates: dict[int, tuple[Array, Array]] = {}  # per ndim: (a, mu) broadcastable
        for g, v, p, new_v, new_p in zip(
            grads, velocity, params, out_velocity, out_params, strict=True
        ):
            if g.ndim not in rates:
                rates[g.ndim] = (per_member(lr, g), per_member(self.momentum, g))
            self._one_into(g, v, p, new_v, new_p, *rates[g.ndim])

    def _one_into(self, g: Array, v: Array, p: Array, new_v: Array, new_p: Array,
                  a: Array, mu: Array) -> None:
        """Apply ``_one`` and the add in place (classical and lr-inside rules)."""
        np.multiply(v, mu, out=new_v)
        if self.momentum_style == "classical":  # v <- mu v + g; w <- w - a v
            new_v += g
            direction = new_v
            if self.nesterov:  # w <- w - a (g + mu v)
                direction = np.multiply(new_v, mu, out=new_p)
                direction += g
            np.multiply(direction, a, out=g)
            np.subtract(p, g, out=new_p)
        else:  # lr-inside: v <- mu v - a g; w <- w + v
            g *= a
            new_v -= g
            if self.nesterov:  # w <- w + mu v - a g
                np.multiply(new_v, mu, out=new_p)
                new_p -= g
                new_p += p
            else:
                np.add(p, new_v, out=new_p)

    def _one(self, g: Array, v: Array, lr: Any, t: int) -> tuple[Array, Array]:
        """The rule for one array: return ``(update, new velocity)``."""
        a = per_member(lr, g)
        mu = per_member(self.momentum, g)
        style = self.momentum_style
        if style == "lr-inside":
            v = mu * v - a * g
            return (mu * v - a * g if self.nesterov else v), v
        if style == "classical" or (style == "dampened" and t == 0):
            v = mu * v + g
        elif style == "dampened":
            v = mu * v + (1.0 - per_member(self.dampening, g)) * g
        else:  # ema
            v = mu * v + (1.0 - mu) * g
            direction = (1.0 - mu) * g + mu * v if self.nesterov else v
            if self.bias_correction:
                direction = direction / (1.0 - mu ** (t + 1))
            return -a * direction, v
        return -a * (g + mu * v if self.nesterov else v), v
