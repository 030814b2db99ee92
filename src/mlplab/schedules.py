"""Learning-rate schedules: frozen dataclasses mapping an optimizer step to a rate.

An optimizer calls its schedule with ``state.step``, the number of updates
made before this one (0 for the first update), and multiplies the result in;
a schedule changes nothing else. ``learning_rate`` (the initial or peak rate)
is one value or one value per member; every other field is shared. The
result is a float, or a ``(n_members,)`` array for per-member rates.

Counting optimizer steps, not epochs. A PyTorch ``lr_scheduler`` stepped once
per optimizer step (``scheduler.step()`` after each ``optimizer.step()``)
has ``last_epoch == t`` during our step t, so each schedule here equals its
PyTorch counterpart named in its docstring (tested). A PyTorch scheduler
stepped once per epoch over B mini-batches keeps the rate fixed within an
epoch; to match it here multiply every step count by B: ``StepDecay(lr,
s * B, gamma)`` is ``StepLR(step_size=s)``, ``MultiStepDecay`` takes the
milestones times B, ``CosineAnnealing`` takes ``T_max * B`` (a smooth
version of the per-epoch staircase), and ``StepDecay(lr, B, gamma)`` is
``ExponentialLR(gamma)`` stepped per epoch.

``parse_schedule`` builds a schedule from a command-line spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array, HyperParam
from ._validation import check_hyper

__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineAnnealing",
    "ExponentialDecay",
    "InverseScaling",
    "MultiStepDecay",
    "StepDecay",
    "learning_rate_at",
    "parse_schedule",
]


def _scaled(learning_rate: HyperParam, factor: float) -> float | Array:
    """Return ``learning_rate * factor``: a float, or ``(K,)`` for per-member rates."""
    if isinstance(learning_rate, tuple):
        return np.asarray(learning_rate, dtype=np.float64) * factor
    return learning_rate * factor


def _check_rate(schedule: Any) -> None:
    """Validate and store ``schedule.learning_rate`` (>= 0, one or K values)."""
    object.__setattr__(
        schedule, "learning_rate",
        check_hyper("learning_rate", schedule.learning_rate, low=0.0),
    )


def _check_count(name: str, value: Any, low: int) -> int:
    """Return ``value`` if it is an integer >= ``low``, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    return int(value)


@dataclass(frozen=True)
class Constant:
    """The same rate at every step: ``lr_t = learning_rate``.

    Examples
    --------
    >>> Constant(0.1)(500)
    0.1
    """

    learning_rate: HyperParam = 0.01

    def __post_init__(self) -> None:
        _check_rate(self)

    def __call__(self, step: int) -> float | Array:
        """Return ``learning_rate``."""
        return _scaled(self.learning_rate, 1.0)


