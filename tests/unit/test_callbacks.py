"""Callbacks and how the trainer applies their decisions (stop, restore, rate)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlplab.callbacks import Decision, EarlyStopping, ReduceLROnPlateau
from mlplab.network import MLPConfig, param_arrays
from mlplab.optimizers import SGD
from mlplab.training import EpochView, History, accuracy, fit


def _views(values, monitor="val_loss", params=None, lr=0.1):
    """EpochViews over a (n_epochs, K) table of monitored values."""
    values = np.asarray(values, float)
    history = History({monitor: values})
    opt = SGD(learning_rate=lr)
    for row in range(len(values)):
        yield EpochView(
            row + 1,
            len(values),
            history,
            np.ones(values.shape[1], bool),
            row,
            params,
            opt,
            row == len(values) - 1,
        )


def _classification_problem(rng, n=60):
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    return x[:40], y[:40], x[40:], y[40:]


def _fit(problem, callbacks, *, lr=(0.5, 0.1, 0.02), n_epochs=60, batch_size=8):
    x, y, x_val, y_val = problem
    config = MLPConfig((3, 8, 1), activation="tanh", output_activation="identity")
    return fit(
        config,
        x,
        y,
        loss="binary_cross_entropy",
        optimizer=SGD(learning_rate=lr, momentum=0.9),
        n_epochs=n_epochs,
        seeds=[0, 1, 2],
        batch_size=batch_size,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
    )


class _Snapshots:
    """Copies of every member's weights after each epoch (before later callbacks)."""

    def __init__(self):
        self.arrays = []

    def __call__(self, view):
        self.arrays.append([a.copy() for a in param_arrays(view.params)])


# ---------------------------------------------------------------- early stopping


@pytest.mark.parametrize("patience", [3, 1000])
def test_early_stopping_restores_the_best_validation_epoch_per_member(rng, patience):
    snapshots, stopper = _Snapshots(), EarlyStopping(patience=patience)
    result = _fit(_classification_problem(rng), [snapshots, stopper])
    val_loss = result.history.metrics["val_loss"]
    best_rows = np.argmin(val_loss, axis=0)  # ties: the first, as strict improvement
    np.testing.assert_array_equal(stopper.best_epoch, best_rows + 1)
    for k, row in enumerate(best_rows):
        for got, want in zip(
            param_arrays(result.params), snapshots.arrays[row], strict=True
        ):
            np.testing.assert_array_equal(got[k], want[k])
    assert len(set(best_rows.tolist())) > 1  # the members really differ


def test_early_stopping_stops_patience_epochs_after_the_best(rng):
    stopper = EarlyStopping(patience=4)
    result = _fit(_classification_problem(rng), [stopper], n_epochs=400)
    stopped = stopper.stopped_epoch
    assert np.all(stopped > 0)
    np.testing.assert_array_equal(stopped, stopper.best_epoch + 4)
    # the run ends when the last member stops; rows are epochs actually run
    assert result.history.n_epochs == stopped.max() < 400
    assert not result.state.active.any()


def test_a_stopped_member_is_masked_while_the_others_train(rng):
    stopper = EarlyStopping(patience=2)
    snapshots = _Snapshots()
    _fit(_classification_problem(rng), [stopper, snapshots], n_epochs=400)
    first = int(np.argmin(stopper.stopped_epoch))
    row = stopper.stopped_epoch[first] - 1
    frozen = [a[first] for a in snapshots.arrays[row]]
    for later in snapshots.arrays[row:]:
        for got, want in zip([a[first] for a in later], frozen, strict=True):
            np.testing.assert_array_equal(got, want)
    assert stopper.stopped_epoch.max() > stopper.stopped_epoch[first]


def test_min_delta_and_patience_on_a_given_sequence():
    values = np.array(
        [
            [1.0, 1.0],
            [0.95, 0.5],
            [0.92, 0.49],
            [0.9, 0.48],
            [0.89, 0.2],
            [0.5, 0.2],
            [0.5, 0.2],
            [0.5, 0.2],
        ]
    )
    stopper = EarlyStopping(patience=2, min_delta=0.05, restore_best=False)
    stops = [stopper(view).stop for view in _views(values)]
    # improvement means beating the best so far by more than 0.05:
    # member 0: best 1.0 (epoch 1), 0.92 (epoch 3); 0.9, 0.89 are stale -> stop at 5
    # member 1: best 1.0, then 0.5 (epoch 2); 0.49, 0.48 are stale -> stop at 4
    np.testing.assert_array_equal(stopper.stopped_epoch, [5, 4])
    np.testing.assert_array_equal(stopper.best_epoch, [3, 2])
    assert [s.tolist() for s in stops][3:5] == [[False, True], [True, False]]
    np.testing.assert_allclose(stopper.best_value, [0.92, 0.5], rtol=0, atol=0)


