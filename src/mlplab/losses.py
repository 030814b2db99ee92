"""Losses: value/gradient pairs and the LOSSES registry.

A loss reduces over samples to one number per member, ``value -> (K,)``, as its
name says: ``sse`` sums, ``mse`` and the cross-entropies average. ``grad`` is
the exact gradient of that same number with respect to the network's output,
so a central-difference check of ``value`` always agrees with ``grad``.

Every ``value`` and ``grad`` also takes an optional ``sample_weight`` of shape
``(n_samples,)`` (shared) or ``(K, n_samples)`` (per member, e.g. after each
member shuffled its rows). Sums weight each sample's term by ``w_i``; means
become weighted means, ``sum_i w_i l_i / sum_i w_i``, so integer weights equal
repeated rows, all-ones weights equal no weights, and a batch whose weights are
all zero contributes a loss and gradient of zero.

The classification losses take logits and fuse the output nonlinearity into
the loss (sigmoid + binary cross-entropy, softmax + cross-entropy), exactly as
scikit-learn's ``_backprop`` and PyTorch's ``BCEWithLogitsLoss`` do: the
network's last layer stays linear, the gradient is simply "probabilities minus
targets" divided by the count, and no logarithm of a rounded probability is
ever taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._types import Array
from .activations import sigmoid, softmax

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CrossEntropy",
    "MeanSquaredError",
    "SumSquaredError",
    "check_target",
    "get_loss",
]


def check_target(y_pred: Array, y_true: Array) -> None:
    """Raise ValueError unless ``y_true`` matches ``y_pred`` exactly.

    ``y_pred`` is ``(K, n_samples, n_outputs)``; ``y_true`` is shared,
    ``(n_samples, n_outputs)``, or per member with ``y_pred``'s shape. Anything
    else is an error here, never a silent broadcast.
    """
    if y_true.shape != y_pred.shape[1:] and y_true.shape != y_pred.shape:
        raise ValueError(
            f"targets must have shape {y_pred.shape[1:]} (n_samples, n_outputs) or "
            f"{y_pred.shape}; got {y_true.shape}"
        )


def _sum_per_member(x: Array) -> Array:
    """Sum every axis but the leading member axis."""
    total: Array = np.sum(x.reshape(x.shape[0], -1), axis=1)
    return total


def _weight_column(sample_weight: Array, y_pred: Array) -> Array:
    """Sample weights ``(n,)`` or ``(K, n)`` as ``(1 or K, n, 1)``, shape-checked."""
    w = np.asarray(sample_weight, dtype=y_pred.dtype)
    n_members, n_samples = y_pred.shape[0], y_pred.shape[-2]
    if w.shape not in ((n_samples,), (n_members, n_samples)):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) (n_samples,) or "
            f"{(n_members, n_samples)}; got {w.shape}"
        )
    return w[None, :, None] if w.ndim == 1 else w[:, :, None]


def _mean_scale(w: Array, n_outputs: int) -> Array:
    """Return ``1 / (n_outputs sum_i w_i)``, ``(1 or K, 1, 1)``; 0 if the sum is 0."""
    total = np.sum(w, axis=1, keepdims=True) * n_outputs
    scale: Array = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return scale


@dataclass(frozen=True)
class SumSquaredError:
    """``L = sum_i sum_j (p_ij - y_ij)^2``; gradient ``2 (p - y)``.

    The original program's loss (it reported this sum over the four rows).

    Examples
    --------
    >>> SumSquaredError().value(np.array([[[0.5], [0.5]]]), np.array([[0.], [1.]]))
    array([0.5])
    """

    name: str = "sse"
    from_logits: bool = False

    def value(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the (weighted) sum of squared errors per member, shape ``(K,)``."""
        diff = y_pred - y_true
        if sample_weight is None:
            return _sum_per_member(diff * diff)
        return _sum_per_member(_weight_column(sample_weight, y_pred) * diff * diff)

    def grad(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return ``2 (y_pred - y_true)``, times ``w_i`` on row i if weighted."""
        if sample_weight is None:
            return 2.0 * (y_pred - y_true)
        return 2.0 * _weight_column(sample_weight, y_pred) * (y_pred - y_true)

    def link(self, y_pred: Array) -> Array:
        """Return ``y_pred`` unchanged (the output layer's activation applies)."""
        return y_pred


@dataclass(frozen=True)
class MeanSquaredError:
    """``L = mean over samples and outputs of (p - y)^2``; grad ``2 (p - y) / (n m)``.

    The same reduction as PyTorch's ``MSELoss()`` (scikit-learn's squared loss
    is half of it).
    """

    name: str = "mse"
    from_logits: bool = False

    def value(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the (weighted) mean squared error per member, shape ``(K,)``."""
        diff = y_pred - y_true
        if sample_weight is None:
            return _sum_per_member(diff * diff) / math.prod(y_pred.shape[1:])
        w = _weight_column(sample_weight, y_pred)
        return _sum_per_member(_mean_scale(w, y_pred.shape[-1]) * w * diff * diff)

    def grad(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return ``2 (y_pred - y_true) / (n_samples * n_outputs)`` (or weighted)."""
        if sample_weight is None:
            return (2.0 / math.prod(y_pred.shape[1:])) * (y_pred - y_true)
        w = _weight_column(sample_weight, y_pred)
        return 2.0 * _mean_scale(w, y_pred.shape[-1]) * w * (y_pred - y_true)

    def link(self, y_pred: Array) -> Array:
        """Return ``y_pred`` unchanged (the output layer's activation applies)."""
        return y_pred


@dataclass(frozen=True)
class BinaryCrossEntropy:
    """Sigmoid + binary cross-entropy on logits ``z``, averaged over every entry.

    ``L = mean(softplus(z) - y z)`` with ``softplus(z) = log(1 + exp(z))``
    computed by ``logaddexp(0, z)``, which cannot overflow; the gradient is
    ``(sigmoid(z) - y) / (n_samples * n_outputs)``. One independent binary
    decision per output (multi-label when there are several), as in PyTorch's
    ``BCEWithLogitsLoss()``. The output layer must be the identity.
    """

    name: str = "binary_cross_entropy"
    from_logits: bool = True

    def value(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the (weighted) mean binary cross-entropy per member, ``(K,)``."""
        per_entry = np.logaddexp(0.0, y_pred) - y_true * y_pred
        if sample_weight is None:
            return _sum_per_member(per_entry) / math.prod(y_pred.shape[1:])
        w = _weight_column(sample_weight, y_pred)
        return _sum_per_member(_mean_scale(w, y_pred.shape[-1]) * w * per_entry)

    def grad(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return ``(sigmoid(z) - y) / (n_samples * n_outputs)`` (or weighted)."""
        if sample_weight is None:
            return (sigmoid(y_pred) - y_true) / math.prod(y_pred.shape[1:])
        w = _weight_column(sample_weight, y_pred)
        return _mean_scale(w, y_pred.shape[-1]) * w * (sigmoid(y_pred) - y_true)

    def link(self, y_pred: Array) -> Array:
        """Return the probabilities ``sigmoid(z)``."""
        return sigmoid(y_pred)


@dataclass(frozen=True)
class CrossEntropy:
    """Softmax + categorical cross-entropy on logits, averaged over samples.

    ``L = mean_i (logsumexp(z_i) - sum_j y_ij z_ij)`` for one-hot (or
    probability) rows ``y_i``; the log-sum-exp is shifted by the row maximum.
    The gradient is ``(softmax(z) - y) / n_samples``, as in PyTorch's
    ``CrossEntropyLoss()`` with probability targets. The output layer must be
    the identity.
    """

    name: str = "cross_entropy"
    from_logits: bool = True

    def value(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return the (weighted) mean cross-entropy of each member, ``(K,)``."""
        row_max = np.max(y_pred, axis=-1, keepdims=True)
        with np.errstate(under="ignore"):
            sum_exp = np.sum(np.exp(y_pred - row_max), axis=-1)
        log_sum_exp = np.log(sum_exp) + row_max[..., 0]
        per_row = log_sum_exp - np.sum(y_true * y_pred, axis=-1)
        if sample_weight is None:
            mean: Array = np.sum(per_row, axis=-1) / y_pred.shape[-2]
            return mean
        w = _weight_column(sample_weight, y_pred)
        return _sum_per_member(_mean_scale(w, 1) * w * per_row[..., None])

    def grad(
        self, y_pred: Array, y_true: Array, sample_weight: Array | None = None
    ) -> Array:
        """Return ``(softmax(z) - y) / n_samples`` (or ``w_i (...) / sum w``)."""
        if sample_weight is None:
            grad: Array = (softmax(y_pred) - y_true) / y_pred.shape[-2]
            return grad
        w = _weight_column(sample_weight, y_pred)
        return _mean_scale(w, 1) * w * (softmax(y_pred) - y_true)

    def link(self, y_pred: Array) -> Array:
        """Return the class probabilities ``softmax(z)``."""
        return softmax(y_pred)


LOSSES = {
    loss.name: loss
    for loss in (
        SumSquaredError(),
        MeanSquaredError(),
        BinaryCrossEntropy(),
        CrossEntropy(),
    )
}


def get_loss(
    name: str,
) -> SumSquaredError | MeanSquaredError | BinaryCrossEntropy | CrossEntropy:
    """Return the registered loss called ``name`` (ValueError if unknown)."""
    from ._validation import lookup

    return lookup(LOSSES, "loss", name)  # type: ignore[no-any-return]
