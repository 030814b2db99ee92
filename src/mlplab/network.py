"""The multilayer perceptron: config, parameters, forward and backward passes.

Everything carries a leading member axis K: weights are ``(K, n_in, n_out)``,
biases ``(K, n_out)``, outputs ``(K, n_samples, n_outputs)``. Inputs are shared,
``(n_samples, n_features)``, or per member, ``(K, n_samples, n_features)``.
Member k of an ensemble computes exactly what a single network with member k's
weights computes: the member axis is only a batch axis of ``np.matmul``.

This module knows nothing of optimizers or training; it maps parameters and
inputs to outputs, and output gradients to parameter gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._types import Activation, Array
from ._validation import check_choice, lookup
from .activations import ACTIVATIONS
from .initializers import member_rngs, parse_init

__all__ = [
    "Dense",
    "LayerCache",
    "MLPConfig",
    "backward",
    "dense_backward",
    "dense_forward",
    "forward",
    "init_params",
    "param_arrays",
    "param_names",
    "predict_raw",
    "with_arrays",
]

DTYPES: dict[str, type[np.floating[Any]]] = {
    "float64": np.float64,
    "float32": np.float32,
}


class Dense(NamedTuple):
    """One dense layer: weights ``w`` ``(K, n_in, n_out)``, biases ``(K, n_out)``."""

    w: Array
    b: Array | None


Params = tuple[Dense, ...]


class LayerCache(NamedTuple):
    """What a dense layer's backward pass needs: its input, ``z`` and output ``a``."""

    x: Array
    z: Array
    a: Array