def test_early_stopping_on_accuracy_prefers_larger_values():
    values = np.array([[0.5], [0.7], [0.6], [0.6]])
    stopper = EarlyStopping(monitor="val_accuracy", patience=2, restore_best=False)
    for view in _views(values, monitor="val_accuracy"):
        stopper(view)
    np.testing.assert_array_equal(stopper.best_epoch, [2])
    np.testing.assert_array_equal(stopper.stopped_epoch, [4])


def test_early_stopping_needs_its_metric():
    x, y = np.zeros((4, 3)), np.zeros(4)
    with pytest.raises(ValueError, match=r"monitors 'val_loss'.*validation_data"):
        fit(
            MLPConfig((3, 2, 1)),
            x,
            y,
            loss="mse",
            optimizer=SGD(),
            n_epochs=2,
            callbacks=[EarlyStopping()],
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patience": -1}, "patience must be an integer >= 0"),
        ({"min_delta": -0.1}, "min_delta must be >= 0.0"),
    ],
)
def test_early_stopping_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


# ---------------------------------------------------------------- reduce on plateau


def test_reduce_on_plateau_lowers_each_members_rate_as_specified():
    values = np.array(
        [
            [1.0, 1.0],
            [0.9, 1.0],
            [0.9, 1.0],
            [0.9, 1.0],
            [0.9, 0.5],
            [0.9, 0.5],
            [0.9, 0.5],
        ]
    )
    plateau = ReduceLROnPlateau(
        factor=0.5, patience=2, cooldown=1, min_learning_rate=0.03
    )
    rates = np.array([0.1, 0.2])
    seen = []
    for view in _views(values, lr=tuple(rates)):
        view = view._replace(optimizer=SGD(learning_rate=tuple(rates)))
        decision = plateau(view)
        if decision.learning_rate is not None:
            rates = np.array(decision.learning_rate)
        seen.append(rates.copy())
    # member 0: stale at 3, 4 -> halved at 4; cooldown at 5; stale 6, 7 -> at 7 (floor)
    # member 1: stale at 2, 3 -> halved at 3; cooldown 4; improves at 5; stale 6, 7 -> 7
    np.testing.assert_allclose(
        np.array(seen),
        [
            [0.1, 0.2],
            [0.1, 0.2],
            [0.1, 0.1],
            [0.05, 0.1],
            [0.05, 0.1],
            [0.05, 0.1],
            [0.03, 0.05],
        ],
        rtol=0,
        atol=1e-15,
    )
    np.testing.assert_array_equal(plateau.n_reductions, [2, 2])


def test_the_trainer_applies_a_new_rate_from_the_next_epoch(rng):
    x, y = rng.normal(size=(10, 3)), rng.normal(size=10)
    config = MLPConfig((3, 4, 1), activation="tanh", output_activation="identity")

    def halve_after_first(view):
        return Decision(learning_rate=0.05) if view.epoch == 1 else None

    result = fit(
        config,
        x,
        y,
        loss="mse",
        optimizer=SGD(learning_rate=0.1),
        n_epochs=3,
        callbacks=[halve_after_first],
    )
    first = fit(config, x, y, loss="mse", optimizer=SGD(learning_rate=0.1), n_epochs=1)
    rest = fit(
        config,
        x,
        y,
        loss="mse",
        optimizer=SGD(learning_rate=0.05),
        n_epochs=2,
        state=first.state,
    )
    for got, want in zip(
        param_arrays(result.params), param_arrays(rest.params), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=0, atol=0)
    np.testing.assert_allclose(
        result.history.metrics["learning_rate"][:, 0], [0.1, 0.05, 0.05], rtol=0, atol=0
    )


def test_reduce_on_plateau_refuses_a_schedule():
    history = History({"val_loss": np.ones((3, 1))})
    scheduled = SGD(learning_rate=lambda step: 0.1)
    views = [
        EpochView(row + 1, 3, history, np.ones(1, bool), row, None, scheduled)
        for row in range(2)
    ]
    plateau = ReduceLROnPlateau(patience=0)
    plateau(views[0])  # the first epoch improves: no rate needed yet
    with pytest.raises(ValueError, match=r"learning_rate is a number"):
        plateau(views[1])


def test_reduce_on_plateau_rejects_factor_one():
    with pytest.raises(ValueError, match=r"factor must be < 1\.0"):
        ReduceLROnPlateau(factor=1.0)


# ---------------------------------------------------------------- trainer, metrics


