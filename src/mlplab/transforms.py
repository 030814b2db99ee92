"""Gradient transforms (clipping) and ``chain``, which composes them with an optimizer.

A transform has the optimizer interface: ``init(params) -> state`` and
``update(grads, state, params) -> (new_grads, new_state)``; an optimizer is
simply the transform whose output is the step to add. ``chain(t1, ..., opt)``
feeds each output into the next, as optax's ``chain`` does, and is itself an
optimizer. Clipping is per member: member k's gradients are clipped by member
k's norm and threshold alone.

``learning_rate_of`` and ``with_learning_rate`` read and replace the rate of
an optimizer or of the optimizer inside a chain. ``optimizer_config`` and
``optimizer_from_config`` turn any optimizer, chain or schedule into a
JSON-able dict and back, resolving names only through the registries
(``OPTIMIZERS``, ``TRANSFORMS``, ``SCHEDULES``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._types import Array, HyperParam
from ._validation import check_hyper, lookup, per_member
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES, learning_rate_at

__all__ = [
    "TRANSFORMS",
    "Chain",
    "ChainState",
    "ClipByGlobalNorm",
    "ClipByValue",
    "EmptyState",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "learning_rate_of",
    "optimizer_config",
    "optimizer_from_config",
    "with_learning_rate",
]

Arrays = tuple[Array, ...]


class EmptyState(NamedTuple):
    """The state of a transform that keeps none."""


@dataclass(frozen=True)
class ClipByGlobalNorm:
    """Scale each member's gradients so that their joint norm is at most ``max_norm``.

    With ``n_k = sqrt(sum of g^2 over every array of member k)``::

        g <- g * min(1, max_norm / (n_k + 1e-6))

    PyTorch's ``clip_grad_norm_`` rule, 1e-6 included (so the clipped norm is
    slightly below ``max_norm``, and a zero gradient stays zero).

    Examples
    --------
    >>> g = (np.array([[[3.0, 4.0]]]),)
    >>> clipped, _ = ClipByGlobalNorm(1.0).update(g, EmptyState(), g)
    >>> np.round(clipped[0], 6)
    array([[[0.6, 0.8]]])
    """

    max_norm: HyperParam = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "max_norm",
            check_hyper("max_norm", self.max_norm, low=0.0, low_open=True),
        )

    def init(self, params: Sequence[Array]) -> EmptyState:
        """Return the empty state."""
        return EmptyState()

    def update(
        self, grads: Sequence[Array], state: EmptyState, params: Sequence[Array]
    ) -> tuple[Arrays, EmptyState]:
        """Return the clipped gradients (new arrays) and the unchanged state."""
        squares = sum(np.sum(g.reshape(g.shape[0], -1) ** 2, axis=1) for g in grads)
        norm = np.sqrt(squares)  # (n_members,)
        scale = np.minimum(1.0, per_member(self.max_norm, norm) / (norm + 1e-6))
        return tuple(g * per_member(scale, g) for g in grads), state


@dataclass(frozen=True)
class ClipByValue:
    """Clip every gradient entry to ``[-max_value, max_value]``.

    PyTorch's ``clip_grad_value_``.

    Examples
    --------
    >>> g = (np.array([[[-3.0, 0.5]]]),)
    >>> ClipByValue(1.0).update(g, EmptyState(), g)[0][0]
    array([[[-1. ,  0.5]]])
    """

    max_value: HyperParam = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "max_value",
            check_hyper("max_value", self.max_value, low=0.0, low_open=True),
        )

    def init(self, params: Sequence[Array]) -> EmptyState:
        """Return the empty state."""
        return EmptyState()

    def update(
        self, grads: Sequence[Array], state: EmptyState, params: Sequence[Array]
    ) -> tuple[Arrays, EmptyState]:
        """Return the clipped gradients (new arrays) and the unchanged state."""
        clipped = []
        for g in grads:
            c = per_member(self.max_value, g)
            clipped.append(np.clip(g, -c, c))
        return tuple(clipped), state


class ChainState(NamedTuple):
    """A chain's state: one state per transform, in order."""

    states: tuple[Any, ...]

    @property
    def step(self) -> int:
        """The update count of the first transform that keeps one (else 0)."""
        return next((s.step for s in self.states if hasattr(s, "step")), 0)


@dataclass(frozen=True)
class Chain:
    """Apply transforms in order; the last is usually an optimizer.

    ``Chain((ClipByGlobalNorm(1.0), Adam()))`` clips the raw gradients, then
    Adam (with its coupled weight decay, if any) steps on the clipped ones,
    which is the order of ``clip_grad_norm_`` before ``optimizer.step()``.

    Examples
    --------
    >>> from mlplab.optimizers import SGD
    >>> opt = chain(clip_by_value(0.5), SGD(learning_rate=0.1))
    >>> w = (np.zeros((1, 1, 2)),)
    >>> updates, state = opt.update((np.array([[[2.0, -0.1]]]),), opt.init(w), w)
    >>> updates[0]
    array([[[-0.05,  0.01]]])
    """

    transforms: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        transforms = tuple(self.transforms)
        if not transforms:
            raise ValueError("a chain needs at least one transform; got none")
        for t in transforms:
            if not (hasattr(t, "init") and hasattr(t, "update")):
                raise TypeError(
                    "every chained transform needs init and update methods; "
                    f"got {type(t).__name__}"
                )
        object.__setattr__(self, "transforms", transforms)

    def init(self, params: Sequence[Array]) -> ChainState:
        """Return each transform's initial state."""
        return ChainState(tuple(t.init(params) for t in self.transforms))

    def update(
        self, grads: Sequence[Array], state: ChainState, params: Sequence[Array]
    ) -> tuple[Arrays, ChainState]:
        """Feed ``grads`` through every transform; return the result and new state."""
        out, states = tuple(grads), []
        for t, s in zip(self.transforms, state.states, strict=True):
            out, s = t.update(out, s, params)
            states.append(s)
        return out, ChainState(tuple(states))


