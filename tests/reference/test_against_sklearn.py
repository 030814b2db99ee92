"""mlplab's estimators against scikit-learn's MLP and inside its model selection."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlplab.estimator import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def raw_digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits(raw_digits):
    X_train, X_test, y_train, y_test = raw_digits
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _copy_weights(ours, theirs):
    for a, b in zip(
        theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_, strict=True
    ):
        a[...] = b


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_matches_sklearn_predictions_and_one_sgd_step(n_classes, rng):
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, n_classes, 30)
    ours = MLPClassifier(
        (5,),
        "tanh",
        optimizer="sgd",
        learning_rate=0.3,
        momentum=0.0,
        batch_size=30,
        random_state=0,
    )
    theirs = SkClassifier(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver="sgd",
        learning_rate_init=0.3,
        momentum=0.0,
        alpha=0.0,
        batch_size=30,
        shuffle=False,
        random_state=0,
    )
    classes = np.arange(n_classes)
    ours.partial_fit(X, y, classes=classes)
    theirs.partial_fit(X, y, classes=classes)
    _copy_weights(ours, theirs)
    np.testing.assert_allclose(
        ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-12, atol=1e-14
    )
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_regressor_step_is_sklearns_at_half_the_rate(rng):
    # scikit-learn's squared loss is half our MSE, so its gradient is half ours.
    X = rng.normal(size=(30, 4))
    y = X[:, 0] - 2 * X[:, 1]
    ours = MLPRegressor(
        (5,),
        "tanh",
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.0,
        batch_size=30,
        random_state=0,
    )
    theirs = SkRegressor(
        hidden_layer_sizes=(5,),
        activation="tanh",
        solver="sgd",
        learning_rate_init=0.1,
        momentum=0.0,
        alpha=0.0,
        batch_size=30,
        shuffle=False,
        random_state=0,
    )
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    _copy_weights(ours, theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12)
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    for a, b in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_digits_accuracy_matches_sklearn_with_matched_sgd_settings(digits, capsys):
    X_train, X_test, y_train, y_test = digits
    shared = dict(hidden_layer_sizes=(64,), batch_size=32, max_iter=20)
    # five seeds as one ensemble: member k is the network seeded k
    ours = MLPClassifier(
        optimizer="sgd",
        learning_rate=0.01,
        momentum=0.9,
        momentum_style="lr-inside",
        tol=0.0,
        n_iter_no_change=1000,
        random_state=0,
        n_members=5,
        **shared,
    ).fit(X_train, y_train)
    ours_acc = ours.member_scores(X_test, y_test)
    theirs_acc = []
    for seed in range(5):
        theirs = SkClassifier(
            solver="sgd",
            learning_rate_init=0.01,
            momentum=0.9,
            nesterovs_momentum=False,
            alpha=0.0,
            early_stopping=False,
            tol=0.0,
            n_iter_no_change=1000,
            random_state=seed,
            **shared,
        ).fit(X_train, y_train)
        theirs_acc.append(theirs.score(X_test, y_test))
    with capsys.disabled():
        print(
            f"\ndigits test accuracy over 5 seeds: mlplab {np.mean(ours_acc):.4f} "
            f"{np.round(ours_acc, 4).tolist()}, scikit-learn {np.mean(theirs_acc):.4f} "
            f"{np.round(theirs_acc, 4).tolist()}"
        )
    assert abs(np.mean(ours_acc) - np.mean(theirs_acc)) <= 0.015


@pytest.mark.slow
def test_grid_search_over_rate_and_momentum_in_a_pipeline_on_digits(raw_digits):
    X_train, X_test, y_train, y_test = raw_digits
    # three seeds per network, predicting by their mean probabilities
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            (64,),
            optimizer="sgd",
            batch_size=32,
            max_iter=20,
            weight_decay=1e-3,
            n_members=3,
            random_state=0,
        ),
    )
    grid = {
        "mlpclassifier__learning_rate": [0.01, 0.05],
        "mlpclassifier__momentum": [0.5, 0.9],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    assert search.score(X_test, y_test) >= 0.97


@pytest.mark.slow
def test_diabetes_regressor_r2_no_worse_than_sklearn(capsys):
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    ours_r2, theirs_r2 = [], []
    for seed in range(5):
        ours = make_pipeline(
            StandardScaler(),
            MLPRegressor(
                (8,),
                optimizer="adam",
                learning_rate=0.05,
                batch_size=32,
                max_iter=200,
                random_state=seed,
            ),
        )
        theirs = make_pipeline(
            StandardScaler(),
            SkRegressor(
                hidden_layer_sizes=(8,),
                solver="adam",
                learning_rate_init=0.05,
                batch_size=32,
                max_iter=200,
                alpha=0.0,
                random_state=seed,
            ),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours_r2.append(ours.fit(X_train, y_train).score(X_test, y_test))
            theirs_r2.append(theirs.fit(X_train, y_train).score(X_test, y_test))
    with capsys.disabled():
        print(
            f"\ndiabetes test R^2 over 5 seeds: mlplab {np.mean(ours_r2):.4f}, "
            f"scikit-learn {np.mean(theirs_r2):.4f}"
        )
    assert np.mean(ours_r2) >= np.mean(theirs_r2) - 0.02
