"""``mlplab sweep``: a grid of settings x seeds from the options, run and reported."""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from ._cli_common import (
    MAX_EPOCHS,
    MAX_SWEEP_MEMBERS,
    UsageError,
    _floats,
    _output_path,
    _plot_path,
    _sizes,
    _stdout_console,
    _SweepProgress,
)


def _list_of(kind: Any, what: str) -> Any:
    """Return an argparse type for a comma list, e.g. ``0.1,0.5,2``."""

    def parse(text: str) -> list[Any]:
        try:
            values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {what}; got {text!r}"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {what}; got {text!r}"
            )
        return values

    return parse


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


def _batch(text: str) -> int | None:
    return None if text.lower() == "full" else int(text)


def add_sweep(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a grid of settings x seeds and classify every run",
        description="Train every combination of the listed settings with N seeds "
        "as vectorised ensembles, classify each run (diverged, solved, plateau, "
        "unfinished), and report per cell the success rate with a 95% Wilson "
        "interval and the Kaplan-Meier median epochs to solve. Base: the XOR "
        "program with the derivative corrected (--original keeps its mistake and "
        "sweeps the original question's grid).",
    )
    g = p.add_argument_group("grid (comma lists; each is one axis)")
    g.add_argument("--lr", type=_list_of(float, "numbers"), help="learning rates")
    g.add_argument("--momentum", type=_list_of(float, "numbers"), help="momenta")
    g.add_argument(
        "--momentum-style",
        type=_list_of(str, "styles"),
        help="classical, lr-inside, dampened, ema (default ema)",
    )
    g.add_argument(
        "--nesterov", type=_list_of(_bool, "true/false"), help="e.g. false,true"
    )
    g.add_argument("--dampening", type=_list_of(float, "numbers"))
    g.add_argument("--weight-decay", type=_list_of(float, "numbers"))
    g.add_argument("--optimizer", type=_list_of(str, "names"), help="sgd")
    g.add_argument(
        "--hidden",
        type=_sizes,
        nargs="+",
        metavar="WIDTHS",
        help="hidden layer sets, e.g. --hidden 4 8 4,4",
    )
    g.add_argument(
        "--activation", type=_list_of(str, "names"), help="hidden activations"
    )
    g.add_argument(
        "--init", nargs="+", metavar="SPEC", help="init specs, e.g. uniform he_normal"
    )
    g.add_argument("--batch-size", type=_list_of(_batch, "sizes or 'full'"))
    g.add_argument("--epochs", type=_list_of(int, "integers"), help="default 10000")
    g.add_argument(
        "--seeds",
        type=int,
        help="seeds per cell (default 100; 1000 with --original); at most "
        f"{MAX_SWEEP_MEMBERS:,} members (cells x seeds) in all",
    )
    g.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    g.add_argument(
        "--original",
        action="store_true",
        help="the original program and question: rates 0.1,0.25,0.5,1,2,5 x "
        "momenta 0,0.5,0.9,0.99, 1000 seeds, 10000 epochs",
    )
    g.add_argument(
        "--compare-fixed",
        action="store_true",
        help="with --original: the same grid with the derivative corrected too",
    )
    n = p.add_argument_group("network and data (default: XOR, 3-4-1 sigmoid, sse)")
    n.add_argument("--data", metavar="FILE.csv")
    n.add_argument("--target", metavar="COLUMN")
    n.add_argument("--loss", help="sse, mse, binary_cross_entropy or cross_entropy")
    n.add_argument("--output-activation")
    n.add_argument("--bias", action="store_true", help="add bias vectors")
    n.add_argument("--dtype", choices=("float64", "float32"))
    o = p.add_argument_group("outcomes")
    o.add_argument(
        "--plateau-tol",
        type=_floats,
        default=1e-4,
        help="relative improvement over the window below which a run stalled",
    )
    o.add_argument("--window", type=int, help="plateau window in epochs (default 10%%)")
    o.add_argument(
        "--loss-threshold",
        type=_floats,
        default=1e-3,
        help="regression: solved when the loss is below this (default 1e-3)",
    )
    r = p.add_argument_group("running and output")
    r.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    r.add_argument(
        "--scheduler", metavar="ADDRESS", help="a Dask scheduler, tcp://host:port"
    )
    r.add_argument("--chunk-size", type=int, help="members per chunk (default 2000)")
    r.add_argument(
        "--out",
        metavar="FILE.csv",
        type=_output_path,
        help="one row per member; rerunning with the same file resumes",
    )
    r.add_argument(
        "--heatmap",
        default="sweep.png",
        metavar="PATH",
        help="heatmaps of success rate and median epochs: .png, .pdf, .svg or "
        "another format matplotlib writes; no suffix means .png (default sweep.png)",
    )
    r.add_argument("--no-plot", action="store_true")
    r.add_argument(
        "--effective-lr",
        action="store_true",
        help="heatmap x axis: the effective learning rate",
    )
    r.add_argument(
        "--json", action="store_true", help="print one JSON summary per cell"
    )
    p.set_defaults(run=_run_sweep)


