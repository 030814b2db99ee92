"""MLPClassifier / MLPRegressor: what scikit-learn's checks do not cover."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from mlplab.datasets import xor_data
from mlplab.estimator import MLPClassifier, MLPRegressor

# Short runs end before convergence by design; the tests that are about the
# warning catch it themselves (pytest.warns / an "error" filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def blobs(rng):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    labels = rng.integers(0, 3, 60)
    return centers[labels] + rng.normal(scale=0.6, size=(60, 2)), labels


@pytest.fixture
def regression(rng):
    X = rng.uniform(-1, 1, size=(40, 3))
    return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2]


@contextlib.contextmanager
def _no_convergence_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _assert_same_weights(a, b, rtol=1e-12, atol=1e-14):
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_allclose(ca, cb, rtol=rtol, atol=atol)


# -- partial_fit and warm_start keep the optimizer state ----------------------

PARTIAL_CASES = [
    dict(optimizer="sgd", learning_rate=0.05, momentum=0.9),
    dict(optimizer="adam", learning_rate=0.01),
    dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, schedule="step:30,0.5"),
    dict(optimizer="rmsprop", learning_rate=0.005, batch_size=16),  # shuffled batches
]


@pytest.mark.parametrize("settings", PARTIAL_CASES)
def test_partial_fit_100_times_equals_fit_for_100_epochs(settings, blobs):
    X, y = blobs
    base = MLPClassifier(
        (8,), "tanh", random_state=3, tol=0.0, n_iter_no_change=1000, **settings
    )
    full = clone(base).set_params(max_iter=100).fit(X, y)
    parts = clone(base)
    for _ in range(100):
        parts.partial_fit(X, y, classes=np.unique(y))
    _assert_same_weights(full, parts)
    np.testing.assert_allclose(full.loss_curve_, parts.loss_curve_, rtol=1e-12)
    assert parts.n_iter_ == 100


def test_regressor_partial_fit_equals_fit(regression):
    X, y = regression
    base = MLPRegressor(
        (6,),
        "tanh",
        optimizer="adam",
        learning_rate=0.01,
        random_state=0,
        tol=0.0,
        n_iter_no_change=1000,
    )
    full = clone(base).set_params(max_iter=40).fit(X, y)
    parts = clone(base)
    for _ in range(40):
        parts.partial_fit(X, y)
    _assert_same_weights(full, parts)


def test_warm_start_continues_the_run_not_a_restart(blobs):
    X, y = blobs
    kw = dict(
        optimizer="adam",
        learning_rate=0.01,
        random_state=1,
        tol=0.0,
        n_iter_no_change=1000,
    )
    with _no_convergence_warning():
        straight = MLPClassifier((8,), max_iter=20, **kw).fit(X, y)
        warm = MLPClassifier((8,), max_iter=10, warm_start=True, **kw).fit(X, y)
        first_loss = warm.loss_curve_[0]
        warm.fit(X, y)
        cold = MLPClassifier((8,), max_iter=10, **kw).fit(X, y)
        cold.fit(X, y)
    assert warm.n_iter_ == 20
    np.testing.assert_allclose(warm.loss_curve_, straight.loss_curve_, rtol=1e-12)
    _assert_same_weights(warm, straight)
    # the 11th epoch's loss is what continuing gives, not the restart's loss
    assert warm.loss_curve_[10] < first_loss
    assert cold.n_iter_ == 10
    assert cold.loss_curve_[0] == pytest.approx(first_loss, rel=1e-12)


def test_partial_fit_needs_classes_first_and_rejects_unknown_labels(blobs):
    X, y = blobs
    clf = MLPClassifier((4,), optimizer="sgd", learning_rate=0.1)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"labels \[np.int64\(7\)\] not in classes_"):
        clf.partial_fit(X[:2], np.array([7, 0]))


# -- randomness -----------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [dict(batch_size=8), dict(early_stopping=True, n_members=2)],
)
def test_random_state_fixes_everything_whatever_the_global_state(settings, blobs):
    X, y = blobs
    fits = []
    saved = np.random.get_state()  # noqa: NPY002 - the global state is the subject
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # noqa: NPY002
        with _no_convergence_warning():
            fits.append(
                MLPClassifier(
                    (8,),
                    optimizer="sgd",
                    learning_rate=0.05,
                    max_iter=30,
                    random_state=5,
                    **settings,
                ).fit(X, y)
            )
    np.random.set_state(saved)  # noqa: NPY002
    a, b = fits
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(ca, cb)
    assert a.loss_curve_ == b.loss_curve_
    assert a.validation_loss_curve_ == b.validation_loss_curve_


def test_random_state_none_draws_different_seeds(blobs):
    X, y = blobs
    a = MLPClassifier((4,), max_iter=1).fit(X, y)
    b = MLPClassifier((4,), max_iter=1).fit(X, y)
    assert a.member_seeds_ != b.member_seeds_


# -- ensembles ----------------------------------------------------------------------


def test_member_k_is_the_network_seeded_random_state_plus_k(blobs):
    X, y = blobs
    kw = dict(
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.5,
        batch_size=10,
        max_iter=15,
        tol=0.0,
        n_iter_no_change=1000,
    )
    with _no_convergence_warning():
        ensemble = MLPClassifier((8,), random_state=10, n_members=3, **kw).fit(X, y)
        singles = [
            MLPClassifier((8,), random_state=10 + k, **kw).fit(X, y) for k in range(3)
        ]
    assert ensemble.member_seeds_ == [10, 11, 12]
    for k, single in enumerate(singles):
        for ce, cs in zip(ensemble.coefs_, single.coefs_, strict=True):
            np.testing.assert_allclose(ce[k], cs, rtol=1e-10, atol=1e-12)
    mean_proba = np.mean([s.predict_proba(X) for s in singles], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(X), mean_proba, rtol=1e-9)
    np.testing.assert_allclose(
        ensemble.member_scores(X, y), [s.score(X, y) for s in singles]
    )
    assert ensemble.history_.loss.shape == (15, 3)
    np.testing.assert_allclose(
        ensemble.loss_curve_, ensemble.history_.loss.mean(axis=1)
    )


def test_regressor_ensemble_predicts_the_members_mean(regression):
    X, y = regression
    kw = dict(optimizer="adam", learning_rate=0.01, max_iter=20)
    with _no_convergence_warning():
        ensemble = MLPRegressor((6,), random_state=0, n_members=2, **kw).fit(X, y)
        singles = [MLPRegressor((6,), random_state=k, **kw).fit(X, y) for k in (0, 1)]
    np.testing.assert_allclose(
        ensemble.predict(X), np.mean([s.predict(X) for s in singles], axis=0), rtol=1e-9
    )
    np.testing.assert_allclose(
        ensemble.member_scores(X, y), [s.score(X, y) for s in singles], rtol=1e-9
    )


def test_per_member_learning_rates(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (4,),
        optimizer="sgd",
        learning_rate=(0.01, 0.5),
        max_iter=5,
        n_members=2,
        random_state=0,
    )
    with _no_convergence_warning():
        clf.fit(X, y)
    assert clf.learning_rate == (0.01, 0.5)  # stored unchanged
    assert clf.history_.loss.shape == (5, 2)


@pytest.mark.slow
def test_xor_tanh_sgd_momentum_solves_at_least_95_of_100_seeds():
    X, y = xor_data(constant_column=False)
    clf = MLPClassifier(
        (4,),
        "tanh",
        optimizer="sgd",
        learning_rate=0.5,
        momentum=0.9,
        batch_size=4,
        max_iter=2000,
        tol=0.0,
        n_iter_no_change=2000,
        random_state=0,
        n_members=100,
    )
    with _no_convergence_warning():
        clf.fit(X, y)
    solved = int(np.sum(clf.member_scores(X, y) == 1.0))
    assert solved >= 95, solved


# -- targets ------------------------------------------------------------------------


def test_binary_string_labels(blobs):
    X, labels = blobs
    y = np.where(labels == 0, "spam", "ham")
    clf = MLPClassifier(
        (8,), optimizer="adam", learning_rate=0.05, max_iter=60, random_state=0
    )
    with _no_convergence_warning():
        clf.fit(X, y)
    assert clf.classes_.tolist() == ["ham", "spam"]
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.decision_function(X).shape == (60,)
    assert set(clf.predict(X)) <= {"ham", "spam"}
    assert clf.score(X, y) > 0.9


def test_multiclass_string_labels(blobs):
    X, labels = blobs
    names = np.array(["red", "green", "blue"])
    clf = MLPClassifier(
        (8,), optimizer="adam", learning_rate=0.05, max_iter=60, random_state=0
    )
    with _no_convergence_warning():
        clf.fit(X, names[labels])
    assert clf.classes_.tolist() == ["blue", "green", "red"]
    assert clf.out_activation_ == "softmax"
    assert clf.n_outputs_ == 3
    assert clf.predict_proba(X).shape == (60, 3)
    assert clf.decision_function(X).shape == (60, 3)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[clf.predict_proba(X).argmax(axis=1)]
    )
    assert clf.score(X, names[labels]) > 0.9


def test_multilabel_indicator_targets(blobs):
    X, labels = blobs
    Y = np.column_stack([labels == 0, labels != 1, X[:, 1] > 0]).astype(int)
    clf = MLPClassifier(
        (16,), optimizer="adam", learning_rate=0.05, max_iter=100, random_state=0
    )
    with _no_convergence_warning():
        clf.fit(X, Y)
    assert clf.predict(X).shape == (60, 3)
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3)
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.8


def test_regressor_output_shapes(regression):
    X, y = regression
    kw = dict(optimizer="adam", learning_rate=0.01, max_iter=5, random_state=0)
    with _no_convergence_warning():
        single = MLPRegressor((4,), **kw).fit(X, y)
        column = MLPRegressor((4,), **kw).fit(X, y[:, None])
        multi = MLPRegressor((4,), **kw).fit(X, np.column_stack([y, -y]))
    assert single.predict(X).shape == (40,)
    assert column.predict(X).shape == (40,)
    assert multi.predict(X).shape == (40, 2)
    assert multi.n_outputs_ == 2


# -- sample_weight ------------------------------------------------------------------


def test_integer_sample_weights_equal_repeated_rows(regression):
    X, y = regression
    w = np.arange(40) % 3
    kw = dict(
        optimizer="sgd",
        learning_rate=0.05,
        momentum=0.9,
        max_iter=25,
        random_state=0,
        tol=0.0,
        n_iter_no_change=1000,
    )
    with _no_convergence_warning():
        weighted = MLPRegressor((6,), **kw).fit(X, y, sample_weight=w)
        repeated = MLPRegressor((6,), **kw).fit(X.repeat(w, axis=0), y.repeat(w))
    _assert_same_weights(weighted, repeated, rtol=1e-9, atol=1e-12)


def test_sample_weight_changes_the_fit_and_is_not_modified(blobs):
    X, y = blobs
    w = np.where(y == 0, 5.0, 1.0)
    w_copy = w.copy()
    kw = dict(optimizer="adam", learning_rate=0.01, max_iter=5, random_state=0)
    with _no_convergence_warning():
        plain = MLPClassifier((4,), **kw).fit(X, y)
        weighted = MLPClassifier((4,), **kw).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(w, w_copy)
    assert not np.allclose(plain.coefs_[0], weighted.coefs_[0])


# -- stopping and warnings --------------------------------------------------------


def test_convergence_warning_when_max_iter_ends_an_unconverged_run(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (4,), optimizer="sgd", learning_rate=0.01, max_iter=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="max_iter=3 epochs ended"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


def test_tol_stops_training_without_warning(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (4,),
        optimizer="sgd",
        learning_rate=0.01,
        max_iter=500,
        tol=10.0,
        n_iter_no_change=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    # scikit-learn's rule (its MLP also gives 4 here): the first epoch improves on
    # inf, then stop after more than n_iter_no_change epochs without a gain of tol
    assert clf.n_iter_ == 4


def test_partial_fit_never_warns_about_convergence(blobs):
    X, y = blobs
    clf = MLPClassifier((4,), optimizer="sgd", learning_rate=0.01, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.partial_fit(X, y, classes=[0, 1, 2])


def test_early_stopping_records_validation_loss_and_keeps_best_weights(rng):
    # random labels: the network memorises, so the validation loss turns up
    X, y = rng.normal(size=(80, 5)), rng.integers(0, 2, 80)
    clf = MLPClassifier(
        (32,),
        optimizer="adam",
        learning_rate=0.05,
        max_iter=200,
        early_stopping=True,
        validation_fraction=0.25,
        tol=0.0,
        n_iter_no_change=5,
        random_state=0,
    )
    clf.fit(X, y)
    assert clf.n_iter_ < 200
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.history_.metrics["val_loss"].shape == (clf.n_iter_, 1)
    best = int(np.argmin(clf.validation_loss_curve_))
    assert best == clf.n_iter_ - clf.n_iter_no_change - 2  # it stopped at best + 6
    assert clf.best_loss_ == min(clf.validation_loss_curve_)
    # the kept weights are the best epoch's: a refit for best + 1 epochs gives them
    again = clone(clf).set_params(
        early_stopping=True, max_iter=best + 1, tol=0.0, n_iter_no_change=1000
    )
    with _no_convergence_warning():
        again.fit(X, y)
    _assert_same_weights(clf, again)


def test_verbose_prints_the_loss(blobs, capsys):
    X, y = blobs
    with _no_convergence_warning():
        MLPClassifier((4,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Iteration 1, loss = ")


# -- contract and errors -------------------------------------------------------------


def test_not_fitted_error():
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.zeros((1, 2)))


def test_fitted_attributes_have_sklearn_shapes(blobs):
    X, y = blobs
    with _no_convergence_warning():
        clf = MLPClassifier((5, 4), max_iter=2, random_state=0).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(2, 5), (5, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (4,), (3,)]
    assert clf.n_layers_ == 4
    assert clf.n_features_in_ == 2


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (dict(optimizer="lbfgs"), ValueError, "unknown optimizer 'lbfgs'"),
        (dict(activation="softmax"), ValueError, "activation must be one of"),
        (dict(learning_rate=-1.0), ValueError, "learning_rate must be >= 0"),
        (dict(max_iter=0), ValueError, "max_iter must be an integer >= 1; got 0"),
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (dict(tol=-1.0), ValueError, "tol must be a number >= 0"),
        (dict(validation_fraction=1.0), ValueError, r"validation_fraction must be in"),
        (dict(n_members=0), ValueError, "n_members must be an integer >= 1"),
        (dict(hidden_layer_sizes=(0,)), ValueError, "layer_sizes must be"),
        (dict(schedule="bogus"), ValueError, "unknown schedule 'bogus'"),
        (dict(momentum_style="weird"), ValueError, "momentum_style must be one of"),
        (dict(dtype="int8"), ValueError, "dtype must be one of"),
    ],
)
def test_bad_parameters_fail_in_fit_with_a_named_message(params, error, message, blobs):
    X, y = blobs
    clf = MLPClassifier(**{"optimizer": "sgd", "max_iter": 1, **params})  # never fails
    with pytest.raises(error, match=message):
        clf.fit(X, y)


def test_one_class_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="needs at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(len(X)))


def test_warm_start_with_other_outputs_is_an_error(regression):
    X, y = regression
    reg = MLPRegressor((4,), max_iter=1, warm_start=True, random_state=0)
    with _no_convergence_warning():
        reg.fit(X, y)
    with pytest.raises(
        ValueError, match="y has 2 outputs but the network was fitted with 1"
    ):
        reg.fit(X, np.column_stack([y, y]))


def test_float32_network(blobs):
    X, y = blobs
    with _no_convergence_warning():
        clf = MLPClassifier((4,), dtype="float32", max_iter=3, random_state=0).fit(X, y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64


def test_warm_start_with_early_stopping_keeps_one_validation_row_per_epoch(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (4,), max_iter=3, early_stopping=True, warm_start=True, random_state=0
    )
    clf.fit(X, y)
    clf.set_params(early_stopping=False).fit(X, y)
    clf.set_params(early_stopping=True).fit(X, y)
    val = clf.history_.metrics["val_loss"]
    assert val.shape == clf.history_.loss.shape == (9, 1)
    assert np.isnan(val[3:6]).all()
    assert np.isfinite(val[:3]).all()
    assert np.isfinite(val[6:]).all()
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == 9


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_by_name_lowers_the_loss(name, blobs):
    X, y = blobs
    clf = MLPClassifier(
        (8,), optimizer=name, learning_rate=0.01, max_iter=20, random_state=0
    ).fit(X, y)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_weight_decay_none_keeps_the_optimizers_default(blobs):
    X, y = blobs
    kw = dict(optimizer="adamw", learning_rate=0.05, max_iter=10, random_state=0)
    default = MLPClassifier((4,), **kw).fit(X, y)
    explicit = MLPClassifier((4,), weight_decay=0.01, **kw).fit(X, y)
    none = MLPClassifier((4,), weight_decay=0.0, **kw).fit(X, y)
    _assert_same_weights(default, explicit, rtol=0, atol=0)
    assert not np.allclose(default.coefs_[0], none.coefs_[0])


def test_warm_start_may_switch_optimizer_kind(blobs):
    X, y = blobs
    clf = MLPClassifier(
        (4,), optimizer="sgd", max_iter=5, warm_start=True, random_state=0
    ).fit(X, y)
    before = [c.copy() for c in clf.coefs_]
    clf.set_params(optimizer="adam").fit(X, y)
    assert clf.n_iter_ == 10
    assert not np.allclose(before[0], clf.coefs_[0])
