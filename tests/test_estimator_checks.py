"""scikit-learn's own estimator checks over MLPClassifier and MLPRegressor.

No check is skipped or expected to fail by us. scikit-learn itself skips its
pandas cases when pandas is missing (it is in the ``test`` extra) and
``check_array_api_input`` unless ``SCIPY_ARRAY_API=1`` is set when Python
starts; with it set, that check passes too.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlplab.estimator import MLPClassifier, MLPRegressor

# Small networks keep the ~100 checks per estimator fast; every check runs.
ESTIMATORS = [
    MLPClassifier((16,), max_iter=100, learning_rate=0.01),
    MLPRegressor((16,), max_iter=100, learning_rate=0.01),
]


# The checks train for max_iter=100 epochs, which often ends before tol is met.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# The same checks with every parameter at its default (adam, 100 units, 200 epochs).
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_compatible_with_default_parameters(estimator, check):
    check(estimator)
