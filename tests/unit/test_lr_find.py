"""The learning-rate range test (issue 8)."""

import numpy as np
import pytest

from mlplab import LOSSES, SGD, MLPConfig, forward, init_params, original_setup
from mlplab.lr_find import ExponentialRange, lr_find


def test_exponential_range_per_epoch():
    r = ExponentialRange(0.01, 1.0, n_steps=3, steps_per_epoch=2)
    np.testing.assert_allclose(
        [r(i) for i in range(7)], [0.01, 0.01, 0.1, 0.1, 1, 1, 1], rtol=1e-12
    )


def test_range_test_on_a_quadratic_stops_at_the_stability_limit():
    # least squares with Hessian 2 x^T x = diag(2, 8): plain SGD diverges above 2 / 8
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    config = MLPConfig(
        (2, 1), output_activation="identity", use_bias=False, init="normal:1"
    )
    r = lr_find(
        config,
        x,
        np.ones(2),
        loss="sse",
        optimizer=SGD(0.1),
        min_lr=1e-3,
        max_lr=10.0,
        n_steps=60,
    )
    assert r.diverged
    assert r.rates[-1] < 1.0  # cut soon after the loss blew up
    assert r.suggested_rate < 0.25  # below the stability limit 2 / 8
    assert r.min_loss_rate < 1.0  # past 2 / 2 every direction diverges


def test_range_test_on_the_original_program():
    s = original_setup()
    r = lr_find(s.config, s.x, s.y, loss="sse", optimizer=s.optimizer, n_steps=50)
    y = np.asarray(s.y, np.float64).reshape(-1, 1)
    initial = LOSSES["sse"].value(
        forward(init_params(s.config, [0]), s.config, s.x)[0], y
    )[0]
    # the first epoch runs at min_lr = 1e-4: a small step downhill from seed 0's start
    assert r.rates[0] == pytest.approx(1e-4)
    assert initial * (1 - 1e-3) < r.losses[0] < initial
    np.testing.assert_allclose(np.diff(np.log(r.rates)), np.log(1e5) / 49, rtol=1e-9)
    assert r.losses.min() < r.losses[0]
    assert r.suggested_rate == min(r.steepest_rate, r.min_loss_rate / 10)


def test_lr_find_validates():
    s = original_setup()
    with pytest.raises(ValueError, match="n_steps must be >= 3"):
        lr_find(s.config, s.x, s.y, loss="sse", optimizer=s.optimizer, n_steps=2)