def _sweep_inputs(args: argparse.Namespace) -> tuple[dict[str, Any], Any, int]:
    """Return the grid, the base setup and the number of seeds from the arguments."""
    import dataclasses

    from .losses import LOSSES
    from .presets import original_setup
    from .sweeps import original_grid

    _check_sweep_values(args)
    if args.compare_fixed and not args.original:
        raise UsageError(
            "--compare-fixed needs --original (it compares the original program's "
            "derivative with the corrected one)"
        )
    setup = original_setup(fixed=not args.original)
    grid: dict[str, Any] = {}
    if args.compare_fixed:
        grid["fixed"] = [False, True]
    if args.original:
        grid.update(original_grid())
    for axis in (
        "lr",
        "momentum",
        "momentum_style",
        "nesterov",
        "dampening",
        "weight_decay",
        "optimizer",
        "hidden",
        "activation",
        "init",
        "batch_size",
        "epochs",
    ):
        value = getattr(args, axis)
        if value is not None:
            grid[axis] = value
    if not grid:
        raise UsageError(
            "give at least one axis to sweep (e.g. --lr 0.1,0.5,2) or --original"
        )
    seeds = args.seeds if args.seeds is not None else (1000 if args.original else 100)
    if seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {seeds}")
    n_cells = math.prod(len(values) for values in grid.values())
    if n_cells * seeds > MAX_SWEEP_MEMBERS:
        raise UsageError(
            f"a sweep takes at most {MAX_SWEEP_MEMBERS:,} members (cells x seeds); "
            f"got {n_cells:,} cells x {seeds:,} seeds = {n_cells * seeds:,}"
        )
    changes: dict[str, Any] = {}
    x, y = setup.x, setup.y
    if args.data is not None or args.target is not None:
        if args.data is None or args.target is None:
            raise UsageError(
                "--data and --target go together (a CSV file and its column)"
            )
        from .datasets import load_csv

        csv_data = load_csv(args.data, args.target)
        x, y = csv_data.x, csv_data.y
        changes["layer_sizes"] = (x.shape[1], *setup.config.layer_sizes[1:])
    loss = args.loss or setup.loss
    if loss in LOSSES and LOSSES[loss].from_logits and args.output_activation is None:
        changes["output_activation"] = "identity"
    if args.output_activation:
        changes["output_activation"] = args.output_activation
    if args.bias:
        changes["use_bias"] = True
    if args.dtype:
        changes["dtype"] = args.dtype
    config = dataclasses.replace(setup.config, **changes)
    setup = dataclasses.replace(setup, config=config, loss=loss, x=x, y=y)
    return grid, setup, seeds


def _check_sweep_values(args: argparse.Namespace) -> None:
    """Refuse values that the sweep would take but could only run wrongly."""
    for epochs in args.epochs or ():
        if not 1 <= epochs <= MAX_EPOCHS:
            raise UsageError(
                f"--epochs values must be between 1 and {MAX_EPOCHS}; got {epochs}"
            )
    for size in args.batch_size or ():
        if size is not None and size < 1:
            raise UsageError(f"--batch-size values must be >= 1 or 'full'; got {size}")
    for name, value in (
        ("--seed-start", args.seed_start),
        ("--chunk-size", args.chunk_size),
        ("--window", args.window),
    ):
        least = 0 if name == "--seed-start" else 1
        if value is not None and value < least:
            raise UsageError(f"{name} must be >= {least}; got {value}")
    if not (math.isfinite(args.loss_threshold) and args.loss_threshold > 0):
        raise UsageError(
            f"--loss-threshold must be a finite number > 0; got {args.loss_threshold}"
        )
    if not (math.isfinite(args.plateau_tol) and args.plateau_tol >= 0):
        raise UsageError(
            f"--plateau-tol must be a finite number >= 0; got {args.plateau_tol}"
        )


