import numpy as np
import pytest

from mlplab.activations import ACTIVATIONS, LeakyReLU, get_activation, sigmoid, softmax

EXTREMES = np.array([-1000.0, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1000.0])


def test_sigmoid_is_exact_at_the_extremes_and_raises_nothing():
    with np.errstate(all="raise"):
        out = sigmoid(np.array([1000.0, -1000.0]))
    assert out[0] == 1.0
    assert out[1] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_the_definition_where_it_is_representable(dtype):
    z = np.linspace(-30, 30, 121).astype(dtype)
    expected = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    with np.errstate(all="raise"):
        got = sigmoid(z)
    assert got.dtype == dtype
    np.testing.assert_allclose(
        got, expected, rtol=1e-6 if dtype == np.float32 else 1e-14
    )


def test_sigmoid_keeps_relative_precision_in_the_left_tail():
    # 1 - s(x) for x = 30 loses everything in a one-branch form; e/(1+e) does not.
    np.testing.assert_allclose(
        sigmoid(np.array(-30.0)), np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-14
    )


def test_softmax_of_the_issue_example():
    np.testing.assert_array_equal(
        softmax(np.array([1.0, -10.0, 1000.0])), [0.0, 0.0, 1.0]
    )


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_is_finite_and_silent_on_extreme_inputs(name):
    act = get_activation(name)
    z = np.tile(EXTREMES, (2, 1, 1))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = act.forward(z)
        g = act.backward(z, a, np.ones_like(z))
    assert np.all(np.isfinite(a))
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_is_the_derivative_of_forward(name, rng):
    if name == "sigmoid_wrong_derivative":
        pytest.skip("deliberately wrong; tested below")
    act = get_activation(name)
    z = rng.normal(size=(2, 5, 4))
    grad_a = rng.normal(size=z.shape)
    eps = 1e-6
    numeric = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = np.sum((act.forward(up) - act.forward(down)) * grad_a) / (
            2 * eps
        )
    analytic = act.backward(z, act.forward(z), grad_a)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_the_original_mistake_differs_from_the_sigmoid_derivative(rng):
    z = rng.normal(size=(1, 4, 3))
    a = sigmoid(z)
    wrong = get_activation("sigmoid_wrong_derivative").backward(z, a, np.ones_like(z))
    np.testing.assert_allclose(wrong, sigmoid(a) * (1 - sigmoid(a)), rtol=1e-15)
    assert not np.allclose(wrong, a * (1 - a))


def test_leaky_relu_slope():
    act = LeakyReLU(negative_slope=0.1)
    np.testing.assert_allclose(act.forward(np.array([-2.0, 3.0])), [-0.2, 3.0])


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown activation 'swish'; expected one of"):
        get_activation("swish")
