"""The training loop: batches, forward, loss, backward, update, record.

``fit`` trains every member of an ensemble at once. Each member shuffles with
its own generator, so member k's run is the run a single network with member
k's seed would have. A member whose loss or weights turn non-finite stops: it
keeps its last finite weights, its optimizer state freezes, and the history
records the epoch (``History.diverged_epoch``); no NaN weight is ever returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import warnings

import numpy as np

from ._types import Array, BoolArray
from ._validation import lookup
from .initializers import member_rngs
from .losses import LOSSES, check_target
from .network import MLPConfig, Params, init_params, param_arrays
from .workspace import Workspace

__all__ = ["DivergenceWarning", "EpochView", "FitResult", "History", "TrainState", "fit", "prepare_targets"]


class DivergenceWarning(UserWarning):
    """Some members' loss or weights turned non-finite; they were stopped."""


@dataclass
class History:
    """Per-epoch metrics, each an array ``(n_epochs, n_members)``.

    ``metrics["loss"]`` is the training loss: for full batches the loss of the
    weights before that epoch's step (what the original program plotted), for
    mini-batches the epoch's batch losses combined as the loss reduces (summed
    for ``sse``, size-weighted mean otherwise). ``diverged_epoch[k]`` is the
    epoch at which member k's loss or weights turned non-finite, or -1.
    """

    metrics: dict[str, Array] = field(default_factory=dict)
    diverged_epoch: Array = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def loss(self) -> Array:
        """The training loss, ``(n_epochs, n_members)``."""
        return self.metrics["loss"]

    @property
    def n_epochs(self) -> int:
        """Number of recorded epochs."""
        return 0 if not self.metrics else len(self.metrics["loss"])


class TrainState(NamedTuple):
    """Everything a run needs to continue exactly where it stopped."""

    params: Params
    opt_state: Any
    active: BoolArray
    epoch: int
    shuffle_rngs: tuple[np.random.Generator, ...]


class EpochView(NamedTuple):
    """What a callback sees after an epoch (read-only by convention)."""

    epoch: int
    n_epochs: int
    history: History
    active: BoolArray


class FitResult(NamedTuple):
    """What ``fit`` returns: the final state and the history."""

    state: TrainState
    history: History

    @property
    def params(self) -> Params:
        """The final parameters."""
        return self.state.params


def prepare_targets(y: Array, n_outputs: int) -> Array:
    """At the public edge: turn a 1-D target for a single output into a column."""
    y = np.asarray(y)
    if y.ndim == 1 and n_outputs == 1:
        return y[:, None]
    return y


def fit(  # noqa: PLR0913
    config: MLPConfig,
    x: Array,
    y: Array,
    *,
    loss: str,
    optimizer: Any,
    n_epochs: int,
    seeds: Sequence[int] = (0,),
    batch_size: int | None = None,
    shuffle: bool = True,
    params: Params | None = None,
    state: TrainState | None = None,
    callbacks: Sequence[Callable[[EpochView], Any]] = (),
) -> FitResult:
    """Train one member per seed for ``n_epochs`` epochs.

    Parameters
    ----------
    config : MLPConfig
        The architecture shared by every member.
    x : array, shape (n_samples, n_features) or (K, n_samples, n_features)
        Inputs, shared or per member.
    y : array, shape (n_samples,), (n_samples, n_outputs) or (K, n_samples, n_outputs)
        Targets; a 1-D target is accepted for a single-output network.
    loss : str
        A name in ``LOSSES``.
    optimizer : SGD or another optimizer
        Any object with ``init(params)`` and ``update(grads, state, params)``.
    n_epochs : int
        Epochs to run now (added to ``state.epoch`` when resuming).
    seeds : sequence of int
        One seed per member; each seeds that member's weights and shuffling.
    batch_size : int or None
        Rows per step; None (or >= n_samples) is full batch, unshuffled.
    shuffle : bool
        Reshuffle the rows every epoch for mini-batches (per member).
    params : Params, optional
        Initial parameters instead of drawing them from the seeds.
    state : TrainState, optional
        Continue a previous run exactly (weights, optimizer, shuffling).
    callbacks : sequence of callables
        Called with an ``EpochView`` after each epoch; a boolean ``(K,)``
        result stops those members (masked, not removed).

    Returns
    -------
    FitResult
        ``.state`` to continue from and ``.history`` of this call's epochs.

    Raises
    ------
    ValueError
        If shapes do not match the network or an argument is out of range.
    """
    loss_fn = lookup(LOSSES, "loss", loss)
    dtype = config.np_dtype
    x = np.asarray(x, dtype=dtype)
    y = prepare_targets(y, config.n_outputs).astype(dtype, copy=False)
    _check_data(config, x, y, loss_fn)
    if n_epochs < 0:
        raise ValueError(f"n_epochs must be >= 0; got {n_epochs}")
    n_samples = x.shape[-2]
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None; got {batch_size}")
    full_batch = batch_size is None or batch_size >= n_samples
    if state is None:
        state = _initial_state(config, optimizer, seeds, params)
    n_members = state.params[0].w.shape[0]
    history = History(
        {"loss": np.full((n_epochs, n_members), np.nan, dtype)},
        np.full(n_members, -1, np.int64),
    )
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        # A diverging member overflows by design; it is caught by the finiteness
        # check in _update and reported once below, not as NumPy warnings.
        # (Underflow in the softmax's exp is 0 by design, as in ``softmax``.)
        state = _run_epochs(state, config, loss_fn, optimizer, x, y, batch_size,
                            shuffle, full_batch, history, n_epochs, callbacks)
    diverged = np.flatnonzero(history.diverged_epoch >= 0)
    if diverged.size:
        warnings.warn(
            f"{diverged.size} of {n_members} members diverged (non-finite loss or "
            f"weights), first at epoch {int(history.diverged_epoch[diverged].min())}; "
            "they keep their last finite weights (see History.diverged_epoch)",
            DivergenceWarning,
            stacklevel=2,
        )
    return FitResult(state, history)


