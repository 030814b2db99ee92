"""Data sets: the original XOR, scikit-learn's bundled and generated sets, CSV files.

Every loader returns a ``Dataset``: features ``x`` of shape
``(n_samples, n_features)``, a 1-D target ``y`` (class indices for
classification, floats for regression), the task, the class labels and the
feature names. This module also owns the data-handling steps around training
(seeded, stratified splits, standardisation fitted on the training part,
target encoding); scikit-learn does the work and is imported only inside the
functions that need it. The network never sees this module.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._types import Array
from ._validation import check_choice, lookup

__all__ = [
    "DATASETS",
    "TASKS",
    "Dataset",
    "encode_targets",
    "fit_scaler",
    "load_csv",
    "load_dataset",
    "quadrant_xor",
    "split_data",
    "standardize",
    "xor_data",
]

IntArray = NDArray[np.int64]
AnyArray = NDArray[Any]
TASKS = ("binary", "multiclass", "regression")
# A numeric CSV target with integer values only and at most this many distinct
# values is taken for class labels (0/1, ratings 1-5, digits); anything else is
# a regression target. ``task=`` overrides the guess.
MAX_INTEGER_CLASSES = 10


def xor_data(constant_column: bool = True) -> tuple[Array, Array]:
    """Return the four XOR rows (with the original's constant third input) and targets.

    Examples
    --------
    >>> x, y = xor_data()
    >>> x.tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    >>> y.tolist()
    [0.0, 1.0, 1.0, 0.0]
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    if constant_column:
        x = np.hstack([x, np.ones((4, 1))])
    return x, np.array([0.0, 1.0, 1.0, 0.0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features, target and what they mean.

    Attributes
    ----------
    name : str
        The registry name or the CSV path.
    x : array, shape (n_samples, n_features)
        Features, float64, all finite.
    y : array, shape (n_samples,)
        Class indices ``0..n_classes-1`` (int64) for ``"binary"`` and
        ``"multiclass"``, float64 values for ``"regression"``.
    task : {"binary", "multiclass", "regression"}
        What kind of target ``y`` is.
    classes : tuple
        The label of each class index (empty for regression).
    feature_names : tuple of str
        One name per column of ``x``.
    scale : bool
        Whether standardising the features is recommended (true for the
        bundled real sets and CSV files, false for XOR and generated sets).
    """

    name: str
    x: Array
    y: AnyArray
    task: str
    classes: tuple[Any, ...] = ()
    feature_names: tuple[str, ...] = ()
    scale: bool = False

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Network outputs the task needs: one per class, one for binary/regression."""
        return self.n_classes if self.task == "multiclass" else 1


# ---------------------------------------------------------------- generated sets


def quadrant_xor(
    n_samples: int, noise: float, rng: np.random.Generator
) -> tuple[Array, IntArray]:
    """Points uniform on ``[-1, 1]^2``, class 1 where ``x0 * x1 < 0`` (XOR of signs).

    Gaussian noise of standard deviation ``noise`` is added to the points
    after labelling, so classes overlap near the axes.

    Examples
    --------
    >>> x, y = quadrant_xor(4, 0.0, np.random.default_rng(0))
    >>> x.shape, sorted(set(y.tolist())) <= [0, 1]
    ((4, 2), True)
    """
    x = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    return x + noise * rng.standard_normal(x.shape), y


def _xor(seed: int, constant_column: bool) -> Dataset:
    x, y = xor_data(constant_column)
    names = ("x1", "x2", "constant")[: x.shape[1]]
    return Dataset(
        "xor" if constant_column else "xor_2d",
        x,
        y.astype(np.int64),
        "binary",
        (0, 1),
        names,
    )


def _generated(name: str, make: Callable[[int], Any]) -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        x, y = make(seed)
        return Dataset(
            name,
            np.asarray(x, np.float64),
            np.asarray(y, np.int64),
            "binary",
            (0, 1),
            ("x1", "x2"),
        )

    return load


def _bundled(name: str) -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")()
        names = tuple(str(f) for f in bunch.feature_names)
        x = np.asarray(bunch.data, np.float64)
        if name == "diabetes":
            return Dataset(
                name,
                x,
                np.asarray(bunch.target, np.float64),
                "regression",
                (),
                names,
                scale=True,
            )
        labels = tuple(getattr(bunch, "target_names", np.unique(bunch.target)).tolist())
        task = "binary" if len(labels) == 2 else "multiclass"
        return Dataset(
            name, x, np.asarray(bunch.target, np.int64), task, labels, names, scale=True
        )

    return load


def _moons(seed: int) -> Any:
    from sklearn.datasets import make_moons

    return make_moons(500, noise=0.2, random_state=seed)


def _circles(seed: int) -> Any:
    from sklearn.datasets import make_circles

    return make_circles(500, noise=0.1, factor=0.5, random_state=seed)


def _quadrants(seed: int) -> Any:
    return quadrant_xor(500, 0.1, np.random.default_rng(seed))


# name -> loader(seed); the seed matters only for the generated sets.
DATASETS: dict[str, Callable[[int], Dataset]] = {
    "xor": lambda seed: _xor(seed, constant_column=True),
    "xor_2d": lambda seed: _xor(seed, constant_column=False),
    "digits": _bundled("digits"),
    "iris": _bundled("iris"),
    "wine": _bundled("wine"),
    "breast_cancer": _bundled("breast_cancer"),
    "diabetes": _bundled("diabetes"),
    "moons": _generated("moons", _moons),
    "circles": _generated("circles", _circles),
    "quadrant_xor": _generated("quadrant_xor", _quadrants),
}


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """Load a data set by name (see ``DATASETS``); ``seed`` draws the generated ones.

    Parameters
    ----------
    name : str
        ``xor`` (the original four rows with a constant column), ``xor_2d``
        (without it), scikit-learn's bundled ``digits``, ``iris``, ``wine``,
        ``breast_cancer`` and ``diabetes`` (regression), or the generated
        ``moons``, ``circles`` and ``quadrant_xor`` (500 points each).
    seed : int
        Seed of the generated sets (ignored by the others).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If ``name`` is not registered.

    Examples
    --------
    >>> ds = load_dataset("iris")
    >>> ds.x.shape, ds.task, ds.classes
    ((150, 4), 'multiclass', ('setosa', 'versicolor', 'virginica'))
    """
    return lookup(DATASETS, "data set", name)(int(seed))  # type: ignore[no-any-return]


# ---------------------------------------------------------------- CSV files


def load_csv(path: str | Path, target: str, task: str | None = None) -> Dataset:
    """Read a CSV file with a header row; ``target`` names the target column.

    Features must be finite numbers. The target decides the task unless
    ``task`` is given: a non-numeric target is a set of class labels; a
    numeric target whose values are all integers with at most
    ``MAX_INTEGER_CLASSES`` distinct values is one too; any other numeric
    target is a regression target. Class labels are sorted (numerically when
    numeric) and mapped to indices ``0..n_classes-1``.

    Raises
    ------
    ValueError
        If the file cannot be read or is empty, the target column is absent,
        a cell is empty, a feature (or a regression target) is not a finite
        number, or the target is constant (naming the line and column).
    """
    path = Path(path)
    header, body = _read_rows(path)
    if target not in header:
        raise ValueError(
            f"{path}: no column named {target!r}; columns are {', '.join(header)}"
        )
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise ValueError(
            f"{path}: column names must be unique; got {repeated[0]!r} more than once"
        )
    t = header.index(target)
    features = tuple(h for j, h in enumerate(header) if j != t)
    if not features:
        raise ValueError(
            f"{path}: needs at least one feature column besides {target!r}"
        )
    x = np.empty((len(body), len(features)))
    labels = []
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(header):
            raise ValueError(
                f"{path}: line {line} has {len(row)} cells; expected {len(header)}"
            )
        cells = [c for j, c in enumerate(row) if j != t]
        x[i] = [
            _number(c, path, line, name)
            for c, name in zip(cells, features, strict=True)
        ]
        labels.append(_target_cell(row[t], path, line, target))
    y, task, classes = _target(labels, path, target, task)
    return Dataset(str(path), x, y, task, classes, features, scale=True)


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Return the stripped header and the non-blank rows, or raise ValueError."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ValueError(f"cannot read CSV file {str(path)!r}: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(f"{path}: empty file; expected a header row and data rows")
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise ValueError(f"{path}: no data rows after the header")
    return [h.strip() for h in rows[0]], body


def _cell(cell: str, path: Path, line: int, column: str) -> str:
    """Return a stripped non-empty cell, or raise ValueError naming it."""
    text = cell.strip()
    if not text:
        raise ValueError(f"{path}: missing value at line {line}, column {column!r}")
    return text


def _target_cell(cell: str, path: Path, line: int, column: str) -> str:
    """Return a target cell; 'nan' or 'inf' there is a missing value, not a class."""
    text = _cell(cell, path, line, column)
    try:
        value = float(text)
    except ValueError:
        return text  # a class label such as 'cat'
    if not math.isfinite(value):
        raise ValueError(
            f"{path}: non-finite target {text!r} at line {line}, column {column!r}; "
            "expected a finite number or a class label"
        )
    return text


def _number(cell: str, path: Path, line: int, column: str) -> float:
    """Parse one CSV cell as a finite float, or raise ValueError naming it."""
    text = _cell(cell, path, line, column)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{path}: non-numeric value {text!r} at line {line}, column {column!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(
            f"{path}: non-finite value {text!r} at line {line}, column {column!r}"
        )
    return value


def _target(
    labels: list[str], path: Path, column: str, task: str | None
) -> tuple[AnyArray, str, tuple[Any, ...]]:
    """Decide the task of a CSV target and encode it: ``(y, task, classes)``."""
    if task is not None:
        check_choice("task", task, TASKS)
    numeric = _as_numbers(labels)
    if len(set(labels if numeric is None else numeric.tolist())) < 2:
        raise ValueError(
            f"{path}: target {column!r} is constant ({labels[0]!r}); nothing to learn"
        )
    if task == "regression" or (
        task is None and numeric is not None and not _looks_like_classes(numeric)
    ):
        if numeric is None:
            bad = next(v for v in labels if _as_numbers([v]) is None)
            raise ValueError(
                f"{path}: regression target {column!r} must be finite "
                f"numbers; got {bad!r}"
            )
        return numeric, "regression", ()
    keys = list(numeric) if numeric is not None else labels
    classes = tuple(sorted(set(keys)))
    if task == "binary" and len(classes) != 2:
        raise ValueError(
            f"{path}: task 'binary' needs 2 classes in {column!r}; got {len(classes)}"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[k] for k in keys], np.int64)
    if numeric is not None:
        classes = tuple(int(c) if float(c).is_integer() else float(c) for c in classes)
    return y, task or ("binary" if len(classes) == 2 else "multiclass"), classes


def _as_numbers(labels: list[str]) -> Array | None:
    """All labels as finite floats, or None if any is not a finite number."""
    try:
        values = np.array([float(v) for v in labels])
    except ValueError:
        return None
    return values if np.all(np.isfinite(values)) else None


def _looks_like_classes(values: Array) -> bool:
    """Integer values with few distinct ones (see ``MAX_INTEGER_CLASSES``)."""
    return (
        bool(np.all(values == np.round(values)))
        and len(np.unique(values)) <= MAX_INTEGER_CLASSES
    )


# ---------------------------------------------------------------- splitting, scaling


def split_data(
    x: Array, y: Array, *, test_size: float, seed: int, stratify: bool
) -> tuple[Array, Array, Array, Array]:
    """Split rows into ``(x_train, x_test, y_train, y_test)`` with scikit-learn.

    ``test_size`` is the held-out fraction, strictly between 0 and 1. With
    ``stratify`` every class keeps its proportion in both parts. The split
    depends on ``seed`` alone.

    Raises
    ------
    ValueError
        If ``test_size`` is not in (0, 1) or a part would be empty (or, when
        stratifying, too small to hold every class).

    Examples
    --------
    >>> x, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> x_train, x_test, y_train, y_test = split_data(x, y, test_size=0.2, seed=0,
    ...                                               stratify=True)
    >>> x_train.shape, sorted(y_test.tolist())
    ((8, 2), [0, 1])
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be strictly between 0 and 1; got {test_size}")
    n_test = math.ceil(test_size * len(y))
    n_classes = len(np.unique(y)) if stratify else 1
    if min(n_test, len(y) - n_test) < n_classes:
        raise ValueError(
            f"a split of {len(y)} rows with test_size {test_size} leaves {n_test} and "
            f"{len(y) - n_test} rows; each part needs at least {n_classes} "
            f"(one per class)"
        )
    parts = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y if stratify else None
    )
    return tuple(parts)


def standardize(fit_on: Array, *others: Array) -> tuple[Array, ...]:
    """Standardise columns with the mean and deviation of ``fit_on`` only.

    Returns ``fit_on`` and each of ``others`` transformed by one
    ``StandardScaler`` fitted on ``fit_on`` (constant columns stay at 0).

    Examples
    --------
    >>> a, b = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> a.ravel().tolist(), b.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    scaler = fit_scaler(fit_on)
    return tuple(scaler.transform(a) for a in (fit_on, *others))


def fit_scaler(fit_on: Array, names: tuple[str, ...] | None = None) -> Any:
    """Fit scikit-learn's ``StandardScaler`` on ``fit_on``'s columns.

    Raises
    ------
    ValueError
        If a column is too large for its variance to be a float64 (beyond
        about 1e154), naming the column (``names[j]``, else its index) and its
        largest value.
    """
    from sklearn.preprocessing import StandardScaler

    # The variance of values near 1e200 overflows; say so in one line
    # instead of letting NumPy's and scikit-learn's warnings through.
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        scaler = StandardScaler().fit(fit_on)
    finite = np.isfinite(scaler.mean_) & np.isfinite(scaler.scale_)
    if not finite.all():
        j = int(np.flatnonzero(~finite)[0])
        name = repr(names[j]) if names is not None else str(j)
        raise ValueError(
            f"feature {name} is too large to standardise (|x| up to "
            f"{np.max(np.abs(fit_on[:, j])):.3g}; its variance overflows): "
            "rescale it, or train without scaling"
        )
    return scaler


def encode_targets(y: Array, task: str, n_classes: int = 0) -> Array:
    """Network targets ``(n_samples, n_outputs)``: one-hot rows for multiclass.

    Binary targets become a 0/1 column (for ``binary_cross_entropy``),
    regression targets a float column.

    Examples
    --------
    >>> encode_targets(np.array([2, 0]), "multiclass", 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    check_choice("task", task, TASKS)
    if task == "multiclass":
        return np.eye(n_classes)[np.asarray(y, np.int64)]
    return np.asarray(y, np.float64)[:, None]
