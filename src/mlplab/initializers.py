"""Weight initialisers, ``(rng, shape) -> array``, and per-member generators.

Each member of an ensemble owns a seed; ``member_rngs(seed)`` derives its two
independent generators (one for initial weights, one for shuffling) from that
seed alone, so adding a member never changes the others. Initialisers draw in
float64 and the network casts, so float32 and float64 runs of one seed start
from the same weights up to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._types import FloatArray

__all__ = [
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Normal",
    "Uniform",
    "member_rngs",
    "parse_init",
]


def member_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Return a member's (initialisation, shuffling) generators, from its seed alone."""
    init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(shuffle_seq)


@dataclass(frozen=True)
class Uniform:
    """Uniform on ``[low, high)``; the default ``[0, 1)`` is the original program's."""

    low: float = 0.0
    high: float = 1.0

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``shape`` array uniformly from ``[low, high)``."""
        return rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class Normal:
    """Normal with mean 0 and standard deviation ``std``."""

    std: float = 0.01

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``shape`` array from N(0, std^2)."""
        return self.std * rng.standard_normal(shape)


@dataclass(frozen=True)
class GlorotUniform:
    """Glorot & Bengio (2010): uniform on ``+-sqrt(6 / (fan_in + fan_out))``."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``(fan_in, fan_out)`` array."""
        limit = math.sqrt(6.0 / (shape[0] + shape[1]))
        return rng.uniform(-limit, limit, size=shape)


@dataclass(frozen=True)
class GlorotNormal:
    """Glorot & Bengio (2010): normal with std ``sqrt(2 / (fan_in + fan_out))``."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``(fan_in, fan_out)`` array (untruncated normal)."""
        return math.sqrt(2.0 / (shape[0] + shape[1])) * rng.standard_normal(shape)


@dataclass(frozen=True)
class HeUniform:
    """He et al. (2015): uniform on ``+-sqrt(6 / fan_in)``, for ReLU layers."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``(fan_in, fan_out)`` array."""
        limit = math.sqrt(6.0 / shape[0])
        return rng.uniform(-limit, limit, size=shape)


@dataclass(frozen=True)
class HeNormal:
    """He et al. (2015): normal with std ``sqrt(2 / fan_in)``, for ReLU layers."""

    def __call__(self, rng: np.random.Generator, shape: tuple[int, int]) -> FloatArray:
        """Draw a ``(fan_in, fan_out)`` array (untruncated normal)."""
        return math.sqrt(2.0 / shape[0]) * rng.standard_normal(shape)


Initializer = GlorotUniform | GlorotNormal | HeUniform | HeNormal | Uniform | Normal

INITIALIZERS: dict[str, type[Initializer]] = {
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "uniform": Uniform,
    "normal": Normal,
}


def parse_init(spec: str) -> Initializer:
    """Turn an init spec into an initialiser.

    ``"glorot_uniform"``, ``"glorot_normal"``, ``"he_uniform"``, ``"he_normal"``,
    ``"uniform"`` (``[0, 1)``), ``"uniform:LOW,HIGH"``, ``"normal"`` (std 0.01)
    or ``"normal:STD"``.

    Examples
    --------
    >>> parse_init("uniform:-0.5,0.5")
    Uniform(low=-0.5, high=0.5)
    """
    name, _, args = spec.partition(":")
    if name not in INITIALIZERS:
        raise ValueError(
            f"unknown init {spec!r}; expected one of {', '.join(INITIALIZERS)} "
            "(uniform and normal take ':LOW,HIGH' and ':STD')"
        )
    if not args:
        return INITIALIZERS[name]()
    if name not in ("uniform", "normal"):
        raise ValueError(f"init {name!r} takes no arguments; got {spec!r}")
    try:
        values = [float(v) for v in args.split(",")]
    except ValueError:
        raise ValueError(f"init {spec!r} has a non-numeric argument") from None
    if not all(math.isfinite(v) and abs(v) <= 1e150 for v in values):
        raise ValueError(f"init {spec!r} needs finite arguments of at most 1e150")
    if name == "uniform":
        if len(values) != 2 or not values[0] < values[1]:
            raise ValueError(
                f"init uniform needs ':LOW,HIGH' with LOW < HIGH; got {spec!r}"
            )
        return Uniform(values[0], values[1])
    if len(values) != 1 or not values[0] > 0:
        raise ValueError(f"init normal needs ':STD' with STD > 0; got {spec!r}")
    return Normal(values[0])
