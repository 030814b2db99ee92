"""Playground settings (the URL's state), data sets and the runs they build."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlplab.playground_core import (
    DATA_SETS,
    LIMITS,
    Settings,
    build_run,
    constant_loss,
    make_data,
    parse_settings,
    preset,
)
from mlplab.presets import original_setup

# ---------------------------------------------------------------- settings


def test_settings_round_trip_through_the_url():
    s = Settings(
        data="spiral",
        noise=0.3,
        points=300,
        test=0.25,
        hidden=(8, 6),
        activation="tanh",
        loss="binary_cross_entropy",
        init="he_normal",
        bias=True,
        optimizer="rmsprop",
        lr=0.02,
        momentum=0.9,
        style="classical",
        dampening=0.3,
        nesterov=False,
        batch=16,
        seed=7,
        epochs=500,
        solve=0.9,
        seeds=30,
    )
    assert parse_settings(s.to_query()) == s


def test_defaults_are_the_corrected_original_program():
    assert parse_settings({}) == preset(fixed=True)


def test_presets_follow_original_setup():
    for fixed in (True, False):
        setup, s = original_setup(fixed=fixed), preset(fixed=fixed)
        run = build_run(s)
        assert run.config == setup.config
        assert run.optimizer == setup.optimizer
        assert (s.loss, s.epochs, s.seed) == (setup.loss, setup.n_epochs, setup.seed)
        np.testing.assert_array_equal(run.x, setup.x)
        np.testing.assert_array_equal(run.y, setup.y)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"data": "mnist"},
            "unknown data set 'mnist'; expected one of xor, quadrant_xor",
        ),
        ({"lr": "-0.1"}, "lr must be > 0 and <= 100; got -0.1"),
        ({"lr": "0"}, "lr must be > 0"),
        ({"lr": "abc"}, "lr must be a number; got 'abc'"),
        ({"momentum": "1"}, "momentum must be in [0, 1); got 1"),
        ({"momentum": "-0.5"}, "momentum must be in [0, 1); got -0.5"),
        (
            {"hidden": "4,64"},
            f"each hidden layer must have 1 to {LIMITS['units']} units",
        ),
        (
            {"hidden": "2,2,2,2,2"},
            f"hidden must have 1 to {LIMITS['hidden_layers']} layers",
        ),
        ({"hidden": "a"}, "hidden must be comma-separated widths"),
        ({"seeds": "5000"}, f"seeds must be in [1, {LIMITS['seeds']}]; got 5000"),
        ({"epochs": "0"}, "epochs must be in [1, 100000]; got 0"),
        ({"bias": "maybe"}, "bias must be 0 or 1; got 'maybe'"),
        ({"noise": "nan"}, "noise must be finite"),
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"nesterov": "1", "momentum": "0"}, "nesterov needs momentum > 0"),
    ],
)
def test_bad_settings_name_the_setting(values, message):
    with pytest.raises(
        ValueError,
        match="^"
        + message.replace("[", r"\[")
        .replace("(", r"\(")
        .replace(")", r"\)")
        .replace("]", r"\]"),
    ):
        parse_settings(values)


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("name", DATA_SETS[1:])
def test_generated_data_sets_are_seeded_balanced_and_split(name):
    x, y, x_test, y_test = make_data(name, 200, 0.1, 0.25)
    again = make_data(name, 200, 0.1, 0.25)
    for a, b in zip((x, y, x_test, y_test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert x.shape == (150, 2)
    assert x_test.shape == (50, 2)
    assert set(np.unique(np.r_[y, y_test])) == {0.0, 1.0}
    assert 0.35 <= np.mean(np.r_[y, y_test]) <= 0.65
    assert np.all(np.abs(np.r_[x, x_test]) < 3)


def test_noise_moves_the_points():
    clean = make_data("circles", 100, 0.0, 0.0)[0]
    noisy = make_data("circles", 100, 0.2, 0.0)[0]
    radius = np.hypot(*clean.T)
    assert set(np.round(radius, 12)) == {0.5, 1.0}
    assert np.std(np.hypot(*noisy.T) - radius) > 0.05


def test_xor_is_the_original_four_rows_without_a_test_set():
    x, y, x_test, y_test = make_data("xor", 200, 0.5, 0.5)
    assert x.tolist() == [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
    assert y.tolist() == [0, 1, 1, 0]
    assert x_test.shape == (0, 3)
    assert y_test.shape == (0,)


def test_constant_loss_is_the_plateau_height():
    assert constant_loss(build_run(Settings())) == 1.0  # sse of outputs 0.5 on XOR
    run = build_run(Settings(loss="binary_cross_entropy"))
    assert constant_loss(run) == pytest.approx(math.log(2), rel=1e-12)
