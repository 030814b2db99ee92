"""Activation functions: forward/backward pairs and the ACTIVATIONS registry.

Each activation is a small frozen object whose ``backward(z, a, grad_a)`` gets
both the pre-activation ``z`` and the output ``a`` and uses whichever is
cheaper (the sigmoid and tanh derivatives come from the output, the ReLU ones
from the input). Every forward pass is stable for any finite input and emits
no floating-point warning, even under ``np.errstate(all="raise")`` for the
sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._types import Array

__all__ = [
    "ACTIVATIONS",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "SigmoidWrongDerivative",
    "Softmax",
    "Tanh",
    "get_activation",
    "sigmoid",
    "softmax",
]


def sigmoid(z: Array) -> Array:
    """Logistic sigmoid ``1 / (1 + exp(-z))`` that cannot overflow or underflow.

    Uses ``e = exp(-|z|)`` (never above 1) and evaluates it only where it is a
    normal number, so ``sigmoid(1000.0)`` is exactly 1.0 and ``sigmoid(-1000.0)``
    exactly 0.0, with no warning under any error state.

    Examples
    --------
    >>> float(sigmoid(np.array(0.0)))
    0.5
    >>> sigmoid(np.array([-1000.0, 1000.0])).tolist()
    [0.0, 1.0]
    """
    z = np.asarray(z)
    abs_z = np.abs(z)
    # Beyond -log(tiny) the exponential would be subnormal (an underflow).
    limit = -np.log(np.finfo(z.dtype).tiny) - 1.0
    e = np.exp(-abs_z, out=np.zeros_like(abs_z), where=abs_z < limit)
    small = e / (1.0 + e)  # sigmoid(-|z|), accurate in the far tail
    return np.where(z >= 0, 1.0 - small, small)


def softmax(z: Array) -> Array:
    """Row-wise softmax over the last axis, shifted by the row maximum.

    Examples
    --------
    >>> softmax(np.array([1.0, -10.0, 1000.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    shifted = z - np.max(z, axis=-1, keepdims=True)
    with np.errstate(under="ignore"):  # exp of very negative shifts is 0 by design
        e = np.exp(shifted)
    probabilities: Array = e / np.sum(e, axis=-1, keepdims=True)
    return probabilities


@dataclass(frozen=True)
class Identity:
    """``a = z``; the output layer of regression nets and of logit losses."""

    name: str = "identity"

    def forward(self, z: Array) -> Array:
        """Return ``z`` unchanged."""
        return z

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a`` unchanged."""
        return grad_a


@dataclass(frozen=True)
class Sigmoid:
    """``a = 1 / (1 + exp(-z))``, derivative ``a (1 - a)`` taken from the output."""

    name: str = "sigmoid"

    def forward(self, z: Array) -> Array:
        """Return the stable sigmoid of ``z``."""
        return sigmoid(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a * a * (1 - a)``, the chain rule at ``z``."""
        return grad_a * a * (1.0 - a)


@dataclass(frozen=True)
class SigmoidWrongDerivative:
    """The original program's mistake, kept on purpose: ``s'`` taken at the output.

    Forward is the sigmoid, but backward multiplies by ``s'(a) = s(a)(1 - s(a))``
    where the chain rule needs ``s'(z) = a (1 - a)``. The Code Review program
    computed ``sigmoid_derivative(self.output)`` with a derivative that applies
    the sigmoid again. This activation reproduces it so that the program can be
    trained, gradient-checked and swept like any network; it is never a default.
    """

    name: str = "sigmoid_wrong_derivative"

    def forward(self, z: Array) -> Array:
        """Return the stable sigmoid of ``z``."""
        return sigmoid(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a * s(a) * (1 - s(a))``: the derivative at the wrong point."""
        s_of_a = sigmoid(a)
        return grad_a * s_of_a * (1.0 - s_of_a)


@dataclass(frozen=True)
class Tanh:
    """``a = tanh(z)``, derivative ``1 - a^2`` taken from the output."""

    name: str = "tanh"

    def forward(self, z: Array) -> Array:
        """Return ``tanh(z)``."""
        return np.tanh(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a * (1 - a^2)``."""
        return grad_a * (1.0 - a * a)


@dataclass(frozen=True)
class ReLU:
    """``a = max(z, 0)``; derivative 1 where ``z > 0`` and 0 elsewhere (at 0 too)."""

    name: str = "relu"

    def forward(self, z: Array) -> Array:
        """Return ``max(z, 0)``."""
        return np.maximum(z, 0.0)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a`` where ``z > 0``, else 0."""
        return np.where(z > 0, grad_a, 0.0)


@dataclass(frozen=True)
class LeakyReLU:
    """``a = z`` for ``z > 0``, ``negative_slope * z`` otherwise."""

    negative_slope: float = 0.01
    name: str = "leaky_relu"

    def forward(self, z: Array) -> Array:
        """Return ``z`` where positive, else ``negative_slope * z``."""
        return np.where(z > 0, z, self.negative_slope * z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``grad_a`` where ``z > 0``, else ``negative_slope * grad_a``."""
        return np.where(z > 0, grad_a, self.negative_slope * grad_a)


@dataclass(frozen=True)
class Softmax:
    """Row-wise softmax over the outputs, with its full Jacobian-vector product.

    For classification prefer an identity output with the ``cross_entropy``
    loss, which fuses the softmax into the loss and has a simpler gradient.
    """

    name: str = "softmax"

    def forward(self, z: Array) -> Array:
        """Return the softmax of each row of ``z``."""
        return softmax(z)

    def backward(self, z: Array, a: Array, grad_a: Array) -> Array:
        """Return ``a * (grad_a - sum(grad_a * a))`` per row."""
        grad_z: Array = a * (grad_a - np.sum(grad_a * a, axis=-1, keepdims=True))
        return grad_z


ACTIVATIONS = {
    act.name: act
    for act in (
        Identity(),
        Sigmoid(),
        Tanh(),
        ReLU(),
        LeakyReLU(),
        Softmax(),
        SigmoidWrongDerivative(),
    )
}
# The names a user is offered; the original program's mistake is kept out.
PUBLIC_ACTIVATIONS = tuple(n for n in ACTIVATIONS if n != "sigmoid_wrong_derivative")


def get_activation(
    name: str,
) -> Identity | Sigmoid | SigmoidWrongDerivative | Tanh | ReLU | LeakyReLU | Softmax:
    """Return the registered activation called ``name`` (ValueError if unknown)."""
    from ._validation import lookup

    return lookup(ACTIVATIONS, "activation", name)  # type: ignore[no-any-return]
