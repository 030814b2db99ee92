"""The data-set side of ``mlplab train``: ``--dataset NAME``, ``--data FILE --target``.

Its options and their checks, the seeded train/validation/test split (scaled on
the training part), the network and optimizer from the data set's recipe, the
callbacks, and the metrics and settings each part reports. (Owner: branch data.)
"""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_common import MAX_EPOCHS, UsageError, _floats
from ._cli_setup import _make_optimizer, _settings

DEFAULT_TEST_SIZE = 0.2  # train --dataset/--data: the held-out test fraction


def _add_dataset_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "data sets and training controls (defaults per data set; see README)"
    )
    g.add_argument(
        "--dataset",
        metavar="NAME",
        help="xor, xor_2d, digits, iris, wine, breast_cancer, diabetes, "
        "moons, circles or quadrant_xor (output layer and loss follow the "
        "task)",
    )
    g.add_argument(
        "--task",
        choices=("binary", "multiclass", "regression"),
        help="with --data: override the guess (non-numeric or integer "
        "target "
        "with <= 10 values -> classification, else regression)",
    )
    g.add_argument(
        "--test-size",
        type=_floats,
        help=f"held-out test fraction, in (0, 1) (default {DEFAULT_TEST_SIZE})",
    )
    g.add_argument(
        "--validation-split",
        type=_floats,
        help="fraction of the training part held out for validation, in [0, 1)",
    )
    g.add_argument(
        "--scale",
        dest="scale",
        action="store_true",
        default=None,
        help="standardise features (fitted on the training part; default "
        "for "
        "the bundled real sets and CSV files)",
    )
    g.add_argument(
        "--no-scale",
        dest="scale",
        action="store_false",
        help="do not standardise features",
    )
    g.add_argument(
        "--optimizer",
        choices=("sgd", "adam", "adamw", "rmsprop", "adagrad"),
        help="default sgd for XOR, adam for data sets",
    )
    g.add_argument(
        "--schedule",
        metavar="SPEC",
        help="learning-rate schedule, in optimizer steps: step:N[,GAMMA], "
        "multistep:M1+M2[,GAMMA], exponential:GAMMA, invscaling[:POWER], "
        "cosine:T_MAX[,WARMUP[,MIN_LR]]; or plateau[:FACTOR[,PATIENCE]] "
        "(reduce on a validation-loss plateau, in epochs)",
    )
    g.add_argument(
        "--clip-norm",
        type=_floats,
        metavar="MAX",
        help="clip the gradients' global norm per member",
    )
    g.add_argument(
        "--early-stopping",
        action="store_true",
        default=None,
        help="stop when the validation loss stalls; restore the best weights",
    )
    g.add_argument(
        "--patience",
        type=int,
        help="epochs without improvement before early stopping (default 20)",
    )


def _check_xor_options(args: argparse.Namespace) -> None:
    """Options that need a data set with held-out rows are errors on the XOR program."""
    for flag, value in (
        ("--validation-split", args.validation_split),
        ("--early-stopping", args.early_stopping),
        ("--patience", args.patience),
        ("--test-size", args.test_size),
        ("--task", args.task),
    ):
        if value is not None:
            raise UsageError(
                f"{flag} needs --dataset or --data (the XOR program has "
                "four rows and no held-out part)"
            )
    if args.schedule and args.schedule.startswith("plateau"):
        raise UsageError("--schedule plateau needs --dataset or --data")


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
    if args.test_size is None:
        args.test_size = DEFAULT_TEST_SIZE
    if not 0.0 < args.test_size < 1.0:
        raise UsageError(
            f"--test-size must be strictly between 0 and 1; got {args.test_size}"
        )
    split = _option(args, recipe, "validation_split")
    if not 0.0 <= split < 1.0:
        raise UsageError(f"--validation-split must be in [0, 1); got {split}")
    if _option(args, recipe, "early_stopping") and split == 0.0:
        raise UsageError(
            "--early-stopping needs a validation split (--validation-split)"
        )
    if args.patience is not None and args.patience < 0:
        raise UsageError(f"--patience must be >= 0; got {args.patience}")
    if args.patience is not None and not _option(args, recipe, "early_stopping"):
        raise UsageError(
            "--patience is early stopping's; got it with early stopping off "
            "(add --early-stopping)"
        )
    return float(split)


def _option(args: argparse.Namespace, recipe: Any, name: str) -> Any:
    """Return the option's value if given, else the recipe's default."""
    value = getattr(args, name)
    return getattr(recipe, name) if value is None else value


