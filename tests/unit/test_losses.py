import numpy as np
import pytest

from mlplab.losses import LOSSES, check_target, get_loss


def _targets(name, rng, shape):
    if name == "cross_entropy":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, size=shape).astype(float)
    return rng.normal(size=shape)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("n_outputs", [1, 2, 3, 5])
def test_gradient_is_the_derivative_of_the_reported_value(name, n_outputs, rng):
    if name == "cross_entropy" and n_outputs == 1:
        pytest.skip("softmax over one output is constant: no classification")
    loss = get_loss(name)
    y_pred = rng.normal(size=(3, 7, n_outputs)) * 3
    y_true = _targets(name, rng, (7, n_outputs))
    eps = 1e-6
    numeric = np.empty_like(y_pred)
    for idx in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (loss.value(up, y_true) - loss.value(down, y_true))[idx[0]] / (
            2 * eps
        )
    analytic = loss.grad(y_pred, y_true)
    rel = np.linalg.norm(analytic - numeric) / (
        np.linalg.norm(analytic) + np.linalg.norm(numeric)
    )
    assert rel < 1e-7


def test_values_by_hand():
    y_pred = np.array([[[0.5], [0.5], [0.5], [0.5]]])
    y_true = np.array([[0.0], [1.0], [1.0], [0.0]])
    # The XOR stall: outputs of 0.5 on every row give a sum of squared errors of 1.
    np.testing.assert_allclose(get_loss("sse").value(y_pred, y_true), [1.0])
    np.testing.assert_allclose(get_loss("mse").value(y_pred, y_true), [0.25])
    logits = np.zeros((1, 4, 1))
    np.testing.assert_allclose(
        get_loss("binary_cross_entropy").value(logits, y_true),
        [np.log(2.0)],
        rtol=1e-15,
    )
    logits3 = np.zeros((1, 2, 3))
    np.testing.assert_allclose(
        get_loss("cross_entropy").value(logits3, np.eye(3)[[0, 2]]),
        [np.log(3.0)],
        rtol=1e-15,
    )


def test_logit_losses_are_stable_for_huge_logits():
    z = np.array([[[1000.0, -1000.0, 0.0]]])
    y = np.array([[1.0, 0.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ce = get_loss("cross_entropy").value(z, y)
        bce = get_loss("binary_cross_entropy").value(z, np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(ce, [0.0], atol=1e-12)
    np.testing.assert_allclose(bce, [np.log(2.0) / 3], rtol=1e-12)


@pytest.mark.parametrize("bad_shape", [(4,), (4, 2), (1, 4), (2, 4, 1), (4, 4)])
def test_a_target_that_cannot_match_is_an_error_not_a_broadcast(bad_shape):
    with pytest.raises(ValueError, match="targets must have shape"):
        check_target(np.zeros((3, 4, 1)), np.zeros(bad_shape))


def test_matching_targets_pass():
    check_target(np.zeros((3, 4, 2)), np.zeros((4, 2)))
    check_target(np.zeros((3, 4, 2)), np.zeros((3, 4, 2)))
