"""Shared by the save/load tests: training cases, comparisons, a resume worker.

Run as ``python -m tests.checkpoint_cases first|rest DIR`` (with the checkout's
``src`` and root on PYTHONPATH) it trains every case's first epochs and saves,
or loads, trains the remaining epochs and saves again, in a fresh process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mlplab._statefile import walk
from mlplab.callbacks import EarlyStopping, ReduceLROnPlateau
from mlplab.network import MLPConfig
from mlplab.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from mlplab.schedules import (
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    MultiStepDecay,
    StepDecay,
)
from mlplab.serialization import Checkpoint, load, save
from mlplab.training import fit
from mlplab.transforms import chain, clip_by_global_norm, clip_by_value

N_EPOCHS, FIRST = 7, 3


class Case(NamedTuple):
    name: str
    optimizer: Any
    batch_size: int | None
    seeds: tuple[int, ...]
    loss: str = "mse"
    dtype: str = "float64"
    callbacks: Any = None  # a factory of fresh callbacks


def optimizers() -> dict[str, Any]:
    """One optimizer per rule and schedule the library has."""
    out = {
        "classical": SGD(learning_rate=0.3, momentum=0.9),
        "nesterov": SGD(learning_rate=0.3, momentum=0.9, nesterov=True),
        "lr_inside": SGD(learning_rate=0.3, momentum=0.8, momentum_style="lr-inside"),
        "dampened": SGD(learning_rate=0.3, momentum=0.7, momentum_style="dampened",
                        dampening=0.4, weight_decay=0.01, decay_biases=True),
        "ema_bc": SGD(learning_rate=(0.5, 0.2, 0.9), momentum=(0.5, 0.9, 0.0),
                      momentum_style="ema", bias_correction=True),
        "constant_schedule": SGD(learning_rate=Constant((0.4, 0.1, 0.2)), momentum=0.5),
        "step_schedule": SGD(learning_rate=StepDecay(0.3, 3, 0.5), momentum=0.9),
        "multistep_schedule": Adam(learning_rate=MultiStepDecay(0.05, (2, 5), 0.5)),
        "exponential_schedule": RMSprop(learning_rate=ExponentialDecay(0.01, 0.9)),
        "invscaling_schedule": SGD(learning_rate=InverseScaling(0.5, 0.5)),
        "cosine_schedule": AdamW(learning_rate=CosineAnnealing(0.05, 6, warmup=2)),
        "adam": Adam(learning_rate=0.05),
        "amsgrad": Adam(learning_rate=0.05, amsgrad=True, weight_decay=0.01),
        "adamw": AdamW(learning_rate=(0.05, 0.01, 0.02)),
        "rmsprop": RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
        "adagrad": Adagrad(learning_rate=0.1, initial_accumulator_value=0.1),
        "chain": chain(clip_by_global_norm(0.5), clip_by_value(0.1), Adam(0.05)),
    }
    return out


def _per_member(obj: Any) -> bool:
    """Whether a config holds a float tuple (one value per member) anywhere."""
    import dataclasses

    if isinstance(obj, tuple):
        return any(isinstance(v, float) or _per_member(v) for v in obj)
    if dataclasses.is_dataclass(obj):
        return any(_per_member(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return False


def _callbacks() -> list[Any]:
    # restore_best=False: restoring at the end of every fit call would make a
    # run split into calls differ from one call by design.
    return [EarlyStopping(monitor="val_loss", patience=3, restore_best=False),
            ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=1)]


def cases() -> list[Case]:
    """Every optimizer, mini-batch and full batch, K = 1 and K = 3."""
    out = []
    for name, opt in optimizers().items():
        ks = [(0, 1, 2)] if _per_member(opt) else [(5,), (0, 1, 2)]
        for seeds in ks:
            for batch in (None, 4):
                out.append(Case(f"{name}-k{len(seeds)}-b{batch}", opt, batch, seeds))
    out.append(Case("f32-bce", SGD(learning_rate=0.2, momentum=0.9), 3, (1, 2),
                    loss="binary_cross_entropy", dtype="float32"))
    for batch in (None, 4):
        out.append(Case(f"callbacks-k3-b{batch}", SGD(learning_rate=2.0, momentum=0.9),
                        batch, (0, 1, 2), callbacks=_callbacks))
    return out


def data(case: Case) -> tuple[MLPConfig, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(13, 3))
    y = (x[:, :1] * x[:, 1:2] > 0).astype(float)
    out_act = "identity" if case.loss == "binary_cross_entropy" else "sigmoid"
    config = MLPConfig((3, 5, 1), activation="tanh", output_activation=out_act,
                       dtype=case.dtype)
    return config, x, y


def train(case: Case, n_epochs: int, checkpoint: Checkpoint | None = None) -> Any:
    """Train ``case`` from scratch or on from ``checkpoint``."""
    config, x, y = data(case)
    extra: dict[str, Any] = {}
    if case.callbacks is not None:
        extra["validation_data"] = (x[:5] + 0.1, y[:5])
    if checkpoint is None:
        callbacks = case.callbacks() if case.callbacks else []
        result = fit(config, x, y, loss=case.loss, optimizer=case.optimizer,
                     n_epochs=n_epochs, seeds=case.seeds, batch_size=case.batch_size,
                     callbacks=callbacks, **extra)
    else:
        callbacks = list(checkpoint.callbacks)
        result = fit(config, x, y, loss=checkpoint.loss, optimizer=checkpoint.optimizer,
                     n_epochs=n_epochs, state=checkpoint.state,
                     history=checkpoint.history, batch_size=case.batch_size,
                     callbacks=callbacks, **extra)
    return Run(result, callbacks)


class Run(NamedTuple):
    result: Any
    callbacks: list[Any]

    @property
    def state(self) -> Any:
        return self.result.state

    @property
    def history(self) -> Any:
        return self.result.history

    @property
    def params(self) -> Any:
        return self.result.state.params


def save_run(path: Path, case: Case, run: Run) -> None:
    config, _, _ = data(case)
    save(path, config, loss=case.loss, state=run.state, optimizer=run.result.optimizer,
         history=run.history, seeds=case.seeds, callbacks=run.callbacks)


def worker(phase: str, folder: Path) -> None:
    for case in cases():
        if phase == "first":
            save_run(folder / f"{case.name}.safetensors", case, train(case, FIRST))
        else:
            checkpoint = load(folder / f"{case.name}.safetensors")
            result = train(case, N_EPOCHS - FIRST, checkpoint)
            save_run(folder / f"{case.name}.final.safetensors", case, result)


def assert_same_state(a: Any, b: Any) -> None:
    """Two TrainStates are equal bit for bit (generators by their state)."""
    assert a.epoch == b.epoch
    np.testing.assert_array_equal(a.active, b.active)
    for la, lb in zip(a.params, b.params, strict=True):
        for xa, xb in zip(la, lb, strict=True):
            assert (xa is None) == (xb is None)
            if xa is not None:
                assert xa.dtype == xb.dtype
                np.testing.assert_array_equal(xa, xb)
    leaves_a = list(walk(a.opt_state, "optimizer", ()))
    leaves_b = list(walk(b.opt_state, "optimizer", ()))
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, va), (_, vb) in zip(leaves_a, leaves_b, strict=True):
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype, path
            np.testing.assert_array_equal(va, vb, err_msg=path)
        else:
            assert type(va) is type(vb), path
            assert va == vb, path
    assert [g.bit_generator.state for g in a.shuffle_rngs] == [
        g.bit_generator.state for g in b.shuffle_rngs
    ]


def assert_same_history(a: Any, b: Any) -> None:
    assert list(a.metrics) == list(b.metrics)
    for name in a.metrics:
        assert a.metrics[name].dtype == b.metrics[name].dtype
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])
    np.testing.assert_array_equal(a.diverged_epoch, b.diverged_epoch)


def assert_same_checkpoint(a: Checkpoint, b: Checkpoint) -> None:
    assert a.config == b.config
    assert a.loss == b.loss
    assert a.seeds == b.seeds
    assert a.optimizer == b.optimizer
    assert (a.state is None) == (b.state is None)
    if a.state is not None:
        assert_same_state(a.state, b.state)
    else:
        assert_same_state(_bare(a), _bare(b))
    assert (a.history is None) == (b.history is None)
    if a.history is not None:
        assert_same_history(a.history, b.history)
    assert a.classes == b.classes
    assert dict(a.info) == dict(b.info)
    assert (a.scaler is None) == (b.scaler is None)
    if a.scaler is not None:
        np.testing.assert_array_equal(a.scaler.mean, b.scaler.mean)
        np.testing.assert_array_equal(a.scaler.scale, b.scaler.scale)
    assert_same_callbacks(a.callbacks, b.callbacks)


def assert_same_callbacks(a: Any, b: Any) -> None:
    """Callbacks of the same class with equal config and per-member state."""
    import dataclasses

    assert [type(c) for c in a] == [type(c) for c in b]
    for ca, cb in zip(a, b, strict=True):
        for f in dataclasses.fields(ca):
            va, vb = getattr(ca, f.name), getattr(cb, f.name)
            if isinstance(va, tuple):  # params
                for la, lb in zip(va, vb, strict=True):
                    for xa, xb in zip(la, lb, strict=True):
                        np.testing.assert_array_equal(xa, xb)
            elif isinstance(va, np.ndarray):
                assert va.dtype == vb.dtype, f.name
                np.testing.assert_array_equal(va, vb, err_msg=f.name)
            else:
                assert va == vb, f.name


def _bare(c: Checkpoint) -> Any:
    from mlplab.training import TrainState

    return TrainState(c.params, (), np.ones(c.n_members, bool), 0, ())


if __name__ == "__main__":
    worker(sys.argv[1], Path(sys.argv[2]))
