"""Framing checks for model files: the safetensors container and our JSON document.

A model file is untrusted input. Before the safetensors package sees it, this
module checks the 8-byte header length, the header JSON (known dtypes, shapes,
offsets that tile the data exactly, readable names) and that the header is
byte for byte what a writer produces, so that every changed byte is either
caught here or by the digest. Every failure is a ``ValueError`` naming the
field; ``serialization`` decodes the validated pieces.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._types import Array

__all__ = [
    "FLOAT_DTYPES",
    "MAX_HEADER_BYTES",
    "MAX_METADATA_BYTES",
    "canonical_json",
    "parse_file",
    "require",
    "require_int",
    "require_keys",
]

MAX_METADATA_BYTES = 8 * 2**20
# The metadata is embedded as an escaped JSON string, so the header may be
# about twice its size, plus one small entry per array.
MAX_HEADER_BYTES = 3 * MAX_METADATA_BYTES
_MAX_NDIM = 8
_NAME = re.compile(r"[A-Za-z0-9_.]{1,256}")
# The safetensors dtypes mlplab writes, with their NumPy types.
_DTYPES = {"F64": np.float64, "F32": np.float32, "I64": np.int64, "BOOL": np.bool_}
FLOAT_DTYPES = ("F64", "F32")


def require(condition: bool, field: str, message: str) -> None:
    """Raise ``ValueError("<field>: <message>")`` unless ``condition``."""
    if not condition:
        raise ValueError(f"{field}: {message}")


def require_int(value: Any, field: str, low: int | None = None) -> int:
    """Return ``value`` if it is a JSON integer (not a bool) >= ``low``."""
    require(
        isinstance(value, int) and not isinstance(value, bool),
        field,
        f"must be an integer; got {value!r}",
    )
    require(low is None or value >= low, field, f"must be >= {low}; got {value}")
    return int(value)


def require_keys(
    value: dict[str, Any], keys: Iterable[str], field: str
) -> dict[str, Any]:
    """Check that ``value`` has exactly ``keys``; name a missing or extra one."""
    expected = list(keys)
    for key in expected:
        require(key in value, f"{field}.{key}", "is missing")
    for key in value:
        require(key in expected, f"{field}.{key}", "is not a known field")
    return value


def canonical_json(value: Any) -> str:
    """Return the one text mlplab writes for a JSON value (sorted keys, ASCII)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, field: str) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity, bounded nesting."""
    try:
        return json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{field}: not well-formed JSON ({e})"[:300]) from None


def parse_file(data: bytes) -> tuple[dict[str, Any], dict[str, Array]]:
    """Validate a model file's bytes; return its metadata document and arrays."""
    header, start = _parse_header(data)
    meta = _parse_metadata(header.pop("__metadata__", None))
    _check_entries(header, len(data) - start)
    return meta, _read_arrays(data, header)


def _parse_header(data: bytes) -> tuple[dict[str, Any], int]:
    require(
        len(data) >= 8, "file", f"too short for a safetensors file ({len(data)} bytes)"
    )
    n = int.from_bytes(data[:8], "little")
    require(
        n <= MAX_HEADER_BYTES,
        "header",
        f"length must be at most {MAX_HEADER_BYTES} bytes; got {n}",
    )
    require(
        8 + n <= len(data),
        "header",
        f"length {n} runs past the end of the file ({len(data)} bytes)",
    )
    raw = data[8 : 8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("header: not UTF-8 text") from None
    header = _parse_json(text, "header")
    require(isinstance(header, dict), "header", "must be a JSON object")
    # Byte for byte what the writer produces: compact JSON padded with < 8 spaces.
    compact = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    padding = text[len(compact) :]
    require(
        text.startswith(compact) and padding == " " * len(padding) and len(padding) < 8,
        "header",
        "is not in the form mlplab writes",
    )
    return header, 8 + n


def _parse_metadata(entry: Any) -> dict[str, Any]:
    require(
        isinstance(entry, dict)
        and set(entry) == {"mlplab"}
        and isinstance(entry["mlplab"], str),
        "metadata",
        "must hold exactly one entry 'mlplab' (not an mlplab model file)",
    )
    text = entry["mlplab"]
    size = len(text.encode("utf-8"))
    require(
        size <= MAX_METADATA_BYTES,
        "metadata",
        f"must be at most {MAX_METADATA_BYTES} bytes; got {size}",
    )
    meta = _parse_json(text, "metadata")
    require(isinstance(meta, dict), "metadata", "must be a JSON object")
    require(
        canonical_json(meta) == text, "metadata", "is not in the form mlplab writes"
    )
    return meta  # type: ignore[no-any-return]


def _check_entries(header: dict[str, Any], data_size: int) -> None:
    """Names, dtypes and shapes known; offsets tile ``[0, data_size)`` exactly."""
    spans = []
    for name, entry in header.items():
        field = f"array {name!r}"
        require(
            bool(_NAME.fullmatch(name)), field, "name must be 1-256 of A-Z a-z 0-9 _ ."
        )
        require(
            isinstance(entry, dict)
            and set(entry) == {"dtype", "shape", "data_offsets"},
            field,
            "entry must have exactly dtype, shape and data_offsets",
        )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        require(
            isinstance(dtype, str) and dtype in _DTYPES,
            field,
            f"dtype must be one of {', '.join(_DTYPES)}; got {dtype!r}",
        )
        require(
            isinstance(shape, list) and len(shape) <= _MAX_NDIM,
            field,
            f"shape must be a list of at most {_MAX_NDIM} sizes; got {shape!r}",
        )
        for size in shape:
            require_int(size, f"{field}.shape", low=0)
        require(
            isinstance(offsets, list) and len(offsets) == 2,
            field,
            "data_offsets must be [begin, end]",
        )
        begin = require_int(offsets[0], f"{field}.data_offsets", low=0)
        end = require_int(offsets[1], f"{field}.data_offsets", low=begin)
        nbytes = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
        require(
            end - begin == nbytes,
            field,
            f"data_offsets span {end - begin} bytes; shape {shape} needs {nbytes}",
        )
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        require(
            begin == position,
            f"array {name!r}",
            "data_offsets leave a gap or overlap another array",
        )
        position = end
    require(
        position == data_size,
        "file",
        f"array data is {data_size} bytes; the header describes {position}",
    )


def _read_arrays(data: bytes, header: dict[str, Any]) -> dict[str, Array]:
    """Let safetensors read the (already validated) arrays."""
    from safetensors.numpy import load as st_load

    try:
        arrays = st_load(data)
    except Exception as e:  # the package's own error types
        raise ValueError(f"file: safetensors could not read it ({e})"[:300]) from None
    except BaseException as e:  # a Rust panic surfaces as a BaseException
        if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise ValueError("file: safetensors could not read it") from None
    require(set(arrays) == set(header), "file", "arrays differ from the header")
    return arrays
