import numpy as np
import pytest

from mlplab.outcomes import (
    classify,
    constant_predictor_loss,
    kaplan_meier,
    survival_quantiles,
    wilson_interval,
)


def test_classify_order_and_fields():
    o = classify(
        n_epochs=100,
        final_loss=np.array([np.inf, 0.01, 0.999, 0.5, 0.2]),
        window_loss=np.array([1.0, 0.5, 0.99905, 0.50001, 0.3]),
        diverged_epoch=np.array([12, -1, -1, -1, -1]),
        last_bad=np.array([100, 41, 100, 100, 100]),
        constant_loss=1.0,
    )
    assert o.outcome.tolist() == [
        "diverged",
        "solved",
        "plateau",
        "plateau",
        "unfinished",
    ]
    assert o.epochs_to_solve.tolist() == [-1, 42, -1, -1, -1]
    assert o.diverged_epoch.tolist() == [12, -1, -1, -1, -1]
    assert o.constant_stall.tolist() == [False, False, True, False, False]


def test_diverged_beats_solved_and_solved_beats_plateau():
    o = classify(
        n_epochs=10,
        final_loss=np.array([0.1, 0.1]),
        window_loss=np.array([0.1, 0.1]),
        diverged_epoch=np.array([3, -1]),
        last_bad=np.array([-1, -1]),
        constant_loss=1.0,
    )
    assert o.outcome.tolist() == ["diverged", "solved"]
    assert o.epochs_to_solve.tolist() == [-1, 0]


def test_constant_predictor_losses():
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    assert constant_predictor_loss("sse", y) == 1.0
    assert constant_predictor_loss("mse", y) == 0.25
    assert constant_predictor_loss("binary_cross_entropy", y) == pytest.approx(
        np.log(2), rel=1e-15
    )
    onehot = np.eye(3)[[0, 0, 1, 2]]
    expected = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert constant_predictor_loss("cross_entropy", onehot) == pytest.approx(
        expected, rel=1e-15
    )


def test_wilson_interval_matches_formula_and_edges():
    low, high = wilson_interval(8, 10)
    # Wilson (1927) for p = 0.8, n = 10, z = 1.96: 0.4902 .. 0.9433
    assert (low, high) == pytest.approx((0.49016, 0.94331), abs=5e-5)
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0
    assert wilson_interval(0, 50)[1] == pytest.approx(0.071348, abs=1e-6)


def test_kaplan_meier_by_hand():
    times = np.array([2, 3, 3, 5, 8])
    events = np.array([True, False, True, True, False])
    t, s = kaplan_meier(times, events)
    np.testing.assert_array_equal(t, [2, 3, 5])
    np.testing.assert_allclose(s, [0.8, 0.6, 0.3], rtol=1e-15)
    assert survival_quantiles(times, events) == (3.0, 5.0, None)


def test_censored_runs_are_not_dropped():
    # 3 of 10 solved (at 10, 20, 30), 7 censored at 100: only 30% ever solve,
    # so the median is not reached, although the median of the solved runs
    # alone would be 20; the first quartile is reached at 30.
    times = [10, 20, 30] + [100] * 7
    events = [True] * 3 + [False] * 7
    assert survival_quantiles(times, events) == (30.0, None, None)
