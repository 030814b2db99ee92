"""Shared fixtures: generators, hypothesis profiles, tiny data sets, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

SRC = Path(__file__).resolve().parents[1] / "src"

# scikit-learn's estimator checks skip check_array_api_input unless SciPy's
# array-API support is on; it must be set before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def xor():
    from mlplab.datasets import xor_data

    return xor_data()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m mlplab ARGS`` in a fresh process against this checkout."""
    env = dict(os.environ, PYTHONPATH=str(SRC), COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "mlplab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
