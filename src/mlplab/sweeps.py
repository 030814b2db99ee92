"""Sweeps: a grid of settings crossed with seeds, trained as vectorised ensembles.

``sweep`` expands the grid (cells in ``itertools.product`` order of the axes,
seeds innermost) into members, groups the members that share everything but
their numeric hyperparameters (rate, momentum, dampening, weight decay vary
per member), and cuts each group into chunks of ``chunk_size`` consecutive
members. Chunk boundaries depend only on member order and ``chunk_size``, so a
member's result is bit-identical whether chunks run in this process, in
``workers`` joblib processes or on a Dask cluster (``scheduler``). Each chunk
is trained by ``_sweep_engine`` (full-batch SGD) or else by ``fit`` one epoch
at a time, its runs classified (``outcomes``), and its rows appended to the
results file, which a rerun resumes from; the finished file is sorted by
member so that it does not depend on the order in which chunks finished.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import _sweep_engine as engine
from ._types import Array
from .losses import LOSSES
from .network import MLPConfig, predict_raw
from .optimizers import OPTIMIZERS
from .outcomes import (
    classify,
    constant_predictor_loss,
    survival_quantiles,
    wilson_interval,
)
from .presets import OriginalSetup, original_setup

__all__ = [
    "AXES",
    "SweepResult",
    "cell_summaries",
    "original_grid",
    "sweep",
    "task_kind",
]

# axis -> where it goes: the optimizer, the network config, or the training run.
AXES = {
    "lr": "optimizer",
    "momentum": "optimizer",
    "momentum_style": "optimizer",
    "nesterov": "optimizer",
    "dampening": "optimizer",
    "weight_decay": "optimizer",
    "optimizer": "optimizer",
    "hidden": "config",
    "activation": "config",
    "output_activation": "config",
    "init": "config",
    "fixed": "config",
    "loss": "run",
    "batch_size": "run",
    "epochs": "run",
}
_ALIASES = {"learning_rate": "lr", "n_epochs": "epochs"}
_NUMERIC = {
    "lr": "learning_rate",
    "momentum": "momentum",
    "dampening": "dampening",
    "weight_decay": "weight_decay",
}
_OPTIMIZERS = OPTIMIZERS
RESULT_COLUMNS = (
    "seed",
    "outcome",
    "solved",
    "epochs_to_solve",
    "diverged_epoch",
    "final_loss",
    "constant_stall",
)
DEFAULT_CHUNK_SIZE = 2000


def original_grid() -> dict[str, list[Any]]:
    """Return the original question's grid: six rates by four momenta."""
    return {"lr": [0.1, 0.25, 0.5, 1.0, 2.0, 5.0], "momentum": [0.0, 0.5, 0.9, 0.99]}


# ---------------------------------------------------------------- members


class _Run(NamedTuple):
    """Everything but the numeric hyperparameters: members sharing it form a group."""

    config: MLPConfig
    loss: str
    optimizer: Any
    n_epochs: int
    batch_size: int | None


def _resolve(
    setup: OriginalSetup, batch_size: int | None, cell: Mapping[str, Any]
) -> tuple[_Run, dict[str, float]]:
    """Apply a cell's settings to the base setup; split off the numeric ones."""
    config, opt = setup.config, setup.optimizer
    loss, n_epochs = setup.loss, setup.n_epochs
    conf: dict[str, Any] = {}
    opt_changes: dict[str, Any] = {}
    for axis, value in cell.items():
        if axis == "hidden":
            conf["layer_sizes"] = (config.n_features, *value, config.n_outputs)
        elif axis == "fixed":
            name = "sigmoid" if value else "sigmoid_wrong_derivative"
            conf.update(activation=name, output_activation=name)
        elif AXES[axis] == "config":
            conf[axis] = value
        elif axis == "optimizer":
            kind = _OPTIMIZERS[value]
            names = {f.name for f in dataclasses.fields(kind)}
            opt = kind(
                **{
                    f.name: getattr(opt, f.name)
                    for f in dataclasses.fields(opt)
                    if f.name in names
                }
            )
        elif axis in ("momentum_style", "nesterov"):
            opt_changes[axis] = value
        elif axis == "loss":
            loss = value
        elif axis == "batch_size":
            batch_size = value
        elif axis == "epochs":
            n_epochs = int(value)
    config = dataclasses.replace(config, **conf) if conf else config
    fields = _numeric_fields(opt)
    for key in _NUMERIC:
        if key in cell and key not in fields:
            raise ValueError(
                f"optimizer {type(opt).__name__} has no {_NUMERIC[key]}; "
                f"do not sweep {key} with it"
            )
    numeric = {
        key: float(cell.get(key, getattr(opt, name))) for key, name in fields.items()
    }
    # Validate the cell's values here, at the edge, not inside a worker.
    values: dict[str, Any] = {name: numeric[key] for key, name in fields.items()}
    dataclasses.replace(opt, **opt_changes, **values)
    placeholders: dict[str, Any] = {
        name: 1.0 if key == "lr" else 0.0 for key, name in fields.items()
    }
    template = dataclasses.replace(opt, **opt_changes, **placeholders)
    return _Run(config, loss, template, n_epochs, batch_size), numeric


