"""Array aliases and the Protocols that name the roles in mlplab.

Every network array carries a leading member axis K (``n_members``), even when
K = 1; these aliases only document that convention, NumPy does not check it.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

Array: TypeAlias = NDArray[np.floating[Any]]
FloatArray: TypeAlias = NDArray[np.float64]
BoolArray: TypeAlias = NDArray[np.bool_]
# A hyperparameter: one value for every member, or one value per member.
HyperParam: TypeAlias = float | tuple[float, ...]


class Activation(Protocol):
    """An elementwise (or row-wise, for softmax) nonlinearity and its derivative."""

    @property
    def name(self) -> str:
        """The registry name."""
        ...

    def forward(self, z: Array) -> Array:
        """Return ``a = f(z)``."""
        ...

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_z`` given the pre-activation, the output and ``grad_a``."""
        ...


class Loss(Protocol):
    """A loss reduced over samples to one number per member, with its gradient."""

    name: str
    from_logits: bool

    def value(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the loss of each member, shape ``(n_members,)``."""
        ...

    def grad(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the exact gradient of ``value`` with the shape of ``y_pred``."""
        ...

    def link(self, y_pred: Array) -> Array:
        """Map the network's raw output to predictions (probabilities for logits)."""
        ...


class Schedule(Protocol):
    """A learning-rate schedule: optimizer step -> rate (one value or K values)."""

    def __call__(self, step: int) -> float | Array:
        """Return the learning rate at ``step`` (0 for the first update)."""
        ...


class Callback(Protocol):
    """Called after each epoch; may return a boolean stop mask over the members."""

    def __call__(self, view: Any) -> Any:
        """Return ``None`` or a ``(n_members,)`` boolean array of members to stop."""
        ...
