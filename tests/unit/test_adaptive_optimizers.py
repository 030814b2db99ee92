"""Every optimizer (SGD included), driven by one table of specs, plus hand values."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mlplab.datasets import xor_data
from mlplab.network import MLPConfig
from mlplab.optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, RMSprop
from mlplab.schedules import CosineAnnealing, ExponentialDecay
from mlplab.training import DivergenceWarning, fit
from mlplab.transforms import (
    Chain,
    ChainState,
    ClipByGlobalNorm,
    ClipByValue,
    EmptyState,
    chain,
    clip_by_global_norm,
    clip_by_value,
    learning_rate_of,
    optimizer_config,
    optimizer_from_config,
    with_learning_rate,
)

K = 3  # members in the per-member tests


def build(name: str, kwargs: dict):
    """Build an optimizer from a spec; "clip_norm+X" / "clip_value+X" chain a clip."""
    kwargs = dict(kwargs)
    if name.startswith("clip_norm+"):
        clip = ClipByGlobalNorm(kwargs.pop("max_norm"))
        return chain(clip, OPTIMIZERS[name.split("+")[1]](**kwargs))
    if name.startswith("clip_value+"):
        clip = ClipByValue(kwargs.pop("max_value"))
        return chain(clip, OPTIMIZERS[name.split("+")[1]](**kwargs))
    return OPTIMIZERS[name](**kwargs)


def member(kwargs: dict, k: int) -> dict:
    """Member k's single-member spec: every tuple value replaced by its k-th entry."""
    return {key: v[k] if isinstance(v, tuple) else v for key, v in kwargs.items()}


# (name, kwargs with per-member tuples of length K). The convergence and zero-rate
# tests use member 0's values.
SPECS = [
    ("sgd", {"learning_rate": (0.1, 0.05, 0.2)}),
    ("sgd", {"learning_rate": (0.05, 0.1, 0.02), "momentum": (0.9, 0.5, 0.0)}),
    ("sgd", {"learning_rate": (0.05, 0.1, 0.02), "momentum": (0.9, 0.5, 0.0),
             "nesterov": True}),
    ("sgd", {"learning_rate": (0.05, 0.1, 0.02), "momentum": (0.9, 0.5, 0.3),
             "momentum_style": "lr-inside"}),
    ("sgd", {"learning_rate": (0.05, 0.1, 0.02), "momentum": (0.9, 0.5, 0.3),
             "momentum_style": "dampened", "dampening": (0.5, 0.1, 0.0)}),
    ("sgd", {"learning_rate": (0.2, 0.1, 0.3), "momentum": (0.5, 0.9, 0.0),
             "momentum_style": "ema", "bias_correction": True}),
    ("adagrad", {"learning_rate": (0.5, 0.1, 1.0),
                 "initial_accumulator_value": (0.0, 0.1, 1.0)}),
    ("rmsprop", {"learning_rate": (0.01, 0.02, 0.005), "alpha": (0.99, 0.9, 0.5)}),
    ("rmsprop", {"learning_rate": (0.01, 0.02, 0.005), "alpha": (0.99, 0.9, 0.5),
                 "momentum": (0.9, 0.0, 0.5), "centered": True}),
    ("adam", {"learning_rate": (0.05, 0.1, 0.01), "beta1": (0.9, 0.5, 0.0),
              "beta2": (0.999, 0.99, 0.9)}),
    ("adam", {"learning_rate": (0.05, 0.1, 0.01), "beta1": (0.9, 0.5, 0.0),
              "amsgrad": True, "weight_decay": (1e-4, 0.0, 1e-3)}),
    ("adamw", {"learning_rate": (0.05, 0.1, 0.01), "weight_decay": (1e-4, 0.0, 0.01),
               "decay_biases": True}),
    ("clip_norm+adam", {"max_norm": (1.0, 0.5, 10.0),
                        "learning_rate": (0.05, 0.1, 0.01)}),
    ("clip_value+sgd", {"max_value": (0.5, 1.0, 0.1),
                        "learning_rate": (0.1, 0.05, 0.2), "momentum": 0.5}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SPECS)]