def _run_epochs(
    state: TrainState, config: MLPConfig, loss_fn: Any, optimizer: Any, x: Array,
    y: Array, batch_size: int | None, shuffle: bool, full_batch: bool,
    history: History, n_epochs: int, callbacks: Sequence[Callable[[EpochView], Any]],
) -> TrainState:
    """The epoch loop: train, advance the epoch, let callbacks stop members."""
    # Steps run on preallocated buffers (workspace.py); between epochs the
    # state holds copies, so callbacks may keep or replace them freely.
    ws = Workspace(config, loss_fn, optimizer, len(state.active))
    for row in range(n_epochs):
        ws.load(state.params, state.opt_state)
        if full_batch:
            state = _step(state, ws, x, y, history, row)
        else:
            state = _minibatch_epoch(state, ws, x, y, batch_size, shuffle, history, row)  # type: ignore[arg-type]
        params, opt_state = ws.export()
        state = state._replace(params=params, opt_state=opt_state, epoch=state.epoch + 1)
        view = EpochView(state.epoch, n_epochs, history, state.active)
        for callback in callbacks:
            stop = callback(view)
            if stop is not None:
                state = state._replace(active=state.active & ~np.asarray(stop, bool))
    return state


def _check_data(config: MLPConfig, x: Array, y: Array, loss_fn: Any) -> None:
    """Check inputs and targets against the network once, before training."""
    if x.ndim not in (2, 3) or x.shape[-1] != config.n_features:
        raise ValueError(
            f"x must be (n_samples, {config.n_features}) for a network with "
            f"{config.n_features} inputs; got shape {x.shape}"
        )
    y_shape = (*x.shape[:-1], config.n_outputs)
    check_target(np.empty(y_shape if x.ndim == 3 else (1, *y_shape)), y)
    if loss_fn.from_logits and config.output_activation != "identity":
        raise ValueError(
            f"loss {loss_fn.name!r} takes logits, so output_activation must be "
            f"'identity'; got {config.output_activation!r}"
        )


def _initial_state(
    config: MLPConfig, optimizer: Any, seeds: Sequence[int], params: Params | None
) -> TrainState:
    """Draw (or take) initial weights and make a fresh optimizer state."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed (one per member)")
    if params is None:
        params = init_params(config, seeds)
    elif params[0].w.shape[0] != len(seeds):
        raise ValueError(
            f"params have {params[0].w.shape[0]} members but {len(seeds)} seeds were given"
        )
    opt_state = optimizer.init(param_arrays(params))
    rngs = tuple(member_rngs(s)[1] for s in seeds)
    return TrainState(params, opt_state, np.ones(len(seeds), bool), 0, rngs)


def _minibatch_epoch(
    state: TrainState, ws: Workspace, x: Array, y: Array, batch_size: int,
    shuffle: bool, history: History, row: int,
) -> TrainState:
    """One pass over shuffled mini-batches; records the epoch's combined loss."""
    n_samples = x.shape[-2]
    # One permutation per member per epoch; each batch's rows are gathered
    # from it straight into a buffer (no shuffled copy of the data).
    order = (np.stack([rng.permutation(n_samples) for rng in state.shuffle_rngs])
             if shuffle else None)
    total = np.zeros(len(state.active), x.dtype)
    sse = ws.loss_fn.name == "sse"
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        buf = ws.buffers(stop - start, x, y, gathered=order is not None)
        if order is None:
            xb, yb = x[..., start:stop, :], y[..., start:stop, :]
        else:
            xb = ws.gather(x, order[:, start:stop], buf.x)  # type: ignore[arg-type]
            yb = ws.gather(y, order[:, start:stop], buf.y)  # type: ignore[arg-type]
        state, batch_loss = _update(state, ws, xb, yb, buf, history)
        total += batch_loss if sse else ((stop - start) / n_samples) * batch_loss
    history.metrics["loss"][row] = total
    return state


def _step(
    state: TrainState, ws: Workspace, x: Array, y: Array, history: History, row: int,
) -> TrainState:
    """One full-batch step; records the loss of the weights before it."""
    buf = ws.buffers(x.shape[-2], x, y, gathered=False)
    state, batch_loss = _update(state, ws, x, y, buf, history)
    history.metrics["loss"][row] = batch_loss
    return state


def _update(
    state: TrainState, ws: Workspace, x: Array, y: Array, buf: Any, history: History,
) -> tuple[TrainState, Array]:
    """Forward, loss, backward and one optimizer update for every active member.

    A member whose loss or new weights are not finite stops (``ws.step`` has
    kept its last finite weights) and its epoch goes to ``diverged_epoch``.
    """
    batch_loss, ok = ws.step(x, y, buf, state.active)
    if not ok.all():
        diverged = state.active & ~ok
        history.diverged_epoch[diverged] = state.epoch
        state = state._replace(active=state.active & ok)
    return state, batch_loss
