"""Encode and decode the pieces of a model file: configs, states, callbacks.

Every ``decode_*`` takes JSON that passed the framing checks of ``_checkfile``
and the file's arrays (a ``Tensors`` pool) and returns the rebuilt object, or
raises ``ValueError`` naming the field. Names are resolved through our
registries only; the layout of every state comes from a template the code
builds itself (``optimizer.init(params)``, a fresh callback), never from the
file.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._checkfile import require, require_int, require_keys
from ._types import Array
from .network import Dense, MLPConfig, Params, param_arrays, param_names
from .training import History, TrainState

__all__ = [
    "Tensors",
    "callback_registry",
    "decode_callback",
    "decode_history",
    "decode_optimizer",
    "decode_params",
    "decode_training",
    "encode_callback",
    "encode_optimizer",
    "json_dict",
    "json_list",
    "walk",
]

# The history metrics a saved callback may watch (what ``fit`` records).
MONITORED = ("loss", "accuracy", "val_loss", "val_accuracy")
BIT_GENERATORS: dict[str, Any] = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def callback_registry() -> dict[str, Any]:
    """Return the saveable callbacks, name -> class."""
    from .callbacks import EarlyStopping, ReduceLROnPlateau

    return {"early_stopping": EarlyStopping, "reduce_lr_on_plateau": ReduceLROnPlateau}


def _transforms() -> dict[str, Any]:
    from .transforms import TRANSFORMS

    return dict(TRANSFORMS)


def _schedules() -> dict[str, Any]:
    from .schedules import SCHEDULES

    return dict(SCHEDULES)


class Tensors:
    """The file's arrays, handed out once each by expected name, shape and dtype."""

    def __init__(self, tensors: Mapping[str, Array]) -> None:
        self.left = dict(tensors)

    def take(
        self, name: str, shape: tuple[int, ...] | None, dtype: Any, finite: bool = True
    ) -> NDArray[Any]:
        """Remove and return array ``name`` after checking it (``shape`` None: any)."""
        require(name in self.left, f"array {name!r}", "missing from the file")
        a = self.left.pop(name)
        if shape is not None:
            require(
                a.shape == tuple(shape),
                f"array {name!r}",
                f"shape must be {tuple(shape)}; got {a.shape}",
            )
        require(
            a.dtype == np.dtype(dtype),
            f"array {name!r}",
            f"dtype must be {np.dtype(dtype).name}; got {a.dtype.name}",
        )
        if finite and a.dtype.kind == "f":
            require(
                bool(np.all(np.isfinite(a))),
                f"array {name!r}",
                "must contain only finite values; got NaN or inf",
            )
        # A fresh, aligned, writable copy: resumed runs compute exactly as before.
        return np.array(a, copy=True)

    def done(self) -> None:
        """Refuse arrays nobody asked for."""
        if self.left:
            raise ValueError(f"array {sorted(self.left)[0]!r}: unexpected in this file")


