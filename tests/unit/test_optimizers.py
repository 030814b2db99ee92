"""Hand-computed SGD steps and the equivalences between momentum conventions."""

import dataclasses

import numpy as np
import pytest

from mlplab.optimizers import SGD, apply_updates


def _run_on_f_equals_x(opt, steps=3):
    """Minimise f(x) = x from x0 = 1: the gradient is always 1."""
    x = (np.ones((1, 1, 1)),)
    state = opt.init(x)
    path = []
    for _ in range(steps):
        updates, state = opt.update((np.ones((1, 1, 1)),), state, x)
        x = apply_updates(x, updates)
        path.append(float(x[0][0, 0, 0]))
    return path


@pytest.mark.parametrize(
    ("opt", "expected"),
    [
        (SGD(learning_rate=0.1, momentum=0.9), [0.9, 0.71, 0.439]),
        (
            SGD(learning_rate=0.1, momentum=0.9, momentum_style="lr-inside"),
            [0.9, 0.71, 0.439],
        ),
        (
            SGD(
                learning_rate=0.1,
                momentum=0.9,
                momentum_style="dampened",
                dampening=0.5,
            ),
            [0.9, 0.76, 0.584],
        ),
        (SGD(learning_rate=0.1, momentum=0.9, nesterov=True), [0.81, 0.539, 0.1951]),
        (
            SGD(
                learning_rate=0.1,
                momentum=0.9,
                momentum_style="lr-inside",
                nesterov=True,
            ),
            [0.81, 0.539, 0.1951],
        ),
        # EMA: v = 0.1, 0.19, 0.271 -> steps 0.01, 0.019, 0.0271
        (
            SGD(learning_rate=0.1, momentum=0.9, momentum_style="ema"),
            [0.99, 0.971, 0.9439],
        ),
        # bias-corrected EMA of a constant gradient is the gradient itself
        (
            SGD(
                learning_rate=0.1,
                momentum=0.9,
                momentum_style="ema",
                bias_correction=True,
            ),
            [0.9, 0.8, 0.7],
        ),
        (SGD(learning_rate=0.1), [0.9, 0.8, 0.7]),
    ],
)
def test_hand_computed_steps(opt, expected):
    np.testing.assert_allclose(_run_on_f_equals_x(opt), expected, rtol=0, atol=1e-14)


def test_dampening_skips_the_first_step_only():
    # v1 = g (undampened), v2 = 0.9 * 1 + 0.5 * 1 = 1.4: the 0.9, 0.76.
    path = _run_on_f_equals_x(
        SGD(learning_rate=0.1, momentum=0.9, momentum_style="dampened", dampening=0.5),
        2,
    )
    np.testing.assert_allclose(path, [0.9, 0.76], atol=1e-14)


def _quadratic_run(opt, n_steps=50, w0=None, switch=None):
    """Run on f(w) = 0.5 w^T A w per member; optionally swap the optimizer mid-run."""
    a = np.array([[3.0, 0.5], [0.5, 1.0]])
    w = (np.array([[[1.0, -2.0]], [[0.5, 1.5]]]) if w0 is None else w0,)
    state = opt.init(w)
    for t in range(n_steps):
        if switch is not None and t == switch[0]:
            opt = switch[1]
        grads = (w[0] @ a,)
        updates, state = opt.update(grads, state, w)
        w = apply_updates(w, updates)
    return w[0]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize(("rate", "b"), [(0.5, 0.5), (0.1, 0.9), (0.3, 0.0)])
