"""Save/load: round trips, the version policy, atomic writes, named errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlplab import serialization
from mlplab._checkfile import canonical_json
from mlplab.activations import ACTIVATIONS
from mlplab.callbacks import EarlyStopping, ReduceLROnPlateau
from mlplab.losses import LOSSES
from mlplab.network import MLPConfig, init_params, predict_raw
from mlplab.optimizers import SGD
from mlplab.serialization import (
    FORMAT_VERSION,
    Checkpoint,
    Scaling,
    digest,
    load,
    save,
)
from mlplab.training import fit
from tests.checkpoint_cases import (
    assert_same_checkpoint,
    cases,
    data,
    optimizers,
    save_run,
    train,
)


def _roundtrip(tmp_path, checkpoint: Checkpoint) -> Checkpoint:
    path = tmp_path / "m.safetensors"
    serialization.save_checkpoint(path, checkpoint)
    loaded = load(path)
    assert_same_checkpoint(loaded, checkpoint)
    return loaded


@pytest.mark.parametrize("name", list(optimizers()))
def test_roundtrip_every_optimizer_and_schedule(tmp_path, name):
    case = next(c for c in cases() if c.name.startswith(name) and c.batch_size)
    result = train(case, 3)
    config, _, _ = data(case)
    checkpoint = Checkpoint(
        config, case.loss, result.params, seeds=case.seeds, optimizer=case.optimizer,
        state=result.state, history=result.history, classes=(0.0, 1.0),
        info={"note": "é", "batch_size": case.batch_size},
    )
    loaded = _roundtrip(tmp_path, checkpoint)
    assert loaded.optimizer == case.optimizer


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seeds", [(3,), (0, 1, 2)])
def test_roundtrip_every_activation_dtype_and_k(tmp_path, activation, dtype, seeds):
    config = MLPConfig((2, 3, 2), activation=activation, output_activation=activation,
                       dtype=dtype, init="uniform:-1,1")
    params = init_params(config, seeds)
    loaded = _roundtrip(tmp_path, Checkpoint(config, "sse", params, seeds=seeds))
    x = np.linspace(-1, 1, 10, dtype=config.np_dtype).reshape(5, 2)
    np.testing.assert_array_equal(predict_raw(loaded.params, config, x),
                                  predict_raw(params, config, x))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_roundtrip_every_loss_and_no_bias(tmp_path, loss):
    out = "identity" if LOSSES[loss].from_logits else "sigmoid"
    config = MLPConfig((4, 2), output_activation=out, use_bias=False)
    loaded = _roundtrip(tmp_path, Checkpoint(config, loss, init_params(config, [1])))
    assert loaded.loss == loss
    assert loaded.params[0].b is None


def test_roundtrip_callbacks_scaler_and_labels(tmp_path):
    case = next(c for c in cases() if c.name == "callbacks-k3-b4")
    run = train(case, 4)
    config, x, _ = data(case)
    checkpoint = Checkpoint(
        config, case.loss, run.params, optimizer=run.result.optimizer,
        state=run.state, history=run.history, callbacks=tuple(run.callbacks),
        scaler=Scaling(x.mean(axis=0), x.std(axis=0)), classes=("cat", "dog"),
    )
    assert run.callbacks[1].n_reductions.sum() > 0  # the rate was reduced
    assert checkpoint.optimizer != case.optimizer
    loaded = _roundtrip(tmp_path, checkpoint)
    assert loaded.optimizer == run.result.optimizer
    np.testing.assert_array_equal(loaded.scaler.transform(x),
                                  (x - x.mean(axis=0)) / x.std(axis=0))


def test_fresh_callbacks_roundtrip(tmp_path):
    config = MLPConfig((2, 3))
    callbacks = (EarlyStopping(patience=4, min_delta=0.5), ReduceLROnPlateau())
    _roundtrip(tmp_path, Checkpoint(config, "mse", init_params(config, [0]),
                                    callbacks=callbacks))


def test_the_file_uses_the_documented_names(tmp_path):
    case = next(c for c in cases() if c.name == "classical-k1-b4")
    save_run(tmp_path / "m.safetensors", case, train(case, 2))
    from safetensors import safe_open

    with safe_open(tmp_path / "m.safetensors", framework="np") as f:
        names = set(f.keys())
        meta = json.loads(f.metadata()["mlplab"])
    assert names == {
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "optimizer.velocity.0.weight", "optimizer.velocity.0.bias",
        "optimizer.velocity.1.weight", "optimizer.velocity.1.bias",
        "training.active", "history.loss", "history.diverged_epoch",
    }
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["optimizer"]["config"]["name"] == "sgd"
    assert meta["optimizer"]["state"] == {"optimizer.step": 8}
    assert meta["training"]["epoch"] == 2
    assert meta["training"]["shuffle_rngs"][0]["bit_generator"] == "PCG64"
    assert meta["digest"].startswith("sha256:")


# ---------------------------------------------------------------- version policy


def _rewrite(path, edit) -> None:
    """Rewrite a file's metadata with ``edit(meta, tensors)``, re-signing the digest."""
    from safetensors.numpy import load as st_load
    from safetensors.numpy import save as st_save

    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(json.loads(blob[8:8 + n])["__metadata__"]["mlplab"])
    tensors = st_load(blob)
    edit(meta, tensors)
    meta["digest"] = digest(meta, tensors)
    path.write_bytes(st_save(tensors, metadata={"mlplab": canonical_json(meta)}))


