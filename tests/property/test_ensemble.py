"""Member k of an ensemble is the network trained alone with member k's settings."""

import numpy as np
import pytest

from mlplab import SGD, MLPConfig, fit, param_arrays

RATES = (0.5, 0.1, 1.0, 0.3)
MOMENTA = (0.5, 0.9, 0.0, 0.7)
SEEDS = (0, 11, 22, 33)


def _arrays(result, k):
    return [a[k] for a in param_arrays(result.params)]


@pytest.mark.parametrize("style", ["classical", "lr-inside", "dampened", "ema"])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_member_k_equals_a_single_run(style, nesterov, batch_size, rng):
    x = rng.normal(size=(10, 3))
    y = (x[:, :1] * x[:, 1:2] > 0).astype(float)
    config = MLPConfig((3, 5, 1), "tanh", "sigmoid")
    make = lambda lr, mu: SGD(
        learning_rate=lr,
        momentum=mu,
        momentum_style=style,  # noqa: E731
        nesterov=nesterov,
        dampening=0.3,
    )
    together = fit(
        config,
        x,
        y,
        loss="sse",
        optimizer=make(RATES, MOMENTA),
        n_epochs=60,
        seeds=SEEDS,
        batch_size=batch_size,
    )
    for k in range(len(SEEDS)):
        alone = fit(
            config,
            x,
            y,
            loss="sse",
            optimizer=make(RATES[k], MOMENTA[k]),
            n_epochs=60,
            seeds=[SEEDS[k]],
            batch_size=batch_size,
        )
        for a, b in zip(_arrays(together, k), _arrays(alone, 0), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            together.history.loss[:, k], alone.history.loss[:, 0], rtol=0, atol=1e-12
        )


def test_adding_members_never_changes_the_existing_ones(rng):
    x = rng.normal(size=(12, 4))
    y = rng.normal(size=(12, 2))
    config = MLPConfig((4, 6, 2), "relu", "identity", init="he_normal")
    opt = SGD(learning_rate=0.05, momentum=0.9)
    three = fit(
        config,
        x,
        y,
        loss="mse",
        optimizer=opt,
        n_epochs=40,
        seeds=[1, 2, 3],
        batch_size=5,
    )
    five = fit(
        config,
        x,
        y,
        loss="mse",
        optimizer=opt,
        n_epochs=40,
        seeds=[1, 2, 3, 4, 5],
        batch_size=5,
    )
    for a, b in zip(param_arrays(three.params), param_arrays(five.params), strict=True):
        np.testing.assert_allclose(a, b[:3], rtol=0, atol=1e-12)


def test_the_same_seed_gives_the_same_run(xor):
    opt = SGD(learning_rate=0.5, momentum=0.9)
    a = fit(
        MLPConfig((3, 4, 1)),
        *xor,
        loss="sse",
        optimizer=opt,
        n_epochs=30,
        seeds=[7],
        batch_size=2,
    )
    b = fit(
        MLPConfig((3, 4, 1)),
        *xor,
        loss="sse",
        optimizer=opt,
        n_epochs=30,
        seeds=[7],
        batch_size=2,
    )
    for u, v in zip(param_arrays(a.params), param_arrays(b.params), strict=True):
        np.testing.assert_array_equal(u, v)
