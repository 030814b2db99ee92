"""What the playground computes, without the web: settings, data, findings, seeds.

``playground`` serves the page and owns the live sessions; this module owns
everything they compute, in plain NumPy, so it can be tested without a
server: ``Settings`` (the state a URL carries, parsed and validated with the
documented limits), the 2-D data sets, building a network and optimizer from
settings, the diagnosis findings of a run in plain words, and the multi-seed
experiments (success rate with a Wilson interval, epochs to solve, a learning
rate x momentum heatmap), which train every seed as one ensemble with ``fit``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array, BoolArray
from .datasets import quadrant_xor, xor_data
from .losses import LOSSES
from .network import (
    Dense,
    MLPConfig,
    Params,
    backward,
    forward,
    param_arrays,
    predict_raw,
)
from .optimizers import OPTIMIZERS
from .presets import original_setup
from .training import DivergenceWarning, EpochView, fit

__all__ = [
    "DATA_SETS",
    "LIMITS",
    "LIVE_FIELDS",
    "Settings",
    "build_run",
    "findings",
    "lr_momentum_heatmap",
    "make_data",
    "parse_settings",
    "preset",
    "run_seeds",
    "wilson_interval",
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
        x, y = xor_data(constant_column=True)
        return x, y, x[:0], y[:0]
    rng = np.random.default_rng(DATA_SEED)
    if name == "quadrant_xor":
        x, y = quadrant_xor(points, noise, rng)
    else:
        x, y = _GENERATORS[name](points, rng)
        x = x + noise * rng.standard_normal(x.shape)
    order = rng.permutation(points)
    n_test = round(test_ratio * points)
    test, train = order[:n_test], order[n_test:]
    y = np.asarray(y, np.float64)
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


def _number(
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
    "noise": lambda v: _number("noise", v, float, 0.0, 1.0),
    "points": lambda v: _number("points", v, int, 20, LIMITS["points"]),
    "test": lambda v: _number("test", v, float, 0.0, 0.9),
    "hidden": _hidden,
    "activation": lambda v: _choice("activation", v, ACTIVATION_CHOICES),
    "loss": lambda v: _choice("loss", v, LOSS_CHOICES),
    "init": lambda v: _choice("init", v, INIT_CHOICES),
    "bias": lambda v: _flag("bias", v),
    "optimizer": lambda v: _choice("optimizer", v, tuple(OPTIMIZERS)),
    "lr": lambda v: _positive_rate(v),
    "momentum": lambda v: _number("momentum", v, float, 0.0, 1.0, high_open=True),
    "style": lambda v: _choice("momentum style", v, STYLE_CHOICES),
    "dampening": lambda v: _number("dampening", v, float, 0.0, 1.0),
    "nesterov": lambda v: _flag("nesterov", v),
    "batch": lambda v: _number("batch", v, int, 0, LIMITS["points"]),
    "seed": lambda v: _number("seed", v, int, 0, 2**31 - 1),
    "epochs": lambda v: _number("epochs", v, int, 1, LIMITS["epochs"]),
    "solve": lambda v: _number("solve", v, float, 0.5, 1.0),
    "seeds": lambda v: _number("seeds", v, int, 1, LIMITS["seeds"]),
}


def _positive_rate(text: Any) -> float:
    value = _number("lr", text, float, -math.inf, math.inf)
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
    """Return the training loss of the best constant output (the plateau).

    For ``sse`` it is the summed squared deviation from the target mean (1.0
    on XOR), for ``mse`` its mean, for cross-entropy the binary entropy of
    the class frequency.
    """
    p = float(np.mean(run.y))
    if run.loss == "sse":
        return float(np.sum((run.y - p) ** 2))
    if run.loss == "mse":
        return float(np.mean((run.y - p) ** 2))
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0)


# ---------------------------------------------------------------- findings


def findings(
    run: Run, params: Params, losses: Array, epoch: int, diverged: bool
) -> list[dict[str, str]]:
    """Diagnose a one-member run in plain words: ``[{kind, title, text}]``.

    ``kind`` is ``"problem"``, ``"ok"`` or ``"info"``. Covered: the
    original's wrong derivative, divergence, the constant-predictor plateau,
    saturated and dead hidden units, and the step size against the
    curvature (the largest Hessian eigenvalue, by power iteration).
    """
    out = []
    if run.config.activation == "sigmoid_wrong_derivative":
        out.append(
            _finding(
                "problem",
                "Backpropagation is wrong",
                "This run keeps the original program's mistake: it multiplies by "
                "s'(s(z)) instead of s'(z) = s(z)(1 - s(z)), so the steps do not "
                "follow the gradient of the loss. Load the corrected preset.",
            )
        )
    if diverged:
        out.append(
            _finding(
                "problem",
                "Diverged",
                "The loss or the weights became infinite; "
                "the last finite weights are kept. Lower the learning rate.",
            )
        )
    out.append(_plateau_finding(run, losses, epoch))
    out.extend(_unit_findings(run, params))
    out.append(_curvature_finding(run, params))
    return [f for f in out if f]


def _finding(kind: str, title: str, text: str) -> dict[str, str]:
    return {"kind": kind, "title": title, "text": text}


def _plateau_finding(run: Run, losses: Array, epoch: int) -> dict[str, str]:
    constant = constant_loss(run)
    if len(losses) == 0:
        return _finding(
            "info",
            "Not trained yet",
            f"The best constant output has loss "
            f"{constant:.4g}: that is the plateau where a stalled run sits.",
        )
    last = float(losses[-1])
    recent = losses[-min(len(losses), 200) :]
    flat = float(np.ptp(recent)) <= 1e-3 * max(constant, 1e-12)
    if epoch >= 200 and abs(last - constant) <= 0.02 * constant and flat:
        return _finding(
            "problem",
            "Stuck on the constant-output plateau",
            f"For the last {len(recent)} epochs the loss has stayed at {last:.4g}, "
            f"the loss of outputting the class average everywhere "
            f"({constant:.4g}). The network predicts the same value for every "
            "row. Try another seed (see how often this setting works with "
            "'run N seeds'), a larger learning rate or classical momentum.",
        )
    if last <= 0.05 * constant:
        return _finding(
            "ok",
            "Learning",
            f"The loss {last:.4g} is far below the "
            f"constant-output plateau {constant:.4g}.",
        )
    return _finding(
        "info",
        "Training",
        f"The loss is {last:.4g}; the constant-output plateau is at {constant:.4g}.",
    )


def _unit_findings(run: Run, params: Params) -> list[dict[str, str]]:
    """Saturated sigmoid/tanh units and dead ReLUs of the hidden layers."""
    a, out = run.x, []
    for i, layer in enumerate(params[:-1]):
        z = np.matmul(a, layer.w) + (0.0 if layer.b is None else layer.b[:, None, :])
        act = run.config.layer_activation(i)
        a = act.forward(z)
        n = layer.w.shape[-1]
        if act.name in ("sigmoid", "sigmoid_wrong_derivative", "tanh"):
            low = 0.0 if act.name != "tanh" else -1.0
            stuck = int(np.sum(np.all(np.minimum(a - low, 1.0 - a) < 1e-3, axis=1)))
            if stuck:
                out.append(
                    _finding(
                        "problem",
                        f"Saturated units in layer {i + 1}",
                        f"{stuck} of {n} units output almost exactly {low:g} or "
                        "1 on every row, so almost no gradient passes through "
                        "them. Smaller initial weights or a smaller rate help.",
                    )
                )
        if act.name == "relu":
            dead = int(np.sum(np.all(z <= 0, axis=1)))
            if dead:
                out.append(
                    _finding(
                        "problem",
                        f"Dead units in layer {i + 1}",
                        f"{dead} of {n} ReLU units are negative on every row: "
                        "they output 0 and never learn again. Try leaky_relu, "
                        "biases, or a smaller rate.",
                    )
                )
    return out


def _loss_gradient(run: Run, params: Params, flat: Array) -> Array:
    """Backprop's gradient of the training loss at the flat parameter vector."""
    arrays, start, rebuilt = param_arrays(params), 0, []
    for a in arrays:
        rebuilt.append(flat[start : start + a.size].reshape(a.shape))
        start += a.size
    from .network import with_arrays

    p = with_arrays(params, rebuilt)
    loss_fn = LOSSES[run.loss]
    out, caches = forward(p, run.config, run.x)
    y = run.y[:, None]
    grads = backward(p, run.config, caches, loss_fn.grad(out, y))
    return np.concatenate([g.ravel() for g in param_arrays(grads)])