def _first(value: float | tuple[float, ...]) -> float:
    """Return a hyperparameter's value (its first, when it is one per member)."""
    return float(value[0] if isinstance(value, tuple) else value)


def _run_sweep(args: argparse.Namespace) -> int:
    import time

    from .sweeps import DEFAULT_CHUNK_SIZE, sweep

    grid, setup, n_seeds = _sweep_inputs(args)
    heatmap_path = None if args.no_plot else _plot_path("--heatmap", args.heatmap)
    if args.out is not None and os.path.isfile(args.out):
        # Resumed from; refuse a file that is not one before the sweep starts.
        try:
            with open(args.out, encoding="utf-8") as f:
                header = f.readline()
        except UnicodeDecodeError:
            header = ""
        if not header.startswith("member,") and os.path.getsize(args.out) > 0:
            raise UsageError(
                f"--out {args.out} is not the results file of a sweep (its first "
                "line should start 'member,'); use another --out"
            )
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1; got {args.workers}")
    if args.scheduler is not None:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                "--scheduler needs Dask: pip install 'mlplab[cluster]'"
            ) from None
    start = time.perf_counter()
    with _SweepProgress(quiet=args.json) as progress:
        result = sweep(
            grid,
            seeds=range(args.seed_start, args.seed_start + n_seeds),
            setup=setup,
            chunk_size=(
                DEFAULT_CHUNK_SIZE if args.chunk_size is None else args.chunk_size
            ),
            workers=args.workers,
            scheduler=args.scheduler,
            out=args.out,
            plateau_tol=args.plateau_tol,
            window=args.window,
            loss_threshold=args.loss_threshold,
            progress=progress,
        )
    seconds = time.perf_counter() - start
    heatmap = None
    xy = [a for a in ("lr", "momentum") if a in result.axes] or result.axes[:2]
    if heatmap_path is not None and len(xy) == 2:
        from .plots import plot_sweep_heatmaps

        title = "original program" if args.original else "XOR sweep"
        if args.compare_fixed:
            title = "original derivative (fixed=False) vs corrected (fixed=True)"
        heatmap = str(
            plot_sweep_heatmaps(
                result.cells,
                heatmap_path,
                x=xy[0],
                y=xy[1],
                effective_lr=args.effective_lr,
                momentum_style=setup.optimizer.momentum_style,
                dampening=_first(setup.optimizer.dampening),
                title=title,
            )
        )
    if args.json:
        print(
            json.dumps(
                {
                    **result.to_json(),
                    "seconds": seconds,
                    "results_file": args.out,
                    "heatmap": heatmap,
                }
            )
        )
        return 0
    _print_sweep(result, seconds)
    if heatmap:
        print(f"heatmaps written to {heatmap}")
    if args.out:
        print(f"results written to {args.out}")
    return 0


def _print_sweep(result: Any, seconds: float) -> None:
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    def epochs(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    table = Table(title=f"{len(result.rows)} runs in {seconds:.1f} s")
    for axis in result.axes:
        table.add_column(axis, justify="right")
    for col in (
        "n",
        "solved",
        "95% CI",
        "epochs to solve q25/median/q75",
        "plateau",
        "at constant",
        "diverged",
        "unfinished",
    ):
        table.add_column(col, justify="right")
    for cell in result.cells:
        table.add_row(
            *[str(cell["settings"][a]) for a in result.axes],
            str(cell["n"]),
            pct(cell["success_rate"]),
            f"{pct(cell['success_ci95'][0])}-{pct(cell['success_ci95'][1])}",
            " / ".join(
                epochs(cell[key])
                for key in (
                    "epochs_to_solve_q25",
                    "median_epochs_to_solve",
                    "epochs_to_solve_q75",
                )
            ),
            pct(cell["plateau_rate"]),
            pct(cell["constant_stall_rate"]),
            pct(cell["diverged_rate"]),
            pct(cell["unfinished_rate"]),
        )
    _stdout_console().print(table)
