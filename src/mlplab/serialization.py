"""Save and load models and training checkpoints: one ``.safetensors`` file.

A file holds every array under a stable readable name and, in the safetensors
metadata, one JSON document describing the rest (see ``save`` and the README's
"Model files" section for the full list). Nothing read from a file is ever
executed or looked up outside our own registries (``ACTIVATIONS``, ``LOSSES``,
the optimizer, schedule and bit-generator registries below): no pickle, no
``eval``, no ``getattr`` with a name from the file. Loading validates the whole
file before anything is built from it, and every violation is a ``ValueError``
that names the offending field. Writes are atomic: a temporary file in the same
folder, flushed and fsynced, then renamed over the target.

This module owns the format and its meaning; the framing checks (safetensors
header, JSON well-formedness and size limits) live in ``_checkfile``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._checkfile import (
    MAX_METADATA_BYTES,
    canonical_json,
    parse_file,
    require,
    require_int,
    require_keys,
)
from ._types import Array
from ._validation import lookup
from .losses import LOSSES
from .network import Dense, MLPConfig, Params, param_arrays, param_names
from .training import History, TrainState

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "atomic_write",
    "digest",
    "load",
    "save",
    "save_checkpoint",
]

FORMAT_VERSION = 2
# Version 1 files hold a trained model only: ``layers.*`` arrays and the keys
# format, format_version, library_version, network, loss, n_members, seeds,
# digest. They are migrated on load by ``_migrate_v1``.
_MIGRATIONS = {1: "_migrate_v1"}
_TOP_KEYS = (
    "format",
    "format_version",
    "library_version",
    "network",
    "loss",
    "n_members",
    "seeds",
    "optimizer",
    "training",
    "history",
    "callbacks",
    "scaler",
    "classes",
    "info",
    "digest",
)
_BIT_GENERATORS: dict[str, Any] = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def _optimizers() -> dict[str, Any]:
    """Return the optimizer registry (``optimizers.OPTIMIZERS``), name -> class."""
    from . import optimizers

    return dict(getattr(optimizers, "OPTIMIZERS", {"SGD": optimizers.SGD}))


def _schedules() -> dict[str, Any]:
    """Return the schedule registry (``schedules.SCHEDULES``), name -> class."""
    from . import schedules

    return dict(getattr(schedules, "SCHEDULES", {"Constant": schedules.Constant}))


@dataclasses.dataclass(frozen=True, eq=False)
class Checkpoint:
    """Everything a model file holds; what ``load`` returns.

    Parameters
    ----------
    config : MLPConfig
        The network architecture.
    loss : str
        A name in ``LOSSES``.
    params : tuple of Dense
        Weights ``(n_members, n_in, n_out)`` and biases ``(n_members, n_out)``.
    seeds : tuple of int or None
        One seed per member, when known.
    optimizer : optimizer or None
        The optimizer (its config), e.g. ``SGD(...)``.
    state : TrainState or None
        The training state to resume from (params, optimizer state, active
        mask ``(n_members,)``, epoch and shuffling generators).
    history : History or None
        The metrics of the epochs run so far, each ``(n_epochs, n_members)``.
    callbacks : tuple of dict
        Saved callback states: ``{"name", "values", "arrays"}``.
    scaler : dict or None
        Saved input scaling: ``{"name", "values", "arrays"}``.
    classes : tuple or None
        Class labels of a classifier, in output order.
    info : dict
        Free-form JSON-able notes (the CLI keeps its data source here).
    library_version : str
        The mlplab version that wrote the file.
    """

    config: MLPConfig
    loss: str
    params: Params
    seeds: tuple[int, ...] | None = None
    optimizer: Any = None
    state: TrainState | None = None
    history: History | None = None
    callbacks: tuple[dict[str, Any], ...] = ()
    scaler: dict[str, Any] | None = None
    classes: tuple[Any, ...] | None = None
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    library_version: str = __version__

    @property
    def n_members(self) -> int:
        """K, the number of members."""
        return int(self.params[0].w.shape[0])


# ---------------------------------------------------------------- save


def save(
    path: str | os.PathLike[str],
    config: MLPConfig,
    *,
    loss: str,
    params: Params | None = None,
    state: TrainState | None = None,
    optimizer: Any = None,
    history: History | None = None,
    seeds: Sequence[int] | None = None,
    callbacks: Sequence[Mapping[str, Any]] = (),
    scaler: Mapping[str, Any] | None = None,
    classes: Sequence[Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model (``params``) or a resumable run (``state``) to one file.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file to write (replaced atomically).
    config : MLPConfig
        The architecture.
    loss : str
        The loss name.
    params : tuple of Dense, optional
        The weights; taken from ``state`` when a state is given instead.
    state : TrainState, optional
        A run to resume exactly; needs ``optimizer``.
    optimizer : optimizer, optional
        A registered optimizer (a frozen dataclass).
    history : History, optional
        Metrics so far, each ``(n_epochs, n_members)``.
    seeds : sequence of int, optional
        One seed per member.
    callbacks : sequence of dict, optional
        Callback states ``{"name": str, "values": JSON dict, "arrays": {key: array}}``.
    scaler : dict, optional
        Input scaling, same form as a callback state.
    classes : sequence, optional
        Class labels (str, int, float or bool) in output order.
    info : dict, optional
        Free-form JSON-able notes.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        If the pieces do not fit together (shapes, member counts, names).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mlplab.network import init_params
    >>> cfg = MLPConfig((2, 3, 1))
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = folder / "m.safetensors"
    >>> _ = save(path, cfg, loss="mse", params=init_params(cfg, [0]))
    >>> load(path).params[0].w.shape
    (1, 2, 3)
    """
    if (params is None) == (state is None):
        raise ValueError("save needs exactly one of params (a model) or state (a run)")
    if state is not None and optimizer is None:
        raise ValueError("saving a training state needs its optimizer")
    checkpoint = Checkpoint(
        config=config,
        loss=loss,
        params=state.params if state is not None else params,  # type: ignore[arg-type]
        seeds=None if seeds is None else tuple(int(s) for s in seeds),
        optimizer=optimizer,
        state=state,
        history=history,
        callbacks=tuple(dict(c) for c in callbacks),
        scaler=None if scaler is None else dict(scaler),
        classes=None if classes is None else tuple(classes),
        info=dict(info or {}),
    )
    return save_checkpoint(path, checkpoint)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; see ``save``."""
    lookup(LOSSES, "loss", checkpoint.loss)
    meta, tensors = _encode(checkpoint)
    meta["digest"] = digest(meta, tensors)
    # Never write a file that load would refuse (wrong dtypes, NaN weights, ...).
    _decode(json.loads(canonical_json(meta)), tensors)
    text = canonical_json(meta)
    size = len(text.encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata must be at most {MAX_METADATA_BYTES} bytes; got {size}"
        )
    from safetensors.numpy import save as st_save

    data = st_save(tensors, metadata={"mlplab": text})
    return atomic_write(Path(path), data)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename over it.

    On any failure (including Ctrl-C) the temporary file is removed and an
    existing ``path`` is left untouched.
    """
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return path