def _numeric_fields(opt: Any) -> dict[str, str]:
    """Return the per-member numeric hyperparameters it has (axis -> field)."""
    names = {f.name for f in dataclasses.fields(opt)}
    return {key: name for key, name in _NUMERIC.items() if name in names}


class _Chunk(NamedTuple):
    """A unit of work: consecutive members of one group."""

    run: _Run
    members: tuple[int, ...]
    seeds: tuple[int, ...]
    numeric: tuple[dict[str, float], ...]


def _chunks(
    cells: list[dict[str, Any]],
    seeds: Sequence[int],
    setup: OriginalSetup,
    batch_size: int | None,
    chunk_size: int,
) -> list[_Chunk]:
    """Group members in order of first appearance; cut each group into chunks."""
    groups: dict[_Run, list[tuple[int, int, dict[str, float]]]] = {}
    for c, cell in enumerate(cells):
        run, numeric = _resolve(setup, batch_size, cell)
        members = groups.setdefault(run, [])
        members.extend(
            (c * len(seeds) + s, seed, numeric) for s, seed in enumerate(seeds)
        )
    out = []
    for run, members in groups.items():
        for start in range(0, len(members), chunk_size):
            part = members[start : start + chunk_size]
            out.append(
                _Chunk(
                    run,
                    tuple(m[0] for m in part),
                    tuple(m[1] for m in part),
                    tuple(m[2] for m in part),
                )
            )
    return out


# ---------------------------------------------------------------- one chunk


class _Data(NamedTuple):
    """Training data and the settings that classify runs."""

    x: Array
    y: Array
    plateau_tol: float
    window: float | None
    loss_threshold: float


def task_kind(config: MLPConfig, loss: str, y: Array) -> tuple[str, float]:
    """Classification (with its output threshold) or regression (loss threshold).

    What "solved" means for a run of ``config`` with ``loss`` on targets ``y``:
    ``"multiclass"`` (arg-max), ``"classification"`` (outputs above the
    threshold are 1) or ``"regression"`` (the loss under the sweep's threshold).
    """
    binary = bool(np.all((y == 0) | (y == 1)))
    sigmoid_out = config.output_activation in ("sigmoid", "sigmoid_wrong_derivative")
    if binary and (loss == "cross_entropy" or config.output_activation == "softmax"):
        return "multiclass", np.nan
    if binary and sigmoid_out:
        return "classification", 0.5
    if binary and loss == "binary_cross_entropy":
        return "classification", 0.0
    return "regression", np.nan


def _window(run: _Run, window: float | None) -> int:
    """Plateau window in epochs: an int, a fraction of the epochs, default 10%."""
    w = 0.1 if window is None else window
    n = round(w * run.n_epochs) if isinstance(w, float) and w < 1 else int(w)
    return min(max(n, 1), run.n_epochs)


