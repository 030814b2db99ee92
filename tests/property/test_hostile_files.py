"""Hostile model files: every malformed input is a ValueError naming the field.

Each test feeds ``load`` a family of damaged files built from one valid file:
truncations, changed bytes, arrays with the wrong shape or dtype, missing or
extra arrays, NaN weights (re-signed so that they get past the digest),
unknown names, fuzzed metadata values, non-JSON or oversized metadata and
absurd header lengths. ``load`` must raise ``ValueError`` with a message of the
form ``<field>: ...`` and nothing else; the per-test deadline catches hangs.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from mlplab._checkfile import MAX_METADATA_BYTES, canonical_json
from mlplab.callbacks import EarlyStopping
from mlplab.optimizers import Adam
from mlplab.schedules import ExponentialDecay
from mlplab.serialization import Scaling, digest, load
from mlplab.transforms import chain, clip_by_value
from tests.checkpoint_cases import Case, data, train

FIELD = re.compile(
    r"^(file|header|metadata|digest|format_version|format|library_version|loss"
    r"|n_members|seeds|network|optimizer|training|history|callbacks|scaler|classes"
    r"|info|array (?:'[^']*'|\"[^\"]*\"))[\w.\[\]]*: "
)
HOSTILE = settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow]
)
pytestmark = pytest.mark.slow
_FOLDER = Path(tempfile.mkdtemp(prefix="mlplab-hostile-"))


@functools.cache
def base() -> bytes:
    """A valid file with every section: state, history, callbacks, scaler, labels."""
    from mlplab.serialization import save

    optimizer = chain(clip_by_value(1.0), Adam(ExponentialDecay(0.1, 0.5)))
    case = Case(
        "hostile",
        optimizer,
        4,
        (0, 1, 2),
        callbacks=lambda: [EarlyStopping(patience=5, restore_best=False)],
    )
    run = train(case, 2)
    config, _, _ = data(case)
    path = save(
        _FOLDER / "base.safetensors",
        config,
        loss=case.loss,
        state=run.state,
        optimizer=optimizer,
        history=run.history,
        seeds=case.seeds,
        callbacks=run.callbacks,
        scaler=Scaling(np.zeros(3), np.ones(3)),
        classes=[0, 1],
        info={"source": "t"},
    )
    return path.read_bytes()


def parts() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    blob = base()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(json.loads(blob[8 : 8 + n])["__metadata__"]["mlplab"])
    return meta, {k: np.array(v) for k, v in st_load(blob).items()}


def signed(meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> bytes:
    """Frame ``meta`` and ``tensors`` as mlplab does, with a matching digest."""
    meta = dict(meta)
    meta["digest"] = digest(meta, tensors)
    return st_save(tensors, metadata={"mlplab": canonical_json(meta)})


def framed(text: str, tensors: dict[str, np.ndarray] | None = None) -> bytes:
    return st_save(
        tensors if tensors is not None else parts()[1], metadata={"mlplab": text}
    )


def outcome(blob: bytes, may_load: bool = False) -> str:
    """Load ``blob``; it must raise a field-naming ValueError (or load, if allowed)."""
    path = _FOLDER / "hostile.safetensors"
    path.write_bytes(blob)
    message = None
    try:
        load(path)
    except ValueError as e:
        message = str(e)
    except BaseException as e:  # any other type is a bug
        pytest.fail(f"{type(e).__name__} instead of ValueError: {e}")
    if message is None:
        assert may_load, "a damaged file loaded"
        return "loaded"
    assert FIELD.match(message), f"message does not name a field: {message}"
    return "refused"


def test_the_base_file_loads():
    assert outcome(base(), may_load=True) == "loaded"


@HOSTILE
@given(st.data())
def test_truncated_files(data_):
    blob = base()
    outcome(blob[: data_.draw(st.integers(0, len(blob) - 1))])


@HOSTILE
@given(st.data(), st.integers(1, 255))
def test_any_changed_byte_is_refused(data_, mask):
    blob = bytearray(base())
    position = data_.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= mask
    outcome(bytes(blob))


@HOSTILE
@given(st.data())
def test_wrong_shapes_dtypes_missing_extra_and_nan(data_):
    meta, tensors = parts()
    name = data_.draw(st.sampled_from(sorted(tensors)))
    kind = data_.draw(st.sampled_from(["shape", "dtype", "missing", "extra", "nan"]))
    a = tensors[name]
    if kind == "shape":
        extra_axis = data_.draw(st.integers(0, a.ndim))
        tensors[name] = np.expand_dims(a, extra_axis).repeat(2, axis=extra_axis)
    elif kind == "dtype":
        new = data_.draw(
            st.sampled_from(
                [
                    t
                    for t in (np.float32, np.float64, np.int64, np.bool_)
                    if t != a.dtype
                ]
            )
        )
        tensors[name] = a.astype(new)
    elif kind == "missing":
        del tensors[name]
    elif kind == "extra":
        tensors[
            data_.draw(
                st.sampled_from(
                    [
                        f"{name}.x",
                        "layers.9.weight",
                        "optimizer.velocity.9.weight",
                        "callbacks.0.other",
                        "extra",
                    ]
                )
            )
        ] = a
    else:
        free = name.startswith("history.") or (
            name.startswith("callbacks.") and ".best_params." not in name
        )
        if a.dtype.kind != "f" or a.size == 0 or free:
            return  # NaN is a legal loss, and a callback's "no best value yet"
        a = a.copy()
        a.flat[data_.draw(st.integers(0, a.size - 1))] = data_.draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
        tensors[name] = a
    outcome(signed(meta, tensors))


NAME_FIELDS = [
    ("loss",),
    ("network", "activation"),
    ("network", "output_activation"),
    ("network", "init"),
    ("network", "dtype"),
    ("optimizer", "config", "name"),
    ("optimizer", "config", "transforms", 1, "name"),
    ("optimizer", "config", "transforms", 1, "learning_rate", "name"),
    ("callbacks", 0, "name"),
    ("callbacks", 0, "config", "monitor"),
    ("scaler", "name"),
    ("training", "shuffle_rngs", 0, "bit_generator"),
    ("format",),
]


@HOSTILE
@given(
    st.sampled_from(NAME_FIELDS),
    st.text(min_size=0, max_size=30)
    | st.sampled_from(
        [
            "__import__('os')",
            "os.system",
            "pickle",
            "numpy.load",
            "Adam ",
            "PCG65",
            "SGD.__class__",
            "float16",
            "uniform:a,b",
            "glorot_uniform ",
        ]
    ),
)
def test_unknown_names_are_refused(path, name):
    meta, tensors = parts()
    target = meta
    for key in path[:-1]:
        target = target[key]
    if target[path[-1]] == name:
        return
    target[path[-1]] = name
    outcome(signed(meta, tensors))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@HOSTILE
@given(st.data(), JSON)
def test_fuzzed_metadata_values_load_or_are_refused(data_, value):
    meta, tensors = parts()
    paths = [p for p in _paths(meta) if p != ("digest",)]
    path = data_.draw(st.sampled_from(paths))
    target = meta
    for key in path[:-1]:
        target = target[key]
    action = data_.draw(st.sampled_from(["replace", "delete", "add"]))
    added = action == "add" and isinstance(target, dict)
    if action == "delete" and isinstance(target, dict):
        del target[path[-1]]
    elif added:
        target[f"{path[-1]}_extra"] = value
    else:
        target[path[-1]] = value
    # Some replacements are valid (a new seed, another note): those may load.
    # An unknown key is never valid, except in the free-form "info".
    outcome(signed(meta, tensors), may_load=not added or path[0] == "info")


@HOSTILE
@given(
    st.text(max_size=200)
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    | JSON.map(json.dumps)
)
def test_non_json_or_non_object_metadata(text):
    if text.startswith("{"):
        return  # covered by the fuzzing above
    outcome(framed(text))


@HOSTILE
@given(st.integers(0, 2**64 - 1))
def test_absurd_header_lengths(n):
    blob = base()
    if n == int.from_bytes(blob[:8], "little"):
        return
    outcome(n.to_bytes(8, "little") + blob[8:])


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json(depth):
    outcome(framed("[" * depth + "]" * depth))
    meta, tensors = parts()
    meta["info"] = {"x": json.loads("[" * 50 + "]" * 50)}
    nested = canonical_json(meta).replace('"x":[', '"x":' + "[" * depth, 1)
    nested = nested.replace("]", "]" * depth, 1)
    outcome(framed(nested, tensors))


def test_oversized_metadata():
    meta, tensors = parts()
    meta["info"] = {"pad": "x" * MAX_METADATA_BYTES}
    outcome(signed(meta, tensors))


def test_other_safetensors_files_are_refused():
    outcome(st_save({"w": np.ones(3)}))
    outcome(st_save({"w": np.ones(3)}, metadata={"format": "pt"}))
    outcome(st_save({"w": np.ones(3, np.float16)}, metadata={"mlplab": "{}"}))