def _write_all(f: Any, data: bytes) -> None:
    """Write ``data`` in chunks (a seam where tests inject a failure)."""
    view = memoryview(data)
    for start in range(0, len(view), 1 << 20):
        f.write(view[start : start + (1 << 20)])


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def digest(meta: Mapping[str, Any], tensors: Mapping[str, Array]) -> str:
    """SHA-256 over the metadata (without ``digest``) and every array's bytes.

    Arrays enter sorted by name, each as its name, dtype, shape and
    little-endian C-order bytes, so the digest does not depend on the
    file's layout.
    """
    h = hashlib.sha256()
    h.update(canonical_json({k: v for k, v in meta.items() if k != "digest"}).encode())
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"\n{name}:{a.dtype.str}:{list(a.shape)}\n".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def _encode(c: Checkpoint) -> tuple[dict[str, Any], dict[str, Array]]:
    """Split a checkpoint into the JSON document (minus digest) and named arrays."""
    names = param_names(c.params)
    tensors = dict(zip(names, param_arrays(c.params), strict=True))
    k = c.n_members
    meta: dict[str, Any] = {
        "format": "mlplab",
        "format_version": FORMAT_VERSION,
        "library_version": c.library_version,
        "network": _config_dict(c.config),
        "loss": c.loss,
        "n_members": k,
        "seeds": None if c.seeds is None else list(c.seeds),
        "optimizer": None,
        "training": None,
        "history": None,
        "callbacks": [],
        "scaler": None,
        "classes": None if c.classes is None else [_label(v) for v in c.classes],
        "info": json.loads(canonical_json(dict(c.info))),
    }
    if c.seeds is not None and len(c.seeds) != k:
        raise ValueError(
            f"seeds must have {k} entries (one per member); got {len(c.seeds)}"
        )
    if c.optimizer is not None:
        meta["optimizer"] = {
            "name": _registered_name(c.optimizer, _optimizers(), "optimizer"),
            "config": _encode_fields(c.optimizer),
            "state": None,
        }
    if c.state is not None:
        scalars: dict[str, Any] = {}
        for path, leaf in _walk(c.state.opt_state, "optimizer", _short(names)):
            if isinstance(leaf, np.ndarray):
                tensors[path] = leaf
            else:
                scalars[path] = leaf.item() if isinstance(leaf, np.generic) else leaf
        meta["optimizer"]["state"] = scalars
        meta["training"] = {
            "epoch": int(c.state.epoch),
            "shuffle_rngs": [g.bit_generator.state for g in c.state.shuffle_rngs],
        }
        tensors["training.active"] = np.asarray(c.state.active, np.bool_)
    if c.history is not None:
        meta["history"] = {
            "metrics": list(c.history.metrics),
            "n_epochs": c.history.n_epochs,
        }
        for name, values in c.history.metrics.items():
            tensors[f"history.{name}"] = np.asarray(values)
        tensors["history.diverged_epoch"] = np.asarray(
            c.history.diverged_epoch, np.int64
        )
    for i, cb in enumerate(c.callbacks):
        meta["callbacks"].append(_encode_component(cb, f"callbacks.{i}", tensors))
    if c.scaler is not None:
        meta["scaler"] = _encode_component(c.scaler, "scaler", tensors)
    return meta, {n: np.ascontiguousarray(a) for n, a in tensors.items()}