def _split_parts(
    args: argparse.Namespace, data: Any, validation_split: float, scale: bool
) -> dict[str, Any]:
    """Seeded train/validation/test parts (stratified for classification), scaled.

    Returns the parts ``{name: (x, y)}`` with ``y`` as loaded, the network
    targets of each part (standardised for regression) and ``y_shift``, the
    (mean, deviation) that maps network outputs back to the target's units.
    """
    import numpy as np

    from .datasets import encode_targets, fit_scaler, split_data
    from .serialization import Scaling

    seed, stratify = _seed(args), data.task != "regression"
    x, x_test, y, y_test = split_data(
        data.x, data.y, test_size=args.test_size, seed=seed, stratify=stratify
    )
    parts = {"train": (x, y), "test": (x_test, y_test)}
    if validation_split > 0:
        x, x_val, y, y_val = split_data(
            x, y, test_size=validation_split, seed=seed, stratify=stratify
        )
        parts = {
            "train": (x, y),
            "validation": (x_val, y_val),
            "test": (x_test, y_test),
        }
    scaling = None
    if scale:
        # fitted on the training part only
        scaler = fit_scaler(parts["train"][0], names=data.feature_names)
        scaling = Scaling(scaler.mean_, scaler.scale_)  # saved with --save
        parts = {k: (scaler.transform(x), y) for k, (x, y) in parts.items()}
    y_train = parts["train"][1]
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = (
            (float(np.mean(y_train)), float(np.std(y_train)) or 1.0)
            if not stratify
            else (0.0, 1.0)
        )
    if not (np.isfinite(mean) and np.isfinite(std)):
        raise UsageError(
            "the regression target is too large to standardise (|y| up to "
            f"{np.max(np.abs(y_train)):.3g}; its variance overflows): rescale it"
        )
    targets = {
        k: encode_targets(
            (y - mean) / std if not stratify else y, data.task, data.n_classes
        )
        for k, (_, y) in parts.items()
    }
    return {
        "parts": parts,
        "targets": targets,
        "y_shift": (mean, std),
        "scaling": scaling,
    }


def _dataset_setup(args: argparse.Namespace, data: Any, recipe: Any) -> dict[str, Any]:
    """Network, loss and optimizer for the data set: the recipe, then the options."""
    from .network import MLPConfig

    loss = {
        "multiclass": "cross_entropy",
        "binary": "binary_cross_entropy",
        "regression": "mse",
    }[data.task]
    hidden = recipe.hidden if args.hidden is None else args.hidden
    config = MLPConfig(
        layer_sizes=(data.x.shape[1], *hidden, data.n_outputs),
        activation=args.activation or recipe.activation,
        output_activation="identity",
        use_bias=True if args.no_bias is None else not args.no_bias,
        init=args.init or recipe.init,
        dtype=args.dtype or "float64",
    )
    epochs = recipe.n_epochs if args.epochs is None else args.epochs
    if not 1 <= epochs <= MAX_EPOCHS:
        raise UsageError(f"--epochs must be between 1 and {MAX_EPOCHS}; got {epochs}")
    batch = recipe.batch_size if args.batch_size is None else args.batch_size
    if batch is not None and batch < 1:
        raise UsageError(f"--batch-size must be >= 1; got {batch}")
    optimizer = _make_optimizer(
        args, args.optimizer or recipe.optimizer, recipe.learning_rate
    )
    return {
        "config": config,
        "loss": loss,
        "optimizer": optimizer,
        "n_epochs": epochs,
        "batch_size": batch,
        "seed": _seed(args),
    }


def _dataset_callbacks(
    args: argparse.Namespace, recipe: Any, validate: bool
) -> list[Any]:
    """EarlyStopping and ReduceLROnPlateau as the options ask."""
    from .callbacks import EarlyStopping, ReduceLROnPlateau

    callbacks: list[Any] = []
    if _option(args, recipe, "early_stopping"):
        callbacks.append(EarlyStopping(patience=_option(args, recipe, "patience")))
    if args.schedule and args.schedule.startswith("plateau"):
        callbacks.append(
            _plateau(
                args.schedule, "val_loss" if validate else "loss", ReduceLROnPlateau
            )
        )
    return callbacks


def _plateau(spec: str, monitor: str, cls: Any) -> Any:
    """``plateau[:FACTOR[,PATIENCE]]`` -> ReduceLROnPlateau (defaults 0.1 and 10)."""
    name, _, rest = spec.partition(":")
    texts = [t.strip() for t in rest.split(",")] if rest.strip() else []
    if name != "plateau" or len(texts) > 2:
        raise UsageError(
            f"schedule {spec!r} does not match 'plateau[:FACTOR[,PATIENCE]]'"
        )
    try:
        factor = float(texts[0]) if texts else 0.1
        patience = int(texts[1]) if len(texts) > 1 else 10
    except ValueError:
        raise UsageError(
            f"schedule {spec!r}: FACTOR must be a number and PATIENCE an integer"
        ) from None
    return cls(monitor=monitor, factor=factor, patience=patience)


def _part_metrics(
    params: Any, config: Any, data: Any, x: Any, y: Any, y_shift: tuple[float, float]
) -> dict[str, Any]:
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
        return {
            "rmse": float(np.sqrt(mean_squared_error(y, pred))),
            "r2": float(r2_score(y, pred)),
            "n_samples": len(y),
        }
    pred = np.argmax(out, axis=1) if data.task == "multiclass" else (out[:, 0] > 0)
    labels = np.arange(data.n_classes)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "n_samples": len(y),
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def _dataset_settings(
    s: dict[str, Any],
    args: argparse.Namespace,
    data: Any,
    recipe: Any,
    validation_split: float,
    scale: bool,
) -> dict[str, Any]:
    """Return the settings in force for a data-set run as plain JSON-able values."""
    out = _settings(s)
    early = _option(args, recipe, "early_stopping")
    out.update(
        {
            "dataset": data.name,
            "task": data.task,
            "n_samples": int(data.x.shape[0]),
            "n_features": int(data.x.shape[1]),
            "classes": [str(c) for c in data.classes],
            "test_size": args.test_size,
            "validation_split": validation_split,
            "scale": scale,
            "early_stopping": early,
            "patience": _option(args, recipe, "patience") if early else None,
            "schedule": args.schedule,
        }
    )
    return out
