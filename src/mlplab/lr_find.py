"""The learning-rate range test: raise the rate exponentially, watch the loss.

Following Smith (2017, "Cyclical learning rates for training neural networks")
and fastai's ``lr_find``: train a fresh network for ``n_steps`` epochs with the
rate growing geometrically from ``min_lr`` to ``max_lr`` (one rate per epoch),
stop when the loss exceeds ``divergence_factor`` times its best, and suggest
the rate where the loss falls fastest against log(rate). Momentum, its
convention and everything else stay as configured, so the suggestion is for
that optimizer. Plotting is left to ``plots.plot_lr_find``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import Array
from .network import MLPConfig, Params
from .optimizers import SGD
from .training import DivergenceWarning, EpochView, fit

__all__ = ["ExponentialRange", "LRFindResult", "lr_find"]


@dataclass(frozen=True)
class ExponentialRange:
    """Rate ``start * (stop / start)^(i / (n - 1))`` in epoch ``i``.

    The epoch is ``step // steps_per_epoch``, so a rate holds for a whole epoch.

    Examples
    --------
    >>> r = ExponentialRange(1e-3, 1.0, n_steps=4)
    >>> [round(r(i), 6) for i in range(4)]
    [0.001, 0.01, 0.1, 1.0]
    """

    start: float
    stop: float
    n_steps: int
    steps_per_epoch: int = 1

    def __call__(self, step: int) -> float:
        """Return the rate for optimizer step ``step``."""
        i = min(step // self.steps_per_epoch, self.n_steps - 1)
        return float(
            self.start * (self.stop / self.start) ** (i / max(1, self.n_steps - 1))
        )


@dataclass(frozen=True)
class LRFindResult:
    """The range test's curve and suggestions.

    ``losses[i]`` is the mean loss over the members after the epoch trained at
    ``rates[i]``, ``smoothed`` its exponential moving average (bias-corrected);
    both stop where the loss diverged. ``steepest_rate`` is where
    ``smoothed`` falls fastest against log(rate), before its minimum;
    ``min_loss_rate`` is the rate of the lowest loss. ``suggested_rate`` is
    the more cautious of fastai's two rules of thumb, ``min(steepest_rate,
    min_loss_rate / 10)``: with few samples the steepest drop can come late in
    the range, close to the rates that break training.
    """

    rates: Array
    losses: Array
    smoothed: Array
    suggested_rate: float
    steepest_rate: float
    min_loss_rate: float
    diverged: bool


def lr_find(
    config: MLPConfig,
    x: Array,
    y: Array,
    *,
    loss: str,
    optimizer: SGD,
    min_lr: float = 1e-4,
    max_lr: float = 10.0,
    n_steps: int = 100,
    seeds: Sequence[int] = (0,),
    batch_size: int | None = None,
    params: Params | None = None,
    divergence_factor: float = 4.0,
    smoothing: float | None = None,
) -> LRFindResult:
    """Run the learning-rate range test.

    Parameters
    ----------
    config, x, y, loss, batch_size, params
        As for ``fit``.
    optimizer : SGD
        Its momentum settings are kept; its learning rate is replaced by the range.
    min_lr, max_lr : float
        The first and last rate (0 < min_lr < max_lr).
    n_steps : int
        Number of rates (one epoch each), at least 3.
    seeds : sequence of int
        One member per seed; the curve is their mean loss.
    divergence_factor : float
        Stop once the loss exceeds this multiple of its best so far.
    smoothing : float, optional
        EMA coefficient for the curve; default 0 for full batches (the loss is
        exact) and 0.9 for mini-batches.

    Returns
    -------
    LRFindResult

    Examples
    --------
    >>> from mlplab import original_setup
    >>> s = original_setup()
    >>> r = lr_find(s.config, s.x, s.y, loss="sse", optimizer=s.optimizer, n_steps=30)
    >>> bool(1e-4 <= r.suggested_rate <= 10.0)
    True
    """
    if not 0 < min_lr < max_lr or not math.isfinite(max_lr):
        raise ValueError(
            f"need 0 < min_lr < max_lr; got min_lr={min_lr}, max_lr={max_lr}"
        )
    if n_steps < 3:
        raise ValueError(f"n_steps must be >= 3; got {n_steps}")
    if not divergence_factor > 1:
        raise ValueError(f"divergence_factor must be > 1; got {divergence_factor}")
    n_samples = np.asarray(x).shape[-2]
    per_epoch = (
        1 if batch_size is None else math.ceil(n_samples / min(batch_size, n_samples))
    )
    schedule = ExponentialRange(min_lr, max_lr, n_steps, per_epoch)
    opt = dataclasses.replace(optimizer, learning_rate=schedule)
    best: list[float] = [math.inf]

    def stop_when_diverged(view: EpochView) -> Any:
        mean = float(np.mean(view.history.loss[view.epoch - 1]))
        best[0] = min(best[0], mean)
        if not np.isfinite(mean) or mean > divergence_factor * best[0]:
            return np.ones(len(view.active), bool)
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        result = fit(
            config,
            x,
            y,
            loss=loss,
            optimizer=opt,
            n_epochs=n_steps + 1,
            seeds=seeds,
            batch_size=batch_size,
            params=params,
            callbacks=[stop_when_diverged],
        )
    # For full batches the loss of epoch i + 1 is the loss after the step at rate i.
    curve = np.mean(result.history.loss, axis=1)
    curve = curve[1:] if batch_size is None else curve[:-1]
    rates = np.array([schedule(i * per_epoch) for i in range(n_steps)])
    return _summarise(
        rates,
        curve,
        divergence_factor,
        (0.0 if batch_size is None else 0.9) if smoothing is None else smoothing,
    )


def _summarise(rates: Array, curve: Array, factor: float, beta: float) -> LRFindResult:
    """Cut the curve where it diverged, smooth it, and pick the suggested rates."""
    running_best = np.minimum.accumulate(np.where(np.isfinite(curve), curve, np.inf))
    bad = ~np.isfinite(curve) | (curve > factor * running_best)
    end = int(np.argmax(bad)) if bad.any() else len(curve)
    end = max(end, 2)
    rates, curve = rates[:end], curve[:end]
    smoothed = np.empty_like(curve)
    average = 0.0
    for i, value in enumerate(curve):
        average = beta * average + (1.0 - beta) * value
        smoothed[i] = average / (1.0 - beta ** (i + 1))
    lowest = int(np.argmin(smoothed))
    slope = np.gradient(smoothed, np.log(rates))
    steepest = int(np.argmin(slope[: max(lowest, 1) + 1]))
    suggested = min(float(rates[steepest]), float(rates[lowest]) / 10.0)
    return LRFindResult(
        rates,
        curve,
        smoothed,
        suggested,
        float(rates[steepest]),
        float(rates[lowest]),
        bool(bad.any()),
    )
