"""The options that choose a network and an optimizer, and the setup they build.

train, gradcheck, diagnose and lr-find share these: ``_add_network_options`` and
``_add_optimizer_options`` declare the options, ``_setup_from_args`` turns them into
a config, loss, data and optimizer (from the original XOR program's defaults), and
``_settings`` / ``_print_settings`` report what is in force.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_common import MAX_EPOCHS, UsageError, _floats, _sizes, _stdout_console


def _add_network_options(p: argparse.ArgumentParser) -> None:
    """Options that choose the network, loss and data (train, gradcheck)."""
    g = p.add_argument_group("network (defaults: the original XOR program, corrected)")
    g.add_argument(
        "--original",
        action="store_true",
        help="keep the original program's derivative mistake",
    )
    g.add_argument(
        "--hidden", type=_sizes, help="hidden layer widths, e.g. 4,8 (default 4)"
    )
    g.add_argument("--activation", help="hidden activation (default sigmoid)")
    g.add_argument(
        "--output-activation",
        help="output activation (default sigmoid; identity for the logit losses)",
    )
    g.add_argument(
        "--loss", help="sse, mse, binary_cross_entropy or cross_entropy (default sse)"
    )
    g.add_argument(
        "--init",
        help="glorot_uniform, glorot_normal, he_uniform, he_normal, "
        "uniform[:LOW,HIGH] or normal[:STD] (default uniform = [0, 1))",
    )
    g.add_argument(
        "--no-bias",
        action="store_true",
        default=None,
        help="no bias vectors (the original has none; default)",
    )
    g.add_argument(
        "--bias",
        dest="no_bias",
        action="store_false",
        help="add a bias vector to every layer",
    )
    g.add_argument("--dtype", choices=("float64", "float32"), help="default float64")
    g.add_argument(
        "--seed", type=int, help="seed of the weights and shuffling (default 0)"
    )
    g.add_argument(
        "--data", metavar="FILE.csv", help="train on a CSV file instead of XOR"
    )
    g.add_argument("--target", metavar="COLUMN", help="the CSV's target column")


def _add_optimizer_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimizer (defaults: EMA momentum 0.5, rate 0.5)")
    g.add_argument("--lr", type=_floats, help="learning rate (default 0.5)")
    g.add_argument(
        "--momentum", type=_floats, help="momentum or EMA coefficient (default 0.5)"
    )
    g.add_argument(
        "--momentum-style",
        choices=("classical", "lr-inside", "dampened", "ema"),
        help="momentum convention (default ema, the original's)",
    )
    g.add_argument("--dampening", type=_floats, help="for --momentum-style dampened")
    g.add_argument(
        "--nesterov", action="store_true", default=None, help="Nesterov momentum"
    )
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
            raise UsageError(
                "--data and --target go together (a CSV file and its column)"
            )
        csv_data = load_csv(args.data, args.target, getattr(args, "task", None))
        x, y, head = _csv_head(csv_data)
    else:
        head = (1, setup.loss)
    config = setup.config
    changes: dict[str, Any] = {}
    hidden = args.hidden if args.hidden is not None else config.layer_sizes[1:-1]
    changes["layer_sizes"] = (x.shape[1], *hidden, head[0])
    loss = args.loss or head[1]
    lookup(LOSSES, "loss", loss)
    regression_csv = args.data is not None and head[1] == "mse"
    if (LOSSES[loss].from_logits or regression_csv) and args.output_activation is None:
        changes["output_activation"] = "identity"
    for field, value in (
        ("activation", args.activation),
        ("output_activation", args.output_activation),
        ("init", args.init),
        ("dtype", args.dtype),
    ):
        if value is not None:
            changes[field] = value
    if args.no_bias is not None:
        changes["use_bias"] = not args.no_bias
    config = dataclasses.replace(config, **changes)
    if LOSSES[loss].from_logits and config.output_activation != "identity":
        raise UsageError(
            f"--loss {loss} takes logits, so --output-activation must be "
            f"identity; got {config.output_activation}"
        )
    if loss == "cross_entropy" and config.n_outputs < 2:
        raise UsageError(
            "--loss cross_entropy needs at least 2 outputs (a softmax); "
            "use binary_cross_entropy for one"
        )
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0; got {args.seed}")
    result = {
        "config": config,
        "loss": loss,
        "x": x,
        "y": np.asarray(y),
        "seed": setup.seed if args.seed is None else args.seed,
    }
    if hasattr(args, "lr"):
        result.update(_optimizer_from_args(args, setup))
    return result


def _csv_head(data: Any) -> tuple[Any, Any, tuple[int, str]]:
    """Targets and (n_outputs, default loss) for a CSV's task, as train chooses them.

    Several classes: one-hot targets and softmax cross-entropy from logits; two:
    binary cross-entropy from logits; regression: one output, squared errors.
    """
    import numpy as np

    if data.task == "multiclass":
        n_classes = len(data.classes)
        return data.x, np.eye(n_classes)[data.y], (n_classes, "cross_entropy")
    if data.task == "binary":
        return data.x, data.y.astype(np.float64), (1, "binary_cross_entropy")
    return data.x, data.y, (1, "mse")


def _optimizer_from_args(args: argparse.Namespace, setup: Any) -> dict[str, Any]:
    import dataclasses

    opt_changes = {
        name: value
        for name, value in (
            ("learning_rate", args.lr),
            ("momentum", args.momentum),
            ("momentum_style", args.momentum_style),
            ("dampening", args.dampening),
            ("nesterov", args.nesterov),
            ("weight_decay", args.weight_decay),
        )
        if value is not None
    }
    epochs = setup.n_epochs if args.epochs is None else args.epochs
    if not 1 <= epochs <= MAX_EPOCHS:
        raise UsageError(f"--epochs must be between 1 and {MAX_EPOCHS}; got {epochs}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1; got {args.batch_size}")
    if (
        getattr(args, "optimizer", None) not in (None, "sgd")
        or getattr(args, "schedule", None)
        or getattr(args, "clip_norm", None) is not None
    ):
        optimizer = _make_optimizer(
            args, args.optimizer or "sgd", None, base=setup.optimizer
        )
    else:
        optimizer = dataclasses.replace(setup.optimizer, **opt_changes)
    return {
        "optimizer": optimizer,
        "n_epochs": epochs,
        "batch_size": args.batch_size,
    }


def _settings(s: dict[str, Any]) -> dict[str, Any]:
    """Return the settings in force as plain JSON-able values."""
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


def _print_settings(settings: dict[str, Any]) -> None:

    opt = settings.get("optimizer", {})
    bias = "biases" if settings["use_bias"] else "no biases"
    lines = [
        f"network   {'-'.join(map(str, settings['layer_sizes']))}, "
        f"{settings['activation']} hidden, {settings['output_activation']} output, "
        f"{bias}, init {settings['init']}, {settings['dtype']}",
        f"loss      {settings['loss']}",
    ]
    if opt and opt["name"] != "SGD":  # adaptive, scheduled or chained
        lines.append(f"optimizer {_describe_optimizer(opt)}")
    elif opt:
        nesterov = ", nesterov" if opt["nesterov"] else ""
        dampened = opt["momentum_style"] == "dampened"
        dampening = f", dampening {opt['dampening']}" if dampened else ""
        lines.append(
            f"optimizer SGD lr {opt['learning_rate']}, momentum {opt['momentum']} "
            f"({opt['momentum_style']}{nesterov}{dampening}), "
            f"weight decay {opt['weight_decay']}"
        )
    if opt:
        batch = settings["batch_size"] or "full"
        lines.append(
            f"training  {settings['epochs']} epochs, batch {batch}, "
            f"seed {settings['seed']}"
        )
    _stdout_console().print("\n".join(lines))


_OPTIMIZER_OPTIONS = (  # command-line option -> optimizer field
    ("lr", "learning_rate"),
    ("momentum", "momentum"),
    ("momentum_style", "momentum_style"),
    ("dampening", "dampening"),
    ("nesterov", "nesterov"),
    ("weight_decay", "weight_decay"),
)


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
    options = {
        f: getattr(args, o)
        for o, f in _OPTIMIZER_OPTIONS
        if getattr(args, o) is not None
    }
    fields = {f.name for f in dataclasses.fields(cls)}
    for option, field in _OPTIMIZER_OPTIONS:
        if field in options and field not in fields:
            raise UsageError(
                f"--{option.replace('_', '-')} does not apply to --optimizer {name}"
            )
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


def _describe_optimizer(opt: dict[str, Any]) -> str:
    """One line for an ``optimizer_config`` dict: name, rate, chain, other fields."""
    if opt["name"] == "chain":
        return " -> ".join(_describe_optimizer(t) for t in opt["transforms"])
    fields = ", ".join(
        f"{k} {v}" for k, v in opt.items() if k != "name" and not isinstance(v, dict)
    )
    rate = opt.get("learning_rate")
    if isinstance(rate, dict):
        fields = f"learning_rate {_describe_optimizer(rate)}, {fields}"
    return f"{opt['name']} ({fields})"
