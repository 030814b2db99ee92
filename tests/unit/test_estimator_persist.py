"""Estimators: est.save(path) / Class.load(path) round trips and exact continuation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from mlplab._checkfile import canonical_json
from mlplab.estimator import MLPClassifier, MLPRegressor
from mlplab.serialization import digest


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(rng, kind):
    X = rng.normal(size=(60, 4))
    if kind == "binary":
        return X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    if kind == "multiclass":
        return X, np.digitize(X[:, 0], [-0.5, 0.5]) + 3
    if kind == "multilabel":
        return X, (X[:, :3] > 0).astype(int)
    return X, np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * 2])


CASES = [
    (
        MLPClassifier,
        "binary",
        {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    (
        MLPClassifier,
        "multiclass",
        {
            "schedule": "step:5,0.5",
            "n_members": 3,
            "learning_rate": (0.01, 0.02, 0.005),
        },
    ),
    (MLPClassifier, "multilabel", {"optimizer": "rmsprop", "batch_size": 16}),
    (
        MLPRegressor,
        "regression",
        {"optimizer": "adamw", "early_stopping": True, "n_members": 2},
    ),
    (MLPRegressor, "regression", {"optimizer": "adagrad", "dtype": "float32"}),
]


@pytest.mark.parametrize(("cls", "kind", "params"), CASES)
def test_save_load_is_the_identity_and_training_continues_exactly(
    tmp_path, rng, cls, kind, params
):
    X, y = _data(rng, kind)
    est = cls((6,), max_iter=8, random_state=3, **params).fit(X, y)
    est.save(tmp_path / "est.safetensors")
    loaded = cls.load(tmp_path / "est.safetensors")
    assert loaded.get_params() == est.get_params()
    if cls is MLPClassifier:
        np.testing.assert_array_equal(loaded.classes_, est.classes_)
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.loss_curve_ == est.loss_curve_
    assert loaded.n_iter_ == est.n_iter_
    # partial_fit then a warm-started fit continue both bit for bit
    for model in (est, loaded):
        model.partial_fit(X, y)
        model.set_params(warm_start=True, max_iter=3).fit(X, y)
    for a, b in zip(
        est.coefs_ + est.intercepts_, loaded.coefs_ + loaded.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert loaded.loss_curve_ == est.loss_curve_


def test_load_refuses_another_estimator_or_bad_params(tmp_path, rng):
    X, y = _data(rng, "regression")
    MLPRegressor((3,), max_iter=2, random_state=0).fit(X, y).save(tmp_path / "r.st")
    with pytest.raises(ValueError, match=r"^info\.estimator: .*MLPClassifier"):
        MLPClassifier.load(tmp_path / "r.st")
    from safetensors.numpy import load as st_load
    from safetensors.numpy import save as st_save

    blob = (tmp_path / "r.st").read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(json.loads(blob[8 : 8 + n])["__metadata__"]["mlplab"])
    tensors = st_load(blob)
    edits = (
        ("max_iter", -1, r"^info\.estimator\.params: max_iter"),
        ("bogus", 1, r"^info\.estimator\.params: must name"),
        ("activation", {"x": 1}, r"^info\.estimator\.params\."),
    )
    for key, value, pattern in edits:
        edited = json.loads(json.dumps(meta))
        edited["info"]["estimator"]["params"][key] = value
        edited["digest"] = digest(edited, tensors)
        path = tmp_path / f"{key}.st"
        path.write_bytes(st_save(tensors, metadata={"mlplab": canonical_json(edited)}))
        with pytest.raises(ValueError, match=pattern):
            MLPRegressor.load(path)


def test_save_needs_a_fitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "x.st")


CONTINUE_IN_A_NEW_PROCESS = """
import sys, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from mlplab.estimator import MLPClassifier
warnings.simplefilter("ignore", ConvergenceWarning)
data = np.load(sys.argv[2])
est = MLPClassifier.load(sys.argv[1])
for _ in range(2):
    est.partial_fit(data["X"], data["y"])
np.savez(sys.argv[3], *est.coefs_, *est.intercepts_, curve=np.array(est.loss_curve_))
"""


@pytest.mark.slow
def test_an_estimator_continues_exactly_in_a_new_process(tmp_path, rng):
    import os
    import subprocess
    import sys

    from tests.conftest import SRC

    X, y = _data(rng, "multiclass")
    params = {"optimizer": "sgd", "momentum": 0.9, "batch_size": 16}
    est = MLPClassifier((6,), max_iter=4, random_state=3, **params).fit(X, y)
    est.save(tmp_path / "est.safetensors")
    np.savez(tmp_path / "data.npz", X=X, y=y)
    for _ in range(2):  # the same continuation, here: shuffling order included
        est.partial_fit(X, y)
    proc = subprocess.run(
        [sys.executable, "-c", CONTINUE_IN_A_NEW_PROCESS]
        + [str(tmp_path / name) for name in ("est.safetensors", "data.npz", "out.npz")],
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    there = np.load(tmp_path / "out.npz")
    arrays = [there[f"arr_{i}"] for i in range(2 * len(est.coefs_))]
    for mine, theirs in zip(est.coefs_ + est.intercepts_, arrays, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert there["curve"].tolist() == est.loss_curve_