def test_ema_equals_classical_with_rate_times_one_minus_b(rate, b, nesterov):
    ema = SGD(learning_rate=rate, momentum=b, momentum_style="ema", nesterov=nesterov)
    classical = SGD(learning_rate=rate * (1 - b), momentum=b, nesterov=nesterov)
    np.testing.assert_allclose(
        _quadratic_run(ema), _quadratic_run(classical), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("nesterov", [False, True])
def test_rate_inside_equals_rate_outside_while_the_rate_is_constant(nesterov):
    inside = SGD(
        learning_rate=0.2, momentum=0.8, momentum_style="lr-inside", nesterov=nesterov
    )
    outside = SGD(learning_rate=0.2, momentum=0.8, nesterov=nesterov)
    np.testing.assert_allclose(
        _quadratic_run(inside), _quadratic_run(outside), rtol=0, atol=1e-12
    )


def test_rate_inside_and_outside_differ_after_a_rate_change():
    # On f(x) = x, rate 0.1 for two steps then 0.05. Outside: v = 1, 1.9, 2.71 and the
    # third step is 0.05 * 2.71. Inside: v = -0.1, -0.19, then
    # 0.9 * -0.19 - 0.05 = -0.221.
    def run(style):
        opt = SGD(learning_rate=0.1, momentum=0.9, momentum_style=style)
        x = (np.ones((1, 1, 1)),)
        state = opt.init(x)
        for t in range(3):
            if t == 2:
                opt = dataclasses.replace(opt, learning_rate=0.05)
            updates, state = opt.update((np.ones((1, 1, 1)),), state, x)
            x = apply_updates(x, updates)
        return float(x[0][0, 0, 0])

    assert run("classical") == pytest.approx(0.71 - 0.05 * 2.71, abs=1e-14)
    assert run("lr-inside") == pytest.approx(0.71 - 0.221, abs=1e-14)


def test_per_member_hyperparameters_equal_separate_runs():
    w0 = np.array([[[1.0, -2.0]], [[0.5, 1.5]]])
    both = _quadratic_run(SGD(learning_rate=(0.1, 0.3), momentum=(0.9, 0.5)), w0=w0)
    first = _quadratic_run(SGD(learning_rate=0.1, momentum=0.9), w0=w0[:1])
    second = _quadratic_run(SGD(learning_rate=0.3, momentum=0.5), w0=w0[1:])
    np.testing.assert_array_equal(both, np.concatenate([first, second]))


def test_weight_decay_is_coupled_l2_on_weights_only():
    opt = SGD(learning_rate=0.1, weight_decay=0.5)
    w, b = np.full((1, 1, 1), 2.0), np.full((1, 1), 2.0)
    updates, _ = opt.update(
        (np.zeros_like(w), np.zeros_like(b)), opt.init((w, b)), (w, b)
    )
    np.testing.assert_allclose(updates[0], -0.1 * 0.5 * 2.0)
    np.testing.assert_array_equal(updates[1], 0.0)
    with_biases = SGD(learning_rate=0.1, weight_decay=0.5, decay_biases=True)
    updates, _ = with_biases.update(
        (np.zeros_like(w), np.zeros_like(b)), with_biases.init((w, b)), (w, b)
    )
    np.testing.assert_allclose(updates[1], -0.1)


def test_update_does_not_modify_its_inputs():
    opt = SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    w = (np.ones((2, 2, 2)),)
    g = (np.full((2, 2, 2), 0.5),)
    state = opt.init(w)
    _, state = opt.update(g, state, w)
    copies = [a.copy() for a in (*w, *g, *state.velocity)]
    opt.update(g, state, w)
    for before, after in zip(copies, (*w, *g, *state.velocity), strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": -0.1}, "learning_rate must be >= 0.0; got -0.1"),
        ({"momentum": 1.0, "momentum_style": "ema"}, "momentum must be < 1.0; got 1.0"),
        ({"momentum": -0.5}, "momentum must be >= 0.0; got -0.5"),
        ({"momentum_style": "heavy"}, "momentum_style must be one of"),
        ({"dampening": 2.0}, "dampening must be <= 1.0; got 2.0"),
        ({"learning_rate": (0.1, float("nan"))}, "learning_rate must be finite"),
    ],
)
def test_invalid_configs_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        SGD(**kwargs)


def test_per_member_values_must_match_the_member_count():
    opt = SGD(learning_rate=(0.1, 0.2, 0.3))
    w = (np.ones((2, 1, 1)),)
    with pytest.raises(ValueError, match="needs 2 values"):
        opt.update(w, opt.init(w), w)


def test_configs_are_hashable_and_comparable():
    assert SGD(learning_rate=[0.1, 0.2]) == SGD(learning_rate=(0.1, 0.2))
    assert hash(SGD(momentum=0.5)) == hash(SGD(momentum=0.5))