def chain(*transforms: Any) -> Chain:
    """Return ``Chain(transforms)``: the transforms applied in the given order."""
    return Chain(transforms)


def clip_by_global_norm(max_norm: HyperParam) -> ClipByGlobalNorm:
    """Return ``ClipByGlobalNorm(max_norm)`` (optax's spelling)."""
    return ClipByGlobalNorm(max_norm)


def clip_by_value(max_value: HyperParam) -> ClipByValue:
    """Return ``ClipByValue(max_value)`` (optax's spelling)."""
    return ClipByValue(max_value)


def _rated(optimizer: Any) -> tuple[int, Any]:
    """Return the index in a chain (-1 if not a chain) and the object with a rate."""
    if isinstance(optimizer, Chain):
        for i in reversed(range(len(optimizer.transforms))):
            if hasattr(optimizer.transforms[i], "learning_rate"):
                return i, optimizer.transforms[i]
        raise ValueError("the chain holds no transform with a learning_rate")
    return -1, optimizer


def learning_rate_of(optimizer: Any, step: int) -> Any:
    """Return the rate an optimizer (or a chain's last optimizer) uses at ``step``.

    Examples
    --------
    >>> from mlplab.optimizers import SGD
    >>> from mlplab.schedules import StepDecay
    >>> learning_rate_of(chain(clip_by_value(1.0), SGD(StepDecay(1.0, 2, 0.5))), 2)
    0.5
    """
    return learning_rate_at(_rated(optimizer)[1].learning_rate, step)


def with_learning_rate(optimizer: Any, learning_rate: Any) -> Any:
    """Return a copy with a new ``learning_rate`` (inside a chain, its optimizer's).

    A chain-aware ``dataclasses.replace(optimizer, learning_rate=...)``, for
    callbacks such as reduce-on-plateau.

    Examples
    --------
    >>> from mlplab.optimizers import Adam
    >>> with_learning_rate(chain(clip_by_value(1.0), Adam(0.1)), 0.05).transforms[1]
    ... # doctest: +ELLIPSIS
    Adam(learning_rate=0.05, ...)
    """
    index, rated = _rated(optimizer)
    new = dataclasses.replace(rated, learning_rate=learning_rate)
    if index < 0:
        return new
    transforms = list(optimizer.transforms)
    transforms[index] = new
    return Chain(tuple(transforms))


TRANSFORMS: dict[str, type] = {
    **OPTIMIZERS,
    "chain": Chain,
    "clip_by_global_norm": ClipByGlobalNorm,
    "clip_by_value": ClipByValue,
}


def optimizer_config(obj: Any) -> dict[str, Any]:
    """Return a JSON-able dict of an optimizer, transform, chain or schedule.

    The registry name goes under ``"name"`` and every dataclass field follows;
    tuples become lists and nested objects nested dicts.

    Examples
    --------
    >>> from mlplab.optimizers import Adam
    >>> from mlplab.schedules import ExponentialDecay
    >>> optimizer_config(chain(clip_by_value(1.0),
    ...                        Adam(learning_rate=ExponentialDecay(0.1, 0.5))))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'name': 'chain', 'transforms': [{'name': 'clip_by_value', 'max_value': 1.0},
     {'name': 'adam', 'learning_rate': {'name': 'exponential', 'learning_rate': 0.1,
     'gamma': 0.5}, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-08, 'amsgrad': False,
     'weight_decay': 0.0, 'decay_biases': False}]}
    """
    names = {cls: name for name, cls in (TRANSFORMS | SCHEDULES).items()}
    if type(obj) not in names:
        raise TypeError(f"no registered name for {type(obj).__name__}")
    config: dict[str, Any] = {"name": names[type(obj)]}
    for field in dataclasses.fields(obj):
        config[field.name] = _to_json(getattr(obj, field.name))
    return config


def _to_json(value: Any) -> Any:
    """Turn a field value into JSON-able data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return optimizer_config(value)
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def optimizer_from_config(config: dict[str, Any]) -> Any:
    """Rebuild what ``optimizer_config`` described; names go through registries only.

    Examples
    --------
    >>> from mlplab.optimizers import RMSprop
    >>> opt = chain(clip_by_global_norm(1.0), RMSprop(momentum=(0.0, 0.9)))
    >>> optimizer_from_config(optimizer_config(opt)) == opt
    True
    """
    fields = {k: v for k, v in config.items() if k != "name"}
    registry = TRANSFORMS | SCHEDULES
    cls = lookup(registry, "optimizer, transform or schedule", str(config.get("name")))
    if cls is Chain:
        parts = fields.get("transforms", ())
        return Chain(tuple(optimizer_from_config(c) for c in parts))
    for key, value in fields.items():
        if isinstance(value, dict):
            fields[key] = optimizer_from_config(value)
        elif isinstance(value, list):
            fields[key] = tuple(value)
    return cls(**fields)