# (name, kwargs, exception, message) for constructors
INVALID = [
    ("sgd", {"learning_rate": -0.1}, ValueError,
     "learning_rate must be >= 0.0; got -0.1"),
    ("sgd", {"momentum": 1.0}, ValueError, "momentum must be < 1.0; got 1.0"),
    ("sgd", {"momentum_style": "heavy"}, ValueError, "momentum_style must be one of"),
    ("adam", {"learning_rate": "fast"}, TypeError,
     "learning_rate must be a number or a sequence of numbers; got str"),
    ("adam", {"learning_rate": (0.1, float("nan"))}, ValueError,
     "learning_rate must be finite; got nan"),
    ("adam", {"beta1": 1.0}, ValueError, "beta1 must be < 1.0; got 1.0"),
    ("adam", {"beta2": -0.1}, ValueError, "beta2 must be >= 0.0; got -0.1"),
    ("adam", {"eps": 0.0}, ValueError, "eps must be > 0.0; got 0.0"),
    ("adam", {"weight_decay": (0.1, -1)}, ValueError,
     "weight_decay must be >= 0.0; got -1.0"),
    ("adamw", {"weight_decay": -0.01}, ValueError,
     "weight_decay must be >= 0.0; got -0.01"),
    ("adamw", {"beta2": True}, TypeError, "beta2 must be a number"),
    ("rmsprop", {"alpha": 1.0}, ValueError, "alpha must be < 1.0; got 1.0"),
    ("rmsprop", {"momentum": -0.5}, ValueError, "momentum must be >= 0.0; got -0.5"),
    ("rmsprop", {"eps": -1e-8}, ValueError, "eps must be > 0.0; got -1e-08"),
    ("adagrad", {"initial_accumulator_value": -1.0}, ValueError,
     "initial_accumulator_value must be >= 0.0; got -1.0"),
    ("adagrad", {"eps": ()}, ValueError, "eps must not be empty"),
]


def make_params(rng, n_members=K):
    """A weight matrix (K, 3, 2) and a bias (K, 2)."""
    return (rng.normal(size=(n_members, 3, 2)), rng.normal(size=(n_members, 2)))


CURVATURE = (np.array([[0.5, 1.0], [2.0, 1.5], [1.0, 0.7]]), np.array([1.2, 0.8]))
OPTIMUM = (np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]), np.array([0.3, -0.7]))


def quadratic_grads(params):
    """Gradient of 0.5 sum c (w - w*)^2, the same quadratic for every member."""
    pairs = zip(params, CURVATURE, OPTIMUM, strict=True)
    return tuple(c * (p - o) for p, c, o in pairs)


def run(opt, params, n_steps, noise=None):
    """Take n_steps on the quadratic, adding noise[i] to the weight gradient."""
    state = opt.init(params)
    for i in range(n_steps):
        grads = quadratic_grads(params)
        if noise is not None:
            grads = (grads[0] + noise[i], grads[1])
        updates, state = opt.update(grads, state, params)
        params = tuple(p + u for p, u in zip(params, updates, strict=True))
    return params, state


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_converges_on_a_convex_quadratic(name, kwargs, rng):
    opt = build(name, member(kwargs, 0))
    params, _ = run(opt, make_params(rng, 1), 3000)
    for p, o in zip(params, OPTIMUM, strict=True):
        np.testing.assert_allclose(p[0], o, atol=1e-2, rtol=0)


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_zero_learning_rate_changes_nothing(name, kwargs, rng):
    opt = build(name, {**kwargs, "learning_rate": 0.0})
    start = make_params(rng)
    params, _ = run(opt, start, 5, noise=rng.normal(size=(5, K, 3, 2)))
    for p, s in zip(params, start, strict=True):
        np.testing.assert_array_equal(p, s)


def _freeze(tree):
    """Make every array in a nested tuple read-only; return copies to compare with."""
    if isinstance(tree, np.ndarray):
        copy = tree.copy()
        tree.setflags(write=False)
        return copy
    if isinstance(tree, tuple):
        return [_freeze(t) for t in tree]
    return tree


