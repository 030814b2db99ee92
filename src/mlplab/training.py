"""The training loop: batches, forward, loss, backward, update, record.

``fit`` trains every member of an ensemble at once. Each member shuffles with
its own generator, so member k's run is the run a single network with member
k's seed would have. A member whose loss or weights turn non-finite stops: it
keeps its last finite weights, its optimizer state freezes, and the history
records the epoch (``History.diverged_epoch``); no NaN weight is ever returned.

After each epoch ``fit`` records the validation loss (and accuracy, for the
classification losses) when given ``validation_data``, then asks each callback
for a ``Decision``: members to stop (masked, never removed), weights to put in
place (early stopping restores its best ones) or a new learning rate (applied
with ``dataclasses.replace``, so the optimizer state is untouched).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._types import Array, BoolArray
from ._validation import lookup
from .initializers import member_rngs
from .losses import LOSSES, check_target
from .network import MLPConfig, Params, init_params, param_arrays, predict_raw
from .schedules import learning_rate_at
from .workspace import Workspace

__all__ = [
    "Decision",
    "DivergenceWarning",
    "EpochView",
    "FitResult",
    "History",
    "TrainState",
    "accuracy",
    "fit",
    "learning_rate_of",
    "prepare_targets",
    "with_learning_rate",
]


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

    With a classification loss, ``metrics["accuracy"]`` is the training
    accuracy: the exact fraction of correct decisions over the epoch's
    batches (unweighted, whatever the sample weights). With ``validation_data``,
    ``metrics["val_loss"]`` (and ``"val_accuracy"``) are measured on the
    weights after each epoch. ``metrics["learning_rate"]`` is the rate of each
    member's last step in the epoch, recorded when the rate is a schedule or a
    callback may change it. When callbacks stop every member the run ends
    early and the arrays have one row per epoch actually run.
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
    """What a callback sees after an epoch (read-only by convention).

    ``epoch`` counts every epoch of the run (also across resumed calls);
    ``row`` is this epoch's row in ``history`` (this call's epochs);
    ``params`` are the weights after the epoch and ``optimizer`` the one in
    force; ``last`` is true on the call's final epoch. ``n_epochs`` is the
    epoch this call ends at. ``state`` is the whole run state after the epoch
    (for checkpoints; never modify it).
    """

    epoch: int
    n_epochs: int
    history: History
    active: BoolArray
    row: int = -1
    params: Params | None = None
    optimizer: Any = None
    last: bool = False
    state: TrainState | None = None

    def latest(self, metric: str) -> Array:
        """Return this epoch's ``metric`` for every member, shape ``(K,)``."""
        return np.asarray(self.history.metrics[metric][self.row])


class Decision(NamedTuple):
    """What a callback asks of the trainer; None leaves a thing as it is.

    ``stop`` is a boolean ``(K,)`` mask of members to stop (masked: zero step,
    optimizer state frozen). ``params`` are weights to put in place for every
    member (a callback returns the current ones for members it leaves alone).
    ``learning_rate`` is the optimizer's new rate, one value or one per member,
    applied with ``dataclasses.replace``. A callback may also return a bare
    stop mask or None.
    """

    stop: BoolArray | None = None
    params: Params | None = None
    learning_rate: float | tuple[float, ...] | None = None


class FitResult(NamedTuple):
    """What ``fit`` returns: the final state, the history, the optimizer in force.

    ``optimizer`` differs from the one passed to ``fit`` when a callback
    changed the learning rate; continue a run with it.
    """

    state: TrainState
    history: History
    optimizer: Any = None

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