def _power_iteration(hvp: Any, size: int, shift: float, iterations: int) -> float:
    """Dominant eigenvalue of ``H - shift I`` by power iteration, plus ``shift``."""
    v = np.random.default_rng(0).standard_normal(size)
    v /= np.linalg.norm(v)
    eigenvalue = 0.0
    for _ in range(iterations):
        hv = hvp(v) - shift * v
        eigenvalue = float(v @ hv)
        norm = float(np.linalg.norm(hv))
        if not norm > 0:
            break
        v = hv / norm
    return eigenvalue + shift


def largest_curvature(run: Run, params: Params, iterations: int = 30) -> float:
    """Largest Hessian eigenvalue of the training loss, for member 0.

    Power iteration on Hessian-vector products, each a central difference of
    backprop's gradient: ``H v ~ (g(w + e v) - g(w - e v)) / (2 e)``. When
    the dominant eigenvalue is negative, a second iteration on ``H - l I``
    finds the largest one.
    """
    params = tuple(
        Dense(layer.w[:1], None if layer.b is None else layer.b[:1]) for layer in params
    )
    w = np.concatenate([a.ravel() for a in param_arrays(params)])
    eps = 1e-5

    def hvp(v: Array) -> Array:
        return (
            _loss_gradient(run, params, w + eps * v)
            - _loss_gradient(run, params, w - eps * v)
        ) / (2 * eps)

    dominant = _power_iteration(hvp, w.size, 0.0, iterations)
    if dominant >= 0:
        return dominant
    return _power_iteration(hvp, w.size, dominant, iterations)