def run_chunk(chunk: _Chunk, data: _Data) -> list[dict[str, Any]]:
    """Train and classify one chunk (with one BLAS thread); one row per member."""
    from threadpoolctl import threadpool_limits

    run = chunk.run
    y = data.y if data.y.ndim == 2 else data.y[:, None]
    kind, threshold = task_kind(run.config, run.loss, y)
    if kind == "regression":
        threshold = data.loss_threshold
    window = _window(run, data.window)
    opt = dataclasses.replace(
        run.optimizer,
        **{
            name: tuple(n[key] for n in chunk.numeric)
            for key, name in _numeric_fields(run.optimizer).items()
        },
    )
    # One BLAS thread: the products are skinny, and a fixed thread count keeps
    # results bit-identical however many workers run.
    with threadpool_limits(limits=1):
        if engine.supports(run.config, run.loss, opt, run.batch_size, len(data.x)):
            tracked = engine.train_tracked(
                run.config,
                data.x,
                y,
                loss=run.loss,
                optimizer=opt,
                n_epochs=run.n_epochs,
                seeds=list(chunk.seeds),
                window=window,
                kind=kind,
                threshold=threshold,
            )
        else:
            tracked = _train_with_fit(
                run, opt, data.x, y, list(chunk.seeds), window, kind, threshold
            )
    o = classify(
        n_epochs=run.n_epochs,
        final_loss=tracked.final_loss,
        window_loss=tracked.window_loss,
        diverged_epoch=tracked.diverged_epoch,
        last_bad=tracked.last_bad,
        constant_loss=constant_predictor_loss(run.loss, y),
        plateau_tol=data.plateau_tol,
    )
    return [
        {
            "member": m,
            "seed": seed,
            "outcome": str(o.outcome[i]),
            "solved": o.outcome[i] == "solved",
            "epochs_to_solve": None
            if o.epochs_to_solve[i] < 0
            else int(o.epochs_to_solve[i]),
            "diverged_epoch": None
            if o.diverged_epoch[i] < 0
            else int(o.diverged_epoch[i]),
            "final_loss": float(tracked.final_loss[i]),
            "constant_stall": bool(o.constant_stall[i]),
        }
        for i, (m, seed) in enumerate(zip(chunk.members, chunk.seeds, strict=True))
    ]


def _train_with_fit(
    run: _Run,
    opt: Any,
    x: Array,
    y: Array,
    seeds: list[int],
    window: int,
    kind: str,
    threshold: float,
) -> engine.Tracked:
    """Train through ``fit`` epoch by epoch (mini-batches, softmax, others)."""
    from .training import DivergenceWarning, fit

    loss_fn = LOSSES[run.loss]
    tracker = engine.Tracker(len(seeds), run.n_epochs, window, kind, threshold, y)
    xd = np.asarray(x, run.config.np_dtype)
    state = fit(
        run.config,
        xd,
        y,
        loss=run.loss,
        optimizer=opt,
        n_epochs=0,
        seeds=seeds,
        batch_size=run.batch_size,
    ).state
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", DivergenceWarning)
        for epoch in range(run.n_epochs + 1):
            out = predict_raw(state.params, run.config, xd)
            newly = tracker.observe(
                epoch, np.moveaxis(out, 0, -1), loss_fn.value(out, y)
            )
            if newly is not None:
                state = state._replace(active=state.active & ~newly)
            if epoch < run.n_epochs:
                state = fit(
                    run.config,
                    xd,
                    y,
                    loss=run.loss,
                    optimizer=opt,
                    n_epochs=1,
                    seeds=seeds,
                    batch_size=run.batch_size,
                    state=state,
                ).state
    return tracker.tracked(state.params)


# ---------------------------------------------------------------- results file


