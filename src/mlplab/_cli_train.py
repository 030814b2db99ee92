"""``mlplab train``: the original XOR program by default, or a data set; then report.

The parser gathers the shared network and optimizer options (``_cli_setup``), the
data-set options (``_cli_train_data``) and the checkpoint options
(``_cli_checkpoints``); the two runs print a table (or one JSON document).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_checkpoints import _add_checkpoint_options, _Checkpoints, _resumed_args
from ._cli_common import (
    UsageError,
    _output_path,
    _plot_path,
    _Progress,
    _stdout_console,
    _to_json,
)
from ._cli_setup import (
    _add_network_options,
    _add_optimizer_options,
    _describe_optimizer,
    _print_settings,
    _settings,
    _setup_from_args,
)
from ._cli_train_data import (
    _add_dataset_options,
    _check_fractions,
    _check_xor_options,
    _dataset_callbacks,
    _dataset_settings,
    _dataset_setup,
    _load_data,
    _part_metrics,
    _split_parts,
)


def add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a network (default: the original XOR program)",
        description="Train a network. With no options: the Code Review XOR "
        "program (3-4-1 sigmoid, no biases, [0,1) init, sum of squared errors, "
        "EMA momentum 0.5, rate 0.5, 10,000 full-batch steps, seed 0) with "
        "correct backpropagation. Each option overrides only its own setting.",
    )
    _add_network_options(p)
    _add_optimizer_options(p)
    _add_dataset_options(p)
    out = p.add_argument_group("output")
    out.add_argument(
        "--plot",
        default="loss.png",
        metavar="PATH",
        type=_output_path,
        help="PNG of the loss curve (default loss.png)",
    )
    out.add_argument("--no-plot", action="store_true", help="do not write the plot")
    out.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (settings, losses, outputs) instead",
    )
    _add_checkpoint_options(p)
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

    args = _resumed_args(args)
    if not args.no_plot:  # a format matplotlib cannot write fails now, not after
        args.plot = _plot_path("--plot", args.plot)
    if args.dataset is not None or args.data is not None:
        return _run_train_dataset(args)
    _check_xor_options(args)

    from .losses import LOSSES
    from .network import predict_raw
    from .training import fit

    s = _setup_from_args(args)
    settings = _settings(s)
    if not args.json:
        _print_settings(settings)
    n_features = s["config"].n_features
    info = {"features": [f"x{i}" for i in range(n_features)], "target": "y"}
    with (
        _Progress(s["n_epochs"], quiet=args.json) as progress_callback,
        _Checkpoints(args, s, [], info) as ckpt,
    ):
        result = fit(
            s["config"],
            s["x"],
            s["y"],
            loss=s["loss"],
            batch_size=s["batch_size"],
            callbacks=[progress_callback, ckpt.callback],
            **ckpt.fit_kwargs(),
        )
        ckpt.save(result.state, result.history, result.optimizer)
    loss_fn = LOSSES[s["loss"]]
    x = np.asarray(s["x"], s["config"].np_dtype)
    outputs = loss_fn.link(predict_raw(result.params, s["config"], x))[0]
    losses = result.history.loss[:, 0]
    diverged = int(result.history.diverged_epoch[0])
    if not args.no_plot:
        from .plots import plot_loss

        plot_loss(losses, args.plot, title=f"{s['loss']} loss, seed {s['seed']}")
    if args.json:
        doc = {
            "settings": settings,
            "final_loss": float(losses[-1]),
            "diverged_epoch": None if diverged < 0 else diverged,
            "inputs": x.tolist(),
            "targets": np.asarray(s["y"]).tolist(),
            "outputs": outputs.tolist(),
            "losses": losses.tolist(),
        }
        print(_to_json(doc))
        return 0
    _print_outputs(x, np.asarray(s["y"]), outputs, float(losses[-1]), diverged)
    if not args.no_plot:
        print(f"loss curve written to {args.plot}")
    if args.save:
        print(f"model saved to {args.save}")
    return 0


def _print_outputs(
    x: Any, y: Any, outputs: Any, final_loss: float, diverged: int
) -> None:
    import numpy as np
    from rich.table import Table

    table = Table(title=None)
    table.add_column("input")
    table.add_column("target", justify="right")
    table.add_column("output", justify="right")
    shown = min(len(x), 10)
    for i in range(shown):
        table.add_row(
            " ".join(f"{v:g}" for v in x[i]),
            " ".join(f"{v:g}" for v in np.atleast_1d(y[i])),
            " ".join(f"{v:.4f}" for v in outputs[i]),
        )
    console = _stdout_console()
    console.print(table)
    if shown < len(x):
        console.print(f"(first {shown} of {len(x)} rows)")
    console.print(f"final loss {final_loss:.6g}")
    if diverged >= 0:
        console.print(
            f"the loss turned non-finite at epoch {diverged}; "
            "the last finite weights were kept"
        )


def _run_train_dataset(args: argparse.Namespace) -> int:
    import time

    from .presets import dataset_recipe
    from .training import fit

    for flag, value in (
        ("--loss", args.loss),
        ("--output-activation", args.output_activation),
        ("--original", args.original or None),
    ):
        if value is not None:
            raise UsageError(f"{flag} is chosen from the task with --dataset/--data")
    recipe = dataset_recipe(args.dataset or "csv")
    validation_split = _check_fractions(args, recipe)
    data = _load_data(args)
    scale = data.scale if args.scale is None else args.scale
    split = _split_parts(args, data, validation_split, scale)
    s = _dataset_setup(args, data, recipe)
    parts, targets = split["parts"], split["targets"]
    callbacks = _dataset_callbacks(args, recipe, "validation" in parts)
    settings = _dataset_settings(s, args, data, recipe, validation_split, scale)
    if not args.json:
        _print_dataset_settings(settings)
    start = time.perf_counter()
    info = {
        "features": list(data.feature_names),
        "target": args.target or "target",
        "task": data.task,
        "target_shift": list(split["y_shift"]),
    }
    with (
        _Progress(s["n_epochs"], quiet=args.json) as progress_callback,
        _Checkpoints(
            args, s, callbacks, info, split.get("scaling"), data.classes or None
        ) as ckpt,
    ):
        callbacks = ckpt.callbacks
        result = fit(
            s["config"],
            parts["train"][0],
            targets["train"],
            loss=s["loss"],
            batch_size=s["batch_size"],
            callbacks=[*callbacks, progress_callback, ckpt.callback],
            validation_data=(parts["validation"][0], targets["validation"])
            if "validation" in parts
            else None,
            **ckpt.fit_kwargs(),
        )
        ckpt.save(result.state, result.history, result.optimizer)
    fit_seconds = time.perf_counter() - start
    metrics = {
        k: _part_metrics(result.params, s["config"], data, x, y, split["y_shift"])
        for k, (x, y) in parts.items()
    }
    return _report_dataset(
        args, settings, data, result, metrics, callbacks, fit_seconds
    )


def _print_dataset_settings(settings: dict[str, Any]) -> None:

    names = ", ".join(settings["classes"])
    classes = f", classes {names}" if names else ""
    lines = [
        f"data      {settings['dataset']}: {settings['n_samples']} rows, "
        f"{settings['n_features']} features, {settings['task']}{classes}",
        f"split     test {settings['test_size']:g}, validation "
        f"{settings['validation_split']:g} of the rest, seed {settings['seed']}, "
        f"{'standardised' if settings['scale'] else 'unscaled'} features",
        f"network   {'-'.join(map(str, settings['layer_sizes']))}, "
        f"{settings['activation']} hidden, {settings['output_activation']} output, "
        f"init {settings['init']}, {settings['dtype']}",
        f"loss      {settings['loss']}",
        f"optimizer {_describe_optimizer(settings['optimizer'])}",
        f"training  {settings['epochs']} epochs, "
        f"batch {settings['batch_size'] or 'full'}"
        + (
            f", early stopping (patience {settings['patience']})"
            if settings["early_stopping"]
            else ""
        ),
    ]
    _stdout_console().print("\n".join(lines))


def _report_dataset(
    args: argparse.Namespace,
    settings: dict[str, Any],
    data: Any,
    result: Any,
    metrics: dict[str, Any],
    callbacks: list[Any],
    fit_seconds: float,
) -> int:
    """Plot, then print the metrics (or one JSON document)."""
    import math

    history = result.history
    stopper = next((c for c in callbacks if hasattr(c, "stopped_epoch")), None)

    def epoch_or_none(epochs: Any) -> int | None:
        return None if epochs is None or epochs[0] < 0 else int(epochs[0])

    resumed_at = args.checkpoint.state.epoch if args.checkpoint else 0
    summary = {
        "epochs_run": history.n_epochs,
        "epochs_trained": history.n_epochs - resumed_at,
        "resumed_at_epoch": resumed_at,
        "best_epoch": epoch_or_none(getattr(stopper, "best_epoch", None)),
        "stopped_epoch": epoch_or_none(getattr(stopper, "stopped_epoch", None)),
        "diverged_epoch": epoch_or_none(history.diverged_epoch),
        "fit_seconds": round(fit_seconds, 4),
    }
    if not args.no_plot:
        from .plots import plot_training

        plot_training(
            history.metrics,
            args.plot,
            title=f"{data.name}: {settings['loss']}, seed {settings['seed']}",
        )
    if args.json:
        curves = {
            k: [None if not math.isfinite(v) else v for v in a[:, 0].tolist()]
            for k, a in history.metrics.items()
        }
        print(
            _to_json(
                {"settings": settings, "metrics": metrics, **summary, "history": curves}
            )
        )
        return 0
    _print_dataset_metrics(data, metrics, summary)
    if not args.no_plot:
        print(f"loss curves written to {args.plot}")
    if args.save:
        print(f"model saved to {args.save}")
    return 0


def _print_dataset_metrics(
    data: Any, metrics: dict[str, Any], summary: dict[str, Any]
) -> None:
    from rich.table import Table

    console = _stdout_console()
    regression = data.task == "regression"
    table = Table(title=None)
    table.add_column("part")
    table.add_column("rows", justify="right")
    for name in ("RMSE", "R^2") if regression else ("accuracy",):
        table.add_column(name, justify="right")
    for part, m in metrics.items():
        values = (
            [f"{m['rmse']:.4g}", f"{m['r2']:.4f}"]
            if regression
            else [f"{100 * m['accuracy']:.2f}%"]
        )
        table.add_row(part, str(m["n_samples"]), *values)
    console.print(table)
    if not regression:
        matrix = Table(
            title="test confusion matrix (rows: true class, columns: predicted)"
        )
        matrix.add_column("")
        for label in data.classes:
            matrix.add_column(str(label), justify="right")
        for label, row in zip(
            data.classes, metrics["test"]["confusion_matrix"], strict=True
        ):
            matrix.add_row(str(label), *map(str, row))
        console.print(matrix)
    line = f"{summary['epochs_trained']} epochs in {summary['fit_seconds']:.2f} s"
    if summary["resumed_at_epoch"]:
        line += (
            f" (resumed at epoch {summary['resumed_at_epoch']}, now at "
            f"{summary['epochs_run']})"
        )
    if summary["stopped_epoch"] is not None:
        line += f"; stopped early at epoch {summary['stopped_epoch']}"
    if summary["best_epoch"] is not None:
        line += f"; weights of epoch {summary['best_epoch']} (best validation loss)"
    if summary["diverged_epoch"] is not None:
        line += f"; diverged at epoch {summary['diverged_epoch']}"
    console.print(line)
