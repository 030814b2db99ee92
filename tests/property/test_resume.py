"""Exact resume: N epochs == k epochs, save, load in a new process, N - k more."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlplab.serialization import load
from tests.checkpoint_cases import (
    FIRST,
    N_EPOCHS,
    assert_same_callbacks,
    assert_same_history,
    assert_same_state,
    cases,
    train,
)

ROOT = Path(__file__).resolve().parents[2]


def _worker(phase: str, folder: Path) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    done = subprocess.run(
        [sys.executable, "-m", "tests.checkpoint_cases", phase, str(folder)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    _worker("first", folder)
    _worker("rest", folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_resume_in_new_process_is_bit_for_bit(resumed, case):
    straight = train(case, N_EPOCHS)
    final = load(resumed / f"{case.name}.final.safetensors")
    # Runs end at N_EPOCHS, or earlier once early stopping has stopped everyone.
    assert final.state.epoch == straight.state.epoch > FIRST
    assert final.history.n_epochs == straight.history.n_epochs
    assert_same_state(final.state, straight.state)
    assert_same_history(final.history, straight.history)
    assert final.optimizer == straight.result.optimizer
    assert_same_callbacks(final.callbacks, straight.callbacks)


def test_resume_in_process_matches_and_first_part_differs():
    # The comparison can fail: a resume from the wrong point is caught.
    case = next(c for c in cases() if c.batch_size and len(c.seeds) == 3)
    first = train(case, FIRST)
    straight = train(case, N_EPOCHS)
    with pytest.raises(AssertionError):
        assert_same_state(first.state, straight.state)
