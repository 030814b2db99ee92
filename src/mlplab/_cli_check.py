"""The checking subcommands: ``mlplab gradcheck``, ``diagnose`` and ``lr-find``.

Each trains (or loads) a network from the shared options of ``_cli_setup`` and
reports one verdict: are the gradients right, why does the run stall or diverge,
which learning rate to use.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from typing import Any

from ._cli_common import (
    MAX_DIAGNOSE_SEEDS,
    MAX_GRADCHECK_PARAMETERS,
    MAX_LR_FIND_STEPS,
    TRY_FIXES_SEEDS,
    UsageError,
    _floats,
    _output_path,
    _plot_path,
    _same_label,
    _Status,
    _stdout_console,
    _to_json,
)
from ._cli_setup import (
    _add_network_options,
    _add_optimizer_options,
    _print_settings,
    _settings,
    _setup_from_args,
)

# ---------------------------------------------------------------- gradcheck


def add_gradcheck(sub: Any) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check backpropagation against central differences",
        description="Compare the network's backpropagated gradients with "
        "central differences of the reported loss, per parameter array. "
        "Exits with 1 when any array's relative error exceeds --tol. At most "
        f"{MAX_GRADCHECK_PARAMETERS:,} parameters (two forward passes each).",
    )
    _add_network_options(p)
    p.add_argument(
        "--tol", type=_floats, default=1e-6, help="relative error allowed (1e-6)"
    )
    p.add_argument(
        "--eps", type=_floats, default=1e-6, help="central-difference step (1e-6)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_gradcheck)


def _run_gradcheck(args: argparse.Namespace) -> int:
    from .gradcheck import gradient_check

    if not (0 < args.tol < math.inf and 0 < args.eps < 1):
        raise UsageError(
            f"--tol must be a finite number > 0 and --eps in (0, 1); "
            f"got {args.tol} and {args.eps}"
        )
    s = _setup_from_args(args)
    sizes = s["config"].layer_sizes
    n_params = sum(
        (n_in + s["config"].use_bias) * n_out
        for n_in, n_out in itertools.pairwise(sizes)
    )
    if n_params > MAX_GRADCHECK_PARAMETERS:
        raise UsageError(
            f"gradcheck takes at most {MAX_GRADCHECK_PARAMETERS:,} parameters "
            f"(two forward passes each); the layers {','.join(map(str, sizes))} "
            f"have {n_params:,}"
        )
    rows = gradient_check(
        s["config"], s["x"], s["y"], loss=s["loss"], seeds=(s["seed"],), eps=args.eps
    )
    failed = [r.name for r in rows if not r.passed(args.tol)]
    if args.json:
        print(
            _to_json(
                {
                    "settings": _settings(s),
                    "tol": args.tol,
                    "passed": not failed,
                    "arrays": [r._asdict() for r in rows],
                }
            )
        )
        return 1 if failed else 0
    from rich.table import Table

    table = Table()
    for col in ("array", "relative error", "worst |difference|", "at", "verdict"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.name,
            f"{r.rel_error:.3e}",
            f"{r.worst_abs:.3e}",
            str(r.worst_index),
            "ok" if r.passed(args.tol) else "WRONG",
        )
    console = _stdout_console()
    console.print(table)
    if failed:
        console.print(
            f"gradient check FAILED for {', '.join(failed)} (tolerance "
            f"{args.tol:g}): backpropagation does not compute the gradient "
            "of the loss"
        )
        return 1
    console.print(f"gradient check passed (tolerance {args.tol:g})")
    return 0


# ---------------------------------------------------------------- diagnose (issue 8)


def add_diagnose(sub: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="say why a run stalls or diverges, and what to change",
        description="Train a configuration (the same options as train) and "
        "report, with the numbers behind each: gradient correctness, the "
        "constant-predictor plateau, saturated or dead units, vanishing or "
        "exploding gradients, the step size against the curvature, the "
        "effective learning rate, and (with --seeds) how other seeds fare. "
        "--try-fixes runs the suggested changes over the same seeds. With "
        "--model FILE it trains nothing: it diagnoses the saved network at its "
        "saved weights with its saved optimizer, on --dataset, --data/--target "
        "or (for a 3-input, 1-output network) the original XOR data.",
    )
    _add_network_options(p)
    _add_optimizer_options(p)
    g = p.add_argument_group("a saved model (instead of training)")
    g.add_argument(
        "--model", metavar="MODEL", help="a model file saved by 'mlplab train --save'"
    )
    g.add_argument(
        "--member",
        type=int,
        metavar="K",
        help="which member of an ensemble file to diagnose (default 0)",
    )
    g.add_argument(
        "--dataset", metavar="NAME", help="a registered data set to diagnose it on"
    )
    p.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="also train N seeds (--seed first) through the sweep engine "
        f"(default 1, or {TRY_FIXES_SEEDS} with --try-fixes; at most "
        f"{MAX_DIAGNOSE_SEEDS})",
    )
    p.add_argument(
        "--try-fixes",
        action="store_true",
        help="run each suggested change over the same seeds; report success rates "
        f"(over {TRY_FIXES_SEEDS} seeds unless --seeds says otherwise)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_diagnose)


def _diagnose_seeds(n: int | None, try_fixes: bool) -> int:
    """Return how many seeds diagnose runs: --seeds, checked, or its default."""
    if n is None:
        return TRY_FIXES_SEEDS if try_fixes else 1
    if not 1 <= n <= MAX_DIAGNOSE_SEEDS:
        raise UsageError(f"--seeds must be in 1..{MAX_DIAGNOSE_SEEDS}; got {n}")
    if try_fixes and n < 2:
        raise UsageError(f"--try-fixes needs --seeds >= 2 to compare rates; got {n}")
    return n


def _seed_list(first: int, n: int) -> list[int]:
    """``first``, then 0, 1, ... (skipping ``first``): n seeds in all."""
    return [first, *[s for s in range(n) if s != first]][:n]


def _run_diagnose(args: argparse.Namespace) -> int:
    from .diagnosis import diagnose

    if args.model is not None:
        return _run_diagnose_model(args)
    if args.dataset is not None or args.member is not None:
        flag = "--dataset" if args.dataset is not None else "--member"
        raise UsageError(f"{flag} needs --model FILE; got no --model")
    n_seeds = _diagnose_seeds(args.seeds, args.try_fixes)
    s = _setup_from_args(args)
    seeds = _seed_list(s["seed"], n_seeds)
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
        print(_to_json(report.to_dict()))
        return 0
    _print_settings(_settings(s))
    print(report.text())
    return 0


# Options that choose what to train; a saved model has fixed all of them.
_TRAINING_OPTIONS = (
    *("hidden", "activation", "output_activation", "loss", "init", "no_bias"),
    *("dtype", "seed", "lr", "momentum", "momentum_style", "dampening"),
    *("nesterov", "weight_decay", "epochs", "batch_size"),
)


def _run_diagnose_model(args: argparse.Namespace) -> int:
    """Diagnose a saved model at its saved weights, on the data the options name."""
    from .diagnosis import diagnose_model
    from .serialization import load

    given = [o for o in _TRAINING_OPTIONS if getattr(args, o) is not None]
    given += [o for o in ("original", "try_fixes") if getattr(args, o)]
    if given or args.seeds is not None:
        flag = "--" + (given[0] if given else "seeds").replace("_", "-")
        raise UsageError(
            f"--model diagnoses the saved network as it is; {flag} does not apply"
        )
    model = load(args.model)
    x, y = _model_data(args, model)
    with _Status("diagnosing", quiet=args.json):
        report = diagnose_model(model, x, y, member=args.member or 0)
    if args.json:
        print(_to_json({"model": str(args.model), **report.to_dict()}))
        return 0
    print(f"model     {args.model} ({model.n_members} member(s), loss {model.loss})")
    print(report.text())
    return 0


def _model_data(args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    """Features and network targets for a saved model (XOR for the XOR network)."""
    from .datasets import load_csv, load_dataset, xor_data

    config = model.config
    if args.dataset is not None:
        if args.data is not None or args.target is not None:
            raise UsageError("--dataset excludes --data and --target")
        data = load_dataset(args.dataset)
    elif args.data is not None or args.target is not None:
        if args.data is None or args.target is None:
            raise UsageError(
                "--data and --target go together (a CSV file and its column)"
            )
        task = model.info.get("task")
        data = load_csv(args.data, args.target, task if isinstance(task, str) else None)
    elif config.n_features == 3 and config.n_outputs == 1:
        return xor_data()
    else:
        raise UsageError(
            f"{args.model} takes {config.n_features} features, not XOR's 3; "
            "name its data with --dataset or --data/--target"
        )
    if data.x.shape[1] != config.n_features:
        raise UsageError(
            f"{args.model} takes {config.n_features} features; "
            f"{data.name} has {data.x.shape[1]}"
        )
    return data.x, _model_targets(model, data)


def _model_targets(model: Any, data: Any) -> Any:
    """Encode the data's targets as the model's outputs read them (classes, shift)."""
    import numpy as np

    if not model.classes:  # numeric targets: a regressor, or the XOR network
        if data.task == "regression":
            mean, std = model.info.get("target_shift", [0.0, 1.0])
            return (np.asarray(data.y, np.float64) - mean) / std
        numeric = all(isinstance(c, (int, float)) for c in data.classes)
        if model.config.n_outputs == 1 and numeric and len(data.classes) == 2:
            return np.array([float(data.classes[i]) for i in data.y])
        raise UsageError(
            f"the model predicts numbers, one per row; {data.name} is a "
            f"{data.task} task with classes {', '.join(map(repr, data.classes))}"
        )
    if not data.classes:
        raise UsageError(
            f"the model is a classifier of {', '.join(map(repr, model.classes))}; "
            f"{data.name} is a regression task"
        )
    labels = [data.classes[i] for i in data.y]
    found = []
    for label in labels:
        match = [j for j, c in enumerate(model.classes) if _same_label(c, str(label))]
        if not match:
            raise UsageError(
                f"{data.name}: target {label!r} is not among the model's classes "
                f"{', '.join(map(repr, model.classes))}"
            )
        found.append(match[0])
    codes = np.array(found)
    if model.config.n_outputs == 1:
        return codes.astype(np.float64)
    return np.eye(model.config.n_outputs)[codes]


# ---------------------------------------------------------------- lr-find (issue 8)


def add_lr_find(sub: Any) -> None:
    p = sub.add_parser(
        "lr-find",
        help="learning-rate range test: loss against rate, a suggestion",
        description="Train a fresh network while raising the learning rate "
        "exponentially from --min-lr to --max-lr (one rate per epoch), stop "
        "when the loss diverges, plot the loss against the rate and print a "
        "suggested rate. Momentum settings are those of the options (--lr and "
        "--epochs do not apply).",
    )
    _add_network_options(p)
    _add_optimizer_options(p)
    p.add_argument("--min-lr", type=_floats, default=1e-4, help="first rate (1e-4)")
    p.add_argument("--max-lr", type=_floats, default=10.0, help="last rate (10)")
    p.add_argument(
        "--steps",
        type=int,
        default=100,
        help=f"number of rates, one epoch each (100; 3 to {MAX_LR_FIND_STEPS:,})",
    )
    p.add_argument(
        "--plot",
        type=_output_path,
        default="lr_find.png",
        metavar="PATH",
        help="PNG of the loss against the rate (default lr_find.png)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the plot")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_lr_find)


def _run_lr_find(args: argparse.Namespace) -> int:
    from .lr_find import lr_find

    if not args.no_plot:
        args.plot = _plot_path("--plot", args.plot)
    if not 3 <= args.steps <= MAX_LR_FIND_STEPS:
        raise UsageError(
            f"--steps must be between 3 and {MAX_LR_FIND_STEPS:,}; got {args.steps}"
        )
    if args.lr is not None:
        raise UsageError(
            "--lr does not apply to lr-find (it sweeps the rate from --min-lr to "
            "--max-lr)"
        )
    if args.epochs is not None:
        raise UsageError(
            "--epochs does not apply to lr-find (it trains one epoch per rate: "
            "use --steps)"
        )
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