def _curvature_finding(run: Run, params: Params) -> dict[str, str]:
    """Compare the step with the stability limit of heavy-ball momentum."""
    opt = run.optimizer
    if type(opt).__name__ != "SGD":
        return _finding(
            "info",
            "Step size and curvature",
            "The step-size limit from the curvature is computed for SGD only: "
            "adaptive optimizers rescale every step by their own statistics.",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        curvature = largest_curvature(run, params)
    if not math.isfinite(curvature) or curvature <= 0:
        return _finding(
            "info",
            "Step size and curvature",
            "The loss has no positive "
            "curvature here, so there is no step-size limit to compare with.",
        )
    lr, mu = float(opt.learning_rate), float(opt.momentum)
    rate = {"ema": lr * (1 - mu), "dampened": lr * (1 - float(opt.dampening))}.get(
        opt.momentum_style, lr
    )
    limit = 2 * (1 + mu) / (1 + 2 * mu if opt.nesterov else 1)
    step = rate * curvature
    verdict = "below" if step < limit else "ABOVE"
    text = (
        f"The sharpest direction of the loss has curvature {curvature:.3g}. The "
        f"effective rate is {rate:.3g}"
        + (
            f" (the EMA form multiplies the rate by 1 - momentum = {1 - mu:.3g})"
            if opt.momentum_style == "ema"
            else ""
        )
        + f", so rate x curvature = {step:.3g}, {verdict} the stability limit "
        f"{limit:.3g} for momentum {mu:g}. "
    )
    text += (
        "Steps of this size are stable here."
        if step < limit
        else "Expect oscillation or divergence; lower the rate."
    )
    return _finding(
        "ok" if step < limit else "problem", "Step size and curvature", text
    )


# ---------------------------------------------------------------- many seeds


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval of a success rate (95% for z = 1.96).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _check_seed_budget(run: Run, n_members: int, n_epochs: int) -> None:
    steps = 1 if run.batch_size is None else math.ceil(len(run.x) / run.batch_size)
    work = n_members * n_epochs * steps
    if work > LIMITS["seed_steps"]:
        raise ValueError(
            f"seeds x epochs x steps per epoch must be <= "
            f"{LIMITS['seed_steps']:,}; got {n_members} x {n_epochs} x {steps} "
            f"= {work:,} (use fewer seeds or epochs, or a larger batch)"
        )


class _SolveTracker:
    """A fit callback recording each member's first solved epoch in ``first``.

    Accuracy is checked every ``ceil(n_epochs / 1000)`` epochs (and on the
    last), which costs a forward pass each time; that is the resolution of
    the epochs to solve. A solved member is stopped (masked), so the run ends
    as soon as every member has solved; ``cancelled()`` stops them all.
    """

    def __init__(
        self,
        run: Run,
        threshold: float,
        n_members: int,
        n_epochs: int,
        cancelled: Callable[[], bool],
    ) -> None:
        self.run, self.threshold, self.cancelled = run, threshold, cancelled
        self.first = np.full(n_members, -1)
        self.every = math.ceil(n_epochs / 1000)

    def __call__(self, view: EpochView) -> BoolArray | None:
        if view.epoch % self.every and not view.last:
            return None
        assert view.params is not None  # fit always passes the weights
        run = self.run
        solved = accuracy(run, view.params, run.x, run.y) >= self.threshold
        self.first[(self.first < 0) & solved & view.active] = view.epoch
        if self.cancelled():
            return np.ones(len(self.first), bool)
        return self.first >= 0


def _train_members(
    run: Run, optimizer: Any, n_members: int, epochs: int, solve: float, cancelled: Any
) -> tuple[Array, Array, Array]:
    """Train seeds 0..K-1 as one ensemble: first solved epoch, final loss, diverged."""
    tracker = _SolveTracker(run, solve, n_members, epochs, cancelled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        result = fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=optimizer,
            n_epochs=epochs,
            seeds=range(n_members),
            batch_size=run.batch_size,
            callbacks=[tracker],
        )
    final = (
        result.history.loss[-1]
        if result.history.n_epochs
        else np.full(n_members, np.nan)
    )
    return tracker.first, final, result.history.diverged_epoch


def run_seeds(
    s: Settings, n_seeds: int, cancelled: Any = lambda: False
) -> dict[str, Any]:
    """Train seeds 0..N-1 of ``s`` for ``s.epochs`` epochs as one ensemble.

    A seed succeeds when its training accuracy reaches ``s.solve`` at some
    epoch and it never diverges. Returns the success count and rate, its 95%
    Wilson interval, every seed's first solved epoch (-1 if never), and how
    many stalled on the constant-output plateau or diverged.
    """
    run = build_run(s)
    _check_seed_budget(run, n_seeds, s.epochs)
    first, final, diverged = _train_members(
        run, run.optimizer, n_seeds, s.epochs, s.solve, cancelled
    )
    solved = (first >= 0) & (diverged < 0)
    constant = constant_loss(run)
    plateau = (~solved) & (np.abs(final - constant) <= 0.02 * constant)
    low, high = wilson_interval(int(solved.sum()), n_seeds)
    return {
        "n_seeds": n_seeds,
        "epochs": s.epochs,
        "solved": int(solved.sum()),
        "rate": float(solved.mean()),
        "interval": [low, high],
        "plateau": int(plateau.sum()),
        "diverged": int((diverged >= 0).sum()),
        "epochs_to_solve": [int(e) for e in np.where(solved, first, -1)],
    }


def heatmap_axes(s: Settings) -> tuple[list[float], list[float]]:
    """Five learning rates (x1/4 to x4) and five momenta around the current setting."""
    rates = [min(s.lr * f, LIMITS["learning_rate"]) for f in (0.25, 0.5, 1.0, 2.0, 4.0)]
    momenta = sorted({0.0, 0.5, 0.9, 0.99, s.momentum})
    while len(momenta) > 5:
        momenta.remove(
            min(
                (m for m in momenta if m != s.momentum),
                key=lambda m: abs(m - s.momentum),
            )
        )
    return rates, momenta


def lr_momentum_heatmap(
    s: Settings, n_seeds: int, cancelled: Any = lambda: False
) -> dict[str, Any]:
    """Success rates on a 5 x 5 grid of learning rate x momentum around ``s``.

    Every cell trains seeds 0..n_seeds-1; all cells run as one ensemble with
    per-member learning rates and momenta.
    """
    if s.optimizer not in ("sgd", "rmsprop"):
        raise ValueError(
            f"the heatmap varies momentum, which optimizer {s.optimizer!r} "
            "does not have; choose sgd or rmsprop"
        )
    run = build_run(s)
    rates, momenta = heatmap_axes(s)
    cells = [(r, m) for m in momenta for r in rates]
    n_members = len(cells) * n_seeds
    _check_seed_budget(run, n_members, s.epochs)
    per_lr = tuple(r for r, _ in cells for _ in range(n_seeds))
    per_mu = tuple(m for _, m in cells for _ in range(n_seeds))
    optimizer = dataclasses.replace(
        run.optimizer, learning_rate=per_lr, momentum=per_mu
    )
    seeds = np.tile(np.arange(n_seeds), len(cells))
    tracker = _SolveTracker(run, s.solve, n_members, s.epochs, cancelled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        result = fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=optimizer,
            n_epochs=s.epochs,
            seeds=seeds.tolist(),
            batch_size=run.batch_size,
            callbacks=[tracker],
        )
    solved = (tracker.first >= 0) & (result.history.diverged_epoch < 0)
    table = solved.reshape(len(momenta), len(rates), n_seeds).mean(axis=2)
    return {
        "learning_rates": rates,
        "momenta": momenta,
        "n_seeds": n_seeds,
        "rate": table.tolist(),
    }
