"""Per-sample weights in the losses and in ``fit``."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.losses import LOSSES
from mlplab.network import MLPConfig
from mlplab.optimizers import SGD
from mlplab.training import fit

K, N, M = 2, 5, 3


def _targets(name, rng):
    if name == "cross_entropy":
        return np.eye(M)[rng.integers(0, M, N)]
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (N, M)).astype(np.float64)
    return rng.normal(size=(N, M))


def _numeric_grad(loss, y_pred, y_true, w, eps=1e-6):
    grad = np.empty_like(y_pred)
    for idx in np.ndindex(*y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[idx] += eps
        down[idx] -= eps
        k = idx[0]
        grad[idx] = (loss.value(up, y_true, w)[k] - loss.value(down, y_true, w)[k]) / (
            2 * eps
        )
    return grad


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("per_member", [False, True])
def test_weighted_grad_matches_central_differences(name, per_member, rng):
    loss = LOSSES[name]
    y_pred = rng.normal(size=(K, N, M))
    y_true = _targets(name, rng)
    w = rng.uniform(0, 3, size=(K, N) if per_member else N)
    w[..., 1] = 0.0  # a zero weight must simply drop the row
    analytic = loss.grad(y_pred, y_true, sample_weight=w)
    np.testing.assert_allclose(
        analytic, _numeric_grad(loss, y_pred, y_true, w), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_unit_weights_equal_no_weights(name, rng):
    loss = LOSSES[name]
    y_pred, y_true = rng.normal(size=(K, N, M)), _targets(name, rng)
    ones = np.ones(N)
    np.testing.assert_allclose(
        loss.value(y_pred, y_true, ones), loss.value(y_pred, y_true), rtol=1e-14
    )
    np.testing.assert_allclose(
        loss.grad(y_pred, y_true, ones), loss.grad(y_pred, y_true), rtol=1e-14
    )


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_integer_weights_equal_repeated_rows(name, rng):
    loss = LOSSES[name]
    y_pred, y_true = rng.normal(size=(K, N, M)), _targets(name, rng)
    w = np.array([0, 1, 2, 3, 1])
    repeated = loss.value(y_pred.repeat(w, axis=1), y_true.repeat(w, axis=0))
    np.testing.assert_allclose(loss.value(y_pred, y_true, w), repeated, rtol=1e-13)


def test_all_zero_weights_in_a_batch_give_zero_loss_and_gradient(rng):
    loss = LOSSES["mse"]
    y_pred, y_true = rng.normal(size=(K, N, M)), rng.normal(size=(N, M))
    np.testing.assert_array_equal(loss.value(y_pred, y_true, np.zeros(N)), 0.0)
    np.testing.assert_array_equal(loss.grad(y_pred, y_true, np.zeros(N)), 0.0)


def test_weight_shape_is_checked(rng):
    y_pred, y_true = rng.normal(size=(K, N, M)), rng.normal(size=(N, M))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(5,\)"):
        LOSSES["mse"].value(y_pred, y_true, np.ones(N + 1))


def _data(rng, n=8):
    x = rng.normal(size=(n, 3))
    return x, (x.sum(axis=1) > 0).astype(np.float64)


CONFIG = MLPConfig((3, 4, 1), activation="tanh", output_activation="identity")


def test_fit_with_integer_weights_equals_fit_on_repeated_rows(rng):
    x, y = _data(rng)
    w = np.array([1, 0, 2, 1, 3, 0, 1, 2])
    opt = SGD(learning_rate=0.3, momentum=0.5)
    kw = dict(loss="binary_cross_entropy", optimizer=opt, n_epochs=30, seeds=(0, 1))
    weighted = fit(CONFIG, x, y, sample_weight=w, **kw)
    repeated = fit(CONFIG, x.repeat(w, axis=0), y.repeat(w), **kw)
    for a, b in zip(weighted.params, repeated.params, strict=True):
        np.testing.assert_allclose(a.w, b.w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.b, b.b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.history.loss, repeated.history.loss, rtol=1e-10)


def test_minibatch_weights_follow_their_rows_when_shuffled(rng):
    # With a rate too small to move the weights, every epoch's combined loss is
    # the weighted loss of all rows, whatever order each member shuffled into.
    x, y = _data(rng, n=10)
    w = rng.uniform(0, 2, size=10)
    result = fit(
        CONFIG,
        x,
        y,
        loss="mse",
        optimizer=SGD(learning_rate=1e-300),
        n_epochs=3,
        seeds=(0, 1),
        batch_size=3,
        shuffle=True,
        sample_weight=w,
    )
    from mlplab.network import init_params, predict_raw

    out = predict_raw(init_params(CONFIG, (0, 1)), CONFIG, x)
    expected = LOSSES["mse"].value(out, y[:, None], w)
    np.testing.assert_allclose(
        result.history.loss, np.tile(expected, (3, 1)), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones(7), r"sample_weight must have shape \(8,\)"),
        (-np.ones(8), "sample_weight must be finite and >= 0"),
        (np.zeros(8), "at least one non-zero weight"),
    ],
)
def test_fit_rejects_bad_weights(weights, message, rng):
    x, y = _data(rng)
    with pytest.raises(ValueError, match=message):
        fit(
            CONFIG, x, y, loss="mse", optimizer=SGD(), n_epochs=1, sample_weight=weights
        )


def test_fit_stops_early_once_no_member_is_active(rng):
    x, y = _data(rng)
    calls = []

    def stop_all(view):
        calls.append(view.epoch)
        return np.ones(2, bool)

    result = fit(
        CONFIG,
        x,
        y,
        loss="mse",
        optimizer=SGD(),
        n_epochs=5,
        seeds=(0, 1),
        callbacks=[stop_all],
    )
    assert calls == [1]
    assert result.state.epoch == 1
    assert result.history.loss.shape == (1, 2)