@dataclass(frozen=True)
class MLPConfig:
    """The architecture of every member of an ensemble.

    Parameters
    ----------
    layer_sizes : tuple of int
        ``(n_features, hidden_1, ..., n_outputs)``.
    activation : str
        Hidden-layer activation, a name in ``ACTIVATIONS``.
    output_activation : str
        The output layer's activation; ``"identity"`` for regression and for
        the logit losses (``binary_cross_entropy``, ``cross_entropy``).
    use_bias : bool
        Whether every layer has a bias vector (zeros at initialisation).
    init : str
        Weight initialiser spec (see ``initializers.parse_init``).
    dtype : {"float64", "float32"}
        Floating type of every parameter and activation.
    """

    layer_sizes: tuple[int, ...] = (3, 4, 1)
    activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    use_bias: bool = True
    init: str = "glorot_uniform"
    dtype: str = "float64"

    def __post_init__(self) -> None:
        sizes = tuple(self.layer_sizes)
        if len(sizes) < 2 or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
            for s in sizes
        ):
            raise ValueError(
                "layer_sizes must be at least two positive integers "
                f"(n_features, ..., n_outputs); got {self.layer_sizes!r}"
            )
        object.__setattr__(self, "layer_sizes", tuple(int(s) for s in sizes))
        if not isinstance(self.use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False; got {self.use_bias!r}")
        lookup(ACTIVATIONS, "activation", self.activation)
        lookup(ACTIVATIONS, "output activation", self.output_activation)
        if self.output_activation == "softmax" and sizes[-1] < 2:
            # a softmax over one output is the constant 1: it cannot learn
            raise ValueError(
                "output activation 'softmax' needs at least 2 outputs (over one "
                f"it is the constant 1); got {sizes[-1]}"
            )
        parse_init(self.init)
        check_choice("dtype", self.dtype, DTYPES)

    @property
    def n_features(self) -> int:
        """Number of inputs."""
        return self.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        """Number of outputs."""
        return self.layer_sizes[-1]

    @property
    def np_dtype(self) -> type[np.floating[Any]]:
        """The NumPy floating type."""
        return DTYPES[self.dtype]

    def layer_activation(self, index: int) -> Activation:
        """Return the activation object of layer ``index`` (0-based)."""
        last = index == len(self.layer_sizes) - 2
        return ACTIVATIONS[self.output_activation if last else self.activation]


def init_params(config: MLPConfig, seeds: Sequence[int]) -> Params:
    """Draw initial parameters for one member per seed.

    Member k's weights come from its own generator (``member_rngs(seeds[k])``),
    layer by layer, so they do not depend on the other members. Biases start
    at zero.

    Examples
    --------
    >>> params = init_params(MLPConfig((3, 4, 1)), seeds=[0, 1])
    >>> params[0].w.shape, params[0].b.shape, params[1].w.shape
    ((2, 3, 4), (2, 4), (2, 4, 1))
    """
    init = parse_init(config.init)
    shapes = list(zip(config.layer_sizes[:-1], config.layer_sizes[1:], strict=True))
    per_member = []
    for seed in seeds:
        rng = member_rngs(int(seed))[0]
        per_member.append([init(rng, shape) for shape in shapes])
    layers = []
    for i, (_, n_out) in enumerate(shapes):
        w = np.stack([weights[i] for weights in per_member]).astype(config.np_dtype)
        b = (
            np.zeros((len(per_member), n_out), config.np_dtype)
            if config.use_bias
            else None
        )
        layers.append(Dense(w, b))
    return tuple(layers)


def dense_forward(
    layer: Dense, x: Array, activation: Activation
) -> tuple[Array, LayerCache]:
    """Compute ``a = f(x w + b)``; return ``a`` and the cache for ``dense_backward``."""
    z = np.matmul(x, layer.w)
    if layer.b is not None:
        z += layer.b[:, None, :]
    a = activation.forward(z)
    return a, LayerCache(x, z, a)


def dense_backward(
    layer: Dense,
    cache: LayerCache,
    grad_a: Array,
    activation: Activation,
    need_grad_x: bool = True,
) -> tuple[Array | None, Dense]:
    """Return ``(grad_x, Dense(grad_w, grad_b))`` for one dense layer.

    ``grad_z = f'(z) * grad_a``, ``grad_w = x^T grad_z``, ``grad_b = sum_rows
    grad_z`` and ``grad_x = grad_z w^T``, each per member.
    """
    grad_z = activation.backward(cache.z, cache.a, grad_a)
    grad_w = np.matmul(np.swapaxes(cache.x, -1, -2), grad_z)
    grad_b = grad_z.sum(axis=1) if layer.b is not None else None
    grad_x = np.matmul(grad_z, np.swapaxes(layer.w, -1, -2)) if need_grad_x else None
    return grad_x, Dense(grad_w, grad_b)


def forward(
    params: Params, config: MLPConfig, x: Array
) -> tuple[Array, list[LayerCache]]:
    """Run every member on ``x``; return ``(K, n_samples, n_outputs)`` and caches."""
    caches = []
    a = x
    for i, layer in enumerate(params):
        a, cache = dense_forward(layer, a, config.layer_activation(i))
        caches.append(cache)
    return a, caches


def backward(
    params: Params, config: MLPConfig, caches: list[LayerCache], grad_out: Array
) -> Params:
    """Backpropagate ``grad_out`` (the loss gradient w.r.t. the outputs)."""
    grads: list[Dense] = [None] * len(params)  # type: ignore[list-item]
    grad_a = grad_out
    for i in reversed(range(len(params))):
        grad_a, grads[i] = dense_backward(  # type: ignore[assignment]
            params[i], caches[i], grad_a, config.layer_activation(i), need_grad_x=i > 0
        )
    return tuple(grads)


def predict_raw(params: Params, config: MLPConfig, x: Array) -> Array:
    """Return the network outputs ``(K, n_samples, n_outputs)`` without caches."""
    a = x
    for i, layer in enumerate(params):
        z = np.matmul(a, layer.w)
        if layer.b is not None:
            z += layer.b[:, None, :]
        a = config.layer_activation(i).forward(z)
    return a


def param_arrays(params: Params) -> tuple[Array, ...]:
    """Flatten parameters to ``(w0, b0, w1, b1, ...)``, skipping absent biases."""
    return tuple(a for layer in params for a in layer if a is not None)


def with_arrays(params: Params, arrays: Sequence[Array]) -> Params:
    """Inverse of ``param_arrays``: rebuild ``params``' structure from flat arrays."""
    it = iter(arrays)
    return tuple(
        Dense(next(it), next(it) if layer.b is not None else None) for layer in params
    )


def param_names(params: Params) -> tuple[str, ...]:
    """Stable readable names in ``param_arrays`` order: ``layers.0.weight``, ..."""
    names = []
    for i, layer in enumerate(params):
        names.append(f"layers.{i}.weight")
        if layer.b is not None:
            names.append(f"layers.{i}.bias")
    return tuple(names)
