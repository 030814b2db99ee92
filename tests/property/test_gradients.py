"""Backpropagation against central differences, for every sensible pairing."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlplab import Dense, MLPConfig, gradient_check, init_params

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"]
# (output activation, loss): squashing outputs with squared errors, logits with
# the fused cross-entropies.
HEADS = [
    ("identity", "mse"),
    ("identity", "sse"),
    ("sigmoid", "sse"),
    ("sigmoid", "mse"),
    ("tanh", "mse"),
    ("softmax", "mse"),
    ("identity", "binary_cross_entropy"),
    ("identity", "cross_entropy"),
]


def _params(config, n_members, rng):
    """Initial weights with random (not zero) biases: a ReLU network with zero biases
    puts a whole row exactly on the kink z = 0 when a previous layer is all zero, where
    no derivative exists and central differences report the average slope."""
    params = init_params(config, seeds=range(n_members))
    return tuple(
        Dense(layer.w, None if layer.b is None else rng.normal(size=layer.b.shape))
        for layer in params
    )


def _data(loss, n_outputs, rng):
    x = rng.normal(size=(6, 3))
    if loss == "cross_entropy":
        return x, np.eye(n_outputs)[rng.integers(0, n_outputs, 6)]
    if loss == "binary_cross_entropy":
        return x, rng.integers(0, 2, (6, n_outputs)).astype(float)
    return x, rng.normal(size=(6, n_outputs))


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(("output", "loss"), HEADS)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("n_members", [1, 3])
def test_backprop_matches_central_differences(
    hidden, output, loss, depth, use_bias, n_members
):
    rng = np.random.default_rng(depth * 100 + n_members)
    config = MLPConfig(
        (3, *[5, 4, 3][:depth], 2), hidden, output, use_bias, init="glorot_normal"
    )
    x, y = _data(loss, 2, rng)
    rows = gradient_check(
        config, x, y, loss=loss, params=_params(config, n_members, rng)
    )
    worst = max(r.rel_error for r in rows)
    assert worst < 1e-7, rows


@given(
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    n_outputs=st.integers(1, 4),
    hidden=st.sampled_from(HIDDEN),
    seed=st.integers(0, 2**31),
)
def test_random_architectures_pass_the_gradient_check(sizes, n_outputs, hidden, seed):
    rng = np.random.default_rng(seed)
    config = MLPConfig((3, *sizes, n_outputs), hidden, "identity", init="glorot_normal")
    x = rng.normal(size=(5, 3))
    y = rng.normal(size=(5, n_outputs))
    rows = gradient_check(config, x, y, loss="mse", params=_params(config, 2, rng))
    assert max(r.rel_error for r in rows) < 1e-7


def test_the_original_program_fails_the_check(xor):
    from mlplab import original_setup

    setup = original_setup(fixed=False)
    rows = gradient_check(setup.config, *xor, loss=setup.loss)
    assert all(r.rel_error > 0.1 for r in rows)
    fixed = original_setup(fixed=True)
    assert all(
        r.rel_error < 1e-7 for r in gradient_check(fixed.config, *xor, loss="sse")
    )
