"""Data sets: the original XOR and the user's CSV files.

Everything returns plain arrays (x, y) with x of shape
(n_samples, n_features); scikit-learn is imported only by the loaders
that need it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ._types import Array

__all__ = ["CsvData", "load_csv", "xor_data"]


def xor_data(constant_column: bool = True) -> tuple[Array, Array]:
    """The four XOR rows (with the original's constant third input) and targets.

    Examples
    --------
    >>> x, y = xor_data()
    >>> x.tolist(), y.tolist()
    ([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], [0.0, 1.0, 1.0, 0.0])
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    if constant_column:
        x = np.hstack([x, np.ones((4, 1))])
    return x, np.array([0.0, 1.0, 1.0, 0.0])
class CsvData:
    """A CSV file's features and target, with the names of the feature columns."""

    def __init__(self, x: Array, y: Array, feature_names: list[str], target: str):
        self.x, self.y, self.feature_names, self.target = x, y, feature_names, target


def load_csv(path: str | Path, target: str) -> CsvData:
    """Read a numeric CSV with a header row; target names the target column.

    Raises
    ------
    ValueError
        If the file is missing or empty, the target column is absent, or a
        cell is empty or not a finite number (naming the row and column).
    """
    path = Path(path)
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise ValueError(f"cannot read CSV file {str(path)!r}: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None
    if not rows or not any(rows[0]):
        raise ValueError(f"{path}: empty file; expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise ValueError(
            f"{path}: no column named {target!r}; columns are {', '.join(header)}"
        )
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise ValueError(f"{path}: no data rows after the header")
    values = np.empty((len(body), len(header)))
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {i} has {len(row)} cells; expected {len(header)}")
        for j, cell in enumerate(row):
            values[i - 2, j] = _number(cell, path, i, header[j])
    t = header.index(target)
    features = [h for j, h in enumerate(header) if j != t]
    if not features:
        raise ValueError(f"{path}: needs at least one feature column besides {target!r}")
    return CsvData(np.delete(values, t, axis=1), values[:, t], features, target)


def _number(cell: str, path: Path, line: int, column: str) -> float:
    """Parse one CSV cell as a finite float, or raise ValueError naming it."""
    text = cell.strip()
    if not text:
        raise ValueError(f"{path}: missing value at line {line}, column {column!r}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{path}: non-numeric value {text!r} at line {line}, column {column!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: non-finite value {text!r} at line {line}, column {column!r}")
    return value