def fit(
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
    validation_data: tuple[Array, Array] | None = None,
    history: History | None = None,
    sample_weight: Array | None = None,
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
        Called in order with an ``EpochView`` after each epoch; each returns
        None, a boolean ``(K,)`` stop mask or a ``Decision`` (see
        ``mlplab.callbacks``). When every member is stopped the run ends.
    validation_data : (x_val, y_val), optional
        Held-out rows, shared or per member like ``x`` and ``y``; their loss
        (and accuracy) after every epoch goes to ``history.metrics``.
    history : History, optional
        The history of the run that ``state`` continues; the returned history
        then holds its epochs followed by this call's, as if the run had
        never stopped.
    sample_weight : array, shape (n_samples,), optional
        Non-negative weight of each training row in the loss (see ``losses``:
        weighted sums, and weighted means normalised by the batch's total
        weight). Rows keep their weights when shuffled. None weighs every row
        equally; validation rows are never weighted.

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
    x, y = _as_arrays(config, x, y, loss_fn)
    if validation_data is not None:
        validation_data = _as_arrays(config, *validation_data, loss_fn)
    if n_epochs < 0:
        raise ValueError(f"n_epochs must be >= 0; got {n_epochs}")
    n_samples = x.shape[-2]
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None; got {batch_size}")
    full_batch = batch_size is None or batch_size >= n_samples
    weights = _check_sample_weight(sample_weight, n_samples, x.dtype)
    if state is None:
        state = _initial_state(config, optimizer, seeds, params)
    n_members = state.params[0].w.shape[0]
    new_rows = _empty_history(
        n_epochs,
        n_members,
        x.dtype,
        loss_fn,
        optimizer,
        validation_data is not None,
        callbacks,
    )
    history, first_row = _continued_history(history, new_rows)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        # A diverging member overflows by design; it is caught by the finiteness
        # check in _update and reported once below, not as NumPy warnings.
        # (Underflow in the softmax's exp is 0 by design, as in ``softmax``.)
        state, optimizer = _run_epochs(
            state,
            config,
            loss_fn,
            optimizer,
            x,
            y,
            batch_size,
            shuffle,
            full_batch,
            history,
            n_epochs,
            callbacks,
            validation_data,
            first_row,
            sample_weight=weights,
        )
    diverged = np.flatnonzero(history.diverged_epoch >= 0)
    if diverged.size:
        warnings.warn(
            f"{diverged.size} of {n_members} members diverged (non-finite loss or "
            f"weights), first at epoch {int(history.diverged_epoch[diverged].min())}; "
            "they keep their last finite weights (see History.diverged_epoch)",
            DivergenceWarning,
            stacklevel=2,
        )
    return FitResult(state, history, optimizer)


def _run_epochs(
    state: TrainState,
    config: MLPConfig,
    loss_fn: Any,
    optimizer: Any,
    x: Array,
    y: Array,
    batch_size: int | None,
    shuffle: bool,
    full_batch: bool,
    history: History,
    n_epochs: int,
    callbacks: Sequence[Callable[[EpochView], Any]],
    validation_data: tuple[Array, Array] | None,
    first_row: int = 0,
    sample_weight: Array | None = None,
) -> tuple[TrainState, Any]:
    """Run the epoch loop: train, advance the epoch, record, apply callbacks."""
    last_row = first_row + n_epochs - 1
    # Steps run on preallocated buffers (workspace.py); between epochs the
    # state holds copies, so callbacks may keep or replace them freely.
    ws = Workspace(config, loss_fn, len(state.active))
    for row in range(first_row, last_row + 1):
        ws.load(state.params, state.opt_state, optimizer)
        if full_batch:
            state = _step(state, ws, x, y, history, row, sample_weight)
        else:
            state = _minibatch_epoch(
                state,
                ws,
                x,
                y,
                batch_size,  # type: ignore[arg-type]
                shuffle,
                history,
                row,
                sample_weight,
            )
        params, opt_state = ws.export()
        state = state._replace(
            params=params, opt_state=opt_state, epoch=state.epoch + 1
        )
        _record_epoch(history, row, state, config, loss_fn, optimizer, validation_data)
        state, optimizer, stopped = _apply_callbacks(
            callbacks, state, optimizer, history, row, last_row
        )
        if stopped and not state.active.any():
            history.metrics = {k: v[: row + 1] for k, v in history.metrics.items()}
            break
    return state, optimizer


def _continued_history(previous: History | None, new: History) -> tuple[History, int]:
    """Return ``previous``'s rows followed by ``new``'s, and the first new row.

    A metric only one part records is NaN in the other part's rows.
    """
    if previous is None or not previous.metrics:
        return new, 0
    n_members = new.diverged_epoch.shape[0]
    if previous.diverged_epoch.shape != (n_members,):
        raise ValueError(
            f"history.diverged_epoch must have {n_members} entries (one per member); "
            f"got shape {previous.diverged_epoch.shape}"
        )
    n_old, n_new = previous.n_epochs, new.n_epochs
    metrics = {}
    for name in [
        *previous.metrics,
        *(m for m in new.metrics if m not in previous.metrics),
    ]:
        old = previous.metrics.get(name)
        if old is not None and old.shape != (n_old, n_members):
            raise ValueError(
                f"history metric {name!r} must be ({n_old}, {n_members}) to continue "
                f"a run of {n_members} members; got shape {old.shape}"
            )
        dtype = old.dtype if old is not None else new.metrics[name].dtype
        blank = np.full((n_old + n_new, n_members), np.nan, dtype)
        if old is not None:
            blank[:n_old] = old
        if name in new.metrics:
            blank[n_old:] = new.metrics[name]
        metrics[name] = blank
    return History(metrics, previous.diverged_epoch.copy()), n_old


def _as_arrays(
    config: MLPConfig, x: Array, y: Array, loss_fn: Any
) -> tuple[Array, Array]:
    """Return inputs and targets in the network's dtype, checked against it."""
    x = np.asarray(x, dtype=config.np_dtype)
    y = prepare_targets(y, config.n_outputs).astype(config.np_dtype, copy=False)
    _check_data(config, x, y, loss_fn)
    return x, y


def _empty_history(
    n_epochs: int,
    n_members: int,
    dtype: Any,
    loss_fn: Any,
    optimizer: Any,
    validation: bool,
    callbacks: Sequence[Any],
) -> History:
    """Return a history with a NaN-filled ``(n_epochs, K)`` array per metric."""
    names = ["loss"]
    if loss_fn.from_logits:
        names.append("accuracy")
    if validation:
        names += ["val_loss", "val_accuracy"] if loss_fn.from_logits else ["val_loss"]
    # a callback that may change the rate says so (ReduceLROnPlateau does)
    if callable(learning_rate_of(optimizer)) or any(
        getattr(c, "changes_learning_rate", False) for c in callbacks
    ):
        names.append("learning_rate")
    metrics = {name: np.full((n_epochs, n_members), np.nan, dtype) for name in names}
    return History(metrics, np.full(n_members, -1, np.int64))


def _record_epoch(
    history: History,
    row: int,
    state: TrainState,
    config: MLPConfig,
    loss_fn: Any,
    optimizer: Any,
    validation_data: tuple[Array, Array] | None,
) -> None:
    """Record the epoch's validation metrics and learning rate, if tracked."""
    metrics = history.metrics
    if validation_data is not None:
        x_val, y_val = validation_data
        out = predict_raw(state.params, config, x_val)
        metrics["val_loss"][row] = loss_fn.value(out, y_val)
        if "val_accuracy" in metrics:
            metrics["val_accuracy"][row] = accuracy(out, y_val, loss_fn.name)
    if "learning_rate" in metrics:
        metrics["learning_rate"][row] = _current_rate(optimizer, state)


def _current_rate(optimizer: Any, state: TrainState) -> Array:
    """Return the rate of each member's latest step, shape ``(K,)``."""
    step = max(int(getattr(state.opt_state, "step", 1)) - 1, 0)
    rate = np.asarray(learning_rate_at(learning_rate_of(optimizer), step), np.float64)
    return np.broadcast_to(rate, state.active.shape)


def _apply_callbacks(
    callbacks: Sequence[Callable[[EpochView], Any]],
    state: TrainState,
    optimizer: Any,
    history: History,
    row: int,
    last_row: int,
) -> tuple[TrainState, Any, bool]:
    """Ask each callback in turn and apply its decision; True if any stopped members."""
    stopped = False
    for callback in callbacks:
        view = EpochView(
            state.epoch,
            state.epoch + last_row - row,
            history,
            state.active,
            row,
            state.params,
            optimizer,
            row == last_row,
            state,
        )
        decision = _as_decision(callback(view))
        if decision.params is not None:
            state = state._replace(params=decision.params)
        if decision.stop is not None:
            stopped = True
            stop = np.asarray(decision.stop, bool)
            state = state._replace(active=state.active & ~stop)
        if decision.learning_rate is not None:
            rate = decision.learning_rate
            optimizer = _with_learning_rate(optimizer, rate, history, row)
    return state, optimizer, stopped


def _as_decision(result: Any) -> Decision:
    """Return a callback's result as a ``Decision`` (None, bare stop masks too)."""
    if result is None or isinstance(result, Decision):
        return result or Decision()
    return Decision(stop=np.asarray(result, bool))


def _with_learning_rate(
    optimizer: Any, learning_rate: Any, history: History, row: int
) -> Any:
    """Return the optimizer with a new rate; start recording rates if needed."""
    if "learning_rate" not in history.metrics:
        before = np.asarray(learning_rate_of(optimizer), np.float64)
        rates = np.full_like(history.loss, np.nan, dtype=np.float64)
        rates[: row + 1] = before
        history.metrics["learning_rate"] = rates
    return with_learning_rate(optimizer, learning_rate)


def learning_rate_of(optimizer: Any) -> Any:
    """Return the ``learning_rate`` (a chain's last transform's), or None."""
    transforms = getattr(optimizer, "transforms", None)
    if transforms:
        return learning_rate_of(transforms[-1])
    return getattr(optimizer, "learning_rate", None)


def with_learning_rate(optimizer: Any, learning_rate: Any) -> Any:
    """Return the optimizer (or chain) with a new rate, via ``dataclasses.replace``.

    Examples
    --------
    >>> from mlplab.optimizers import SGD
    >>> with_learning_rate(SGD(learning_rate=0.1), (0.1, 0.05)).learning_rate
    (0.1, 0.05)
    """
    transforms = getattr(optimizer, "transforms", None)
    if transforms:
        last = with_learning_rate(transforms[-1], learning_rate)
        return dataclasses.replace(optimizer, transforms=(*transforms[:-1], last))
    return dataclasses.replace(optimizer, learning_rate=learning_rate)


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
    if loss_fn.name == "cross_entropy" and config.n_outputs < 2:
        raise ValueError(
            "loss 'cross_entropy' is a softmax over the outputs and needs at least 2; "
            "got 1 output (use 'binary_cross_entropy' for one)"
        )
    if x.shape[-2] == 0:
        raise ValueError("x must hold at least one sample; got 0 rows")
    if not (_all_finite(x) and _all_finite(y)):
        raise ValueError("x and y must contain only finite values; got NaN or inf")


def _all_finite(a: Array) -> bool:
    """Whether no entry is NaN or inf, without a temporary the size of ``a``.

    Row sums are not finite when an entry is not; a product with ones sums
    them on every BLAS thread in one pass (``np.isfinite(a)`` would allocate a
    boolean copy, a quarter of a float32 data set). A row sum can also
    overflow on huge finite entries, so then ``min`` and ``max`` decide: they
    propagate NaN and reach any infinity.
    """
    if a.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):  # the fallback decides
        row_sums = np.matmul(a, np.ones(a.shape[-1], a.dtype))
    if np.isfinite(row_sums).all():
        return True
    return bool(np.isfinite(np.min(a)) and np.isfinite(np.max(a)))