def _encode_component(
    comp: Mapping[str, Any], prefix: str, tensors: dict[str, Array]
) -> dict[str, Any]:
    """Encode a callback or scaler state: JSON values in metadata, arrays as tensors."""
    arrays = dict(comp.get("arrays", {}))
    for key, value in arrays.items():
        tensors[f"{prefix}.{key}"] = np.asarray(value)
    return {
        "name": str(comp["name"]),
        "values": dict(comp.get("values", {})),
        "arrays": sorted(arrays),
    }


def _label(value: Any) -> Any:
    """Return a class label as a JSON scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"class labels must be str, int, float or bool; got {value!r}")
    return value


def _config_dict(config: MLPConfig) -> dict[str, Any]:
    out = dataclasses.asdict(config)
    out["layer_sizes"] = list(config.layer_sizes)
    return out


def _registered_name(obj: Any, registry: Mapping[str, Any], kind: str) -> str:
    """Return the registry name of ``obj``'s class (only registered classes save)."""
    name = type(obj).__name__
    if registry.get(name) is not type(obj):
        raise ValueError(
            f"{kind} {name!r} is not registered; expected one of "
            f"{', '.join(sorted(registry))}"
        )
    return name


def _encode_fields(obj: Any) -> dict[str, Any]:
    """Encode a frozen dataclass config; schedules nest as ``{"name", "config"}``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = {
                "name": _registered_name(value, _schedules(), "schedule"),
                "config": _encode_fields(value),
            }
        elif isinstance(value, tuple):
            value = [float(v) for v in value]
        elif isinstance(value, np.generic):
            value = value.item()
        elif value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(
                f"cannot save {type(obj).__name__}.{f.name} of type "
                f"{type(value).__name__}"
            )
        out[f.name] = value
    return out


def _short(names: Sequence[str]) -> tuple[str, ...]:
    """``layers.0.weight`` -> ``0.weight`` (names of per-parameter state)."""
    return tuple(n.removeprefix("layers.") for n in names)


def _walk(value: Any, path: str, short: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """Leaves of an optimizer state: NamedTuple fields and per-parameter tuples."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        for field, item in zip(value._fields, value, strict=True):
            yield from _walk(item, f"{path}.{field}", short)
    elif isinstance(value, tuple):
        keys = (
            short if len(value) == len(short) else [str(i) for i in range(len(value))]
        )
        for key, item in zip(keys, value, strict=True):
            yield from _walk(item, f"{path}.{key}", short)
    else:
        yield path, value


