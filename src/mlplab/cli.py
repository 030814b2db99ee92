"""The ``mlplab`` command line: parse arguments, call the public API, print.

Every subcommand is a pair ``_add_<name>(subparsers)`` / ``_run_<name>(args)``.
A user mistake prints one line to stderr and exits with 2; ``--json`` prints
one JSON document to stdout; progress bars go to stderr. Heavy modules
(NumPy, rich, matplotlib) are imported inside the handlers so that
``mlplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["main"]


class UsageError(Exception):
    """A mistake in the command line or its inputs: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return 0
        return int(args.run(args))
    except (UsageError, ValueError, TypeError) as e:
        print(f"mlplab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlplab: interrupted", file=sys.stderr)
        return 130


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlplab",
        description="Train, check and understand multilayer perceptrons in NumPy.",
    )
    sub = parser.add_subparsers(title="commands", parser_class=_Parser)
    _add_train(sub)
    _add_gradcheck(sub)
    _add_diagnose(sub)  # issue 8
    _add_lr_find(sub)  # issue 8
    return parser


# ---------------------------------------------------------------- shared options


def _floats(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 4,8; got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return sizes


def _add_network_options(p: argparse.ArgumentParser) -> None:
    """Options that choose the network, loss and data (train, gradcheck)."""
    g = p.add_argument_group("network (defaults: the original XOR program, corrected)")
    g.add_argument("--original", action="store_true",
                   help="keep the original program's derivative mistake")
    g.add_argument("--hidden", type=_sizes, help="hidden layer widths, e.g. 4,8 (default 4)")
    g.add_argument("--activation", help="hidden activation (default sigmoid)")
    g.add_argument("--output-activation", help="output activation (default sigmoid; "
                   "identity for the logit losses)")
    g.add_argument("--loss", help="sse, mse, binary_cross_entropy or cross_entropy (default sse)")
    g.add_argument("--init", help="glorot_uniform, glorot_normal, he_uniform, he_normal, "
                   "uniform[:LOW,HIGH] or normal[:STD] (default uniform = [0, 1))")
    g.add_argument("--no-bias", action="store_true", default=None,
                   help="no bias vectors (the original has none; default)")
    g.add_argument("--bias", dest="no_bias", action="store_false",
                   help="add a bias vector to every layer")
    g.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
    g.add_argument("--seed", type=int, help="seed of the weights and shuffling (default 0)")
    g.add_argument("--data", metavar="FILE.csv", help="train on a CSV file instead of XOR")
    g.add_argument("--target", metavar="COLUMN", help="the CSV's target column")


def _add_optimizer_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimizer (defaults: EMA momentum 0.5, rate 0.5)")
    g.add_argument("--lr", type=_floats, help="learning rate (default 0.5)")
    g.add_argument("--momentum", type=_floats, help="momentum or EMA coefficient (default 0.5)")
    g.add_argument("--momentum-style", choices=("classical", "lr-inside", "dampened", "ema"),
                   help="momentum convention (default ema, the original's)")
    g.add_argument("--dampening", type=_floats, help="for --momentum-style dampened")
    g.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    g.add_argument("--weight-decay", type=_floats, help="coupled L2 on the weights")
    g.add_argument("--epochs", type=int, help="number of epochs (default 10000)")
    g.add_argument("--batch-size", type=int, help="rows per step (default: full batch)")


def _setup_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Start from the original setup and override only what was given."""
    import dataclasses

    import numpy as np

    from ._validation import lookup
    from .datasets import load_csv
    from .losses import LOSSES
    from .presets import original_setup

    setup = original_setup(fixed=not args.original)
    x, y = setup.x, setup.y
    if args.data is not None or args.target is not None:
        if args.data is None or args.target is None:
            raise UsageError("--data and --target go together (a CSV file and its column)")
        csv_data = load_csv(args.data, args.target)
        x, y = csv_data.x, csv_data.y
    config = setup.config
    changes: dict[str, Any] = {}
    hidden = args.hidden if args.hidden is not None else config.layer_sizes[1:-1]
    changes["layer_sizes"] = (x.shape[1], *hidden, 1)
    loss = args.loss or setup.loss
    lookup(LOSSES, "loss", loss)
    if LOSSES[loss].from_logits and args.output_activation is None:
        changes["output_activation"] = "identity"
    for field, value in (("activation", args.activation),
                         ("output_activation", args.output_activation),
                         ("init", args.init), ("dtype", args.dtype)):
        if value is not None:
            changes[field] = value
    if args.no_bias is not None:
        changes["use_bias"] = not args.no_bias
    config = dataclasses.replace(config, **changes)
    result = {"config": config, "loss": loss, "x": x, "y": np.asarray(y),
              "seed": setup.seed if args.seed is None else args.seed}
    if hasattr(args, "lr"):
        result.update(_optimizer_from_args(args, setup))
    return result


def _optimizer_from_args(args: argparse.Namespace, setup: Any) -> dict[str, Any]:
    import dataclasses

    opt_changes = {
        name: value
        for name, value in (
            ("learning_rate", args.lr), ("momentum", args.momentum),
            ("momentum_style", args.momentum_style), ("dampening", args.dampening),
            ("nesterov", args.nesterov), ("weight_decay", args.weight_decay),
        )
        if value is not None
    }
    epochs = setup.n_epochs if args.epochs is None else args.epochs
    if epochs < 1:
        raise UsageError(f"--epochs must be >= 1; got {epochs}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1; got {args.batch_size}")
    if getattr(args, "optimizer", None) not in (None, "sgd") or getattr(
        args, "schedule", None) or getattr(args, "clip_norm", None) is not None:
        optimizer = _make_optimizer(args, args.optimizer or "sgd", None,
                                    base=setup.optimizer)
    else:
        optimizer = dataclasses.replace(setup.optimizer, **opt_changes)
    return {
        "optimizer": optimizer,
        "n_epochs": epochs,
        "batch_size": args.batch_size,
    }


def _settings(s: dict[str, Any]) -> dict[str, Any]:
    """The settings in force, as plain JSON-able values."""
    import dataclasses

    out: dict[str, Any] = {"loss": s["loss"], "seed": s["seed"]}
    out.update(dataclasses.asdict(s["config"]))
    out["layer_sizes"] = list(out["layer_sizes"])
    if "optimizer" in s:
        opt = s["optimizer"]
        if hasattr(opt, "momentum_style") and not callable(opt.learning_rate):
            out["optimizer"] = {"name": type(opt).__name__, **dataclasses.asdict(opt)}
        else:  # adaptive, scheduled or chained: the registry's config
            from .transforms import optimizer_config

            out["optimizer"] = optimizer_config(opt)
        out["epochs"] = s["n_epochs"]
        out["batch_size"] = s["batch_size"]
    return out


# ---------------------------------------------------------------- train


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a network (default: the original XOR program)",
                       description="Train a network. With no options: the Code Review XOR "
                       "program (3-4-1 sigmoid, no biases, [0,1) init, sum of squared errors, "
                       "EMA momentum 0.5, rate 0.5, 10,000 full-batch steps, seed 0) with "
                       "correct backpropagation. Each option overrides only its own setting.")
    _add_network_options(p)
    _add_optimizer_options(p)
    _add_dataset_options(p)
    out = p.add_argument_group("output")
    out.add_argument("--plot", default="loss.png", metavar="PATH",
                     help="PNG of the loss curve (default loss.png)")
    out.add_argument("--no-plot", action="store_true", help="do not write the plot")
    out.add_argument("--json", action="store_true",
                     help="print one JSON document (settings, losses, outputs) instead")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

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
    with _progress(s["n_epochs"], quiet=args.json) as progress_callback:
        result = fit(s["config"], s["x"], s["y"], loss=s["loss"], optimizer=s["optimizer"],
                     n_epochs=s["n_epochs"], seeds=[s["seed"]], batch_size=s["batch_size"],
                     callbacks=[progress_callback])
    loss_fn = LOSSES[s["loss"]]
    x = np.asarray(s["x"], s["config"].np_dtype)
    outputs = loss_fn.link(predict_raw(result.params, s["config"], x))[0]
    losses = result.history.loss[:, 0]
    diverged = int(result.history.diverged_epoch[0])
    if not args.no_plot:
        from .plots import plot_loss

        plot_loss(losses, args.plot, title=f"{s['loss']} loss, seed {s['seed']}")
    if args.json:
        doc = {"settings": settings, "final_loss": float(losses[-1]),
               "diverged_epoch": None if diverged < 0 else diverged,
               "inputs": x.tolist(), "targets": np.asarray(s["y"]).tolist(),
               "outputs": outputs.tolist(), "losses": losses.tolist()}
        print(json.dumps(doc))
        return 0
    _print_outputs(x, np.asarray(s["y"]), outputs, float(losses[-1]), diverged)
    if not args.no_plot:
        print(f"loss curve written to {args.plot}")
    return 0


def _print_settings(settings: dict[str, Any]) -> None:
    from rich.console import Console

    opt = settings.get("optimizer", {})
    lines = [
        f"network   {'-'.join(map(str, settings['layer_sizes']))}, "
        f"{settings['activation']} hidden, {settings['output_activation']} output, "
        f"{'biases' if settings['use_bias'] else 'no biases'}, init {settings['init']}, "
        f"{settings['dtype']}",
        f"loss      {settings['loss']}",
    ]
    if opt and opt["name"] != "SGD":  # adaptive, scheduled or chained
        lines.append(f"optimizer {_describe_optimizer(opt)}")
        batch = settings["batch_size"] or "full"
        seed = settings["seed"]
        lines.append(f"training  {settings['epochs']} epochs, batch {batch}, "
                     f"seed {seed}")
    elif opt:
        lines.append(
            f"optimizer SGD lr {opt['learning_rate']}, momentum {opt['momentum']} "
            f"({opt['momentum_style']}{', nesterov' if opt['nesterov'] else ''}"
            f"{', dampening ' + str(opt['dampening']) if opt['momentum_style'] == 'dampened' else ''}), "
            f"weight decay {opt['weight_decay']}"
        )
        batch = settings["batch_size"] or "full"
        lines.append(f"training  {settings['epochs']} epochs, batch {batch}, seed {settings['seed']}")
    Console(highlight=False).print("\n".join(lines))


def _print_outputs(x: Any, y: Any, outputs: Any, final_loss: float, diverged: int) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    table = Table(title=None)
    table.add_column("input")
    table.add_column("target", justify="right")
    table.add_column("output", justify="right")
    shown = min(len(x), 10)
    for i in range(shown):
        table.add_row(" ".join(f"{v:g}" for v in x[i]),
                      " ".join(f"{v:g}" for v in np.atleast_1d(y[i])),
                      " ".join(f"{v:.4f}" for v in outputs[i]))
    console = Console(highlight=False)
    console.print(table)
    if shown < len(x):
        console.print(f"(first {shown} of {len(x)} rows)")
    console.print(f"final loss {final_loss:.6g}")
    if diverged >= 0:
        console.print(f"the loss turned non-finite at epoch {diverged}; "
                      "the last finite weights were kept")


class _progress:
    """A rich progress bar on stderr, driven by fit's epoch callback."""

    def __init__(self, n_epochs: int, quiet: bool = False) -> None:
        self.n_epochs, self.quiet = n_epochs, quiet

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda view: None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("training", total=self.n_epochs)
        every = max(1, self.n_epochs // 100)

        def callback(view: Any) -> None:
            if view.epoch % every == 0 or view.epoch == view.n_epochs:
                self.bar.update(task, completed=view.epoch)

        return callback

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.bar.stop()


# ---------------------------------------------------------------- train on a data set
# (``--dataset NAME`` or ``--data FILE.csv --target COLUMN``; owner: branch data)

_OPTIMIZER_OPTIONS = (  # command-line option -> optimizer field
    ("lr", "learning_rate"), ("momentum", "momentum"),
    ("momentum_style", "momentum_style"), ("dampening", "dampening"),
    ("nesterov", "nesterov"), ("weight_decay", "weight_decay"),
)


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "data sets and training controls (defaults per data set; see README)")
    g.add_argument("--dataset", metavar="NAME",
                   help="xor, xor_2d, digits, iris, wine, breast_cancer, diabetes, "
                   "moons, circles or quadrant_xor (output layer and loss follow the "
                   "task)")
    g.add_argument("--task", choices=("binary", "multiclass", "regression"),
                   help="with --data: override the guess (non-numeric or integer "
                   "target "
                   "with <= 10 values -> classification, else regression)")
    g.add_argument("--test-size", type=_floats, default=0.2,
                   help="held-out test fraction, in (0, 1) (default 0.2)")
    g.add_argument("--validation-split", type=_floats,
                   help="fraction of the training part held out for validation, "
                   "in [0, 1)")
    g.add_argument("--scale", dest="scale", action="store_true", default=None,
                   help="standardise features (fitted on the training part; default "
                   "for "
                   "the bundled real sets and CSV files)")
    g.add_argument("--no-scale", dest="scale", action="store_false",
                   help="do not standardise features")
    g.add_argument("--optimizer",
                   choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"),
                   help="default sgd for XOR, adam for data sets")
    g.add_argument("--schedule", metavar="SPEC",
                   help="learning-rate schedule, in optimizer steps: step:N[,GAMMA], "
                   "multistep:M1+M2[,GAMMA], exponential:GAMMA, invscaling[:POWER], "
                   "cosine:T_MAX[,WARMUP[,MIN_LR]]; or plateau[:FACTOR[,PATIENCE]] "
                   "(reduce on a validation-loss plateau, in epochs)")
    g.add_argument("--clip-norm", type=_floats, metavar="MAX",
                   help="clip the gradients' global norm per member")
    g.add_argument("--early-stopping", action="store_true", default=None,
                   help="stop when the validation loss stalls; restore the best "
                   "weights")
    g.add_argument("--patience", type=int,
                   help="epochs without improvement before early stopping (default 20)")


def _check_xor_options(args: argparse.Namespace) -> None:
    """Options that need a data set with held-out rows are errors on the XOR program."""
    for flag, value in (("--validation-split", args.validation_split),
                        ("--early-stopping", args.early_stopping),
                        ("--patience", args.patience), ("--task", args.task)):
        if value is not None:
            raise UsageError(f"{flag} needs --dataset or --data (the XOR program has "
                             "four rows and no held-out part)")
    if args.schedule and args.schedule.startswith("plateau"):
        raise UsageError("--schedule plateau needs --dataset or --data")


def _make_optimizer(
    args: argparse.Namespace, name: str, learning_rate: float | None, base: Any = None
) -> Any:
    """Build the optimizer from the options given; chain clipping in front."""
    import dataclasses

    from .optimizers import OPTIMIZERS
    from .schedules import parse_schedule
    from .transforms import chain, clip_by_global_norm

    cls: Any = OPTIMIZERS[name]
    optimizer: Any
    options = {f: getattr(args, o) for o, f in _OPTIMIZER_OPTIONS
               if getattr(args, o) is not None}
    fields = {f.name for f in dataclasses.fields(cls)}
    for option, field in _OPTIMIZER_OPTIONS:
        if field in options and field not in fields:
            raise UsageError(f"--{option.replace('_', '-')} does not apply to "
                             f"--optimizer {name}")
    if base is not None and isinstance(base, cls):
        optimizer = dataclasses.replace(base, **options)
    else:
        if learning_rate is not None:
            options.setdefault("learning_rate", learning_rate)
        optimizer = cls(**options)
    if args.schedule and not args.schedule.startswith("plateau"):
        schedule = parse_schedule(args.schedule, optimizer.learning_rate)
        optimizer = dataclasses.replace(optimizer, learning_rate=schedule)
    if args.clip_norm is not None:
        optimizer = chain(clip_by_global_norm(args.clip_norm), optimizer)
    return optimizer


def _load_data(args: argparse.Namespace) -> Any:
    """Return the Dataset named by --dataset, or read from --data/--target."""
    from .datasets import load_csv, load_dataset

    if args.dataset is not None:
        if args.data is not None or args.target is not None or args.task is not None:
            raise UsageError("--dataset excludes --data, --target and --task")
        return load_dataset(args.dataset, seed=_seed(args))
    if args.target is None:
        raise UsageError("--data and --target go together (a CSV file and its column)")
    return load_csv(args.data, args.target, task=args.task)


def _seed(args: argparse.Namespace) -> int:
    return 0 if args.seed is None else int(args.seed)


def _check_fractions(args: argparse.Namespace, recipe: Any) -> float:
    """Check --test-size and --validation-split; return the validation fraction."""
    if not 0.0 < args.test_size < 1.0:
        raise UsageError(
            f"--test-size must be strictly between 0 and 1; got {args.test_size}")
    split = _option(args, recipe, "validation_split")
    if not 0.0 <= split < 1.0:
        raise UsageError(f"--validation-split must be in [0, 1); got {split}")
    if _option(args, recipe, "early_stopping") and split == 0.0:
        raise UsageError("--early-stopping needs a validation split "
                         "(--validation-split)")
    if args.patience is not None and args.patience < 0:
        raise UsageError(f"--patience must be >= 0; got {args.patience}")
    return float(split)


def _option(args: argparse.Namespace, recipe: Any, name: str) -> Any:
    """Return the option's value if given, else the recipe's default."""
    value = getattr(args, name)
    return getattr(recipe, name) if value is None else value


def _split_parts(args: argparse.Namespace, data: Any, validation_split: float,
                 scale: bool) -> dict[str, Any]:
    """Seeded train/validation/test parts (stratified for classification), scaled.

    Returns the parts ``{name: (x, y)}`` with ``y`` as loaded, the network
    targets of each part (standardised for regression) and ``y_shift``, the
    (mean, deviation) that maps network outputs back to the target's units.
    """
    import numpy as np

    from .datasets import encode_targets, split_data, standardize

    seed, stratify = _seed(args), data.task != "regression"
    x, x_test, y, y_test = split_data(data.x, data.y, test_size=args.test_size,
                                      seed=seed, stratify=stratify)
    parts = {"train": (x, y), "test": (x_test, y_test)}
    if validation_split > 0:
        x, x_val, y, y_val = split_data(x, y, test_size=validation_split, seed=seed,
                                        stratify=stratify)
        parts = {"train": (x, y), "validation": (x_val, y_val),
                 "test": (x_test, y_test)}
    if scale:
        scaled = standardize(*(xy[0] for xy in parts.values()))
        parts = {k: (xs, xy[1])
                 for (k, xy), xs in zip(parts.items(), scaled, strict=True)}
    y_train = parts["train"][1]
    mean, std = (float(np.mean(y_train)), float(np.std(y_train)) or 1.0) \
        if not stratify else (0.0, 1.0)
    targets = {k: encode_targets((y - mean) / std if not stratify else y, data.task,
                                 data.n_classes) for k, (_, y) in parts.items()}
    return {"parts": parts, "targets": targets, "y_shift": (mean, std)}


def _dataset_setup(args: argparse.Namespace, data: Any, recipe: Any) -> dict[str, Any]:
    """Network, loss and optimizer for the data set: the recipe, then the options."""
    from .network import MLPConfig

    loss = {"multiclass": "cross_entropy", "binary": "binary_cross_entropy",
            "regression": "mse"}[data.task]
    hidden = recipe.hidden if args.hidden is None else args.hidden
    config = MLPConfig(
        layer_sizes=(data.x.shape[1], *hidden, data.n_outputs),
        activation=args.activation or recipe.activation, output_activation="identity",
        use_bias=True if args.no_bias is None else not args.no_bias,
        init=args.init or recipe.init, dtype=args.dtype or "float64")
    epochs = recipe.n_epochs if args.epochs is None else args.epochs
    if epochs < 1:
        raise UsageError(f"--epochs must be >= 1; got {epochs}")
    batch = recipe.batch_size if args.batch_size is None else args.batch_size
    if batch is not None and batch < 1:
        raise UsageError(f"--batch-size must be >= 1; got {batch}")
    optimizer = _make_optimizer(args, args.optimizer or recipe.optimizer,
                                recipe.learning_rate)
    return {"config": config, "loss": loss, "optimizer": optimizer, "n_epochs": epochs,
            "batch_size": batch, "seed": _seed(args)}


def _dataset_callbacks(
    args: argparse.Namespace, recipe: Any, validate: bool
) -> list[Any]:
    """EarlyStopping and ReduceLROnPlateau as the options ask."""
    from .callbacks import EarlyStopping, ReduceLROnPlateau

    callbacks: list[Any] = []
    if _option(args, recipe, "early_stopping"):
        callbacks.append(EarlyStopping(patience=_option(args, recipe, "patience")))
    if args.schedule and args.schedule.startswith("plateau"):
        callbacks.append(_plateau(args.schedule, "val_loss" if validate else "loss",
                                  ReduceLROnPlateau))
    return callbacks


def _plateau(spec: str, monitor: str, cls: Any) -> Any:
    """``plateau[:FACTOR[,PATIENCE]]`` -> ReduceLROnPlateau (defaults 0.1 and 10)."""
    name, _, rest = spec.partition(":")
    texts = [t.strip() for t in rest.split(",")] if rest.strip() else []
    if name != "plateau" or len(texts) > 2:
        raise UsageError(
            f"schedule {spec!r} does not match 'plateau[:FACTOR[,PATIENCE]]'")
    try:
        factor = float(texts[0]) if texts else 0.1
        patience = int(texts[1]) if len(texts) > 1 else 10
    except ValueError:
        raise UsageError(f"schedule {spec!r}: FACTOR must be a number and PATIENCE an "
                         "integer") from None
    return cls(monitor=monitor, factor=factor, patience=patience)


def _run_train_dataset(args: argparse.Namespace) -> int:
    import time

    from .presets import dataset_recipe
    from .training import fit

    for flag, value in (("--loss", args.loss),
                        ("--output-activation", args.output_activation),
                        ("--original", args.original or None)):
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
    with _progress(s["n_epochs"], quiet=args.json) as progress_callback:
        result = fit(s["config"], parts["train"][0], targets["train"], loss=s["loss"],
                     optimizer=s["optimizer"], n_epochs=s["n_epochs"],
                     seeds=[s["seed"]], batch_size=s["batch_size"],
                     callbacks=[*callbacks, progress_callback],
                     validation_data=(parts["validation"][0], targets["validation"])
                     if "validation" in parts else None)
    fit_seconds = time.perf_counter() - start
    metrics = {
        k: _part_metrics(result.params, s["config"], data, x, y, split["y_shift"])
        for k, (x, y) in parts.items()
    }
    return _report_dataset(args, settings, data, result, metrics, callbacks,
                           fit_seconds)


def _part_metrics(params: Any, config: Any, data: Any, x: Any, y: Any,
                  y_shift: tuple[float, float]) -> dict[str, Any]:
    """Accuracy and confusion matrix, or RMSE and R^2 (in the target's units)."""
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        mean_squared_error,
        r2_score,
    )

    from .network import predict_raw

    out = predict_raw(params, config, np.asarray(x, config.np_dtype))[0]
    if data.task == "regression":
        pred = out[:, 0] * y_shift[1] + y_shift[0]
        return {"rmse": float(np.sqrt(mean_squared_error(y, pred))),
                "r2": float(r2_score(y, pred)), "n_samples": len(y)}
    pred = np.argmax(out, axis=1) if data.task == "multiclass" else (out[:, 0] > 0)
    labels = np.arange(data.n_classes)
    return {"accuracy": float(accuracy_score(y, pred)), "n_samples": len(y),
            "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist()}


def _dataset_settings(
    s: dict[str, Any], args: argparse.Namespace, data: Any, recipe: Any,
    validation_split: float, scale: bool,
) -> dict[str, Any]:
    """Return the settings in force for a data-set run as plain JSON-able values."""
    out = _settings(s)
    early = _option(args, recipe, "early_stopping")
    out.update({
        "dataset": data.name, "task": data.task, "n_samples": int(data.x.shape[0]),
        "n_features": int(data.x.shape[1]), "classes": [str(c) for c in data.classes],
        "test_size": args.test_size, "validation_split": validation_split,
        "scale": scale, "early_stopping": early,
        "patience": _option(args, recipe, "patience") if early else None,
        "schedule": args.schedule,
    })
    return out


def _describe_optimizer(opt: dict[str, Any]) -> str:
    """One line for an ``optimizer_config`` dict: name, rate, chain, other fields."""
    if opt["name"] == "chain":
        return " -> ".join(_describe_optimizer(t) for t in opt["transforms"])
    fields = ", ".join(f"{k} {v}" for k, v in opt.items()
                       if k != "name" and not isinstance(v, dict))
    rate = opt.get("learning_rate")
    if isinstance(rate, dict):
        fields = f"learning_rate {_describe_optimizer(rate)}, {fields}"
    return f"{opt['name']} ({fields})"


def _print_dataset_settings(settings: dict[str, Any]) -> None:
    from rich.console import Console

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
        + (f", early stopping (patience {settings['patience']})"
           if settings["early_stopping"] else ""),
    ]
    Console(highlight=False).print("\n".join(lines))