def _check_sample_weight(
    sample_weight: Array | None, n_samples: int, dtype: Any
) -> Array | None:
    """Check per-row weights at the edge: ``(n_samples,)``, finite, >= 0, not all 0."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) (one weight per row); "
            f"got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(
            "sample_weight must be finite and >= 0; got a negative or non-finite weight"
        )
    if not np.any(w > 0):
        raise ValueError(
            "sample_weight must hold at least one non-zero weight; got all zeros"
        )
    return w


def _initial_state(
    config: MLPConfig, optimizer: Any, seeds: Sequence[int], params: Params | None
) -> TrainState:
    """Draw (or take) initial weights and make a fresh optimizer state."""
    if any(
        isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 0
        for s in seeds
    ):
        raise ValueError(f"seeds must be non-negative integers; got {list(seeds)!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed (one per member)")
    if params is None:
        params = init_params(config, seeds)
    elif params[0].w.shape[0] != len(seeds):
        raise ValueError(
            f"params have {params[0].w.shape[0]} members but {len(seeds)} seeds "
            "were given"
        )
    opt_state = optimizer.init(param_arrays(params))
    rngs = tuple(member_rngs(s)[1] for s in seeds)
    return TrainState(params, opt_state, np.ones(len(seeds), bool), 0, rngs)


def _minibatch_epoch(
    state: TrainState,
    ws: Workspace,
    x: Array,
    y: Array,
    batch_size: int,
    shuffle: bool,
    history: History,
    row: int,
    sample_weight: Array | None = None,
) -> TrainState:
    """One pass over shuffled mini-batches; records the epoch's combined loss."""
    n_samples = x.shape[-2]
    loss_name = ws.loss_fn.name
    # One permutation per member per epoch; each batch's rows are gathered
    # from it straight into a buffer (no shuffled copy of the data).
    order = (
        np.stack([rng.permutation(n_samples) for rng in state.shuffle_rngs])
        if shuffle
        else None
    )
    total = np.zeros(len(state.active), x.dtype)
    # Classification: count the hits (integers), divide once at the end.
    hits = np.zeros(len(state.active), np.intp) if ws.loss_fn.from_logits else None
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        buf = ws.buffers(stop - start, x, y, gathered=order is not None)
        if order is None:
            rows: Any = slice(start, stop)
            xb, yb = x[..., rows, :], y[..., rows, :]
        else:
            rows = order[:, start:stop]  # (K, B): each member's rows
            xb, yb = ws.gather(x, rows, buf.x), ws.gather(y, rows, buf.y)
        wb = None if sample_weight is None else sample_weight[rows]
        state, batch_loss, out = _update(state, ws, xb, yb, buf, history, wb)
        share: Any = (stop - start) / n_samples
        if loss_name == "sse":
            total += batch_loss
        else:  # a weighted mean's share is its batch's share of the total weight
            if wb is not None:
                share = np.sum(wb, axis=-1) / np.sum(sample_weight)  # type: ignore[arg-type]
            total += share * batch_loss
        if hits is not None:
            hits += hit_count(out, yb, loss_name)
    history.metrics["loss"][row] = total
    if hits is not None:
        history.metrics["accuracy"][row] = hits / (n_samples * _decisions(y, loss_name))
    return state