def _format(value: Any) -> str:
    """One CSV cell: floats round-trip exactly (``repr``), None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, tuple):
        return "-".join(str(v) for v in value)
    return str(value)


class _ResultsFile:
    """The CSV of one row per member: appended chunk by chunk, resumed, sorted."""

    def __init__(
        self,
        path: str | Path | None,
        columns: list[str],
        settings: Callable[[int], dict[str, str]],
    ) -> None:
        self.path = None if path is None else Path(path)
        self.columns, self.settings = columns, settings
        self.lines: dict[int, str] = {}

    def load(self) -> dict[int, dict[str, str]]:
        """Read the finished members of an earlier run of the same sweep."""
        if self.path is None or not self.path.exists() or self.path.stat().st_size == 0:
            return {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                f"results file {str(self.path)!r} is not UTF-8 text, so not a "
                "sweep's results (use another --out)"
            ) from None
        if not text.endswith("\n"):  # killed mid-write: drop the partial line
            text = text[: text.rfind("\n") + 1]
        lines = text.splitlines()
        header = next(csv.reader([lines[0]])) if lines else []
        if header != self.columns:
            raise ValueError(
                f"results file {str(self.path)!r} has columns {', '.join(header)}; "
                f"this sweep writes {', '.join(self.columns)} (use another --out)"
            )
        done = {}
        for line in lines[1:]:
            row = dict(zip(self.columns, next(csv.reader([line])), strict=True))
            member = int(row["member"])
            expected = self.settings(member)
            if any(row[key] != value for key, value in expected.items()):
                raise ValueError(
                    f"results file {str(self.path)!r} was written by a different "
                    f"sweep: member {member} has {_differ(row, expected)}"
                )
            self.lines[member] = line
            done[member] = row
        return done

    def start(self) -> None:
        """Rewrite what was kept (dropping any partial line) and the header."""
        if self.path is not None:
            self._write(append=False)

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Add finished members (one write per chunk)."""
        new = {}
        for row in rows:
            cells = {
                **self.settings(row["member"]),
                **{k: _format(row[k]) for k in RESULT_COLUMNS},
            }
            cells["member"] = str(row["member"])
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow(
                [cells[c] for c in self.columns]
            )
            new[row["member"]] = buf.getvalue()[:-1]
        self.lines.update(new)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in new.values()))

    def finish(self) -> None:
        """Sort the file by member, atomically (temporary file, then rename)."""
        if self.path is not None:
            self._write(append=False)

    def _write(self, append: bool) -> None:
        assert self.path is not None
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = "".join(self.lines[m] + "\n" for m in sorted(self.lines))
        tmp.write_text(",".join(self.columns) + "\n" + body, encoding="utf-8")
        os.replace(tmp, self.path)


def _differ(row: Mapping[str, str], expected: Mapping[str, str]) -> str:
    key = next(k for k, v in expected.items() if row[k] != v)
    return f"{key}={row[key]!r} where this sweep has {expected[key]!r}"


def _parse(row: Mapping[str, str]) -> dict[str, Any]:
    """Turn a results-file row back into typed outcome values."""

    def opt_int(text: str) -> int | None:
        return int(text) if text else None

    return {
        "member": int(row["member"]),
        "seed": int(row["seed"]),
        "outcome": row["outcome"],
        "solved": row["solved"] == "true",
        "epochs_to_solve": opt_int(row["epochs_to_solve"]),
        "diverged_epoch": opt_int(row["diverged_epoch"]),
        "final_loss": float(row["final_loss"]),
        "constant_stall": row["constant_stall"] == "true",
    }


# ---------------------------------------------------------------- running chunks


def _run_local(
    chunks: list[_Chunk],
    data: _Data,
    workers: int,
    on_done: Callable[[list[dict[str, Any]]], None],
) -> None:
    """In this process, or in ``workers`` joblib processes (a dead one is retried)."""
    if workers <= 1:
        for chunk in chunks:
            on_done(run_chunk(chunk, data))
        return
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    pending = dict(enumerate(chunks))
    for attempt in range(3):
        try:
            results = Parallel(n_jobs=workers, return_as="generator_unordered")(
                delayed(_indexed)(i, chunk, data) for i, chunk in list(pending.items())
            )
            for i, rows in results:
                on_done(rows)
                del pending[i]
            return
        except TerminatedWorkerError:
            if attempt == 2:
                raise


def _indexed(i: int, chunk: _Chunk, data: _Data) -> tuple[int, list[dict[str, Any]]]:
    return i, run_chunk(chunk, data)


def _run_dask(
    chunks: list[_Chunk],
    data: _Data,
    address: str,
    on_done: Callable[[list[dict[str, Any]]], None],
) -> None:
    """On an existing Dask cluster; tasks on a worker that dies are retried."""
    from dask.distributed import Client, as_completed

    with Client(address, timeout=30) as client:  # type: ignore[no-untyped-call]
        data_future = client.scatter(data, broadcast=True)
        futures = [
            client.submit(run_chunk, chunk, data_future, pure=False, retries=2)
            for chunk in chunks
        ]
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            on_done(future.result())


# ---------------------------------------------------------------- summaries