def test_a_bare_stop_mask_still_stops_members(rng):
    x, y = rng.normal(size=(8, 3)), rng.normal(size=8)

    def stop_first(view):
        return np.array([True, False])

    result = fit(
        MLPConfig((3, 2, 1)),
        x,
        y,
        loss="mse",
        optimizer=SGD(learning_rate=0.1),
        n_epochs=3,
        seeds=[0, 1],
        callbacks=[stop_first],
    )
    np.testing.assert_array_equal(result.state.active, [False, True])
    assert result.history.loss.shape == (3, 2)


def test_validation_metrics_are_those_of_the_weights_after_each_epoch(rng):
    snapshots = _Snapshots()
    problem = _classification_problem(rng)
    result = _fit(problem, [snapshots], n_epochs=3, batch_size=None)
    x, y, x_val, y_val = problem
    h = result.history
    assert set(h.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.metrics["val_loss"].shape == (3, 3)
    config = MLPConfig((3, 8, 1), activation="tanh", output_activation="identity")
    from mlplab.losses import LOSSES
    from mlplab.network import predict_raw, with_arrays

    after_second = with_arrays(result.params, snapshots.arrays[1])
    out = predict_raw(after_second, config, x_val)
    loss_fn = LOSSES["binary_cross_entropy"]
    np.testing.assert_allclose(
        h.metrics["val_loss"][1], loss_fn.value(out, y_val[:, None]), rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(
        h.metrics["val_accuracy"][1],
        accuracy(out, y_val[:, None], "binary_cross_entropy"),
        rtol=0,
        atol=0,
    )
    # full batch: the training accuracy is that of the weights before the step
    out_train = predict_raw(after_second, config, x)
    np.testing.assert_allclose(
        h.metrics["accuracy"][2],
        accuracy(out_train, y[:, None], "binary_cross_entropy"),
        rtol=0,
        atol=0,
    )


def test_accuracy_for_each_classification_loss():
    logits = np.array(
        [[[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]], [[0.0, 2.0, 1.0], [0.0, 1.0, 3.0]]]
    )
    targets = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(
        accuracy(logits, targets, "cross_entropy"), [1.0, 0.5], rtol=0, atol=0
    )
    np.testing.assert_allclose(
        accuracy(
            np.array([[[1.0], [-1.0], [0.5]]]),
            np.array([[1.0], [1.0], [0.0]]),
            "binary_cross_entropy",
        ),
        [1 / 3],
        rtol=1e-15,
        atol=0,
    )
    with pytest.raises(ValueError, match="accuracy needs a classification loss"):
        accuracy(logits, targets, "mse")


def test_validation_data_is_checked_like_the_training_data(rng):
    x, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    with pytest.raises(ValueError, match="x must be"):
        fit(
            MLPConfig((3, 2, 1)),
            x,
            y,
            loss="mse",
            optimizer=SGD(),
            n_epochs=1,
            validation_data=(np.zeros((4, 2)), np.zeros(4)),
        )


def test_no_validation_keeps_the_old_history_layout(rng):
    x, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    result = fit(
        MLPConfig((3, 2, 1)),
        x,
        y,
        loss="mse",
        optimizer=dataclasses.replace(SGD(), learning_rate=0.1),
        n_epochs=4,
        seeds=[0, 1],
        batch_size=3,
    )
    assert set(result.history.metrics) == {"loss"}
    assert result.history.loss.shape == (4, 2)


def test_reduce_on_plateau_through_fit_with_a_clipped_optimizer(rng):
    from mlplab.transforms import chain, clip_by_global_norm

    x, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    config = MLPConfig((3, 4, 1), activation="tanh", output_activation="identity")
    plateau = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0)
    optimizer = chain(clip_by_global_norm(1.0), SGD(learning_rate=(3.0, 5.0)))
    result = fit(
        config,
        x,
        y,
        loss="mse",
        optimizer=optimizer,
        n_epochs=6,
        seeds=[0, 1],
        callbacks=[plateau],
    )
    # patience 0: each epoch whose loss does not beat the best so far halves the
    # rate of the next epoch (the first epoch always improves)
    loss = result.history.loss
    stale = loss > np.minimum.accumulate(loss, axis=0)
    stale |= np.vstack([np.zeros((1, 2), bool), loss[1:] == loss[:-1]])
    halvings = np.vstack([np.zeros((1, 2)), np.cumsum(stale, axis=0)[:-1]])
    np.testing.assert_allclose(
        result.history.metrics["learning_rate"],
        [3.0, 5.0] * 0.5**halvings,
        rtol=0,
        atol=1e-15,
    )
    assert result.history.metrics["learning_rate"].shape == (6, 2)
    assert halvings[-1].min() >= 2  # the large rates overshoot: several halvings