def _step(
    state: TrainState,
    ws: Workspace,
    x: Array,
    y: Array,
    history: History,
    row: int,
    sample_weight: Array | None = None,
) -> TrainState:
    """One full-batch step; records the loss of the weights before it."""
    buf = ws.buffers(x.shape[-2], x, y, gathered=False)
    state, batch_loss, out = _update(state, ws, x, y, buf, history, sample_weight)
    history.metrics["loss"][row] = batch_loss
    if ws.loss_fn.from_logits:
        history.metrics["accuracy"][row] = accuracy(out, y, ws.loss_fn.name)
    return state


def _update(
    state: TrainState,
    ws: Workspace,
    x: Array,
    y: Array,
    buf: Any,
    history: History,
    sample_weight: Array | None = None,
) -> tuple[TrainState, Array, Array]:
    """Forward, loss, backward and one update for every active member.

    Returns the new state, the batch loss ``(K,)`` and the outputs before the
    update (for metrics; a workspace buffer, valid until the next step). A
    member whose loss or new weights are not finite stops: ``ws.step`` kept
    its last finite weights, and its epoch goes to ``diverged_epoch``.
    """
    batch_loss, ok, out = ws.step(x, y, buf, state.active, sample_weight)
    if not ok.all():
        history.diverged_epoch[state.active & ~ok] = state.epoch
        state = state._replace(active=state.active & ok)
    return state, batch_loss, out