def _report_dataset(args: argparse.Namespace, settings: dict[str, Any], data: Any,
                    result: Any, metrics: dict[str, Any], callbacks: list[Any],
                    fit_seconds: float) -> int:
    """Plot, then print the metrics (or one JSON document)."""
    import math

    history = result.history
    stopper = next((c for c in callbacks if hasattr(c, "stopped_epoch")), None)
    def epoch_or_none(epochs: Any) -> int | None:
        return None if epochs is None or epochs[0] < 0 else int(epochs[0])

    summary = {
        "epochs_run": history.n_epochs,
        "best_epoch": epoch_or_none(getattr(stopper, "best_epoch", None)),
        "stopped_epoch": epoch_or_none(getattr(stopper, "stopped_epoch", None)),
        "diverged_epoch": epoch_or_none(history.diverged_epoch),
        "fit_seconds": round(fit_seconds, 4),
    }
    if not args.no_plot:
        from .plots import plot_training

        plot_training(history.metrics, args.plot,
                      title=f"{data.name}: {settings['loss']}, seed {settings['seed']}")
    if args.json:
        curves = {k: [None if not math.isfinite(v) else v for v in a[:, 0].tolist()]
                  for k, a in history.metrics.items()}
        print(json.dumps({"settings": settings, "metrics": metrics, **summary,
                          "history": curves}))
        return 0
    _print_dataset_metrics(data, metrics, summary)
    if not args.no_plot:
        print(f"loss curves written to {args.plot}")
    return 0


