"""Optimizers as frozen dataclasses with explicit state: ``init`` / ``update``.

``update(grads, state, params)`` returns ``(updates, new_state)`` and never
modifies its inputs; ``apply_updates(params, updates)`` adds them. Gradients,
parameters and updates are tuples of arrays with a leading member axis K, so an
optimizer never needs to know what a network is. Any numeric hyperparameter is
one value or one value per member, and the learning rate may be a schedule.

SGD (with every momentum convention) comes first, then the adaptive methods
from the simplest: Adagrad, RMSprop, Adam and AdamW. ``OPTIMIZERS`` maps the
names the CLI and the estimator use to the classes. Gradient clipping and
chaining transforms live in ``transforms``.

Weight decay: ``weight_decay`` is coupled L2 in every optimizer but AdamW,
``g <- g + wd * w`` before the rule (PyTorch's ``weight_decay`` of SGD, Adam,
RMSprop and Adagrad; scikit-learn's MLP uses ``alpha / n_samples``), and
decoupled in AdamW, ``w <- w - a * wd * w`` beside the Adam step. Both act on
weight matrices only unless ``decay_biases=True`` (PyTorch decays every
parameter of a group; put biases in a group with ``weight_decay=0`` to match).
The learning rate may be 0 (every update is then exactly zero).

Momentum conventions (all in ``SGD``; g is the gradient, w the weights, a the
learning rate, mu the momentum, v the velocity starting at zero, t = 0, 1, ...
the step):

====================  ============================================  ====================
``momentum_style``    rule                                          used by
====================  ============================================  ====================
``"classical"``       v <- mu v + g;          w <- w - a v          PyTorch (dampening
                                                                    0), Optax ``sgd``
``"lr-inside"``       v <- mu v - a g;        w <- w + v            scikit-learn, Keras
``"dampened"``        v <- g at t = 0, then                         PyTorch with
                      v <- mu v + (1 - d) g;  w <- w - a v          ``dampening=d``
``"ema"``             v <- mu v + (1 - mu) g; w <- w - a v          the Code Review
                      (with ``bias_correction``: w <- w - a v /     program
                      (1 - mu^(t+1)))
====================  ============================================  ====================

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
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ._types import Array, HyperParam, Schedule
from ._validation import check_choice, check_hyper, per_member
from .schedules import learning_rate_at

__all__ = [
    "MOMENTUM_STYLES",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "AdagradState",
    "Adam",
    "AdamState",
    "AdamW",
    "RMSprop",
    "RMSpropState",
    "SGDState",
    "apply_updates",
]

MOMENTUM_STYLES = ("classical", "lr-inside", "dampened", "ema")

Arrays = tuple[Array, ...]


def apply_updates(params: Sequence[Array], updates: Sequence[Array]) -> Arrays:
    """Return ``params + updates``, array by array."""
    return tuple(p + u for p, u in zip(params, updates, strict=True))


def _with_weight_decay(
    grads: Sequence[Array],
    params: Sequence[Array],
    weight_decay: HyperParam,
    decay_biases: bool,
) -> Arrays:
    """Coupled L2: ``g + wd * w`` for weight matrices (3-D), biases only if asked."""
    if np.all(np.asarray(weight_decay) == 0):
        return tuple(grads)
    return tuple(
        g + per_member(weight_decay, p) * p if (p.ndim == 3 or decay_biases) else g
        for g, p in zip(grads, params, strict=True)
    )


def _check_fields(obj: Any, **ranges: dict[str, Any]) -> None:
    """Validate and store each named hyperparameter of a frozen ``obj``."""
    for name, bounds in ranges.items():
        value = getattr(obj, name)
        if name == "learning_rate" and callable(value):
            continue  # a schedule validates itself
        object.__setattr__(obj, name, check_hyper(name, value, **bounds))


_RATE = {"low": 0.0}
_COEFFICIENT = {"low": 0.0, "high": 1.0, "high_open": True}
_EPS = {"low": 0.0, "low_open": True}


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
        check_choice("momentum_style", self.momentum_style, MOMENTUM_STYLES)
        _check_fields(
            self,
            learning_rate=_RATE,
            momentum=_COEFFICIENT,
            dampening={"low": 0.0, "high": 1.0},
            weight_decay=_RATE,
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
        self,
        grads: Sequence[Array],
        step: int,
        params: Sequence[Array],
        velocity: Sequence[Array],
        out_params: Sequence[Array],
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

    def _one_into(
        self,
        g: Array,
        v: Array,
        p: Array,
        new_v: Array,
        new_p: Array,
        a: Array,
        mu: Array,
    ) -> None:
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
        """Apply the rule to one array: return ``(update, new velocity)``."""
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


class AdagradState(NamedTuple):
    """Adagrad's state: the update count and the sum of squared gradients."""

    step: int
    sum_of_squares: Arrays