def cell_summaries(
    rows: Sequence[Mapping[str, Any]],
    cells: list[dict[str, Any]],
    n_seeds: int,
    n_epochs: Sequence[int],
) -> list[dict[str, Any]]:
    """Summarise each cell's runs.

    Per cell: success rate with a Wilson 95% interval, Kaplan-Meier quartiles
    of the epochs to solve (unsolved runs censored at their last epoch), and
    the plateau, constant-stall, divergence and unfinished rates.
    """
    by_cell: list[list[Mapping[str, Any]]] = [[] for _ in cells]
    for row in rows:
        by_cell[row["member"] // n_seeds].append(row)
    out = []
    for cell, members, epochs in zip(cells, by_cell, n_epochs, strict=True):
        n = len(members)
        solved = sum(r["solved"] for r in members)
        times = [r["epochs_to_solve"] if r["solved"] else epochs for r in members]
        q25, median, q75 = (
            survival_quantiles(times, [r["solved"] for r in members])
            if n
            else (None, None, None)
        )

        def rate(
            pred: Callable[[Mapping[str, Any]], bool],
            members: list[Mapping[str, Any]] = members,
        ) -> float | None:
            return sum(map(pred, members)) / len(members) if members else None

        low, high = wilson_interval(solved, n)
        out.append(
            {
                "settings": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in cell.items()
                },
                "n": n,
                "solved": solved,
                "success_rate": rate(lambda r: r["solved"]),
                "success_ci95": [low, high],
                "median_epochs_to_solve": median,
                "epochs_to_solve_q25": q25,
                "epochs_to_solve_q75": q75,
                "plateau_rate": rate(lambda r: r["outcome"] == "plateau"),
                "constant_stall_rate": rate(lambda r: r["constant_stall"]),
                "diverged_rate": rate(lambda r: r["outcome"] == "diverged"),
                "unfinished_rate": rate(lambda r: r["outcome"] == "unfinished"),
            }
        )
    return out


