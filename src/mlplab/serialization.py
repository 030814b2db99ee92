"""Save and load models and training checkpoints: one ``.safetensors`` file.

A file holds every array under a stable readable name and, in the safetensors
metadata, one JSON document describing the rest (the README's "Model files"
section lists both). Nothing read from a file is ever executed or looked up
outside our own registries (``ACTIVATIONS``, ``LOSSES``, ``TRANSFORMS``,
``SCHEDULES``, the saveable callbacks and NumPy's bit generators): no pickle,
no ``eval``, no ``getattr`` with a name from the file. Loading validates the
whole file before anything is built from it, and every violation is a
``ValueError`` that names the offending field. Writes are atomic: a temporary
file in the same folder, flushed and fsynced, then renamed over the target.

This module owns the format and the public API; the framing checks
(safetensors header, JSON, size limits) live in ``_checkfile`` and the codecs
of the parts (optimizer, training state, history, callbacks) in ``_statefile``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

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
from ._statefile import (
    Tensors,
    decode_callback,
    decode_history,
    decode_optimizer,
    decode_params,
    decode_training,
    encode_callback,
    encode_optimizer,
    encode_params,
    encode_state,
    encode_training,
    json_dict,
    json_list,
)
from ._types import Array
from ._validation import lookup
from .losses import LOSSES
from .network import MLPConfig, Params
from .training import History, TrainState

__all__ = [
    "FORMAT_VERSION",
    "MAX_METADATA_BYTES",
    "Checkpoint",
    "Scaling",
    "atomic_write",
    "digest",
    "load",
    "save",
    "save_checkpoint",
]

FORMAT_VERSION = 2
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
# Version 1 files hold a trained model only: ``layers.*`` arrays and these keys.
_V1_KEYS = (*_TOP_KEYS[:7], "digest")


class Scaling(NamedTuple):
    """Standard scaling of the inputs: ``(x - mean) / scale``, per feature.

    ``mean`` and ``scale`` have shape ``(n_features,)``; ``scale > 0``
    (scikit-learn's ``StandardScaler`` uses 1 for constant columns).
    """

    mean: Array
    scale: Array

    def transform(self, x: Array) -> Array:
        """Return ``(x - mean) / scale``; ``x`` is ``(n_samples, n_features)``."""
        return (np.asarray(x, np.float64) - self.mean) / self.scale


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
        The optimizer in force (a registered optimizer, transform or chain).
    state : TrainState or None
        The training state to resume from (params, optimizer state, active
        mask ``(n_members,)``, epoch, shuffling generators).
    history : History or None
        The metrics of the epochs run so far, each ``(n_epochs, n_members)``.
    callbacks : tuple
        Saveable callbacks (``EarlyStopping``, ``ReduceLROnPlateau``) with
        their per-member state.
    scaler : Scaling or None
        The input scaling fitted on the training data.
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
    callbacks: tuple[Any, ...] = ()
    scaler: Scaling | None = None
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
    callbacks: Sequence[Any] = (),
    scaler: Scaling | None = None,
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
        A run to resume exactly; needs ``optimizer`` (``FitResult.optimizer``
        when a callback changed the learning rate).
    optimizer : optimizer, optional
        A registered optimizer, transform or chain.
    history : History, optional
        Metrics so far, each ``(n_epochs, n_members)``.
    seeds : sequence of int, optional
        One seed per member.
    callbacks : sequence, optional
        Callbacks whose state a resumed run needs (early stopping's best
        weights and counters, reduce-on-plateau's counters).
    scaler : Scaling, optional
        The input scaling, applied by ``mlplab predict``.
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
        If the pieces do not fit together (shapes, dtypes, member counts,
        unregistered names, non-finite weights); nothing is written then.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mlplab.network import init_params
    >>> cfg = MLPConfig((2, 3, 1))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
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
        callbacks=tuple(callbacks),
        scaler=scaler,
        classes=None if classes is None else tuple(classes),
        info=dict(info or {}),
    )
    return save_checkpoint(path, checkpoint)


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; see ``save``."""
    lookup(LOSSES, "loss", checkpoint.loss)
    meta, tensors = _encode(checkpoint)
    meta["digest"] = digest(meta, tensors)
    text = canonical_json(meta)
    size = len(text.encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata must be at most {MAX_METADATA_BYTES} bytes; got {size}"
        )
    # Never write a file that load would refuse (wrong dtypes, NaN weights, ...).
    _decode(json.loads(text), tensors)
    from safetensors.numpy import save as st_save

    return atomic_write(Path(path), st_save(tensors, metadata={"mlplab": text}))


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync, rename over it.

    On any failure (including Ctrl-C) the temporary file is removed and an
    existing ``path`` is left untouched.
    """
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
    little-endian C-order bytes, so the digest does not depend on the layout.
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
    k = c.n_members
    if c.seeds is not None and len(c.seeds) != k:
        raise ValueError(
            f"seeds must have {k} entries (one per member); got {len(c.seeds)}"
        )
    tensors: dict[str, Array] = {}
    encode_params(c.params, "layers", tensors)
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
        "info": json.loads(canonical_json(dict(c.info))),
        "classes": None if c.classes is None else [_label(v) for v in c.classes],
    }
    if c.optimizer is not None:
        meta["optimizer"] = {"config": encode_optimizer(c.optimizer), "state": None}
    if c.state is not None:
        meta["optimizer"]["state"] = encode_state(
            c.state.opt_state, "optimizer", c.params, tensors
        )
        meta["training"] = encode_training(c.state)
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
    for i, callback in enumerate(c.callbacks):
        meta["callbacks"].append(
            encode_callback(callback, f"callbacks.{i}", c.params, tensors)
        )
    if c.scaler is not None:
        meta["scaler"] = {"name": "standard"}
        tensors["scaler.mean"] = np.asarray(c.scaler.mean, np.float64)
        tensors["scaler.scale"] = np.asarray(c.scaler.scale, np.float64)
    return meta, {n: np.ascontiguousarray(a) for n, a in tensors.items()}


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


# ---------------------------------------------------------------- load


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and validate a model file; return its ``Checkpoint``.

    The whole file is checked before anything is built: framing, metadata
    size and JSON, format version, digest, known names, every expected array
    present with its shape and dtype and no other, finite weights.

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
    version = require_int(meta.get("format_version"), "format_version", low=1)
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
    if version == 1:
        meta = _migrate_v1(meta)
    return _decode(meta, tensors)


def _migrate_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (a trained model without training state) -> version 2."""
    require_keys(meta, _V1_KEYS, "metadata")
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
    tensors = Tensors(raw)
    params = decode_params(config, k, tensors)
    optimizer, opt_state = decode_optimizer(meta["optimizer"], params, tensors)
    state = decode_training(meta["training"], params, opt_state, k, tensors)
    callbacks = tuple(
        decode_callback(c, f"callbacks.{i}", config, k, tensors)
        for i, c in enumerate(json_list(meta["callbacks"], "callbacks"))
    )
    checkpoint = Checkpoint(
        config=config,
        loss=loss,
        params=params,
        seeds=_decode_seeds(meta["seeds"], k),
        optimizer=optimizer,
        state=state,
        history=decode_history(meta["history"], config, k, tensors),
        callbacks=callbacks,
        scaler=_decode_scaler(meta["scaler"], config, tensors),
        classes=_decode_classes(meta["classes"]),
        info=json_dict(meta["info"], "info"),
        library_version=meta["library_version"],
    )
    tensors.done()
    return checkpoint


def _decode_network(value: Any) -> MLPConfig:
    fields = [f.name for f in dataclasses.fields(MLPConfig)]
    net = require_keys(json_dict(value, "network"), fields, "network")
    sizes = json_list(net["layer_sizes"], "network.layer_sizes")
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
    seeds = json_list(value, "seeds")
    require(len(seeds) == k, "seeds", f"must have {k} entries; got {len(seeds)}")
    return tuple(require_int(s, f"seeds[{i}]", low=0) for i, s in enumerate(seeds))


def _decode_scaler(value: Any, config: MLPConfig, tensors: Tensors) -> Scaling | None:
    if value is None:
        return None
    entry = require_keys(json_dict(value, "scaler"), ("name",), "scaler")
    require(
        entry["name"] == "standard",
        "scaler.name",
        f"must be 'standard'; got {entry['name']!r}",
    )
    shape = (config.n_features,)
    mean = tensors.take("scaler.mean", shape, np.float64)
    scale = tensors.take("scaler.scale", shape, np.float64)
    require(bool(np.all(scale > 0)), "array 'scaler.scale'", "must be > 0")
    return Scaling(mean, scale)


def _decode_classes(value: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    labels = json_list(value, "classes")
    for i, v in enumerate(labels):
        require(
            isinstance(v, (str, int, float, bool)),
            f"classes[{i}]",
            f"must be a str, int, float or bool label; got {type(v).__name__}",
        )
    require(len({repr(v) for v in labels}) == len(labels), "classes", "has duplicates")
    return tuple(labels)