def _print_dataset_metrics(data: Any, metrics: dict[str, Any],
                           summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    regression = data.task == "regression"
    table = Table(title=None)
    table.add_column("part")
    table.add_column("rows", justify="right")
    for name in (("RMSE", "R^2") if regression else ("accuracy",)):
        table.add_column(name, justify="right")
    for part, m in metrics.items():
        values = ([f"{m['rmse']:.4g}", f"{m['r2']:.4f}"] if regression
                  else [f"{100 * m['accuracy']:.2f}%"])
        table.add_row(part, str(m["n_samples"]), *values)
    console.print(table)
    if not regression:
        matrix = Table(
            title="test confusion matrix (rows: true class, columns: predicted)")
        matrix.add_column("")
        for label in data.classes:
            matrix.add_column(str(label), justify="right")
        for label, row in zip(data.classes, metrics["test"]["confusion_matrix"],
                              strict=True):
            matrix.add_row(str(label), *map(str, row))
        console.print(matrix)
    line = f"{summary['epochs_run']} epochs in {summary['fit_seconds']:.2f} s"
    if summary["stopped_epoch"] is not None:
        line += f"; stopped early at epoch {summary['stopped_epoch']}"
    if summary["best_epoch"] is not None:
        line += f"; weights of epoch {summary['best_epoch']} (best validation loss)"
    if summary["diverged_epoch"] is not None:
        line += f"; diverged at epoch {summary['diverged_epoch']}"
    console.print(line)


# ---------------------------------------------------------------- gradcheck


def _add_gradcheck(sub: Any) -> None:
    p = sub.add_parser("gradcheck", help="check backpropagation against central differences",
                       description="Compare the network's backpropagated gradients with "
                       "central differences of the reported loss, per parameter array. "
                       "Exits with 1 when any array's relative error exceeds --tol.")
    _add_network_options(p)
    p.add_argument("--tol", type=_floats, default=1e-6, help="relative error allowed (1e-6)")
    p.add_argument("--eps", type=_floats, default=1e-6, help="central-difference step (1e-6)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_gradcheck)


def _run_gradcheck(args: argparse.Namespace) -> int:
    from .gradcheck import gradient_check

    if not args.tol > 0 or not args.eps > 0:
        raise UsageError(f"--tol and --eps must be > 0; got {args.tol} and {args.eps}")
    s = _setup_from_args(args)
    rows = gradient_check(s["config"], s["x"], s["y"], loss=s["loss"], seeds=(s["seed"],),
                          eps=args.eps)
    failed = [r.name for r in rows if not r.passed(args.tol)]
    if args.json:
        print(json.dumps({"settings": _settings(s), "tol": args.tol, "passed": not failed,
                          "arrays": [r._asdict() for r in rows]}))
        return 1 if failed else 0
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("array", "relative error", "worst |difference|", "at", "verdict"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.name, f"{r.rel_error:.3e}", f"{r.worst_abs:.3e}", str(r.worst_index),
                      "ok" if r.passed(args.tol) else "WRONG")
    console = Console(highlight=False)
    console.print(table)
    if failed:
        console.print(f"gradient check FAILED for {', '.join(failed)} (tolerance "
                      f"{args.tol:g}): backpropagation does not compute the gradient "
                      "of the loss")
        return 1
    console.print(f"gradient check passed (tolerance {args.tol:g})")
    return 0


# ---------------------------------------------------------------- diagnose (issue 8)


def _add_diagnose(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="say why a run stalls or diverges, and what to change",
        description="Train a configuration (the same options as train) and "
        "report, with the numbers behind each: gradient correctness, the "
        "constant-predictor plateau, saturated or dead units, vanishing or "
        "exploding gradients, the step size against the curvature, the "
        "effective learning rate, and (with --seeds) how other seeds fare. "
        "--try-fixes runs the suggested changes over the same seeds.",
    )
    _add_network_options(p)
    _add_optimizer_options(p)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="also train N seeds (--seed first) through the sweep engine",
    )
    p.add_argument(
        "--try-fixes",
        action="store_true",
        help="run each suggested change over the same seeds; report success rates",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_diagnose)


def _seed_list(first: int, n: int) -> list[int]:
    """``first``, then 0, 1, ... (skipping ``first``): n seeds in all."""
    return [first, *[s for s in range(n) if s != first]][:n]


def _run_diagnose(args: argparse.Namespace) -> int:
    from .diagnosis import diagnose

    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1; got {args.seeds}")
    s = _setup_from_args(args)
    seeds = _seed_list(s["seed"], max(args.seeds, 2 if args.try_fixes else 1))
    with _Status("diagnosing", quiet=args.json):
        report = diagnose(
            s["config"],
            s["x"],
            s["y"],
            loss=s["loss"],
            optimizer=s["optimizer"],
            n_epochs=s["n_epochs"],
            seeds=seeds,
            batch_size=s["batch_size"],
            try_fixes=args.try_fixes,
        )
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    _print_settings(_settings(s))
    print(report.text())
    return 0


class _Status:
    """A rich spinner on stderr while a long computation runs."""

    def __init__(self, text: str, quiet: bool = False) -> None:
        self.text, self.quiet = text, quiet

    def __enter__(self) -> None:
        if not self.quiet:
            from rich.console import Console

            self.spinner = Console(stderr=True).status(self.text)
            self.spinner.start()

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.spinner.stop()


# ---------------------------------------------------------------- lr-find (issue 8)


def _add_lr_find(sub: Any) -> None:
    p = sub.add_parser(
        "lr-find",
        help="learning-rate range test: loss against rate, a suggestion",
        description="Train a fresh network while raising the learning rate "
        "exponentially from --min-lr to --max-lr (one rate per epoch), stop "
        "when the loss diverges, plot the loss against the rate and print a "
        "suggested rate. Momentum settings are those of the options (--lr is "
        "ignored).",
    )
    _add_network_options(p)
    _add_optimizer_options(p)
    p.add_argument("--min-lr", type=_floats, default=1e-4, help="first rate (1e-4)")
    p.add_argument("--max-lr", type=_floats, default=10.0, help="last rate (10)")
    p.add_argument("--steps", type=int, default=100, help="number of rates (100)")
    p.add_argument(
        "--plot",
        default="lr_find.png",
        metavar="PATH",
        help="PNG of the loss against the rate (default lr_find.png)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the plot")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_lr_find)