@dataclass(frozen=True)
class Adagrad:
    """Adagrad (Duchi et al., 2011), as PyTorch's ``Adagrad`` (``lr_decay=0``).

    With g the gradient (after coupled weight decay), s the sum of squares
    starting at ``initial_accumulator_value`` and a the rate::

        s <- s + g^2
        w <- w - a g / (sqrt(s) + eps)

    No bias correction; ``eps`` is added to the root, outside it.

    Parameters
    ----------
    learning_rate : float, tuple of float, or Schedule
        The rate a (>= 0); PyTorch's ``lr_decay`` is a schedule here.
    eps : float or tuple of float
        Added to ``sqrt(s)`` (> 0).
    initial_accumulator_value : float or tuple of float
        The starting value of s (>= 0).
    weight_decay : float or tuple of float
        Coupled L2: ``g <- g + weight_decay * w``, on weight matrices only.
    decay_biases : bool
        Apply ``weight_decay`` to biases too.

    Examples
    --------
    The first step is ``-a g / |g|`` (up to eps) whatever the gradient's size:

    >>> opt = Adagrad(learning_rate=0.1)
    >>> w = (np.zeros((1, 1, 1)),)
    >>> updates, _ = opt.update((np.full((1, 1, 1), 5.0),), opt.init(w), w)
    >>> round(float(updates[0][0, 0, 0]), 9)
    -0.1
    """

    learning_rate: HyperParam | Schedule = 0.01
    eps: HyperParam = 1e-10
    initial_accumulator_value: HyperParam = 0.0
    weight_decay: HyperParam = 0.0
    decay_biases: bool = False

    def __post_init__(self) -> None:
        _check_fields(
            self,
            learning_rate=_RATE,
            eps=_EPS,
            initial_accumulator_value=_RATE,
            weight_decay=_RATE,
        )

    def init(self, params: Sequence[Array]) -> AdagradState:
        """Return step 0 and sums filled with ``initial_accumulator_value``."""
        return AdagradState(
            0,
            tuple(
                np.zeros_like(p) + per_member(self.initial_accumulator_value, p)
                for p in params
            ),
        )

    def update(
        self, grads: Sequence[Array], state: AdagradState, params: Sequence[Array]
    ) -> tuple[Arrays, AdagradState]:
        """Return ``(updates, new_state)`` for one step; inputs are not modified."""
        lr = learning_rate_at(self.learning_rate, state.step)
        grads = _with_weight_decay(grads, params, self.weight_decay, self.decay_biases)
        updates, sums = [], []
        for g, s in zip(grads, state.sum_of_squares, strict=True):
            s = s + g * g
            root = np.sqrt(s) + per_member(self.eps, g)
            updates.append(-per_member(lr, g) * g / root)
            sums.append(s)
        return tuple(updates), AdagradState(state.step + 1, tuple(sums))


class RMSpropState(NamedTuple):
    """RMSprop's state: update count, averages and momentum buffers per array.

    ``mean`` (the average gradient) is ``()`` unless ``centered``.
    """

    step: int
    square_mean: Arrays
    mean: Arrays
    momentum_buffer: Arrays


