"""`mlplab train --dataset/--data`: accuracy thresholds, regression CSV, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli


def _train_json(*args, cwd=None):
    result = run_cli("train", *args, "--json", "--no-plot", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _one_line_error(result, match):
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlplab: error: ")
    assert match in lines[0]


@pytest.mark.slow
def test_digits_reaches_97_percent_test_accuracy_with_its_defaults():
    doc = _train_json("--dataset", "digits")
    assert doc["settings"]["task"] == "multiclass"
    assert doc["settings"]["loss"] == "cross_entropy"
    assert doc["metrics"]["test"]["accuracy"] >= 0.97
    assert doc["metrics"]["test"]["n_samples"] == 360
    matrix = np.array(doc["metrics"]["test"]["confusion_matrix"])
    assert matrix.shape == (10, 10)
    assert matrix.sum() == 360
    assert np.trace(matrix) == round(360 * doc["metrics"]["test"]["accuracy"])
    assert doc["fit_seconds"] < 60


@pytest.mark.slow
def test_breast_cancer_reaches_95_percent_test_accuracy():
    doc = _train_json("--dataset", "breast_cancer")
    assert doc["settings"]["loss"] == "binary_cross_entropy"
    assert doc["settings"]["layer_sizes"][-1] == 1
    assert doc["metrics"]["test"]["accuracy"] >= 0.95
    assert set(doc["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def _regression_csv(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(n, 3)) * [1.0, 10.0, 100.0]
    y = 3 * x[:, 0] - 0.2 * x[:, 1] + 0.01 * x[:, 2] + rng.normal(0, 0.1, n) + 50
    rows = ["a,b,c,target"] + [
        f"{a},{b},{c},{t}" for (a, b, c), t in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_a_regression_csv_is_fitted_with_r2_above_0_9(tmp_path):
    path = _regression_csv(tmp_path / "reg.csv")
    doc = _train_json("--data", str(path), "--target", "target")
    assert doc["settings"]["task"] == "regression"
    assert doc["settings"]["loss"] == "mse"
    assert doc["metrics"]["test"]["r2"] > 0.9
    assert doc["metrics"]["test"]["rmse"] > 0


@pytest.mark.slow
def test_early_stopping_schedule_and_plot(tmp_path):
    plot = tmp_path / "curves.png"
    result = run_cli(
        "train",
        "--dataset",
        "moons",
        "--epochs",
        "400",
        "--early-stopping",
        "--patience",
        "3",
        "--schedule",
        "exponential:0.999",
        "--optimizer",
        "sgd",
        "--momentum",
        "0.9",
        "--lr",
        "0.05",
        "--clip-norm",
        "5",
        "--plot",
        str(plot),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stopped_epoch"] == doc["best_epoch"] + 3 == doc["epochs_run"]
    rates = doc["history"]["learning_rate"]
    assert rates[0] > rates[-1] > 0
    assert doc["settings"]["optimizer"]["name"] == "chain"
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_plateau_schedule_lowers_the_rate():
    doc = _train_json(
        "--dataset",
        "iris",
        "--epochs",
        "60",
        "--schedule",
        "plateau:0.5,2",
        "--lr",
        "0.05",
    )
    rates = doc["history"]["learning_rate"]
    assert rates[0] == 0.05
    assert min(rates) < 0.05
    assert set(np.round(np.log2(np.array(rates) / 0.05), 12)) <= {
        float(-k) for k in range(61)
    }


@pytest.mark.slow
def test_no_argument_train_is_still_the_original_program():
    doc = json.loads(run_cli("train", "--json", "--no-plot").stdout)
    np.testing.assert_allclose(
        doc["final_loss"], 0.0007135599463110956, rtol=1e-10, atol=0
    )
    assert doc["settings"]["optimizer"]["momentum_style"] == "ema"
    assert len(doc["losses"]) == 10_000


@pytest.mark.slow
def test_the_xor_program_takes_another_optimizer():
    doc = _train_json("--optimizer", "adam", "--lr", "0.05", "--epochs", "500")
    assert doc["settings"]["optimizer"]["name"] == "adam"
    assert doc["final_loss"] < 0.1


@pytest.mark.parametrize(
    ("csv", "args", "match"),
    [
        ("a,b\n1,2\n3,4\n", (), "no column named 'y'"),
        ("a,y\n1,2\n3,\n", (), "missing value at line 3, column 'y'"),
        ("a,y\n1,5\n3,5\n4,5\n", (), "target 'y' is constant"),
        (
            "a,y\n1,cat\n3,dog\n",
            ("--task", "regression"),
            "regression target 'y' must be finite numbers",
        ),
        ("a,y\nnan,1\n3,0\n", (), "non-finite value 'nan' at line 2, column 'a'"),
        ("a,y\n1,1\n-inf,0\n", (), "non-finite value '-inf' at line 3, column 'a'"),
        ("a,y\n1,1\n2,0\n3,NaN\n", (), "non-finite target 'NaN' at line 4"),
        # finite, but beyond what a variance can hold: one line, no warnings
        (
            "a,y\n" + "".join(f"{i}e200,{i % 2}\n" for i in range(1, 21)),
            (),
            "feature 'a' is too large to standardise (|x| up to 2e+201",
        ),
        (
            "a,y\n" + "".join(f"{i},{i / 3:.3f}e300\n" for i in range(1, 21)),
            (),
            "the regression target is too large to standardise",
        ),
    ],
)
def test_bad_csv_input_is_a_one_line_error(tmp_path, csv, args, match):
    path = tmp_path / "bad.csv"
    path.write_text(csv)
    result = run_cli("train", "--data", str(path), "--target", "y", *args, "--no-plot")
    _one_line_error(result, match)


@pytest.mark.parametrize("size", ["0", "1", "1.5"])
def test_test_size_outside_zero_one_is_a_one_line_error(size):
    result = run_cli("train", "--dataset", "iris", "--test-size", size, "--no-plot")
    _one_line_error(result, "--test-size must be strictly between 0 and 1")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            ("--dataset", "iris", "--optimizer", "adam", "--momentum", "0.9"),
            "--momentum does not apply to --optimizer adam",
        ),
        (
            ("--dataset", "iris", "--validation-split", "0", "--early-stopping"),
            "--early-stopping needs a validation split",
        ),
        (("--dataset", "mnist"), "unknown data set 'mnist'"),
        (("--early-stopping",), "--early-stopping needs --dataset or --data"),
        # options that would otherwise be silently ignored
        (("--test-size", "0.3"), "--test-size needs --dataset or --data"),
        (("--dataset", "iris", "--patience", "5"), "--patience is early stopping's"),
        (("--dataset", "iris", "--loss", "mse"), "--loss is chosen from the task"),
    ],
)
def test_inconsistent_options_are_one_line_errors(args, match):
    _one_line_error(run_cli("train", *args, "--no-plot"), match)