def json_dict(value: Any, field: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object."""
    require(
        isinstance(value, dict), field, f"must be a JSON object; got {_kind(value)}"
    )
    return value  # type: ignore[no-any-return]


def json_list(value: Any, field: str) -> list[Any]:
    """Return ``value`` if it is a JSON list."""
    require(isinstance(value, list), field, f"must be a JSON list; got {_kind(value)}")
    return value  # type: ignore[no-any-return]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------- params


def decode_params(
    config: MLPConfig,
    k: int,
    tensors: Tensors,
    prefix: str = "layers",
    finite: bool = True,
) -> Params:
    """Weights ``(k, n_in, n_out)`` and biases ``(k, n_out)`` named ``prefix.i.*``."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(config.layer_sizes)):
        w = tensors.take(
            f"{prefix}.{i}.weight", (k, n_in, n_out), config.np_dtype, finite
        )
        b = (
            tensors.take(f"{prefix}.{i}.bias", (k, n_out), config.np_dtype, finite)
            if config.use_bias
            else None
        )
        layers.append(Dense(w, b))
    return tuple(layers)


def encode_params(params: Params, prefix: str, tensors: dict[str, Array]) -> None:
    """Put ``params`` into ``tensors`` as ``prefix.i.weight`` / ``prefix.i.bias``."""
    for name, a in zip(param_names(params), param_arrays(params), strict=True):
        tensors[prefix + name.removeprefix("layers")] = a


# ---------------------------------------------------------------- optimizers


def encode_optimizer(optimizer: Any) -> dict[str, Any]:
    """Return the optimizer's registered JSON config (``optimizer_config``)."""
    from .transforms import optimizer_config

    try:
        return optimizer_config(optimizer)
    except TypeError as e:
        raise ValueError(f"optimizer: cannot be saved ({e})") from None


def check_config(value: Any, field: str, registry: Mapping[str, Any]) -> None:
    """Check a JSON config against its registered dataclass, recursively."""
    entry = json_dict(value, field)
    name = entry.get("name")
    require(
        isinstance(name, str) and name in registry,
        f"{field}.name",
        f"must be one of {', '.join(sorted(registry))}; got {name!r}",
    )
    fields = dataclasses.fields(registry[str(name)])
    require_keys(entry, ["name", *(f.name for f in fields)], field)
    check_fields(fields, entry, field, chain=name == "chain")


def check_fields(
    fields: Sequence[Any], entry: Mapping[str, Any], field: str, chain: bool = False
) -> None:
    """Each value must have its dataclass field default's JSON type."""
    for f in fields:
        item, where = entry[f.name], f"{field}.{f.name}"
        if chain and f.name == "transforms":
            for i, part in enumerate(json_list(item, where)):
                check_config(part, f"{where}[{i}]", _transforms())
        elif isinstance(item, dict):
            check_config(item, where, _schedules())
        elif isinstance(item, list):
            require(
                all(_is_number(v) for v in item), where, "must be a list of numbers"
            )
        elif isinstance(f.default, bool):
            require(
                isinstance(item, bool), where, f"must be true or false; got {item!r}"
            )
        elif isinstance(f.default, str):
            require(isinstance(item, str), where, f"must be a string; got {item!r}")
        elif _is_number(f.default):
            require(_is_number(item), where, f"must be a number; got {item!r}")


def decode_optimizer(value: Any, params: Params, tensors: Tensors) -> tuple[Any, Any]:
    """Return ``(optimizer, optimizer state or None)`` from ``{"config", "state"}``."""
    if value is None:
        return None, None
    entry = require_keys(
        json_dict(value, "optimizer"), ("config", "state"), "optimizer"
    )
    check_config(entry["config"], "optimizer.config", _transforms())
    from .transforms import optimizer_from_config

    try:
        optimizer = optimizer_from_config(entry["config"])
    except Exception as e:  # a registered constructor's own validation message
        raise ValueError(f"optimizer.config: {e}") from None
    if entry["state"] is None:
        return optimizer, None
    scalars = json_dict(entry["state"], "optimizer.state")
    template = optimizer.init(param_arrays(params))
    return optimizer, _fill(template, "optimizer", params, scalars, tensors)


def _fill(
    template: Any,
    prefix: str,
    params: Params,
    scalars: dict[str, Any],
    tensors: Tensors,
) -> Any:
    """Refill a state template: arrays from ``tensors``, the rest from ``scalars``."""
    short = _short(param_names(params))
    leaves, seen = [], set()
    for path, leaf in walk(template, prefix, short):
        if isinstance(leaf, np.ndarray):
            leaves.append(tensors.take(path, leaf.shape, leaf.dtype))
            continue
        require(path in scalars, f"{prefix}.state.{path}", "is missing")
        leaves.append(_like_scalar(leaf, scalars[path], f"{prefix}.state.{path}"))
        seen.add(path)
    extra = sorted(set(scalars) - seen)
    require(not extra, f"{prefix}.state.{extra[0] if extra else ''}", "is not expected")
    return _rebuild(template, iter(leaves))


def encode_state(
    state: Any, prefix: str, params: Params, tensors: dict[str, Array]
) -> dict[str, Any]:
    """Put a state's arrays into ``tensors``; return its other leaves by path."""
    scalars: dict[str, Any] = {}
    for path, leaf in walk(state, prefix, _short(param_names(params))):
        if isinstance(leaf, np.ndarray):
            tensors[path] = leaf
        else:
            scalars[path] = leaf.item() if isinstance(leaf, np.generic) else leaf
    return scalars


def _short(names: Sequence[str]) -> tuple[str, ...]:
    """``layers.0.weight`` -> ``0.weight`` (names of per-parameter state)."""
    return tuple(n.removeprefix("layers.") for n in names)


def walk(value: Any, path: str, short: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """Leaves of a state: NamedTuple fields, per-parameter arrays, other tuples."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        for field, item in zip(value._fields, value, strict=True):
            yield from walk(item, f"{path}.{field}", short)
    elif isinstance(value, tuple):
        per_param = len(value) == len(short) and all(
            isinstance(v, np.ndarray) for v in value
        )
        keys = short if per_param else [str(i) for i in range(len(value))]
        for key, item in zip(keys, value, strict=True):
            yield from walk(item, f"{path}.{key}", short)
    else:
        yield path, value


def _like_scalar(template: Any, value: Any, field: str) -> Any:
    """Return a state scalar with the template's type (int, float, bool, None)."""
    if template is None:
        require(value is None, field, f"must be null; got {value!r}")
        return None
    if isinstance(template, (bool, np.bool_)):
        require(isinstance(value, bool), field, f"must be true or false; got {value!r}")
    elif isinstance(template, (int, np.integer)):
        require_int(value, field, low=0)
    elif isinstance(template, (float, np.floating)):
        require(_is_number(value), field, f"must be a number; got {value!r}")
    else:
        raise ValueError(f"{field}: cannot restore a {type(template).__name__}")
    return type(template)(value)


def _rebuild(template: Any, leaves: Iterator[Any]) -> Any:
    """Refill ``template``'s structure with ``leaves`` in ``walk`` order."""
    if isinstance(template, tuple):
        items = [_rebuild(t, leaves) for t in template]
        return type(template)(*items) if hasattr(template, "_fields") else tuple(items)
    return next(leaves)


# ---------------------------------------------------------------- training state


def encode_training(state: TrainState) -> dict[str, Any]:
    """Return the JSON part of a training state (the active mask is an array)."""
    return {
        "epoch": int(state.epoch),
        "shuffle_rngs": [g.bit_generator.state for g in state.shuffle_rngs],
    }


def decode_training(
    value: Any, params: Params, opt_state: Any, k: int, tensors: Tensors
) -> TrainState | None:
    """Rebuild the ``TrainState`` (epoch, generators, active mask ``(k,)``)."""
    if value is None:
        return None
    entry = require_keys(
        json_dict(value, "training"), ("epoch", "shuffle_rngs"), "training"
    )
    require(opt_state is not None, "optimizer.state", "is needed to resume training")
    epoch = require_int(entry["epoch"], "training.epoch", low=0)
    states = json_list(entry["shuffle_rngs"], "training.shuffle_rngs")
    require(
        len(states) == k,
        "training.shuffle_rngs",
        f"must have {k} entries; got {len(states)}",
    )
    rngs = tuple(
        _generator(s, f"training.shuffle_rngs[{i}]") for i, s in enumerate(states)
    )
    active = tensors.take("training.active", (k,), np.bool_)
    return TrainState(params, opt_state, active, epoch, rngs)


def _generator(state: Any, field: str) -> np.random.Generator:
    """Rebuild a generator from its ``bit_generator.state`` via our registry."""
    entry = json_dict(state, field)
    name = entry.get("bit_generator")
    require(
        isinstance(name, str) and name in BIT_GENERATORS,
        f"{field}.bit_generator",
        f"must be one of {', '.join(sorted(BIT_GENERATORS))}; got {name!r}",
    )
    bit_generator = BIT_GENERATORS[str(name)]()
    # NumPy ignores keys it does not know; a model file may hold none.
    _same_keys(entry, bit_generator.state, field)
    try:
        bit_generator.state = entry
    except Exception as e:  # NumPy's own checks of the state dict
        raise ValueError(f"{field}: not a valid {name} state ({e})"[:300]) from None
    return np.random.Generator(bit_generator)


def _same_keys(entry: Any, template: dict[str, Any], field: str) -> None:
    """Check that ``entry`` has exactly the keys of ``template``, nested dicts too."""
    entry = require_keys(json_dict(entry, field), template, field)
    for key, value in template.items():
        if isinstance(value, dict):
            _same_keys(entry[key], value, f"{field}.{key}")


# ---------------------------------------------------------------- history


def decode_history(
    value: Any, config: MLPConfig, k: int, tensors: Tensors
) -> History | None:
    """Rebuild a ``History``: ``history.<metric>`` ``(n_epochs, k)`` each."""
    if value is None:
        return None
    entry = require_keys(
        json_dict(value, "history"), ("metrics", "n_epochs"), "history"
    )
    n = require_int(entry["n_epochs"], "history.n_epochs", low=0)
    names = json_list(entry["metrics"], "history.metrics")
    for name in names:
        require(
            isinstance(name, str) and name.isidentifier(),
            "history.metrics",
            f"names must be identifiers; got {name!r}",
        )
    require("loss" in names, "history.metrics", "must include 'loss'")
    require(len(set(names)) == len(names), "history.metrics", "has duplicates")
    metrics = {}
    for name in names:
        dtype = config.np_dtype
        found = tensors.left.get(f"history.{name}")
        if name == "learning_rate" and found is not None and found.dtype == np.float64:
            dtype = np.float64  # recorded in float64 once a callback changes it
        # Losses of diverged members and unrun epochs are NaN by design.
        metrics[name] = tensors.take(f"history.{name}", (n, k), dtype, finite=False)
    diverged = tensors.take("history.diverged_epoch", (k,), np.int64)
    return History(metrics, diverged)


# ---------------------------------------------------------------- callbacks


def encode_callback(
    callback: Any, prefix: str, params: Params, tensors: dict[str, Array]
) -> dict[str, Any]:
    """Encode a callback: config (init fields) and state (the other fields)."""
    registry = callback_registry()
    names = {cls: name for name, cls in registry.items()}
    require(
        type(callback) in names,
        prefix,
        f"{type(callback).__name__} is not a saveable callback; expected one of "
        f"{', '.join(sorted(registry))}",
    )
    config, state = {}, {}
    for f in dataclasses.fields(callback):
        value = getattr(callback, f.name)
        if f.init:
            config[f.name] = value
            continue
        key = f.name.lstrip("_")
        if isinstance(value, np.ndarray):
            tensors[f"{prefix}.{key}"] = value
            state[key] = "array"
        elif isinstance(value, tuple) and value and isinstance(value[0], Dense):
            encode_params(value, f"{prefix}.{key}", tensors)
            state[key] = "params"
        else:
            state[key] = value.item() if isinstance(value, np.generic) else value
    return {"name": names[type(callback)], "config": config, "state": state}


def decode_callback(
    value: Any, prefix: str, config: MLPConfig, k: int, tensors: Tensors
) -> Any:
    """Rebuild a registered callback with its per-member state."""
    entry = require_keys(json_dict(value, prefix), ("name", "config", "state"), prefix)
    registry = callback_registry()
    name = entry["name"]
    require(
        isinstance(name, str) and name in registry,
        f"{prefix}.name",
        f"must be one of {', '.join(sorted(registry))}; got {name!r}",
    )
    cls = registry[name]
    fields = dataclasses.fields(cls)
    shown = [f for f in fields if f.init]
    kwargs = require_keys(
        json_dict(entry["config"], f"{prefix}.config"),
        [f.name for f in shown],
        f"{prefix}.config",
    )
    check_fields(shown, kwargs, f"{prefix}.config")
    if "monitor" in kwargs:
        require(
            kwargs["monitor"] in MONITORED,
            f"{prefix}.config.monitor",
            f"must be one of {', '.join(MONITORED)}; got {kwargs['monitor']!r}",
        )
    try:
        callback = cls(**kwargs)
    except Exception as e:  # the callback's own validation message
        raise ValueError(f"{prefix}.config: {e}") from None
    hidden = [f for f in fields if not f.init]
    state = require_keys(
        json_dict(entry["state"], f"{prefix}.state"),
        [f.name.lstrip("_") for f in hidden],
        f"{prefix}.state",
    )
    for f in hidden:
        key = f.name.lstrip("_")
        object.__setattr__(
            callback,
            f.name,
            _callback_field(
                getattr(callback, f.name),
                state[key],
                f"{prefix}.{key}",
                config,
                k,
                tensors,
            ),
        )
    return callback


def _callback_field(
    template: Any, kind: Any, name: str, config: MLPConfig, k: int, tensors: Tensors
) -> Any:
    """One state field: a ``(k,)`` array (or empty before the first epoch), params."""
    if isinstance(template, np.ndarray):
        require(kind == "array", name, f"must be 'array'; got {kind!r}")
        a = tensors.take(name, None, template.dtype, finite=False)
        require(
            a.shape in ((0,), (k,)),
            f"array {name!r}",
            f"shape must be ({k},) or (0,); got {a.shape}",
        )
        return a
    if template is None and kind == "params":
        return decode_params(config, k, tensors, prefix=name)
    require(
        kind is None or (not isinstance(kind, (dict, list)) and kind != "array"),
        name,
        f"unexpected state {kind!r}",
    )
    return kind