@dataclass(frozen=True)
class RMSprop:
    """RMSprop (Hinton's lecture 6e), exactly as PyTorch's ``RMSprop``.

    With g the gradient (after coupled weight decay), every average starting
    at zero, alpha the decay, mu the momentum and a the rate::

        v <- alpha v + (1 - alpha) g^2
        m <- alpha m + (1 - alpha) g              (centered only)
        d = sqrt(v) + eps, or sqrt(v - m^2) + eps when centered
        b <- mu b + g / d
        w <- w - a b

    No bias correction; ``eps`` is added to the root, outside it. With mu = 0
    the step is ``-a g / d``, PyTorch's rule without momentum.

    Parameters
    ----------
    learning_rate : float, tuple of float, or Schedule
        The rate a (>= 0).
    alpha : float or tuple of float
        Decay of the squared-gradient average, in [0, 1) (Keras's ``rho``).
    eps : float or tuple of float
        Added to the root (> 0).
    momentum : float or tuple of float
        mu, in [0, 1).
    centered : bool
        Divide by an estimate of the gradient's standard deviation instead of
        its root mean square.
    weight_decay : float or tuple of float
        Coupled L2: ``g <- g + weight_decay * w``, on weight matrices only.
    decay_biases : bool
        Apply ``weight_decay`` to biases too.

    Examples
    --------
    >>> opt = RMSprop(learning_rate=0.01, alpha=0.99)
    >>> w = (np.zeros((1, 1, 1)),)
    >>> updates, _ = opt.update((np.ones((1, 1, 1)),), opt.init(w), w)
    >>> round(float(updates[0][0, 0, 0]), 6)  # -0.01 / sqrt(0.01)
    -0.1
    """

    learning_rate: HyperParam | Schedule = 0.01
    alpha: HyperParam = 0.99
    eps: HyperParam = 1e-8
    momentum: HyperParam = 0.0
    centered: bool = False
    weight_decay: HyperParam = 0.0
    decay_biases: bool = False

    def __post_init__(self) -> None:
        _check_fields(
            self,
            learning_rate=_RATE,
            alpha=_COEFFICIENT,
            eps=_EPS,
            momentum=_COEFFICIENT,
            weight_decay=_RATE,
        )

    def init(self, params: Sequence[Array]) -> RMSpropState:
        """Return step 0 and zero averages and buffers shaped like ``params``."""
        zeros = tuple(np.zeros_like(p) for p in params)
        return RMSpropState(0, zeros, zeros if self.centered else (), zeros)

    def update(
        self, grads: Sequence[Array], state: RMSpropState, params: Sequence[Array]
    ) -> tuple[Arrays, RMSpropState]:
        """Return ``(updates, new_state)`` for one step; inputs are not modified."""
        lr = learning_rate_at(self.learning_rate, state.step)
        grads = _with_weight_decay(grads, params, self.weight_decay, self.decay_biases)
        means = state.mean if self.centered else (None,) * len(grads)
        updates, squares, new_means, buffers = [], [], [], []
        for g, v, m, b in zip(
            grads, state.square_mean, means, state.momentum_buffer, strict=True
        ):
            alpha = per_member(self.alpha, g)
            v = alpha * v + (1.0 - alpha) * g * g
            if m is not None:
                m = alpha * m + (1.0 - alpha) * g
                new_means.append(m)
                v_centered = v - m * m
            d = np.sqrt(v_centered if m is not None else v) + per_member(self.eps, g)
            b = per_member(self.momentum, g) * b + g / d
            updates.append(-per_member(lr, g) * b)
            squares.append(v)
            buffers.append(b)
        new_state = RMSpropState(
            state.step + 1, tuple(squares), tuple(new_means), tuple(buffers)
        )
        return tuple(updates), new_state


