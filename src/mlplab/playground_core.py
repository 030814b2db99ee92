"""What a playground URL holds: settings, data sets, and the run they build.

``playground`` serves the page and owns the live sessions; ``playground_runs``
diagnoses a run and trains many seeds. This module owns the inputs of both, in
plain NumPy so that they are tested without a server: ``Settings`` (every
control of the page; the field names are the URL's keys), parsed and
validated against the documented ``LIMITS``; the 2-D data sets; and
``build_run``, which turns settings into a network, an optimizer and data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._types import Array
from .datasets import quadrant_xor, xor_data
from .losses import LOSSES
from .network import MLPConfig, Params, predict_raw
from .optimizers import OPTIMIZERS
from .outcomes import constant_predictor_loss
from .presets import original_setup

__all__ = [
    "DATA_SETS",
    "LIMITS",
    "LIVE_FIELDS",
    "Run",
    "Settings",
    "accuracy",
    "build_run",
    "constant_loss",
    "make_data",
    "parse_number",
    "parse_settings",
    "preset",
    "probabilities",
]

# Documented limits (README, ``mlplab playground --help`` and /api/options).
LIMITS: dict[str, int] = {
    "hidden_layers": 4,  # at most this many hidden layers
    "units": 32,  # at most this many units per hidden layer
    "points": 1000,  # rows of a generated data set
    "epochs": 100_000,  # the epoch budget of a live run and of each seed
    "seeds": 1000,  # members of a multi-seed run
    "seed_steps": 5_000_000,  # seeds x epochs x steps per epoch of a multi-seed run
    "heatmap_seeds": 50,  # seeds per heatmap cell (25 cells)
    "learning_rate": 100,
}
DATA_SETS = ("xor", "quadrant_xor", "moons", "circles", "spiral", "gaussians")
ACTIVATION_CHOICES = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "identity",
    "sigmoid_wrong_derivative",
)
LOSS_CHOICES = ("sse", "mse", "binary_cross_entropy")
INIT_CHOICES = ("uniform", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
STYLE_CHOICES = ("classical", "lr-inside", "dampened", "ema")
# Changing only these keeps the weights and the optimizer state (a live change).
LIVE_FIELDS = frozenset({"lr", "momentum", "epochs", "solve", "seeds"})
DATA_SEED = 0  # generated data sets are drawn once with this seed


# ---------------------------------------------------------------- data sets


def _moons(n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two interleaved half circles, centred on the origin."""
    half = n // 2
    t = rng.uniform(0.0, math.pi, n)
    upper = np.stack([np.cos(t[:half]), np.sin(t[:half])], axis=1)
    lower = np.stack([1.0 - np.cos(t[half:]), 0.5 - np.sin(t[half:])], axis=1)
    x = np.vstack([upper, lower]) - np.array([0.5, 0.25])
    return x, np.r_[np.zeros(half), np.ones(n - half)]


