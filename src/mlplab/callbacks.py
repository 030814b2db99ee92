"""Callbacks: decisions taken after each epoch, per member.

A callback is called with a read-only ``EpochView`` and returns a
``Decision`` (or None, or a bare stop mask); it never reaches into the
trainer and never prints. Each keeps its own state in plain attributes, one
value per member, so one can see why a member stopped. The trainer owns the
consequences: it masks stopped members, puts returned weights in place, and
applies a new learning rate with ``dataclasses.replace``.

Improvement (both callbacks): a member improves at an epoch when its monitored
value beats its best so far by more than ``min_delta`` (lower for losses,
higher for accuracies). A NaN never improves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._types import Array, BoolArray
from ._validation import check_hyper
from .network import Params
from .training import Decision, EpochView, learning_rate_of

__all__ = ["Decision", "EarlyStopping", "ReduceLROnPlateau"]


def _mode(monitor: str) -> float:
    """+1 when larger is better (accuracies), -1 when smaller is (losses)."""
    return 1.0 if monitor.endswith("accuracy") else -1.0


def _monitored(view: EpochView, monitor: str, who: str) -> Array:
    """Return the epoch's monitored values ``(K,)``, signed so larger is better."""
    if monitor not in view.history.metrics:
        raise ValueError(
            f"{who} monitors {monitor!r}, which this run does not record (recorded: "
            f"{', '.join(view.history.metrics)}); pass validation_data to fit or "
            "choose another monitor"
        )
    return _mode(monitor) * np.asarray(view.latest(monitor), np.float64)


def _check_count(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
    return int(value)


def _where(mask: BoolArray, new: Params, old: Params) -> Params:
    """Per member, the layers of ``new`` where ``mask`` else ``old`` (fresh arrays)."""

    def pick(a: Array | None, b: Array | None) -> Array | None:
        if a is None or b is None:
            return None
        return np.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)

    return tuple(
        type(n)(*(pick(a, b) for a, b in zip(n, o, strict=True)))  # type: ignore[arg-type]
        for n, o in zip(new, old, strict=True)
    )


@dataclass
class EarlyStopping:
    """Stop each member after ``patience`` epochs without improvement.

    Parameters
    ----------
    monitor : str
        The history metric watched, ``"val_loss"`` by default (or
        ``"val_accuracy"``, ``"loss"``, ...).
    patience : int
        Epochs without improvement after which a member stops; with
        ``patience=p`` a member whose best epoch is e stops at epoch e + p.
    min_delta : float
        The margin an improvement must exceed.
    restore_best : bool
        Put each member's best weights back: when it stops, and for every
        member on the call's last epoch (also when none stopped).

    Attributes
    ----------
    best_value : array, shape (n_members,)
        Best monitored value so far (NaN before the first epoch).
    best_epoch : array, shape (n_members,)
        ``EpochView.epoch`` of the best value (-1 before the first).
    stopped_epoch : array, shape (n_members,)
        Epoch at which each member was stopped, or -1.

    Examples
    --------
    >>> stopper = EarlyStopping(patience=5)
    >>> stopper.patience, stopper.monitor
    (5, 'val_loss')
    """

    monitor: str = "val_loss"
    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    best_value: Array = field(default_factory=lambda: np.zeros(0), init=False)
    best_epoch: Array = field(default_factory=lambda: np.zeros(0, np.int64), init=False)
    stopped_epoch: Array = field(
        default_factory=lambda: np.zeros(0, np.int64), init=False
    )
    _best_params: Params | None = field(default=None, init=False, repr=False)
    _wait: Array = field(
        default_factory=lambda: np.zeros(0, np.int64), init=False, repr=False
    )

    def __post_init__(self) -> None:
        _check_count("patience", self.patience)
        check_hyper("min_delta", self.min_delta, low=0.0)

    def __call__(self, view: EpochView) -> Decision:
        """Track each member's best epoch; stop (and restore) the stale ones."""
        value = _monitored(view, self.monitor, "EarlyStopping")
        if len(self._wait) != len(value):
            self._start(len(value), view.params)
        # a stopped member's record is final
        improved = (value > self._signed_best() + self.min_delta) & (
            self.stopped_epoch < 0
        )
        self._remember(improved, value, view)
        self._wait = np.where(improved, 0, self._wait + 1)
        stale = ~improved & (self._wait >= self.patience)
        stop = view.active & stale & (self.stopped_epoch < 0)
        self.stopped_epoch[stop] = view.epoch
        if not self.restore_best or view.params is None:
            return Decision(stop=stop)
        restore = np.ones_like(stop) if view.last else stop
        if not restore.any() or self._best_params is None:
            return Decision(stop=stop)
        return Decision(
            stop=stop, params=_where(restore, self._best_params, view.params)
        )

    def _start(self, n_members: int, params: Params | None) -> None:
        """Empty per-member records for ``n_members`` members."""
        self.best_value = np.full(n_members, np.nan)
        self.best_epoch = np.full(n_members, -1, np.int64)
        self.stopped_epoch = np.full(n_members, -1, np.int64)
        self._wait = np.zeros(n_members, np.int64)
        self._best_params = params

    def _signed_best(self) -> Array:
        """Best values signed so that larger is better; -inf before the first."""
        signed = _mode(self.monitor) * self.best_value
        return np.where(np.isnan(signed), -np.inf, signed)

    def _remember(self, improved: BoolArray, value: Array, view: EpochView) -> None:
        """Record the improved members' value, epoch and (a copy of) weights."""
        self.best_value = np.where(
            improved, _mode(self.monitor) * value, self.best_value
        )
        self.best_epoch = np.where(improved, view.epoch, self.best_epoch)
        if view.params is not None and self._best_params is not None:
            self._best_params = _where(improved, view.params, self._best_params)