class AdamState(NamedTuple):
    """Adam's state: the update count and the moment averages per array.

    ``max_square_mean`` (AMSGrad's running maximum) is ``()`` unless ``amsgrad``.
    """

    step: int
    mean: Arrays
    square_mean: Arrays
    max_square_mean: Arrays


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma and Ba, 2015) with AMSGrad, exactly as PyTorch's ``Adam``.

    With g the gradient (after coupled weight decay), m and v starting at
    zero, t = 1, 2, ... the update number (``state.step + 1``) and a the rate::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)             (AMSGrad only; then v_max replaces v)
        w <- w - a / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Both averages are bias-corrected, and ``eps`` is added to the
    bias-corrected root ``sqrt(v / (1 - beta2^t))``, not inside the root and
    not to the uncorrected one (Kingma and Ba's algorithm, PyTorch, Optax).
    AMSGrad keeps the maximum of the uncorrected v, as PyTorch does.

    Parameters
    ----------
    learning_rate : float, tuple of float, or Schedule
        The rate a (>= 0).
    beta1, beta2 : float or tuple of float
        Decays of the gradient and squared-gradient averages, in [0, 1).
    eps : float or tuple of float
        Added to the bias-corrected root (> 0).
    amsgrad : bool
        Use the running maximum of v (Reddi et al., 2018).
    weight_decay : float or tuple of float
        Coupled L2: ``g <- g + weight_decay * w`` before the averages, on
        weight matrices only (``AdamW`` decouples it).
    decay_biases : bool
        Apply ``weight_decay`` to biases too.

    Examples
    --------
    The first step is ``-a g / (|g| + eps)``:

    >>> opt = Adam(learning_rate=1e-3)
    >>> w = (np.zeros((1, 1, 1)),)
    >>> updates, _ = opt.update((np.full((1, 1, 1), 1e-8),), opt.init(w), w)
    >>> float(updates[0][0, 0, 0])
    -0.0005
    """

    learning_rate: HyperParam | Schedule = 0.001
    beta1: HyperParam = 0.9
    beta2: HyperParam = 0.999
    eps: HyperParam = 1e-8
    amsgrad: bool = False
    weight_decay: HyperParam = 0.0
    decay_biases: bool = False

    _decoupled: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_fields(
            self,
            learning_rate=_RATE,
            beta1=_COEFFICIENT,
            beta2=_COEFFICIENT,
            eps=_EPS,
            weight_decay=_RATE,
        )

    def init(self, params: Sequence[Array]) -> AdamState:
        """Return step 0 and zero averages shaped like ``params``."""
        zeros = tuple(np.zeros_like(p) for p in params)
        return AdamState(0, zeros, zeros, zeros if self.amsgrad else ())

    def update(
        self, grads: Sequence[Array], state: AdamState, params: Sequence[Array]
    ) -> tuple[Arrays, AdamState]:
        """Return ``(updates, new_state)`` for one step; inputs are not modified."""
        lr = learning_rate_at(self.learning_rate, state.step)
        if not self._decoupled:
            grads = _with_weight_decay(
                grads, params, self.weight_decay, self.decay_biases
            )
        t = state.step + 1
        maxima = state.max_square_mean if self.amsgrad else (None,) * len(grads)
        updates, means, squares, new_maxima = [], [], [], []
        for g, m, v, v_max in zip(
            grads, state.mean, state.square_mean, maxima, strict=True
        ):
            beta1, beta2 = per_member(self.beta1, g), per_member(self.beta2, g)
            m = beta1 * m + (1.0 - beta1) * g
            v = beta2 * v + (1.0 - beta2) * g * g
            if v_max is not None:
                v_max = np.maximum(v_max, v)
                new_maxima.append(v_max)
            root = np.sqrt(v if v_max is None else v_max) / np.sqrt(1.0 - beta2**t)
            step_size = per_member(lr, g) / (1.0 - beta1**t)
            updates.append(-step_size * m / (root + per_member(self.eps, g)))
            means.append(m)
            squares.append(v)
        if self._decoupled:
            updates = _decoupled_decay(updates, params, lr, self)
        new_state = AdamState(t, tuple(means), tuple(squares), tuple(new_maxima))
        return tuple(updates), new_state


def _decoupled_decay(
    updates: Sequence[Array], params: Sequence[Array], lr: Any, opt: Any
) -> list[Array]:
    """Add ``-lr * weight_decay * w`` to weight matrices (biases only if asked)."""
    return [
        u - per_member(lr, p) * per_member(opt.weight_decay, p) * p
        if (p.ndim == 3 or opt.decay_biases)
        else u
        for u, p in zip(updates, params, strict=True)
    ]


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch's ``AdamW``.

    The Adam step of ``Adam``'s docstring on the raw gradient (no L2 term in
    it), plus a decay of the weights scaled by the rate but not by the
    adaptive denominator::

        w <- w - a * weight_decay * w - (Adam's step)

    PyTorch's rule (``w <- w (1 - a wd)`` before the step; Loshchilov and
    Hutter's paper scales the decay by a schedule multiplier instead of a).
    On weight matrices only unless ``decay_biases``; PyTorch decays every
    parameter of a group, so biases go in a group with ``weight_decay=0`` to
    match the default here. Same parameters as ``Adam``; ``weight_decay``
    defaults to PyTorch's 0.01.

    Examples
    --------
    With a zero gradient only the decay moves the weight:

    >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> w = (np.ones((1, 1, 1)),)
    >>> updates, _ = opt.update((np.zeros((1, 1, 1)),), opt.init(w), w)
    >>> float(updates[0][0, 0, 0])
    -0.05
    """

    weight_decay: HyperParam = 0.01

    _decoupled: ClassVar[bool] = True


OPTIMIZERS: dict[str, type] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}