def _assert_same(tree, copies):
    if isinstance(tree, np.ndarray):
        np.testing.assert_array_equal(tree, copies)
    elif isinstance(tree, tuple):
        for t, c in zip(tree, copies, strict=True):
            _assert_same(t, c)


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_update_does_not_modify_its_inputs(name, kwargs, rng):
    opt = build(name, kwargs)
    params = make_params(rng)
    _, state = run(opt, params, 2)  # a non-trivial state
    grads = make_params(rng)
    saved = [_freeze(x) for x in (grads, state, params)]
    opt.update(grads, state, params)  # read-only arrays: in-place writes raise
    for x, copies in zip((grads, state, params), saved, strict=True):
        _assert_same(x, copies)


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_per_member_hyperparameters_equal_single_runs(name, kwargs, rng):
    start = make_params(rng)
    noise = rng.normal(size=(20, K, 3, 2))  # a different perturbation per step
    ensemble, _ = run(build(name, kwargs), start, 20, noise)
    for k in range(K):
        one = tuple(p[k:k + 1] for p in start)
        alone, _ = run(build(name, member(kwargs, k)), one, 20, noise[:, k:k + 1])
        for e, a in zip(ensemble, alone, strict=True):
            np.testing.assert_allclose(e[k:k + 1], a, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_float32_stays_float32(name, kwargs, rng):
    opt = build(name, kwargs)
    params = tuple(p.astype(np.float32) for p in make_params(rng))
    state = opt.init(params)
    for _ in range(2):
        grads = tuple(g.astype(np.float32) for g in make_params(rng))
        updates, state = opt.update(grads, state, params)
    arrays = [*updates]
    stack = [state]
    while stack:  # every array in the (nested) state
        item = stack.pop()
        if isinstance(item, np.ndarray):
            arrays.append(item)
        elif isinstance(item, tuple):
            stack.extend(item)
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=IDS)
def test_config_round_trips_through_json(name, kwargs):
    opt = build(name, kwargs)
    text = json.dumps(optimizer_config(opt))
    assert optimizer_from_config(json.loads(text)) == opt


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), INVALID)
def test_invalid_configs_are_rejected(name, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        OPTIMIZERS[name](**kwargs)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_wrong_number_of_per_member_values_is_an_error(name, rng):
    opt = OPTIMIZERS[name](learning_rate=(0.1, 0.2))
    params = make_params(rng)
    with pytest.raises(ValueError, match=r"needs 3 values \(one per member\); got 2"):
        opt.update(params, opt.init(params), params)


def test_registry_names():
    assert {"sgd": SGD, "adam": Adam, "adamw": AdamW,
                          "rmsprop": RMSprop, "adagrad": Adagrad} == OPTIMIZERS


# --- hand-computed steps ------------------------------------------------------------

@pytest.mark.parametrize(("g", "expected"), [
    (1e-3, -0.000999990000099999),
    (1.0, -0.00099999999),
    (1e3, -0.001),
    (1e-8, -0.0005),
])
def test_first_adam_step(g, expected):
    opt = Adam(learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    w = (np.zeros((1, 1, 1)),)
    updates, state = opt.update((np.full((1, 1, 1), g),), opt.init(w), w)
    np.testing.assert_allclose(updates[0][0, 0, 0], expected, rtol=0, atol=1e-12)
    assert state.step == 1


def test_amsgrad_uses_the_largest_second_moment():
    # A large gradient then a small one: AMSGrad divides by the old, larger v.
    grads = [np.full((1, 1, 1), 10.0), np.full((1, 1, 1), 0.1)]
    steps = {}
    for amsgrad in (False, True):
        opt = Adam(learning_rate=1.0, beta1=0.0, beta2=0.5, eps=1e-12, amsgrad=amsgrad)
        w = (np.zeros((1, 1, 1)),)
        state = opt.init(w)
        for g in grads:
            updates, state = opt.update((g,), state, w)
        steps[amsgrad] = updates[0][0, 0, 0]
    # t = 2: v = 0.5 * 50 + 0.5 * 0.01 = 25.005, v_max = max(50, 25.005) = 50
    for amsgrad, v in ((False, 25.005), (True, 50.0)):
        expected = -0.1 / (np.sqrt(v / 0.75) + 1e-12)
        np.testing.assert_allclose(steps[amsgrad], expected, rtol=1e-12)


def test_rmsprop_centered_first_step():
    # v = 0.1 g^2, m = 0.1 g, so sqrt(v - m^2) = sqrt(0.09) |g|
    opt = RMSprop(learning_rate=0.01, alpha=0.9, eps=1e-12, centered=True)
    w = (np.zeros((1, 1, 1)),)
    updates, _ = opt.update((np.full((1, 1, 1), 2.0),), opt.init(w), w)
    expected = -0.01 * 2.0 / (0.3 * 2.0 + 1e-12)
    np.testing.assert_allclose(updates[0], expected, rtol=1e-12)


def test_adagrad_second_step_divides_by_the_root_of_the_sum():
    opt = Adagrad(learning_rate=1.0, eps=1e-12, initial_accumulator_value=1.0)
    w = (np.zeros((1, 1, 1)),)
    state = opt.init(w)
    for g in (3.0, 4.0):
        updates, state = opt.update((np.full((1, 1, 1), g),), state, w)
    expected = -4.0 / (np.sqrt(1 + 9 + 16) + 1e-12)
    np.testing.assert_allclose(updates[0], expected, rtol=1e-12)


def test_adamw_decay_is_decoupled_and_skips_biases_by_default():
    w = (np.full((1, 2, 1), 2.0), np.full((1, 1), 2.0))
    zero = (np.zeros((1, 2, 1)), np.zeros((1, 1)))
    for decay_biases in (False, True):
        opt = AdamW(learning_rate=0.1, weight_decay=0.5, decay_biases=decay_biases)
        updates, _ = opt.update(zero, opt.init(w), w)
        np.testing.assert_allclose(updates[0], -0.1 * 0.5 * 2.0, rtol=1e-15)
        expected = -0.1 if decay_biases else 0.0
        np.testing.assert_allclose(updates[1], expected, rtol=1e-15)


def test_adam_weight_decay_is_coupled():
    # The L2 term goes through the normalisation: the first step is -a sign(w).
    opt = Adam(learning_rate=0.1, weight_decay=0.5, eps=1e-12)
    w = (np.array([[[2.0], [-3.0]]]),)
    updates, _ = opt.update((np.zeros((1, 2, 1)),), opt.init(w), w)
    np.testing.assert_allclose(updates[0], [[[-0.1], [0.1]]], rtol=1e-10)


def test_schedule_sets_each_steps_rate():
    opt = SGD(learning_rate=ExponentialDecay(1.0, gamma=0.5))
    w = (np.zeros((1, 1, 1)),)
    state = opt.init(w)
    rates = []
    for _ in range(3):
        updates, state = opt.update((np.ones((1, 1, 1)),), state, w)
        rates.append(-updates[0][0, 0, 0])
    assert rates == [1.0, 0.5, 0.25]


def test_per_member_schedule():
    opt = Adagrad(learning_rate=CosineAnnealing((0.1, 0.2), t_max=10))
    w = (np.zeros((2, 1, 1)),)
    updates, _ = opt.update((np.ones((2, 1, 1)),), opt.init(w), w)
    np.testing.assert_allclose(updates[0].ravel(), [-0.1, -0.2], rtol=1e-9)


# --- clipping and chain ------------------------------------------------------------

def test_clip_by_global_norm_is_per_member_over_all_arrays():
    # member 0: norm sqrt(9 + 16 + 0) = 5 > 1 -> scaled; member 1: norm 0.5 kept
    grads = (np.array([[[3.0, 4.0]], [[0.3, 0.0]]]), np.array([[0.0], [0.4]]))
    clipped, state = ClipByGlobalNorm((1.0, 2.0)).update(grads, EmptyState(), grads)
    scale = 1.0 / (5.0 + 1e-6)
    expected = [[[3 * scale, 4 * scale]], [[0.3, 0.0]]]
    np.testing.assert_allclose(clipped[0], expected, rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [[0.0], [0.4]], rtol=1e-15)
    assert state == EmptyState()


def test_clip_by_value_per_member():
    grads = (np.array([[[-3.0, 0.5]], [[-3.0, 0.5]]]),)
    clipped, _ = clip_by_value((1.0, 0.25)).update(grads, EmptyState(), grads)
    np.testing.assert_array_equal(clipped[0], [[[-1.0, 0.5]], [[-0.25, 0.25]]])


def test_chain_equals_the_transforms_applied_by_hand(rng):
    clip, adam = clip_by_global_norm(0.5), Adam(learning_rate=0.1)
    opt = chain(clip, adam)
    params = make_params(rng)
    state, adam_state = opt.init(params), adam.init(params)
    for _ in range(3):
        grads = make_params(rng)
        updates, state = opt.update(grads, state, params)
        clipped, _ = clip.update(grads, EmptyState(), params)
        expected, adam_state = adam.update(clipped, adam_state, params)
        for u, e in zip(updates, expected, strict=True):
            np.testing.assert_array_equal(u, e)
    assert isinstance(state, ChainState)
    assert state.step == 3


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ClipByGlobalNorm(0.0), "max_norm must be > 0.0; got 0.0"),
    (lambda: ClipByValue(-1.0), "max_value must be > 0.0; got -1.0"),
    (lambda: Chain(()), "a chain needs at least one transform; got none"),
    (lambda: chain(Adam(), "sgd"), "every chained transform needs init and update"),
    (lambda: optimizer_from_config({"name": "lion"}), "unknown optimizer, transform"),
])
def test_invalid_transforms(make, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        make()


@pytest.mark.parametrize("optimizer", [
    Adam(learning_rate=0.05),
    chain(clip_by_global_norm(1.0), RMSprop(learning_rate=0.02, momentum=0.5)),
])
def test_fit_trains_with_adaptive_optimizers_and_chains(optimizer):
    x, y = xor_data()
    config = MLPConfig((3, 8, 1), activation="tanh", output_activation="identity")
    result = fit(config, x, y, loss="binary_cross_entropy", optimizer=optimizer,
                 n_epochs=300, seeds=(0, 1))
    loss = result.history.metrics["loss"]
    assert np.all(loss[-1] < 0.5 * loss[0])


def test_a_diverging_member_of_a_chained_fit_is_masked():
    x, y = xor_data()
    config = MLPConfig((3, 4, 1), activation="relu", output_activation="identity")
    opt = chain(clip_by_value(1e300), SGD(learning_rate=(0.1, 1e3)))
    with pytest.warns(DivergenceWarning):
        result = fit(config, x, y, loss="mse", optimizer=opt, n_epochs=50,
                     seeds=(0, 1))
    assert result.history.diverged_epoch[0] == -1
    assert result.history.diverged_epoch[1] >= 0
    assert isinstance(result.state.opt_state, ChainState)
    velocity = result.state.opt_state.states[1].velocity
    assert all(np.all(np.isfinite(v)) for v in velocity)


def test_learning_rate_of_and_with_learning_rate():
    plain = Adam(learning_rate=ExponentialDecay(1.0, gamma=0.5))
    chained = chain(clip_by_global_norm(1.0), plain)
    assert learning_rate_of(plain, 2) == learning_rate_of(chained, 2) == 0.25
    assert with_learning_rate(plain, 0.1) == Adam(learning_rate=0.1)
    assert with_learning_rate(chained, 0.1) == chain(clip_by_global_norm(1.0),
                                                     Adam(learning_rate=0.1))
    with pytest.raises(ValueError, match="the chain holds no transform with a"):
        learning_rate_of(chain(clip_by_value(1.0)), 0)