# ---------------------------------------------------------------- load


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a model file; return its ``Checkpoint``.

    The whole file is checked before anything is built: framing, metadata
    size and JSON, format version, digest, known names, every expected array
    present with its shape and dtype and no other, finite values.

    Raises
    ------
    ValueError
        Naming the field, for any unreadable, altered or inconsistent file,
        and for a format version newer than ``FORMAT_VERSION``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(
            f"cannot read model file {str(path)!r}: {e.strerror}"
        ) from None
    meta, tensors = parse_file(data)
    version = meta.get("format_version")
    require_int(version, "format_version", low=1)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"format_version: the file has format version {version}, but this mlplab "
            f"({__version__}) reads versions up to {FORMAT_VERSION}; upgrade mlplab"
        )
    require(isinstance(meta.get("digest"), str), "digest", "must be a string")
    if digest(meta, tensors) != meta["digest"]:
        raise ValueError(
            "digest: the file's arrays or metadata were changed "
            "(SHA-256 digest does not match)"
        )
    if version < FORMAT_VERSION:
        meta = _migrate_v1(meta)
    return _decode(meta, tensors)


def _migrate_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (a model without training state) -> version 2."""
    require_keys(
        meta,
        (
            "format",
            "format_version",
            "library_version",
            "network",
            "loss",
            "n_members",
            "seeds",
            "digest",
        ),
        "metadata",
    )
    return {
        **meta,
        "format_version": 2,
        "optimizer": None,
        "training": None,
        "history": None,
        "callbacks": [],
        "scaler": None,
        "classes": None,
        "info": {},
    }


class _Tensors:
    """The file's arrays, handed out once each by expected name, shape and dtype."""

    def __init__(self, tensors: Mapping[str, Array]) -> None:
        self.left = dict(tensors)

    def take(
        self, name: str, shape: tuple[int, ...], dtype: Any, finite: bool = True
    ) -> Array:
        if name not in self.left:
            raise ValueError(f"array {name!r}: missing from the file")
        a = self.left.pop(name)
        if a.shape != tuple(shape):
            raise ValueError(
                f"array {name!r}: shape must be {tuple(shape)}; got {a.shape}"
            )
        if a.dtype != np.dtype(dtype):
            raise ValueError(
                f"array {name!r}: dtype must be {np.dtype(dtype).name}; "
                f"got {a.dtype.name}"
            )
        if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(
                f"array {name!r}: must contain only finite values; got NaN or inf"
            )
        # A fresh, aligned, writable copy: resumed runs compute exactly as before.
        return np.array(a, copy=True)

    def done(self) -> None:
        if self.left:
            raise ValueError(f"array {sorted(self.left)[0]!r}: unexpected in this file")


def _decode(meta: dict[str, Any], raw: Mapping[str, Array]) -> Checkpoint:
    """Build a checkpoint from validated JSON and arrays, checking every field."""
    require_keys(meta, _TOP_KEYS, "metadata")
    require(meta["format"] == "mlplab", "format", "must be 'mlplab'")
    require(
        isinstance(meta["library_version"], str), "library_version", "must be a string"
    )
    config = _decode_network(meta["network"])
    loss = meta["loss"]
    require(
        isinstance(loss, str) and loss in LOSSES,
        "loss",
        f"must be one of {', '.join(sorted(LOSSES))}; got {loss!r}",
    )
    k = require_int(meta["n_members"], "n_members", low=1)
    seeds = _decode_seeds(meta["seeds"], k)
    tensors = _Tensors(raw)
    params = _decode_params(config, k, tensors)
    optimizer, opt_state = _decode_optimizer(meta["optimizer"], params, tensors)
    state = _decode_training(meta["training"], params, opt_state, k, tensors)
    require(
        meta["training"] is None or optimizer is not None,
        "training",
        "needs an optimizer",
    )
    history = _decode_history(meta["history"], config, k, tensors)
    callbacks = tuple(
        _decode_component(c, f"callbacks.{i}", tensors)
        for i, c in enumerate(_list(meta["callbacks"], "callbacks"))
    )
    scaler = (
        None
        if meta["scaler"] is None
        else _decode_component(meta["scaler"], "scaler", tensors)
    )
    tensors.done()
    return Checkpoint(
        config=config,
        loss=loss,
        params=params,
        seeds=seeds,
        optimizer=optimizer,
        state=state,
        history=history,
        callbacks=callbacks,
        scaler=scaler,
        classes=_decode_classes(meta["classes"]),
        info=_dict(meta["info"], "info"),
        library_version=meta["library_version"],
    )


def _dict(value: Any, field: str) -> dict[str, Any]:
    require(
        isinstance(value, dict), field, f"must be a JSON object; got {_kind(value)}"
    )
    return value  # type: ignore[no-any-return]


