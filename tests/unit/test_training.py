import numpy as np
import pytest

from mlplab import SGD, DivergenceWarning, MLPConfig, fit, param_arrays


def test_one_dimensional_and_column_targets_give_identical_fits(xor):
    x, y = xor
    config = MLPConfig((3, 4, 1))
    kwargs = {
        "loss": "sse",
        "optimizer": SGD(learning_rate=0.5, momentum=0.9),
        "n_epochs": 50,
        "seeds": [3],
    }
    a = fit(config, x, y, **kwargs)
    b = fit(config, x, y[:, None], **kwargs)
    for u, v in zip(param_arrays(a.params), param_arrays(b.params), strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4), (3,), (4, 4)])
def test_a_target_that_cannot_match_is_a_clear_error(xor, shape):
    x, _ = xor
    with pytest.raises(ValueError, match="targets must have shape"):
        fit(
            MLPConfig((3, 4, 1)),
            x,
            np.zeros(shape),
            loss="sse",
            optimizer=SGD(),
            n_epochs=1,
        )


def test_inputs_with_the_wrong_width_are_a_clear_error(xor):
    with pytest.raises(
        ValueError, match=r"x must be \(n_samples, 2\).*got shape \(4, 3\)"
    ):
        fit(
            MLPConfig((2, 4, 1)),
            xor[0],
            xor[1],
            loss="sse",
            optimizer=SGD(),
            n_epochs=1,
        )


def test_logit_losses_need_a_linear_output(xor):
    with pytest.raises(ValueError, match="output_activation must be 'identity'"):
        fit(
            MLPConfig((3, 4, 1)),
            *xor,
            loss="binary_cross_entropy",
            optimizer=SGD(),
            n_epochs=1,
        )


def test_a_diverging_member_stops_with_finite_weights_and_a_flag(xor):
    config = MLPConfig((3, 8, 1), "relu", "identity")
    with pytest.warns(DivergenceWarning, match="1 of 2 members diverged"):
        result = fit(
            config,
            *xor,
            loss="sse",
            optimizer=SGD(learning_rate=(0.05, 80.0), momentum=0.9),
            n_epochs=300,
            seeds=[0, 1],
        )
    assert result.history.diverged_epoch[0] == -1
    assert result.history.diverged_epoch[1] > 0
    assert not result.state.active[1]
    for a in param_arrays(result.params):
        assert np.all(np.isfinite(a))
    # the healthy member trained normally
    assert result.history.loss[-1, 0] < result.history.loss[0, 0]


def test_history_has_one_row_per_epoch_and_one_column_per_member(xor):
    result = fit(
        MLPConfig((3, 4, 1)),
        *xor,
        loss="sse",
        optimizer=SGD(learning_rate=0.5),
        n_epochs=7,
        seeds=[0, 1, 2],
    )
    assert result.history.loss.shape == (7, 3)
    assert result.state.epoch == 7


def test_the_original_setup_is_trained_with_ema_momentum(xor):
    from mlplab import original_setup

    setup = original_setup()
    assert setup.optimizer == SGD(learning_rate=0.5, momentum=0.5, momentum_style="ema")
    result = fit(
        setup.config,
        setup.x,
        setup.y,
        loss=setup.loss,
        optimizer=setup.optimizer,
        n_epochs=setup.n_epochs,
        seeds=[setup.seed],
    )
    assert result.history.loss[-1, 0] < 0.01


def test_callbacks_can_stop_members(xor):
    def stop_member_one(view):
        return np.array([False, view.epoch >= 3])

    result = fit(
        MLPConfig((3, 4, 1)),
        *xor,
        loss="sse",
        optimizer=SGD(learning_rate=0.5),
        n_epochs=10,
        seeds=[0, 1],
        callbacks=[stop_member_one],
    )
    frozen = result.history.loss[3:, 1]
    np.testing.assert_array_equal(frozen, frozen[0])
    assert len(set(result.history.loss[3:, 0].tolist())) > 1


def test_minibatch_sse_epoch_loss_sums_the_batches(rng):
    x, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    config = MLPConfig((3, 4, 1), "tanh", "identity")
    # A tiny rate: the epoch's batch losses are those of (almost) the initial weights.
    result = fit(
        config,
        x,
        y,
        loss="sse",
        optimizer=SGD(learning_rate=1e-300),
        n_epochs=1,
        batch_size=3,
    )
    from mlplab import init_params, predict_raw

    full = np.sum((predict_raw(init_params(config, [0]), config, x) - y) ** 2)
    assert result.history.loss[0, 0] == pytest.approx(full, rel=1e-12)


@pytest.mark.parametrize(
    "loss", ["sse", "mse", "binary_cross_entropy", "cross_entropy"]
)
@pytest.mark.parametrize("batch_size", [None, 2])
def test_float32_training_stays_float32(loss, batch_size, xor):
    x, y = xor
    targets = np.eye(2)[y.astype(int)]
    config = MLPConfig(
        (3, 4, 2),
        "tanh",
        "sigmoid" if loss in ("sse", "mse") else "identity",
        dtype="float32",
    )
    result = fit(
        config,
        x,
        targets,
        loss=loss,
        optimizer=SGD(learning_rate=0.1, momentum=0.9),
        n_epochs=3,
        batch_size=batch_size,
    )
    assert {a.dtype for a in param_arrays(result.params)} == {np.dtype(np.float32)}
    assert {v.dtype for v in result.state.opt_state.velocity} == {np.dtype(np.float32)}
    assert result.history.loss.dtype == np.float32


@pytest.mark.parametrize(
    ("loss", "n_outputs"), [("cross_entropy", 3), ("binary_cross_entropy", 2)]
)
def test_minibatch_accuracy_is_the_exact_fraction_of_hits(loss, n_outputs, rng):
    # 101 rows in batches of 7 (the last one short), rate 0: the weights stay,
    # so the epoch's accuracy is that of the initial weights on all the rows,
    # counted exactly (not a sum of per-batch fractions that rounds).
    from mlplab import init_params, predict_raw
    from mlplab.training import accuracy

    x = rng.normal(size=(101, 4))
    if loss == "cross_entropy":
        y = np.eye(n_outputs)[rng.integers(0, n_outputs, 101)]
    else:
        y = rng.integers(0, 2, (101, n_outputs)).astype(float)
    config = MLPConfig((4, 5, n_outputs), "tanh", "identity")
    seeds = [0, 1, 2]
    result = fit(
        config,
        x,
        y,
        loss=loss,
        optimizer=SGD(learning_rate=0.0),
        n_epochs=1,
        batch_size=7,
        seeds=seeds,
    )
    out = predict_raw(init_params(config, seeds), config, x)
    np.testing.assert_array_equal(
        result.history.metrics["accuracy"][0], accuracy(out, y, loss)
    )
