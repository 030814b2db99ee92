"""Member k of a sweep is the network ``fit`` trains alone with member k's settings."""

import dataclasses

import numpy as np
import pytest

from mlplab import _sweep_engine as engine
from mlplab.losses import LOSSES
from mlplab.network import MLPConfig, predict_raw
from mlplab.optimizers import SGD
from mlplab.presets import original_setup
from mlplab.sweeps import sweep
from mlplab.training import fit

GRID = {
    "lr": [0.1, 0.5, 1.0],
    "momentum": [0.0, 0.5, 0.9],
    "momentum_style": ["classical", "lr-inside", "dampened", "ema"],
    "nesterov": [False, True],
}
EPOCHS = 200


def _alone(setup, cell, seed, epochs=EPOCHS):
    opt = dataclasses.replace(
        setup.optimizer,
        learning_rate=cell["lr"],
        momentum=cell["momentum"],
        momentum_style=cell["momentum_style"],
        nesterov=cell["nesterov"],
    )
    result = fit(
        setup.config,
        setup.x,
        setup.y,
        loss=setup.loss,
        optimizer=opt,
        n_epochs=epochs,
        seeds=[seed],
    )
    out = predict_raw(result.params, setup.config, setup.x)
    y = setup.y[:, None]
    return (
        result,
        float(LOSSES[setup.loss].value(out, y)[0]),
        bool(np.all((out[0] > 0.5) == (y > 0.5))),
    )


@pytest.mark.slow
# The original program's derivative with classical momentum 0.9 and rates of
# 0.5 and more is chaotic for some seeds (a 1e-16 rounding difference grows to
# O(1) between epochs 200 and 300), so it is compared with momenta 0 and 0.5.
@pytest.mark.parametrize(
    ("fixed", "momenta", "seeds"),
    [(True, [0.0, 0.5, 0.9], [3, 11]), (False, [0.0, 0.5], [5])],
)
def test_member_k_equals_a_single_fit(fixed, momenta, seeds):
    epochs = EPOCHS
    setup = dataclasses.replace(original_setup(fixed=fixed), n_epochs=epochs)
    result = sweep(
        {**GRID, "momentum": momenta}, seeds=seeds, setup=setup, chunk_size=37
    )
    assert len(result.rows) == 3 * len(momenta) * 4 * 2 * len(seeds)
    cells = [c["settings"] for c in result.cells]
    for row in result.rows:
        _, loss, correct = _alone(setup, cells[row["cell"]], row["seed"], epochs)
        assert row["final_loss"] == pytest.approx(loss, rel=1e-12, abs=0)
        assert row["solved"] == correct


@pytest.mark.parametrize("style", ["classical", "lr-inside", "dampened", "ema"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_engine_weights_equal_fit_weights(style, nesterov):
    setup = original_setup()
    seeds = [0, 1, 2, 3, 4, 5]
    opt = SGD(
        learning_rate=(0.1, 0.5, 1.0, 0.1, 0.5, 1.0),
        momentum=(0.0, 0.5, 0.9, 0.9, 0.0, 0.5),
        momentum_style=style,
        nesterov=nesterov,
        dampening=0.3,
    )
    tracked = engine.train_tracked(
        setup.config,
        setup.x,
        setup.y[:, None],
        loss="sse",
        optimizer=opt,
        n_epochs=EPOCHS,
        seeds=seeds,
        window=30,
        kind="classification",
        threshold=0.5,
    )
    reference = fit(
        setup.config,
        setup.x,
        setup.y,
        loss="sse",
        optimizer=opt,
        n_epochs=EPOCHS,
        seeds=seeds,
    )
    for mine, theirs in zip(tracked.params, reference.params, strict=True):
        np.testing.assert_allclose(mine.w, theirs.w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        tracked.initial_loss, reference.history.loss[0], rtol=1e-14
    )


@pytest.mark.parametrize("decay_biases", [True, False])
def test_engine_with_biases_two_hidden_layers_and_bce(decay_biases):
    setup = original_setup()
    config = MLPConfig(
        (3, 5, 3, 1),
        activation="tanh",
        output_activation="identity",
        use_bias=True,
        init="glorot_uniform",
    )
    opt = SGD(
        learning_rate=(0.2, 0.05),
        momentum=(0.9, 0.5),
        weight_decay=(0.0, 0.01),
        decay_biases=decay_biases,
        momentum_style="classical",
        nesterov=True,
    )
    tracked = engine.train_tracked(
        config,
        setup.x,
        setup.y[:, None],
        loss="binary_cross_entropy",
        optimizer=opt,
        n_epochs=200,
        seeds=[7, 8],
        window=20,
        kind="classification",
        threshold=0.0,
    )
    reference = fit(
        config,
        setup.x,
        setup.y,
        loss="binary_cross_entropy",
        optimizer=opt,
        n_epochs=200,
        seeds=[7, 8],
    )
    for mine, theirs in zip(tracked.params, reference.params, strict=True):
        np.testing.assert_allclose(mine.w, theirs.w, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(mine.b, theirs.b, rtol=1e-12, atol=1e-13)
