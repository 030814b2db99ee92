"""Shared checks that build mlplab's error messages.

Every public edge (constructors, ``fit``, load, the CLI) validates through these
helpers so that a message always names the thing, the expectation and what
arrived, e.g. ``learning_rate must be > 0; got -0.1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._types import Array, HyperParam


def check_choice(name: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError."""
    options = sorted(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return value


def lookup(registry: Mapping[str, Any], kind: str, name: str) -> Any:
    """Resolve ``name`` in ``registry`` (never anywhere else) or raise ValueError."""
    if not isinstance(name, str) or name not in registry:
        raise ValueError(
            f"unknown {kind} {name!r}; expected one of {', '.join(sorted(registry))}"
        )
    return registry[name]


def check_hyper(
    name: str,
    value: HyperParam | Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> HyperParam:
    """Validate a float or a tuple of floats against a range; return it as stored.

    A list or array of values is turned into a tuple of floats, so that configs
    stay hashable and comparable.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a sequence of numbers; got bool")
    if isinstance(value, (int, float, np.floating, np.integer)):
        values: tuple[float, ...] = (float(value),)
        stored: HyperParam = float(value)
    else:
        try:
            values = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a number or a sequence of numbers; "
                f"got {type(value).__name__}"
            ) from None
        if not values:
            raise ValueError(f"{name} must not be empty")
        stored = values
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite; got {v}")
        if low is not None and (v <= low if low_open else v < low):
            raise ValueError(
                f"{name} must be {'>' if low_open else '>='} {low}; got {v}"
            )
        if high is not None and (v >= high if high_open else v > high):
            raise ValueError(
                f"{name} must be {'<' if high_open else '<='} {high}; got {v}"
            )
    return stored


def per_member(value: HyperParam | Array, like: Array) -> Array:
    """Broadcast a hyperparameter to ``like``'s shape along the member axis.

    ``value`` is a scalar or has one entry per member (``like.shape[0]``); the
    result has shape ``(K, 1, ..., 1)`` with ``like.ndim`` axes, or is a 0-d
    array for a scalar. This is the only place that reshapes hyperparameters.
    """
    arr = np.asarray(value, dtype=like.dtype)
    if arr.ndim == 0:
        return arr
    if arr.shape != (like.shape[0],):
        raise ValueError(
            f"a per-member hyperparameter needs {like.shape[0]} values "
            f"(one per member); got {arr.shape[0] if arr.ndim == 1 else arr.shape}"
        )
    return arr.reshape((-1,) + (1,) * (like.ndim - 1))


def n_values(value: Any) -> int:
    """Return how many members a hyperparameter fixes (1 for a scalar)."""
    if isinstance(value, tuple):
        return len(value)
    arr = np.asarray(value)
    return 1 if arr.ndim == 0 else int(arr.shape[0])


def check_finite_array(name: str, x: Array) -> None:
    """Raise ValueError if ``x`` holds NaN or infinite values."""
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must contain only finite values; got NaN or inf")
