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
    _add_playground(sub)
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
    return {
        "optimizer": dataclasses.replace(setup.optimizer, **opt_changes),
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
        out["optimizer"] = {"name": type(s["optimizer"]).__name__,
                            **dataclasses.asdict(s["optimizer"])}
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
    out = p.add_argument_group("output")
    out.add_argument("--plot", default="loss.png", metavar="PATH",
                     help="PNG of the loss curve (default loss.png)")
    out.add_argument("--no-plot", action="store_true", help="do not write the plot")
    out.add_argument("--json", action="store_true",
                     help="print one JSON document (settings, losses, outputs) instead")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    import numpy as np

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
    if opt:
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


# ---------------------------------------------------------------- playground


def _add_playground(sub: Any) -> None:
    p = sub.add_parser(
        "playground", help="a local web page to train networks live",
        description="Serve the mlplab playground: a web page to train a network "
        "live, change the learning rate and momentum while it runs, see the decision "
        "boundary and the diagnosis, and ask how often a setting works over many "
        "seeds. It binds to 127.0.0.1 (this machine only) unless --host says "
        "otherwise, and needs no internet. Limits (playground_core.LIMITS): 4 hidden "
        "layers of at most 32 units, 1000 points, 100000 epochs, 1000 seeds, and "
        "seeds x epochs x steps per epoch <= 5,000,000 for a multi-seed run. "
        "Needs the extra: pip install 'mlplab[playground]'.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.set_defaults(run=_run_playground)


def _run_playground(args: argparse.Namespace) -> int:
    import os
    import socket

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(f"the playground needs starlette and uvicorn ({e.name} is "
                         "missing): pip install 'mlplab[playground]'") from None
    from .playground import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535; got {args.port}")
    try:  # fail with one line now rather than a uvicorn traceback later
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        address = f"{args.host}:{args.port}"
        raise UsageError(f"cannot listen on {address}: {reason}") from None
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    where = ("loopback only: other machines cannot connect" if loopback else
             "reachable from other machines: anyone who can reach this port can use it")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"mlplab playground on http://{shown}:{args.port}/ ({where}); "
          "Ctrl+C stops it", flush=True)
    serve(args.host, args.port)
    return 0