def accuracy(out: Array, y: Array, loss: str) -> Array:
    """Fraction of correct predictions of each member, shape ``(K,)``.

    ``out`` are the logits ``(K, n_samples, n_outputs)`` of a classification
    loss and ``y`` the targets, shared or per member. For ``cross_entropy`` a
    row is correct when the largest logit is the target's class; for
    ``binary_cross_entropy`` each output is one decision, correct when the
    logit's sign matches the 0/1 target (the fraction is over every entry).

    Examples
    --------
    >>> logits = np.array([[[2.0, 0.0], [0.0, 1.0]]])
    >>> accuracy(logits, np.array([[1.0, 0.0], [1.0, 0.0]]), "cross_entropy")
    array([0.5])
    """
    hits = hit_count(out, y, loss)
    return np.asarray(hits / (out.shape[-2] * _decisions(y, loss)), np.float64)


def hit_count(out: Array, y: Array, loss: str) -> NDArray[np.intp]:
    """Return each member's number of correct decisions ``(K,)`` (see ``accuracy``)."""
    if loss == "cross_entropy":
        hits = np.argmax(out, axis=-1) == np.argmax(y, axis=-1)
        return np.asarray(np.count_nonzero(hits, axis=-1), np.intp)
    if loss == "binary_cross_entropy":
        hits = (out > 0) == (y > 0.5)
        return np.asarray(np.count_nonzero(hits, axis=(-2, -1)), np.intp)
    raise ValueError(
        f"accuracy needs a classification loss (cross_entropy or "
        f"binary_cross_entropy); got {loss!r}"
    )


def _decisions(y: Array, loss: str) -> int:
    """Decisions per row: one for ``cross_entropy``, one per output for binary."""
    return 1 if loss == "cross_entropy" else y.shape[-1]