@dataclass(frozen=True)
class StepDecay:
    """Multiply by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``).

    ``lr_t = learning_rate * gamma ** floor(t / step_size)``.

    Examples
    --------
    >>> [StepDecay(1.0, step_size=2, gamma=0.5)(t) for t in range(5)]
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    learning_rate: HyperParam = 0.01
    step_size: int = 1
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _check_rate(self)
        _check_count("step_size", self.step_size, 1)
        object.__setattr__(self, "gamma", check_hyper("gamma", self.gamma, low=0.0))

    def __call__(self, step: int) -> float | Array:
        """Return the rate at ``step``."""
        return _scaled(self.learning_rate, self.gamma ** (step // self.step_size))


@dataclass(frozen=True)
class MultiStepDecay:
    """Multiply by ``gamma`` at each milestone (PyTorch's ``MultiStepLR``).

    ``lr_t = learning_rate * gamma ** (number of milestones <= t)``.

    Examples
    --------
    >>> [MultiStepDecay(1.0, milestones=(1, 3), gamma=0.5)(t) for t in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    learning_rate: HyperParam = 0.01
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _check_rate(self)
        milestones = tuple(_check_count("milestone", m, 1) for m in self.milestones)
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(f"milestones must increase strictly; got {milestones}")
        object.__setattr__(self, "milestones", milestones)
        object.__setattr__(self, "gamma", check_hyper("gamma", self.gamma, low=0.0))

    def __call__(self, step: int) -> float | Array:
        """Return the rate at ``step``."""
        passed = sum(1 for m in self.milestones if m <= step)
        return _scaled(self.learning_rate, self.gamma**passed)


@dataclass(frozen=True)
class ExponentialDecay:
    """Multiply by ``gamma`` every step (PyTorch's ``ExponentialLR``).

    ``lr_t = learning_rate * gamma ** t``.

    Examples
    --------
    >>> ExponentialDecay(1.0, gamma=0.5)(3)
    0.125
    """

    learning_rate: HyperParam = 0.01
    gamma: float = 0.99

    def __post_init__(self) -> None:
        _check_rate(self)
        object.__setattr__(self, "gamma", check_hyper("gamma", self.gamma, low=0.0))

    def __call__(self, step: int) -> float | Array:
        """Return the rate at ``step``."""
        return _scaled(self.learning_rate, self.gamma**step)


@dataclass(frozen=True)
class InverseScaling:
    """Inverse scaling: ``lr_t = learning_rate / (t + 1) ** power``.

    scikit-learn's ``learning_rate="invscaling"`` with ``power_t=power``, but
    counting optimizer steps where scikit-learn counts samples seen. PyTorch
    has no class for it; ``LambdaLR(lambda t: (t + 1) ** -power)`` is the same.

    Examples
    --------
    >>> InverseScaling(1.0, power=0.5)(3)
    0.5
    """

    learning_rate: HyperParam = 0.01
    power: float = 0.5

    def __post_init__(self) -> None:
        _check_rate(self)
        object.__setattr__(self, "power", check_hyper("power", self.power, low=0.0))

    def __call__(self, step: int) -> float | Array:
        """Return the rate at ``step``."""
        return _scaled(self.learning_rate, 1.0 / (step + 1) ** self.power)


@dataclass(frozen=True)
class CosineAnnealing:
    """Linear warm-up, then cosine annealing from ``learning_rate`` to ``min_lr``.

    With W = ``warmup`` and T = ``t_max`` (the step at which ``min_lr`` is
    reached, warm-up included)::

        lr_t = learning_rate * (t + 1) / (W + 1)                  for t < W
        lr_t = min_lr + (learning_rate - min_lr)
               * (1 + cos(pi * (t - W) / (T - W))) / 2            for W <= t <= T
        lr_t = min_lr                                             for t > T

    The warm-up never takes a zero step and reaches ``learning_rate`` at t = W.
    PyTorch: ``CosineAnnealingLR(T_max=T, eta_min=min_lr)`` when W = 0 (up to
    t = T; PyTorch's rate then rises again, ours stays at ``min_lr``), and
    ``SequentialLR([LinearLR(start_factor=1 / (W + 1), total_iters=W),
    CosineAnnealingLR(T_max=T - W, eta_min=min_lr)], milestones=[W])``.

    Examples
    --------
    >>> s = CosineAnnealing(1.0, t_max=3, warmup=1)
    >>> [round(s(t), 3) for t in range(5)]
    [0.5, 1.0, 0.5, 0.0, 0.0]
    """

    learning_rate: HyperParam = 0.01
    t_max: int = 100
    warmup: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        _check_rate(self)
        _check_count("t_max", self.t_max, 1)
        _check_count("warmup", self.warmup, 0)
        if self.warmup >= self.t_max:
            raise ValueError(
                f"warmup must be < t_max ({self.t_max}); got {self.warmup}"
            )
        object.__setattr__(self, "min_lr", check_hyper("min_lr", self.min_lr, low=0.0))

    def __call__(self, step: int) -> float | Array:
        """Return the rate at ``step``."""
        if step < self.warmup:
            return _scaled(self.learning_rate, (step + 1) / (self.warmup + 1))
        progress = min(step - self.warmup, self.t_max - self.warmup)
        cosine = (1.0 + math.cos(math.pi * progress / (self.t_max - self.warmup))) / 2
        lr = self.learning_rate
        if isinstance(lr, tuple):
            lr = np.asarray(lr, dtype=np.float64)  # type: ignore[assignment]
        return self.min_lr + (lr - self.min_lr) * cosine  # type: ignore[operator]


SCHEDULES: dict[str, type] = {
    "constant": Constant,
    "step": StepDecay,
    "multistep": MultiStepDecay,
    "exponential": ExponentialDecay,
    "invscaling": InverseScaling,
    "cosine": CosineAnnealing,
}

# spec name -> (field, converter) for each comma-separated argument, in order
_SPEC_ARGS: dict[str, tuple[tuple[str, Any], ...]] = {
    "constant": (),
    "step": (("step_size", int), ("gamma", float)),
    "multistep": (("milestones", "milestones"), ("gamma", float)),
    "exponential": (("gamma", float),),
    "invscaling": (("power", float),),
    "cosine": (("t_max", int), ("warmup", int), ("min_lr", float)),
}
_REQUIRED = {"step": 1, "multistep": 1, "exponential": 1, "cosine": 1}


def _convert(spec: str, field: str, kind: Any, text: str) -> Any:
    """Convert one spec argument, naming the spec and field on failure."""
    try:
        if kind == "milestones":
            return tuple(int(m) for m in text.replace(";", "+").split("+"))
        return kind(text)
    except ValueError:
        expected = {int: "an integer", float: "a number"}.get(
            kind, "integers joined by '+'"
        )
        raise ValueError(
            f"schedule {spec!r}: {field.upper()} must be {expected}; got {text!r}"
        ) from None


def parse_schedule(spec: str, learning_rate: HyperParam) -> Any:
    """Build a schedule from a command-line spec ``NAME[:ARG,ARG,...]``.

    Specs (arguments in brackets are optional, defaults in parentheses):

    ==========================================  ========================================
    ``constant``                                ``Constant``
    ``step:STEP_SIZE[,GAMMA]``                  ``StepDecay`` (GAMMA 0.1)
    ``multistep:M1+M2+...[,GAMMA]``             ``MultiStepDecay`` (GAMMA 0.1); ``;``
                                                also separates milestones but needs
                                                quoting in a shell
    ``exponential:GAMMA``                       ``ExponentialDecay``
    ``invscaling[:POWER]``                      ``InverseScaling`` (POWER 0.5)
    ``cosine:T_MAX[,WARMUP[,MIN_LR]]``          ``CosineAnnealing`` (WARMUP 0, MIN_LR 0)
    ==========================================  ========================================

    Every count is in optimizer steps (see the module docstring).

    Parameters
    ----------
    spec : str
        The spec, e.g. ``"cosine:1000,50"``.
    learning_rate : float or tuple of float
        The initial (or peak) rate, one value or one per member.

    Returns
    -------
    schedule
        A frozen schedule dataclass.

    Raises
    ------
    ValueError
        For an unknown name, a missing, extra or malformed argument, or an
        out-of-range value.

    Examples
    --------
    >>> parse_schedule("multistep:100+150,0.5", 0.1)
    MultiStepDecay(learning_rate=0.1, milestones=(100, 150), gamma=0.5)
    """
    name, _, rest = spec.strip().partition(":")
    if name not in _SPEC_ARGS:
        raise ValueError(
            f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}"
        )
    fields = _SPEC_ARGS[name]
    texts = [t.strip() for t in rest.split(",")] if rest.strip() else []
    usage = f"{name}:" + ",".join(f.upper() for f, _ in fields) if fields else name
    if not _REQUIRED.get(name, 0) <= len(texts) <= len(fields):
        raise ValueError(f"schedule {spec!r} does not match {usage!r}")
    kwargs = {
        field: _convert(spec, field, kind, text)
        for (field, kind), text in zip(fields, texts, strict=False)
    }
    return SCHEDULES[name](learning_rate, **kwargs)


def learning_rate_at(learning_rate: object, step: int) -> HyperParam:
    """Return the rate at ``step``: call a schedule, pass a number through."""
    if callable(learning_rate):
        return learning_rate(step)  # type: ignore[no-any-return]
    return learning_rate  # type: ignore[return-value]
