"""Regression guard: the training step allocates no temporaries (counted, not timed).

``tracemalloc`` sees every NumPy data buffer. After a warm-up step has made the
workspace's buffers, a step may allocate only small Python objects,
``(K,)``-sized results (the batch loss, finiteness flags) and NumPy's fixed-size
iteration buffers (a broadcast bias add takes about 34 kB whatever the array
size); an accidental copy of an activation, a gradient or a weight array in
the hot loop is at least ``K x batch x width`` floats (here 128 kB) and fails.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from mlplab.losses import LOSSES
from mlplab.network import MLPConfig, init_params, param_arrays
from mlplab.optimizers import SGD
from mlplab.training import fit
from mlplab.workspace import Workspace

N_FEATURES, HIDDEN, N_CLASSES, BATCH, N_MEMBERS = 64, (256, 128), 10, 128, 2
# The smallest array of the hot loop: the members' batch of the last hidden layer.
SMALLEST_HOT_ARRAY = N_MEMBERS * BATCH * min(HIDDEN) * 4  # bytes (float32)


def _data(n_samples, n_members=1, per_member=False):
    rng = np.random.default_rng(0)
    shape = (
        (n_members, n_samples, N_FEATURES) if per_member else (n_samples, N_FEATURES)
    )
    x = rng.standard_normal(shape, dtype=np.float32)
    y = np.eye(N_CLASSES, dtype=np.float32)[rng.integers(0, N_CLASSES, n_samples)]
    return x, y


def _peak_extra_bytes(run, repeats=5):
    """Peak traced memory above the start while ``run()`` runs ``repeats`` times."""
    run()  # warm-up: buffers, caches
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for _ in range(repeats):
            run()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "optimizer",
    [
        SGD(0.01, 0.9),
        SGD((0.01, 0.02), 0.9, nesterov=True),
        SGD(0.01, 0.5, momentum_style="lr-inside"),
    ],
)
@pytest.mark.parametrize("per_member", [False, True])
def test_a_training_step_allocates_no_array_sized_temporary(optimizer, per_member):
    n_members = N_MEMBERS
    config = MLPConfig(
        (N_FEATURES, *HIDDEN, N_CLASSES),
        activation="relu",
        output_activation="identity",
        dtype="float32",
    )
    x, y = _data(512, n_members, per_member)
    params = init_params(config, range(n_members))
    ws = Workspace(config, LOSSES["cross_entropy"], n_members)
    ws.load(params, optimizer.init(param_arrays(params)), optimizer)
    order = np.stack(
        [np.random.default_rng(k).permutation(512) for k in range(n_members)]
    )
    buf = ws.buffers(BATCH, x, y, gathered=True)
    active = np.ones(n_members, bool)

    def one_step():
        rows = order[:, :BATCH]
        xb, yb = ws.gather(x, rows, buf.x), ws.gather(y, rows, buf.y)
        ws.step(xb, yb, buf, active)

    extra = _peak_extra_bytes(one_step)
    assert extra < SMALLEST_HOT_ARRAY // 2, (
        f"a training step allocated {extra} bytes of temporaries; the hot loop must "
        f"write into the workspace's buffers (smallest hot array: "
        f"{SMALLEST_HOT_ARRAY} B)"
    )


def test_the_guard_notices_a_copy_in_the_hot_loop(monkeypatch):
    """The same measurement fails when a step copies one activation."""
    config = MLPConfig(
        (N_FEATURES, *HIDDEN, N_CLASSES),
        activation="relu",
        output_activation="identity",
        dtype="float32",
    )
    x, y = _data(512)
    optimizer = SGD(0.01, 0.9)
    params = init_params(config, range(N_MEMBERS))
    ws = Workspace(config, LOSSES["cross_entropy"], N_MEMBERS)
    ws.load(params, optimizer.init(param_arrays(params)), optimizer)
    buf = ws.buffers(BATCH, x, y, gathered=False)
    forward = ws._forward
    monkeypatch.setattr(
        ws, "_forward", lambda xb, b: [a.copy() for a in forward(xb, b)]
    )
    active = np.ones(N_MEMBERS, bool)
    extra = _peak_extra_bytes(lambda: ws.step(x[:BATCH], y[:BATCH], buf, active))
    assert extra >= SMALLEST_HOT_ARRAY


def test_fit_makes_no_copy_of_the_data():
    """Peak memory of ``fit`` grows with the rows only by the permutation (int64)."""
    config = MLPConfig(
        (N_FEATURES, *HIDDEN, N_CLASSES),
        activation="relu",
        output_activation="identity",
        dtype="float32",
    )
    peaks = {}
    for n_samples in (1024, 8192):
        x, y = _data(n_samples)

        def run(x=x, y=y):
            fit(
                config,
                x,
                y,
                loss="cross_entropy",
                optimizer=SGD(0.01, 0.9),
                n_epochs=2,
                batch_size=BATCH,
            )

        peaks[n_samples] = _peak_extra_bytes(run, repeats=1)
    growth = peaks[8192] - peaks[1024]
    data_growth = (8192 - 1024) * (N_FEATURES + N_CLASSES) * 4
    assert growth < 8 * (8192 - 1024) + 64 * 1024, (
        f"fit's peak grew by {growth} bytes for {data_growth} more bytes of data"
    )


def _extra_at_each_step(monkeypatch, config, x, y, copy_batches=False):
    """Traced bytes in use when each step starts, above the epoch's start.

    Covers ``fit``'s own batch loop (gathering, metrics), which the step
    tests above do not: a copy made there is still alive when the step runs.
    """
    import mlplab.training as training

    marks, extras = [], []
    minibatch_epoch, step = training._minibatch_epoch, Workspace.step

    def epoch(*args, **kwargs):
        marks.append(tracemalloc.get_traced_memory()[0])
        return minibatch_epoch(*args, **kwargs)

    def traced_step(self, xb, *args, **kwargs):
        if copy_batches:
            xb = xb.copy()
        extras.append(tracemalloc.get_traced_memory()[0] - marks[-1])
        return step(self, xb, *args, **kwargs)

    monkeypatch.setattr(training, "_minibatch_epoch", epoch)
    monkeypatch.setattr(Workspace, "step", traced_step)
    tracemalloc.start()
    try:
        fit(
            config,
            x,
            y,
            loss="cross_entropy",
            optimizer=SGD(0.01, 0.9),
            n_epochs=3,
            seeds=range(N_MEMBERS),
            batch_size=BATCH,
        )
    finally:
        tracemalloc.stop()
    n_batches = -(-len(x) // BATCH)
    return max(extras[n_batches:])  # after the first epoch made the buffers


@pytest.mark.parametrize("copy_batches", [False, True])
def test_fits_batch_loop_keeps_no_batch_sized_copy(monkeypatch, copy_batches):
    config = MLPConfig(
        (N_FEATURES, *HIDDEN, N_CLASSES),
        activation="relu",
        output_activation="identity",
        dtype="float32",
    )
    x, y = _data(1024)
    extra = _extra_at_each_step(monkeypatch, config, x, y, copy_batches)
    # What the loop may hold: the epoch's permutation (K x n int64) and small
    # per-batch results; a copy of a batch of inputs is K x B x n_features floats.
    permutation = N_MEMBERS * len(x) * 8
    batch_copy = N_MEMBERS * BATCH * N_FEATURES * 4
    if copy_batches:  # the guard's own check: a copy in the loop is seen
        assert extra >= permutation + batch_copy
    else:
        assert extra < permutation + batch_copy // 2, (
            f"fit's batch loop holds {extra} bytes when a step starts; "
            f"only the permutation ({permutation} B) is expected"
        )