def test_version_1_file_is_migrated(tmp_path):
    config = MLPConfig((3, 2, 1))
    params = init_params(config, [4])
    path = tmp_path / "v1.safetensors"
    save(path, config, loss="sse", params=params, seeds=[4])

    def to_v1(meta, tensors):
        for key in ("optimizer", "training", "history", "callbacks", "scaler",
                    "classes", "info"):
            del meta[key]
        meta["format_version"] = 1

    _rewrite(path, to_v1)
    loaded = load(path)
    assert loaded.seeds == (4,)
    assert loaded.state is None
    assert loaded.optimizer is None
    np.testing.assert_array_equal(loaded.params[0].w, params[0].w)


def test_newer_version_is_refused_naming_both(tmp_path):
    config = MLPConfig((3, 1))
    path = save(tmp_path / "m.safetensors", config, loss="sse",
                params=init_params(config, [0]))
    _rewrite(path, lambda meta, t: meta.update(format_version=FORMAT_VERSION + 1))
    newer = FORMAT_VERSION + 1
    pattern = rf"format_version: .*version {newer}.*up to {FORMAT_VERSION}"
    with pytest.raises(ValueError, match=pattern):
        load(path)


def test_digest_catches_a_changed_weight(tmp_path):
    config = MLPConfig((3, 1))
    path = save(tmp_path / "m.safetensors", config, loss="sse",
                params=init_params(config, [0]))
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"^digest: "):
        load(path)


def test_oversized_metadata_is_refused(tmp_path):
    config = MLPConfig((3, 1))
    path = save(tmp_path / "m.safetensors", config, loss="sse",
                params=init_params(config, [0]))
    big = "x" * (serialization.MAX_METADATA_BYTES + 1)
    with pytest.raises(ValueError, match=r"^metadata must be at most"):
        save(path, config, loss="sse", params=init_params(config, [0]), info={"a": big})
    _rewrite(path, lambda meta, t: meta["info"].update(a=big))
    with pytest.raises(ValueError, match=r"^metadata: must be at most"):
        load(path)


def test_save_refuses_what_load_would_refuse(tmp_path):
    config = MLPConfig((3, 1))
    params = init_params(config, [0])
    params[0].w[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"array 'layers.0.weight': must contain only"):
        save(tmp_path / "m.safetensors", config, loss="sse", params=params)
    assert not (tmp_path / "m.safetensors").exists()
    with pytest.raises(ValueError, match="unknown loss"):
        save(tmp_path / "m.safetensors", config, loss="hinge", params=params)


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read model file"):
        load(tmp_path / "nope.safetensors")


# ---------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_interrupted_save_leaves_the_old_file_loadable(tmp_path, monkeypatch, failure):
    config = MLPConfig((3, 4, 1))
    path = save(tmp_path / "m.safetensors", config, loss="sse",
                params=init_params(config, [0]))
    old = path.read_bytes()

    def half_then_fail(f, data):
        f.write(data[: len(data) // 2])
        raise failure

    monkeypatch.setattr(serialization, "_write_all", half_then_fail)
    with pytest.raises(type(failure)):
        save(path, config, loss="sse", params=init_params(config, [1]))
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
    np.testing.assert_array_equal(load(path).params[0].w, init_params(config, [0])[0].w)


def test_resume_with_checkpoint_state_equals_fit_history_continuation():
    # fit(history=...) returns the whole run's history, not only this call's.
    case = cases()[0]
    config, x, y = data(case)
    opt = SGD(learning_rate=0.1)
    first = fit(config, x, y, loss="mse", optimizer=opt, n_epochs=2)
    rest = fit(config, x, y, loss="mse", optimizer=opt, n_epochs=3, state=first.state,
               history=first.history)
    assert rest.history.n_epochs == 5
    np.testing.assert_array_equal(rest.history.loss[:2], first.history.loss)
