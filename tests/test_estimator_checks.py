"""scikit-learn's own estimator checks over MLPClassifier and MLPRegressor."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlplab.estimator import MLPClassifier, MLPRegressor

# Small networks keep the ~100 checks per estimator fast; every check runs.
ESTIMATORS = [
    MLPClassifier((16,), max_iter=100, learning_rate=0.01),
    MLPRegressor((16,), max_iter=100, learning_rate=0.01),
]


def _expected_failed_checks(estimator):
    return {}


# The checks train for max_iter=100 epochs, which often ends before tol is met.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)
