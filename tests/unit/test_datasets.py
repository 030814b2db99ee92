"""Data sets: registry, CSV task detection and errors, splits, scaling, encoding."""

from __future__ import annotations

import numpy as np
import pytest

from mlplab.datasets import (
    DATASETS,
    encode_targets,
    load_csv,
    load_dataset,
    quadrant_xor,
    split_data,
    standardize,
    xor_data,
)

EXPECTED = {  # name: (n_samples, n_features, task, n_classes)
    "xor": (4, 3, "binary", 2),
    "xor_2d": (4, 2, "binary", 2),
    "digits": (1797, 64, "multiclass", 10),
    "iris": (150, 4, "multiclass", 3),
    "wine": (178, 13, "multiclass", 3),
    "breast_cancer": (569, 30, "binary", 2),
    "diabetes": (442, 10, "regression", 0),
    "moons": (500, 2, "binary", 2),
    "circles": (500, 2, "binary", 2),
    "quadrant_xor": (500, 2, "binary", 2),
}


def test_every_registered_data_set_is_described():
    assert set(DATASETS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_load_dataset_shapes_and_task(name):
    ds = load_dataset(name)
    n, d, task, n_classes = EXPECTED[name]
    assert ds.x.shape == (n, d)
    assert ds.x.dtype == np.float64
    assert ds.y.shape == (n,)
    assert ds.task == task
    assert ds.n_classes == n_classes
    assert len(ds.feature_names) == d
    assert np.all(np.isfinite(ds.x))
    if task != "regression":
        assert ds.y.dtype == np.int64
        assert set(np.unique(ds.y).tolist()) == set(range(n_classes))
    assert ds.n_outputs == (n_classes if task == "multiclass" else 1)


def test_xor_is_the_original_four_rows():
    ds = load_dataset("xor")
    x, y = xor_data()
    np.testing.assert_array_equal(ds.x, x)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(load_dataset("xor_2d").x, x[:, :2])


def test_real_sets_recommend_scaling_and_generated_ones_do_not():
    assert load_dataset("digits").scale
    assert load_dataset("diabetes").scale
    assert not load_dataset("moons").scale
    assert not load_dataset("xor").scale


@pytest.mark.parametrize("name", ["moons", "circles", "quadrant_xor"])
def test_generated_sets_depend_on_the_seed_only(name):
    a, b, c = (
        load_dataset(name, seed=3),
        load_dataset(name, seed=3),
        load_dataset(name, 4),
    )
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_quadrant_xor_labels_the_sign_xor_before_noise():
    x, y = quadrant_xor(200, 0.0, np.random.default_rng(1))
    np.testing.assert_array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int))


def test_unknown_data_set_names_the_choices():
    with pytest.raises(ValueError, match="unknown data set 'mnist'; expected one of"):
        load_dataset("mnist")


# ---------------------------------------------------------------- splits, scaling


def test_split_is_stratified_and_seeded():
    ds = load_dataset("iris")
    y = np.concatenate([ds.y[:50], ds.y[50:60], ds.y[100:]])  # 50/10/50 imbalance
    x = np.arange(len(y), dtype=float)[:, None]
    _, x_te, y_tr, y_te = split_data(x, y, test_size=0.2, seed=7, stratify=True)
    np.testing.assert_array_equal(np.bincount(y_te), [10, 2, 10])
    np.testing.assert_array_equal(np.bincount(y_tr), [40, 8, 40])
    again = split_data(x, y, test_size=0.2, seed=7, stratify=True)
    np.testing.assert_array_equal(again[1], x_te)
    other = split_data(x, y, test_size=0.2, seed=8, stratify=True)
    assert not np.array_equal(other[1], x_te)
    # the rows stay paired with their targets
    np.testing.assert_array_equal(y[x_te[:, 0].astype(int)], y_te)


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_a_test_size_outside_zero_one(test_size):
    x, y = np.zeros((10, 1)), np.arange(10) % 2
    with pytest.raises(ValueError, match="test_size must be strictly between 0 and 1"):
        split_data(x, y, test_size=test_size, seed=0, stratify=True)


def test_split_too_small_for_every_class_is_a_clear_error():
    x, y = xor_data()
    with pytest.raises(ValueError, match="each part needs at least 2"):
        split_data(x, y, test_size=0.2, seed=0, stratify=True)


