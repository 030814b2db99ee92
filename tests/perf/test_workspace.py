"""The in-place training step (workspace.py) against the pure reference functions.

``fit`` runs on preallocated buffers; these tests rebuild the same training
from ``network.forward``/``backward``, the losses and ``SGD.update`` and demand
the same bits, in float64 and float32 (an upcast inside the hot loop would
change float32 results), for every activation, loss and momentum style.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlplab.initializers import member_rngs
from mlplab.losses import LOSSES
from mlplab.network import (
    MLPConfig,
    backward,
    forward,
    init_params,
    param_arrays,
    with_arrays,
)
from mlplab.optimizers import SGD, apply_updates
from mlplab.schedules import Constant
from mlplab.training import DivergenceWarning, fit


def reference_fit(
    config, x, y, *, loss, optimizer, n_epochs, seeds, batch_size, sample_weight=None
):
    """The training loop written with the pure functions only (no guard)."""
    loss_fn = LOSSES[loss]
    params = init_params(config, seeds)
    arrays = param_arrays(params)
    state = optimizer.init(arrays)
    rngs = [member_rngs(s)[1] for s in seeds]
    n = x.shape[-2]
    losses = []
    for _ in range(n_epochs):
        if batch_size is None or batch_size >= n:
            batches = [(x, y, sample_weight)]
        else:
            order = np.stack([rng.permutation(n) for rng in rngs])
            xe = x[order] if x.ndim == 2 else np.take_along_axis(x, order[..., None], 1)
            ye = y[order]
            we = None if sample_weight is None else sample_weight[order]
            batches = [
                (
                    xe[:, s : s + batch_size],
                    ye[:, s : s + batch_size],
                    None if we is None else we[:, s : s + batch_size],
                )
                for s in range(0, n, batch_size)
            ]
        total = 0.0
        for xb, yb, wb in batches:
            out, caches = forward(params, config, xb)
            value = loss_fn.value(out, yb, sample_weight=wb)
            grad_out = loss_fn.grad(out, yb, sample_weight=wb)
            grads = backward(params, config, caches, grad_out)
            updates, state = optimizer.update(param_arrays(grads), state, arrays)
            arrays = apply_updates(arrays, updates)
            params = with_arrays(params, arrays)
            share = 1.0 if loss == "sse" else xb.shape[-2] / n
            if wb is not None and loss != "sse":
                share = np.sum(wb, axis=-1) / np.sum(sample_weight)
            total = total + share * value
        losses.append(total)
    return arrays, state, np.array(losses)


DATA_RNG = np.random.default_rng(7)
X = DATA_RNG.standard_normal((37, 5))
X_MEMBERS = DATA_RNG.standard_normal((3, 37, 5))
LABELS = DATA_RNG.integers(0, 3, 37)
Y = np.eye(3)[LABELS]

CASES = [
    # hidden activation, output activation, loss, optimizer, batch size, per-member x
    ("relu", "identity", "cross_entropy", SGD(0.1, 0.9), 8, False),
    ("relu", "identity", "cross_entropy", SGD(0.1, 0.9, nesterov=True), 37, True),
    (
        "tanh",
        "identity",
        "mse",
        SGD((0.1, 0.05, 0.2), (0.9, 0.5, 0.0), momentum_style="lr-inside"),
        16,
        True,
    ),
    (
        "relu",
        "identity",
        "sse",
        SGD(0.01, 0.8, momentum_style="lr-inside", nesterov=True),
        10,
        False,
    ),
    ("sigmoid", "sigmoid", "sse", SGD(0.5, 0.5, momentum_style="ema"), None, False),
    (
        "leaky_relu",
        "identity",
        "cross_entropy",
        SGD(0.1, 0.9, momentum_style="dampened", dampening=0.3, weight_decay=0.01),
        10,
        True,
    ),
    ("relu", "identity", "binary_cross_entropy", SGD(Constant(0.2), 0.9), 9, False),
    ("softmax", "identity", "mse", SGD(0.3, (0.0, 0.9, 0.5)), None, True),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("hidden", "output", "loss", "optimizer", "batch", "per_member"), CASES
)
def test_fit_gives_the_bits_of_the_reference_loop(
    hidden, output, loss, optimizer, batch, per_member, dtype
):
    config = MLPConfig(
        (5, 6, 4, 3), activation=hidden, output_activation=output, dtype=dtype
    )
    x = (X_MEMBERS if per_member else X).astype(dtype)
    y = Y.astype(dtype)
    kwargs = dict(
        loss=loss, optimizer=optimizer, n_epochs=3, seeds=(0, 1, 2), batch_size=batch
    )
    result = fit(config, x, y, **kwargs)
    arrays, state, losses = reference_fit(config, x, y, **kwargs)
    for got, want in zip(param_arrays(result.params), arrays, strict=True):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)
    for got, want in zip(result.state.opt_state.velocity, state.velocity, strict=True):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)
    assert result.state.opt_state.step == state.step
    assert result.history.loss.dtype == np.dtype(dtype)
    np.testing.assert_allclose(
        result.history.loss, losses, rtol=1e-12 if dtype == "float64" else 1e-6
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_member_k_equals_the_single_run(dtype):
    config = MLPConfig(
        (5, 8, 3), activation="relu", output_activation="identity", dtype=dtype
    )
    x, y = X.astype(dtype), Y.astype(dtype)
    rates, momenta = (0.05, 0.2, 0.1), (0.9, 0.0, 0.5)
    ensemble = fit(
        config,
        x,
        y,
        loss="cross_entropy",
        optimizer=SGD(rates, momenta),
        n_epochs=4,
        seeds=(3, 4, 5),
        batch_size=8,
    )
    for k, seed in enumerate((3, 4, 5)):
        single = fit(
            config,
            x,
            y,
            loss="cross_entropy",
            optimizer=SGD(rates[k], momenta[k]),
            n_epochs=4,
            seeds=(seed,),
            batch_size=8,
        )
        for got, want in zip(
            param_arrays(ensemble.params), param_arrays(single.params), strict=True
        ):
            np.testing.assert_array_equal(got[k], want[0])
        np.testing.assert_array_equal(
            ensemble.history.loss[:, k], single.history.loss[:, 0]
        )


def test_a_diverging_member_keeps_its_last_finite_weights_and_the_others_go_on():
    config = MLPConfig((5, 6, 3), activation="relu", output_activation="identity")
    x, y = X, Y
    with pytest.warns(DivergenceWarning):
        result = fit(
            config,
            x,
            y,
            loss="mse",
            optimizer=SGD((0.01, 1e30), 0.9),
            n_epochs=3,
            seeds=(0, 1),
            batch_size=8,
        )
    assert result.history.diverged_epoch.tolist() == [-1, 0]
    assert result.state.active.tolist() == [True, False]
    assert all(np.isfinite(a).all() for a in param_arrays(result.params))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = fit(
            config,
            x,
            y,
            loss="mse",
            optimizer=SGD(0.01, 0.9),
            n_epochs=3,
            seeds=(0,),
            batch_size=8,
        )
    for got, want in zip(
        param_arrays(result.params), param_arrays(alone.params), strict=True
    ):
        np.testing.assert_array_equal(got[0], want[0])


def test_fit_never_writes_into_arrays_it_was_given_or_returned():
    config = MLPConfig((5, 6, 3), activation="relu", output_activation="identity")
    opt = SGD(0.1, 0.9)
    first = fit(
        config, X, Y, loss="cross_entropy", optimizer=opt, n_epochs=2, batch_size=8
    )
    saved = [a.copy() for a in param_arrays(first.params)]
    saved_velocity = [v.copy() for v in first.state.opt_state.velocity]
    fit(
        config,
        X,
        Y,
        loss="cross_entropy",
        optimizer=opt,
        n_epochs=2,
        batch_size=8,
        state=first.state,
    )
    for a, b in zip(param_arrays(first.params), saved, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first.state.opt_state.velocity, saved_velocity, strict=True):
        np.testing.assert_array_equal(a, b)


def test_resuming_equals_running_on():
    config = MLPConfig((5, 6, 3), activation="relu", output_activation="identity")
    kwargs = dict(loss="cross_entropy", optimizer=SGD(0.1, 0.9), batch_size=8)
    whole = fit(config, X, Y, n_epochs=4, **kwargs)
    half = fit(config, X, Y, n_epochs=2, **kwargs)
    rest = fit(config, X, Y, n_epochs=2, state=half.state, **kwargs)
    for a, b in zip(param_arrays(whole.params), param_arrays(rest.params), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("style", ["classical", "lr-inside"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_update_into_gives_the_bits_of_update_and_apply(style, nesterov, rng):
    opt = SGD(
        learning_rate=(0.1, 0.03),
        momentum=(0.9, 0.5),
        momentum_style=style,
        nesterov=nesterov,
    )
    assert opt.elementwise
    params = (rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4)))
    grads = tuple(rng.standard_normal(p.shape) for p in params)
    velocity = tuple(rng.standard_normal(p.shape) for p in params)
    state = opt.init(params)._replace(step=5, velocity=velocity)
    updates, want_state = opt.update(grads, state, params)
    want = apply_updates(params, updates)
    out_p = tuple(np.empty_like(p) for p in params)
    out_v = tuple(np.empty_like(p) for p in params)
    opt.update_into(tuple(g.copy() for g in grads), 5, params, velocity, out_p, out_v)
    for got, expected in zip(out_p + out_v, want + want_state.velocity, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_only_classical_and_lr_inside_without_decay_are_elementwise():
    assert SGD(0.1, 0.9).elementwise
    assert not SGD(0.1, 0.9, weight_decay=0.1).elementwise
    assert not SGD(0.1, 0.9, momentum_style="ema").elementwise
    assert not SGD(0.1, 0.9, momentum_style="dampened").elementwise


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("loss", "batch"), [("cross_entropy", 8), ("mse", None), ("sse", 10)]
)
def test_sample_weights_give_the_bits_of_the_reference_loop(loss, batch, dtype):
    config = MLPConfig(
        (5, 6, 3), activation="relu", output_activation="identity", dtype=dtype
    )
    x, y = X.astype(dtype), Y.astype(dtype)
    weights = np.random.default_rng(3).uniform(0, 2, len(x)).astype(dtype)
    kwargs = dict(
        loss=loss, optimizer=SGD(0.01, 0.9), n_epochs=3, seeds=(0, 1), batch_size=batch
    )
    result = fit(config, x, y, sample_weight=weights, **kwargs)
    arrays, _, losses = reference_fit(config, x, y, sample_weight=weights, **kwargs)
    for got, want in zip(param_arrays(result.params), arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(
        result.history.loss, losses, rtol=1e-12 if dtype == "float64" else 1e-6
    )