def _list(value: Any, field: str) -> list[Any]:
    require(isinstance(value, list), field, f"must be a JSON list; got {_kind(value)}")
    return value  # type: ignore[no-any-return]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _decode_network(value: Any) -> MLPConfig:
    fields = [f.name for f in dataclasses.fields(MLPConfig)]
    net = require_keys(_dict(value, "network"), fields, "network")
    sizes = _list(net["layer_sizes"], "network.layer_sizes")
    for i, s in enumerate(sizes):
        require_int(s, f"network.layer_sizes[{i}]", low=1)
    require(len(sizes) >= 2, "network.layer_sizes", "must hold at least two sizes")
    require(
        isinstance(net["use_bias"], bool), "network.use_bias", "must be true or false"
    )
    for key in ("activation", "output_activation", "init", "dtype"):
        require(isinstance(net[key], str), f"network.{key}", "must be a string")
    try:
        return MLPConfig(**{**net, "layer_sizes": tuple(sizes)})
    except (TypeError, ValueError) as e:
        raise ValueError(f"network: {e}") from None


def _decode_seeds(value: Any, k: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    seeds = _list(value, "seeds")
    require(len(seeds) == k, "seeds", f"must have {k} entries; got {len(seeds)}")
    return tuple(require_int(s, f"seeds[{i}]", low=0) for i, s in enumerate(seeds))


def _decode_params(config: MLPConfig, k: int, tensors: _Tensors) -> Params:
    layers = []
    sizes = config.layer_sizes
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = tensors.take(f"layers.{i}.weight", (k, n_in, n_out), config.np_dtype)
        b = (
            tensors.take(f"layers.{i}.bias", (k, n_out), config.np_dtype)
            if config.use_bias
            else None
        )
        layers.append(Dense(w, b))
    return tuple(layers)


def _decode_config(value: Any, registry: Mapping[str, Any], field: str) -> Any:
    """Rebuild a registered frozen dataclass from ``{"name", "config"}``."""
    entry = _dict(value, field)
    name = entry.get("name")
    require(
        isinstance(name, str) and name in registry,
        f"{field}.name",
        f"must be one of {', '.join(sorted(registry))}; got {name!r}",
    )
    cls = registry[name]
    names = [f.name for f in dataclasses.fields(cls)]
    config = require_keys(
        _dict(entry.get("config"), f"{field}.config"), names, f"{field}.config"
    )
    kwargs = {}
    for key, item in config.items():
        where = f"{field}.config.{key}"
        if isinstance(item, dict):
            item = _decode_config(item, _schedules(), where)
        elif isinstance(item, list):
            require(
                all(
                    isinstance(v, (int, float)) and not isinstance(v, bool)
                    for v in item
                ),
                where,
                "must be a list of numbers",
            )
            item = tuple(float(v) for v in item)
        else:
            _check_like_default(cls, key, item, where)
        kwargs[key] = item
    try:
        return cls(**kwargs)
    except Exception as e:  # a registered constructor's own validation message
        raise ValueError(f"{field}.config: {e}") from None


def _check_like_default(cls: Any, key: str, item: Any, where: str) -> None:
    """Check that a scalar config value has its field default's JSON type."""
    default = next(f.default for f in dataclasses.fields(cls) if f.name == key)
    if isinstance(default, bool):
        require(isinstance(item, bool), where, f"must be true or false; got {item!r}")
    elif isinstance(default, str):
        require(isinstance(item, str), where, f"must be a string; got {item!r}")
    elif isinstance(default, (int, float)):
        require(
            isinstance(item, (int, float)) and not isinstance(item, bool),
            where,
            f"must be a number; got {item!r}",
        )


def _decode_optimizer(value: Any, params: Params, tensors: _Tensors) -> tuple[Any, Any]:
    if value is None:
        return None, None
    entry = require_keys(
        _dict(value, "optimizer"), ("name", "config", "state"), "optimizer"
    )
    optimizer = _decode_config(entry, _optimizers(), "optimizer")
    if entry["state"] is None:
        return optimizer, None
    scalars = _dict(entry["state"], "optimizer.state")
    template = optimizer.init(param_arrays(params))
    short = _short(param_names(params))
    leaves = []
    seen = set()
    for path, leaf in _walk(template, "optimizer", short):
        if isinstance(leaf, np.ndarray):
            leaves.append(tensors.take(path, leaf.shape, leaf.dtype))
            continue
        require(path in scalars, f"optimizer.state.{path}", "is missing")
        leaves.append(_like_scalar(leaf, scalars[path], f"optimizer.state.{path}"))
        seen.add(path)
    extra = sorted(set(scalars) - seen)
    require(
        not extra, f"optimizer.state.{extra[0] if extra else ''}", "is not expected"
    )
    return optimizer, _rebuild(template, iter(leaves))


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
        require(
            isinstance(value, (int, float)) and not isinstance(value, bool),
            field,
            f"must be a number; got {value!r}",
        )
    else:
        raise ValueError(f"{field}: cannot restore a {type(template).__name__}")
    return type(template)(value)


def _rebuild(template: Any, leaves: Iterator[Any]) -> Any:
    """Refill ``template``'s structure with ``leaves`` in ``_walk`` order."""
    if isinstance(template, tuple):
        items = [_rebuild(t, leaves) for t in template]
        return type(template)(*items) if hasattr(template, "_fields") else tuple(items)
    return next(leaves)


def _decode_training(
    value: Any, params: Params, opt_state: Any, k: int, tensors: _Tensors
) -> TrainState | None:
    if value is None:
        return None
    entry = require_keys(
        _dict(value, "training"), ("epoch", "shuffle_rngs"), "training"
    )
    require(opt_state is not None, "optimizer.state", "is needed to resume training")
    epoch = require_int(entry["epoch"], "training.epoch", low=0)
    states = _list(entry["shuffle_rngs"], "training.shuffle_rngs")
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
    entry = _dict(state, field)
    name = entry.get("bit_generator")
    require(
        isinstance(name, str) and name in _BIT_GENERATORS,
        f"{field}.bit_generator",
        f"must be one of {', '.join(sorted(_BIT_GENERATORS))}; got {name!r}",
    )
    bit_generator = _BIT_GENERATORS[name]()
    try:
        bit_generator.state = entry
    except Exception as e:  # NumPy's own checks of the state dict
        raise ValueError(f"{field}: not a valid {name} state ({e})") from None
    return np.random.Generator(bit_generator)


def _decode_history(
    value: Any, config: MLPConfig, k: int, tensors: _Tensors
) -> History | None:
    if value is None:
        return None
    entry = require_keys(_dict(value, "history"), ("metrics", "n_epochs"), "history")
    n = require_int(entry["n_epochs"], "history.n_epochs", low=0)
    names = _list(entry["metrics"], "history.metrics")
    require("loss" in names, "history.metrics", "must include 'loss'")
    require(
        len(set(map(str, names))) == len(names), "history.metrics", "has duplicates"
    )
    metrics = {}
    for name in names:
        require(
            isinstance(name, str) and name.isidentifier(),
            "history.metrics",
            f"names must be identifiers; got {name!r}",
        )
        # Losses of diverged members and unrun epochs are NaN by design.
        metrics[name] = tensors.take(
            f"history.{name}", (n, k), config.np_dtype, finite=False
        )
    diverged = tensors.take("history.diverged_epoch", (k,), np.int64)
    return History(metrics, diverged)


def _decode_component(value: Any, prefix: str, tensors: _Tensors) -> dict[str, Any]:
    entry = require_keys(_dict(value, prefix), ("name", "values", "arrays"), prefix)
    require(isinstance(entry["name"], str), f"{prefix}.name", "must be a string")
    values = _dict(entry["values"], f"{prefix}.values")
    arrays = {}
    for key in _list(entry["arrays"], f"{prefix}.arrays"):
        require(
            isinstance(key, str) and key.isidentifier(),
            f"{prefix}.arrays",
            f"names must be identifiers; got {key!r}",
        )
        name = f"{prefix}.{key}"
        if name not in tensors.left:
            raise ValueError(f"array {name!r}: missing from the file")
        a = tensors.left[name]
        arrays[key] = tensors.take(name, a.shape, a.dtype)
    return {"name": entry["name"], "values": values, "arrays": arrays}


def _decode_classes(value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    labels = _list(value, "classes")
    for i, v in enumerate(labels):
        require(
            isinstance(v, (str, int, float, bool)),
            f"classes[{i}]",
            f"must be a str, int, float or bool label; got {_kind(v)}",
        )
    require(len(set(map(repr, labels))) == len(labels), "classes", "has duplicates")
    return tuple(labels)