def _circles(n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Draw a disc of radius 0.5 (class 1) inside a ring of radius 1 (class 0)."""
    half = n // 2
    t = rng.uniform(0.0, 2 * math.pi, n)
    radius = np.r_[np.ones(half), np.full(n - half, 0.5)]
    x = radius[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    return x, np.r_[np.zeros(half), np.ones(n - half)]


def _spiral(n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two spiral arms of 1.75 turns each, the second rotated by half a turn."""
    half = n // 2
    r = np.r_[np.linspace(0.05, 1.0, half), np.linspace(0.05, 1.0, n - half)]
    t = 1.75 * 2 * math.pi * r + np.r_[np.zeros(half), np.full(n - half, math.pi)]
    x = r[:, None] * np.stack([np.sin(t), np.cos(t)], axis=1)
    return x, np.r_[np.zeros(half), np.ones(n - half)]


def _gaussians(n: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two round clusters (std 0.25) centred at (-0.5, -0.5) and (0.5, 0.5)."""
    half = n // 2
    centres = np.r_[np.full((half, 2), -0.5), np.full((n - half, 2), 0.5)]
    return centres + 0.25 * rng.standard_normal((n, 2)), np.r_[
        np.zeros(half), np.ones(n - half)
    ]


_GENERATORS = {
    "moons": _moons,
    "circles": _circles,
    "spiral": _spiral,
    "gaussians": _gaussians,
}


def make_data(
    name: str, points: int, noise: float, test_ratio: float
) -> tuple[Array, Array, Array, Array]:
    """Return ``(x_train, y_train, x_test, y_test)`` for a playground data set.

    ``xor`` is the original four rows with their constant third input (all
    for training, none for testing); the others are 2-D point sets drawn with
    ``DATA_SEED``, with Gaussian noise of standard deviation ``noise`` added
    to every coordinate (``quadrant_xor`` comes from ``mlplab.datasets``), and
    a seeded random ``test_ratio`` of the rows held out.

    Examples
    --------
    >>> x, y, x_test, y_test = make_data("moons", 100, 0.1, 0.2)
    >>> x.shape, y.shape, x_test.shape
    ((80, 2), (80,), (20, 2))
    """
    if name == "xor":
        x_xor, y_xor = xor_data(constant_column=True)
        return x_xor, y_xor, x_xor[:0], y_xor[:0]
    rng = np.random.default_rng(DATA_SEED)
    labels: NDArray[Any]  # integer classes or float targets, by generator
    if name == "quadrant_xor":
        x, labels = quadrant_xor(points, noise, rng)
    else:
        x, labels = _GENERATORS[name](points, rng)
        x = x + noise * rng.standard_normal(x.shape)
    order = rng.permutation(points)
    n_test = round(test_ratio * points)
    test, train = order[:n_test], order[n_test:]
    y: Array = np.asarray(labels, np.float64)
    return x[train], y[train], x[test], y[test]


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything a playground URL holds; the field names are the URL's keys.

    ``batch`` 0 means full batch; ``solve`` is the training accuracy at which
    a run counts as solved (1.0 on the 4-point XOR means every row on the
    right side of 0.5); ``seeds`` is N of the multi-seed panel. The output
    unit is a sigmoid for ``sse`` and ``mse`` (the wrong-derivative sigmoid
    when the hidden layers use it, as the original program did) and linear
    for ``binary_cross_entropy``, which takes logits.
    """

    data: str = "xor"
    noise: float = 0.1
    points: int = 200
    test: float = 0.0
    hidden: tuple[int, ...] = (4,)
    activation: str = "sigmoid"
    loss: str = "sse"
    init: str = "uniform"
    bias: bool = False
    optimizer: str = "sgd"
    lr: float = 0.5
    momentum: float = 0.5
    style: str = "ema"
    dampening: float = 0.0
    nesterov: bool = False
    batch: int = 0
    seed: int = 0
    epochs: int = 10_000
    solve: float = 0.95
    seeds: int = 100

    def to_query(self) -> dict[str, str]:
        """Return the settings as URL query values (``parse_settings`` inverts it)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            elif isinstance(value, tuple):
                out[f.name] = ",".join(map(str, value))
            else:
                out[f.name] = str(value)
        return out


def parse_number(
    name: str, text: Any, kind: type, low: float, high: float, high_open: bool = False
) -> Any:
    """Parse one numeric setting and check its range, or raise ValueError."""
    try:
        value = kind(float(text)) if kind is float else int(str(text))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {text!r}")
    if value < low or (value >= high if high_open else value > high):
        bracket = ")" if high_open else "]"
        raise ValueError(
            f"{name} must be in [{low:g}, {high:g}{bracket}; got {value:g}"
        )
    return value


def _choice(name: str, text: Any, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise ValueError(
            f"unknown {name} {text!r}; expected one of {', '.join(choices)}"
        )
    return str(text)


def _flag(name: str, text: Any) -> bool:
    if isinstance(text, bool):
        return text
    if str(text).lower() in ("1", "true", "on", "yes"):
        return True
    if str(text).lower() in ("0", "false", "off", "no"):
        return False
    raise ValueError(f"{name} must be 0 or 1; got {text!r}")


def _hidden(text: Any) -> tuple[int, ...]:
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    try:
        sizes = tuple(int(str(s).strip()) for s in items if str(s).strip())
    except ValueError:
        raise ValueError(
            f"hidden must be comma-separated widths such as 4,4; got {text!r}"
        ) from None
    if not 1 <= len(sizes) <= LIMITS["hidden_layers"]:
        raise ValueError(
            f"hidden must have 1 to {LIMITS['hidden_layers']} layers; got {len(sizes)}"
        )
    if any(not 1 <= s <= LIMITS["units"] for s in sizes):
        raise ValueError(
            f"each hidden layer must have 1 to {LIMITS['units']} units; got {text!r}"
        )
    return sizes


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "data": lambda v: _choice("data set", v, DATA_SETS),
    "noise": lambda v: parse_number("noise", v, float, 0.0, 1.0),
    "points": lambda v: parse_number("points", v, int, 20, LIMITS["points"]),
    "test": lambda v: parse_number("test", v, float, 0.0, 0.9),
    "hidden": _hidden,
    "activation": lambda v: _choice("activation", v, ACTIVATION_CHOICES),
    "loss": lambda v: _choice("loss", v, LOSS_CHOICES),
    "init": lambda v: _choice("init", v, INIT_CHOICES),
    "bias": lambda v: _flag("bias", v),
    "optimizer": lambda v: _choice("optimizer", v, tuple(OPTIMIZERS)),
    "lr": lambda v: _positive_rate(v),
    "momentum": lambda v: parse_number("momentum", v, float, 0.0, 1.0, high_open=True),
    "style": lambda v: _choice("momentum style", v, STYLE_CHOICES),
    "dampening": lambda v: parse_number("dampening", v, float, 0.0, 1.0),
    "nesterov": lambda v: _flag("nesterov", v),
    "batch": lambda v: parse_number("batch", v, int, 0, LIMITS["points"]),
    "seed": lambda v: parse_number("seed", v, int, 0, 2**31 - 1),
    "epochs": lambda v: parse_number("epochs", v, int, 1, LIMITS["epochs"]),
    "solve": lambda v: parse_number("solve", v, float, 0.5, 1.0),
    "seeds": lambda v: parse_number("seeds", v, int, 1, LIMITS["seeds"]),
}


def _positive_rate(text: Any) -> float:
    value = parse_number("lr", text, float, -math.inf, math.inf)
    if not 0 < value <= LIMITS["learning_rate"]:
        raise ValueError(
            f"lr must be > 0 and <= {LIMITS['learning_rate']:g}; got {value:g}"
        )
    return float(value)


def parse_settings(values: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Validate ``values`` (URL strings or JSON numbers) over ``base`` (or defaults).

    Raises
    ------
    ValueError
        Naming the setting, what it accepts and what arrived, for an unknown
        key, an unknown choice or a number out of its documented range.

    Examples
    --------
    >>> parse_settings({"lr": "0.1", "hidden": "8,8"}).hidden
    (8, 8)
    >>> parse_settings({"lr": "-1"})
    Traceback (most recent call last):
    ...
    ValueError: lr must be > 0 and <= 100; got -1
    """
    unknown = sorted(set(values) - set(_PARSERS))
    if unknown:
        raise ValueError(
            f"unknown setting {unknown[0]!r}; expected some of {', '.join(_PARSERS)}"
        )
    changes = {name: _PARSERS[name](value) for name, value in values.items()}
    settings = dataclasses.replace(base or Settings(), **changes)
    if settings.nesterov and settings.optimizer == "sgd" and settings.momentum == 0:
        raise ValueError("nesterov needs momentum > 0")
    return settings


def preset(fixed: bool) -> Settings:
    """Return the original program's settings (``original_setup``), fixed or not."""
    setup = original_setup(fixed=fixed)
    config, opt = setup.config, setup.optimizer
    return Settings(
        data="xor",
        hidden=config.layer_sizes[1:-1],
        activation=config.activation,
        loss=setup.loss,
        init=config.init,
        bias=config.use_bias,
        optimizer="sgd",
        lr=float(opt.learning_rate),  # type: ignore[arg-type]
        momentum=float(opt.momentum),  # type: ignore[arg-type]
        style=opt.momentum_style,
        dampening=float(opt.dampening),  # type: ignore[arg-type]
        nesterov=opt.nesterov,
        batch=0,
        seed=setup.seed,
        epochs=setup.n_epochs,
    )


# ---------------------------------------------------------------- building a run


@dataclass(frozen=True)
class Run:
    """A network, loss, optimizer and data built from settings."""

    config: MLPConfig
    loss: str
    optimizer: Any
    x: Array
    y: Array
    x_test: Array
    y_test: Array
    batch_size: int | None


def make_optimizer(s: Settings) -> Any:
    """Build the optimizer the settings describe (momentum where it has one)."""
    if s.optimizer == "sgd":
        return OPTIMIZERS["sgd"](
            learning_rate=s.lr,
            momentum=s.momentum,
            momentum_style=s.style,
            dampening=s.dampening,
            nesterov=s.nesterov,
        )
    if s.optimizer == "rmsprop":
        return OPTIMIZERS["rmsprop"](learning_rate=s.lr, momentum=s.momentum)
    return OPTIMIZERS[s.optimizer](learning_rate=s.lr)


def build_run(s: Settings) -> Run:
    """Build the network, optimizer and data of ``s``."""
    x, y, x_test, y_test = make_data(s.data, s.points, s.noise, s.test)
    logits = LOSSES[s.loss].from_logits
    output = (
        "identity"
        if logits
        else (
            "sigmoid_wrong_derivative"
            if s.activation == "sigmoid_wrong_derivative"
            else "sigmoid"
        )
    )
    config = MLPConfig(
        (x.shape[1], *s.hidden, 1),
        activation=s.activation,
        output_activation=output,
        use_bias=s.bias,
        init=s.init,
    )
    batch = None if s.batch == 0 or s.batch >= len(x) else s.batch
    return Run(config, s.loss, make_optimizer(s), x, y, x_test, y_test, batch)


def probabilities(run: Run, params: Params, x: Array) -> Array:
    """Each member's output on ``x`` as a probability of class 1, ``(K, n_samples)``."""
    return LOSSES[run.loss].link(predict_raw(params, run.config, x))[..., 0]


def accuracy(run: Run, params: Params, x: Array, y: Array) -> Array:
    """Each member's fraction of rows on the right side of 0.5, ``(K,)``."""
    if len(x) == 0:
        return np.full(params[0].w.shape[0], np.nan)
    return np.mean((probabilities(run, params, x) > 0.5) == (y > 0.5), axis=1)  # type: ignore[no-any-return]


def constant_loss(run: Run) -> float:
    """Return the training loss of the best constant output (the plateau's height).

    ``outcomes.constant_predictor_loss``: 1.0 for XOR and ``sse``.
    """
    return constant_predictor_loss(run.loss, run.y[:, None])