@dataclass
class ReduceLROnPlateau:
    """Multiply a member's rate by ``factor`` after ``patience`` stale epochs.

    After ``patience`` consecutive epochs without improvement (see the module
    docstring) a member's learning rate becomes ``max(rate * factor,
    min_learning_rate)``, its count restarts, and for ``cooldown`` epochs
    after that it is not counted. (Keras's rule; PyTorch's reduces one epoch
    later, after ``patience + 1`` bad epochs.) The optimizer's rate must be a
    number or one number per member, not a schedule.

    Parameters
    ----------
    monitor : str
        The history metric watched (``"val_loss"`` by default).
    factor : float
        In (0, 1).
    patience : int
        Stale epochs before a reduction.
    min_delta : float
        The margin an improvement must exceed.
    cooldown : int
        Epochs after a reduction during which staleness is not counted.
    min_learning_rate : float
        Floor of the reduced rate.

    Attributes
    ----------
    n_reductions : array, shape (n_members,)
        How many times each member's rate was reduced.

    Examples
    --------
    >>> ReduceLROnPlateau(factor=0.5, patience=2).factor
    0.5
    """

    monitor: str = "val_loss"
    factor: float = 0.1
    patience: int = 10
    min_delta: float = 0.0
    cooldown: int = 0
    min_learning_rate: float = 0.0
    changes_learning_rate: ClassVar[bool] = True  # the trainer records the rate
    n_reductions: Array = field(
        default_factory=lambda: np.zeros(0, np.int64), init=False
    )
    _best: Array = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _wait: Array = field(
        default_factory=lambda: np.zeros(0, np.int64), init=False, repr=False
    )
    _cooldown_left: Array = field(
        default_factory=lambda: np.zeros(0, np.int64), init=False, repr=False
    )

    def __post_init__(self) -> None:
        check_hyper(
            "factor", self.factor, low=0.0, high=1.0, low_open=True, high_open=True
        )
        _check_count("patience", self.patience)
        _check_count("cooldown", self.cooldown)
        check_hyper("min_delta", self.min_delta, low=0.0)
        check_hyper("min_learning_rate", self.min_learning_rate, low=0.0)

    def __call__(self, view: EpochView) -> Decision:
        """Count stale epochs per member; return lowered rates when some are due."""
        value = _monitored(view, self.monitor, "ReduceLROnPlateau")
        if len(self._best) != len(value):
            self._start(len(value))
        improved = value > self._best + self.min_delta
        self._best = np.where(improved, value, self._best)
        cooling = self._cooldown_left > 0
        self._cooldown_left = np.maximum(self._cooldown_left - 1, 0)
        self._wait = np.where(improved | cooling, 0, self._wait + 1)
        due = view.active & ~improved & ~cooling & (self._wait >= self.patience)
        if not due.any():
            return Decision()
        self._wait[due] = 0
        self._cooldown_left[due] = self.cooldown
        self.n_reductions[due] += 1
        rate = self._rates(view)
        new = np.where(
            due, np.maximum(rate * self.factor, self.min_learning_rate), rate
        )
        return Decision(learning_rate=tuple(float(r) for r in new))

    def _start(self, n_members: int) -> None:
        """Empty per-member records for ``n_members`` members."""
        self._best = np.full(n_members, -np.inf)
        self._wait = np.zeros(n_members, np.int64)
        self._cooldown_left = np.zeros(n_members, np.int64)
        self.n_reductions = np.zeros(n_members, np.int64)

    def _rates(self, view: EpochView) -> Array:
        """Return the optimizer's current rate of each member, ``(K,)``."""
        rate: Any = learning_rate_of(view.optimizer)
        if rate is None or callable(rate):
            raise ValueError(
                "ReduceLROnPlateau needs an optimizer whose learning_rate is a number "
                f"or one per member; got {type(rate).__name__}"
            )
        return np.broadcast_to(np.asarray(rate, np.float64), self._best.shape).copy()