def _run_lr_find(args: argparse.Namespace) -> int:
    from .lr_find import lr_find

    s = _setup_from_args(args)
    with _Status("range test", quiet=args.json):
        r = lr_find(
            s["config"],
            s["x"],
            s["y"],
            loss=s["loss"],
            optimizer=s["optimizer"],
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            n_steps=args.steps,
            seeds=[s["seed"]],
            batch_size=s["batch_size"],
        )
    if not args.no_plot:
        from .plots import plot_lr_find

        plot_lr_find(
            r.rates,
            r.losses,
            args.plot,
            r.suggested_rate,
            title=f"{s['loss']} loss against learning rate, seed {s['seed']}",
        )
    if args.json:
        print(
            json.dumps(
                {
                    "settings": _settings(s),
                    "suggested_rate": r.suggested_rate,
                    "steepest_rate": r.steepest_rate,
                    "min_loss_rate": r.min_loss_rate,
                    "diverged": r.diverged,
                    "rates": r.rates.tolist(),
                    "losses": r.losses.tolist(),
                }
            )
        )
        return 0
    print(
        f"loss {r.losses[0]:.4g} at rate {r.rates[0]:.3g}, "
        f"lowest {r.losses.min():.4g} at "
        f"rate {r.min_loss_rate:.3g}"
        + (f", diverged after rate {r.rates[-1]:.3g}" if r.diverged else "")
    )
    print(f"steepest descent at rate {r.steepest_rate:.3g}")
    print(f"suggested learning rate: {r.suggested_rate:.3g}")
    if not args.no_plot:
        print(f"loss against rate written to {args.plot}")
    return 0