@dataclasses.dataclass
class SweepResult:
    """What ``sweep`` returns: one row per member and one summary per cell.

    ``rows`` are in member order (cell by cell, seeds innermost), each with
    ``member``, ``cell``, ``seed``, ``outcome``, ``solved``,
    ``epochs_to_solve`` (None when unsolved), ``diverged_epoch``,
    ``final_loss`` and ``constant_stall``. ``cells`` holds each cell's
    settings and statistics (``cell_summaries``).
    """

    axes: list[str]
    cells: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    member_bytes: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able summary (no per-member rows)."""
        return {
            "axes": self.axes,
            "n_members": len(self.rows),
            "member_bytes": self.member_bytes,
            "cells": self.cells,
        }


# ---------------------------------------------------------------- the sweep


def _expand(
    grid: Mapping[str, Iterable[Any]],
) -> tuple[list[str], list[dict[str, Any]]]:
    """Validate axis names and values; return the axes and every cell in order."""
    axes, values = [], []
    for name, vals in grid.items():
        axis = _ALIASES.get(name, name)
        if axis not in AXES:
            raise ValueError(
                f"unknown sweep axis {name!r}; expected one of "
                f"{', '.join(sorted([*AXES, *_ALIASES]))}"
            )
        if axis in axes:
            raise ValueError(f"sweep axis {axis!r} is given twice")
        vals = [tuple(v) if isinstance(v, list) else v for v in vals]
        if not vals:
            raise ValueError(f"sweep axis {axis!r} has no values")
        if axis == "optimizer":
            for v in vals:
                if v not in _OPTIMIZERS:
                    raise ValueError(
                        f"unknown optimizer {v!r}; expected one of "
                        f"{', '.join(_OPTIMIZERS)}"
                    )
        axes.append(axis)
        values.append(vals)
    return axes, [
        dict(zip(axes, combo, strict=True)) for combo in itertools.product(*values)
    ]


def sweep(
    grid: Mapping[str, Iterable[Any]],
    *,
    seeds: int | Sequence[int] = 100,
    setup: OriginalSetup | None = None,
    batch_size: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    plateau_tol: float = 1e-4,
    window: float | None = None,
    loss_threshold: float = 1e-3,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Train every cell of ``grid`` with every seed and classify each run.

    Parameters
    ----------
    grid : mapping of axis name to values
        Axes: ``lr`` (or ``learning_rate``), ``momentum``, ``momentum_style``,
        ``nesterov``, ``dampening``, ``weight_decay``, ``optimizer``,
        ``hidden`` (tuples of widths), ``activation``, ``output_activation``,
        ``init``, ``fixed`` (the original program's derivative or the correct
        one), ``loss``, ``batch_size`` and ``epochs`` (or ``n_epochs``).
    seeds : int or sequence of int
        N (seeds 0..N-1) or the seeds themselves; every cell runs each seed.
    setup : OriginalSetup, optional
        The base network, data, loss, optimizer and epochs that the grid
        overrides; default ``original_setup(fixed=True)`` (XOR).
    batch_size : int or None
        Base batch size (None: full batch).
    chunk_size : int
        Members per chunk (memory: ``member_bytes`` each in the fast engine).
    workers : int
        Local processes (joblib), each with one BLAS thread.
    scheduler : str, optional
        Address of a Dask distributed scheduler to run the chunks on instead.
    out : path, optional
        Results CSV, one row per member; an existing file of the same sweep
        is resumed (its members are not rerun).
    plateau_tol, window, loss_threshold
        Outcome rules (``outcomes``): relative improvement, window (epochs,
        or a fraction of them below 1; default 10%), regression threshold.
    progress : callable, optional
        Called as ``progress(members_done, n_members)``.

    Returns
    -------
    SweepResult
        Rows per member and a summary per cell.

    Examples
    --------
    Rates 0.1 and 2 for the corrected XOR program, 8 seeds, 1000 epochs:

    >>> import dataclasses
    >>> short = dataclasses.replace(original_setup(), n_epochs=1000)
    >>> result = sweep({"lr": [0.1, 2.0]}, seeds=8, setup=short)
    >>> [c["success_rate"] for c in result.cells]
    [0.0, 1.0]
    >>> result.cells[1]["median_epochs_to_solve"], result.rows[0]["outcome"]
    (90.0, 'unfinished')
    """
    setup = setup or original_setup(fixed=True)
    seed_list = (
        list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    )
    if not seed_list:
        raise ValueError("seeds must be at least 1 (or a non-empty list of seeds)")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    if workers > (os.cpu_count() or 1):
        warnings.warn(
            f"{workers} workers on {os.cpu_count()} cores: each uses one BLAS thread, "
            "but more processes than cores slow every one of them down",
            UserWarning,
            stacklevel=2,
        )
    if not plateau_tol >= 0:
        raise ValueError(f"plateau_tol must be >= 0; got {plateau_tol}")
    axes, cells = _expand(grid)
    chunks = _chunks(cells, seed_list, setup, batch_size, chunk_size)
    n_epochs = [_resolve(setup, batch_size, cell)[0].n_epochs for cell in cells]
    columns = [
        "member",
        *dict.fromkeys(["lr", "momentum", "momentum_style", *axes]),
        *RESULT_COLUMNS,
    ]
    columns = list(dict.fromkeys(columns))
    numeric_of = {
        m: (c, n) for c in chunks for m, n in zip(c.members, c.numeric, strict=True)
    }

    def settings(member: int) -> dict[str, str]:
        chunk, numeric = numeric_of[member]
        cell = cells[member // len(seed_list)]
        values = {
            "lr": numeric["lr"],
            "momentum": numeric.get("momentum"),
            "momentum_style": getattr(chunk.run.optimizer, "momentum_style", None),
            **cell,
            "seed": seed_list[member % len(seed_list)],
        }
        return {k: _format(v) for k, v in values.items()}

    results = _ResultsFile(out, columns, settings)
    done = {m: _parse(r) for m, r in results.load().items()}
    results.start()
    rows: dict[int, dict[str, Any]] = dict(done)
    todo = [c for c in chunks if any(m not in done for m in c.members)]
    total = len(seed_list) * len(cells)

    def on_done(chunk_rows: list[dict[str, Any]]) -> None:
        fresh = [r for r in chunk_rows if r["member"] not in rows]
        results.append(fresh)
        rows.update((r["member"], r) for r in fresh)
        if progress is not None:
            progress(len(rows), total)

    data = _Data(
        np.asarray(setup.x), np.asarray(setup.y), plateau_tol, window, loss_threshold
    )
    if progress is not None:
        progress(len(rows), total)
    try:
        if scheduler is not None:
            _run_dask(todo, data, scheduler, on_done)
        else:
            _run_local(todo, data, workers, on_done)
    finally:
        results.finish()
    ordered = [{**rows[m], "cell": m // len(seed_list)} for m in sorted(rows)]
    summaries = cell_summaries(ordered, cells, len(seed_list), n_epochs)
    first = chunks[0].run
    return SweepResult(
        axes, summaries, ordered, engine.member_bytes(first.config, len(setup.x))
    )