def test_standardize_uses_the_training_part_only(rng):
    train, test = rng.normal(3.0, 2.0, size=(50, 3)), rng.normal(size=(20, 3))
    train_s, test_s = standardize(train, test)
    np.testing.assert_allclose(train_s.mean(axis=0), 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(train_s.std(axis=0), 1.0, rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        test_s, (test - train.mean(0)) / train.std(0), rtol=1e-12, atol=1e-12
    )


def test_encode_targets_per_task():
    np.testing.assert_array_equal(
        encode_targets(np.array([1, 0]), "binary"), [[1.0], [0.0]]
    )
    np.testing.assert_array_equal(
        encode_targets(np.array([1.5]), "regression"), [[1.5]]
    )
    np.testing.assert_array_equal(
        encode_targets(np.array([1, 2]), "multiclass", 3), [[0, 1, 0], [0, 0, 1]]
    )


# ---------------------------------------------------------------- CSV files


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_regression_target(tmp_path):
    ds = load_csv(_csv(tmp_path, "a,b,y\n1,2,0.5\n3,4,1.5\n5,6,2.25\n"), "y")
    assert ds.task == "regression"
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0.5, 1.5, 2.25])
    assert ds.feature_names == ("a", "b")
    assert ds.classes == ()


def test_csv_categorical_target_becomes_sorted_classes(tmp_path):
    ds = load_csv(_csv(tmp_path, "x,kind\n1,dog\n2,cat\n3,emu\n4,cat\n"), "kind")
    assert ds.task == "multiclass"
    assert ds.classes == ("cat", "dog", "emu")
    np.testing.assert_array_equal(ds.y, [1, 0, 2, 0])


def test_csv_integer_target_with_few_values_is_classification(tmp_path):
    ds = load_csv(_csv(tmp_path, "x,label\n1,1\n2,0\n3,1\n"), "label")
    assert ds.task == "binary"
    assert ds.classes == (0, 1)
    rows = "x,t\n" + "".join(f"{i},{i}\n" for i in range(11))
    assert load_csv(_csv(tmp_path, rows), "t").task == "regression"  # 11 values


def test_csv_task_override(tmp_path):
    path = _csv(tmp_path, "x,label\n1,1\n2,0\n3,1\n")
    assert load_csv(path, "label", task="regression").task == "regression"
    with pytest.raises(ValueError, match="task must be one of"):
        load_csv(path, "label", task="ranking")


@pytest.mark.parametrize(
    ("text", "task", "match"),
    [
        ("a,b\n1,2\n", None, "no column named 'y'; columns are a, b"),
        ("a,y\n1,2\n3,\n", None, "missing value at line 3, column 'y'"),
        ("a,y\n1,2\n3,2\n", None, "target 'y' is constant"),
        (
            "a,y\n1,x\n3,2\n",
            "regression",
            "regression target 'y' must be finite numbers; got 'x'",
        ),
        ("a,y\nnan,2\n3,4\n", None, "non-finite value 'nan' at line 2, column 'a'"),
        ("a,y\n1,2\ninf,4\n", None, "non-finite value 'inf' at line 3, column 'a'"),
        ("a,y\n1,2\nabc,4\n", None, "non-numeric value 'abc' at line 3, column 'a'"),
        # a NaN target is a missing value, never a class named 'nan'
        ("a,y\n1,0\n2,nan\n3,1\n", None, "non-finite target 'nan' at line 3"),
        ("a,y\n1,0.5\n2,1.5\n3,inf\n", None, "non-finite target 'inf' at line 4"),
        ("a,y\n1,0.5\n2,-inf\n", "regression", "non-finite target '-inf' at line 3"),
        ("a,y\n1,cat\n3,cat\n", None, "target 'y' is constant \\('cat'\\)"),
        (
            "a,y\n1,0\n3,1\n4,2\n",
            "binary",
            "task 'binary' needs 2 classes in 'y'; got 3",
        ),
        ("", None, "empty file"),
        ("a,y\n", None, "no data rows"),
        ("a,y\n1,2,3\n", None, "line 2 has 3 cells; expected 2"),
        ("y\n1\n2\n", None, "at least one feature column"),
        ("a,a,y\n1,2,0\n3,4,1\n", None, "must be unique; got 'a' more than once"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, text, task, match):
    with pytest.raises(ValueError, match=match):
        load_csv(_csv(tmp_path, text), "y", task=task)


def test_csv_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read CSV file"):
        load_csv(tmp_path / "absent.csv", "y")
