"""Checkpoints and resume: ``train --save``, ``--checkpoint-every`` and ``--resume``.

A saved run holds its command line, so ``--resume`` re-parses it and continues
exactly; ``_Checkpoints`` writes the file on schedule, at the end and on Ctrl-C.
(Owner: branch persist.)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._cli_common import UsageError, _output_path


def _add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checkpoints")
    g.add_argument(
        "--save",
        type=_output_path,
        metavar="PATH",
        help="write the model and its training state to PATH (.safetensors) "
        "at the end, every --checkpoint-every epochs, and on Ctrl-C (exit 130)",
    )
    g.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="with --save: also write a checkpoint every N epochs",
    )
    g.add_argument(
        "--resume",
        metavar="PATH",
        help="continue the run saved in PATH exactly (its settings and data); "
        "only --epochs (the new total), --save, --checkpoint-every and the "
        "output options may be given with it",
    )


# options a resumed run may set; everything else comes from the saved command
_RESUME_OPTIONS = (
    "resume",
    "save",
    "checkpoint_every",
    "epochs",
    "json",
    "plot",
    "no_plot",
    "argv",
    "run",
)


def _resumed_args(args: argparse.Namespace) -> argparse.Namespace:
    """With --resume: the saved run's arguments, plus this call's output options."""
    args.checkpoint = None
    every = args.checkpoint_every
    if every is not None and (every < 1 or not (args.save or args.resume)):
        raise UsageError(
            "--checkpoint-every needs --save PATH (or --resume) and N >= 1"
        )
    if args.resume is None:
        return args
    from .cli import _build_parser  # not at the top: cli imports this module

    defaults = vars(_build_parser().parse_args(["train"]))
    extra = [
        k
        for k, v in vars(args).items()
        if k not in _RESUME_OPTIONS and v != defaults.get(k)
    ]
    if extra:
        raise UsageError(
            f"--resume takes the settings from the file; got "
            f"--{extra[0].replace('_', '-')}"
        )
    from .serialization import load

    checkpoint = load(args.resume)
    saved = checkpoint.info.get("argv")
    if (
        checkpoint.state is None
        or not isinstance(saved, list)
        or not saved
        or saved[0] != "train"
        or not all(isinstance(a, str) for a in saved)
    ):
        raise UsageError(f"{args.resume} holds no run saved by 'mlplab train --save'")
    if args.epochs is not None and args.epochs < checkpoint.state.epoch:
        raise UsageError(
            f"--epochs is the total to train to; {args.resume} is already at epoch "
            f"{checkpoint.state.epoch}, got --epochs {args.epochs}"
        )
    resumed = _build_parser().parse_args(saved)
    for key in _RESUME_OPTIONS:
        if key not in ("argv", "run") and (key != "epochs" or args.epochs is not None):
            setattr(resumed, key, getattr(args, key))
    resumed.save = args.save or args.resume
    resumed.argv, resumed.checkpoint = saved, checkpoint
    return resumed


class _Checkpoints:
    """Fit arguments for a new or resumed run; saves on schedule, at the end, on Ctrl-C.

    Ctrl-C only sets a flag: the run stops at the end of the current epoch (so the
    saved state is an epoch boundary and resumes exactly), writes the checkpoint and
    exits with 130. A second Ctrl-C interrupts at once.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        s: dict[str, Any],
        callbacks: list[Any],
        info: dict[str, Any],
        scaler: Any = None,
        classes: Any = None,
    ) -> None:
        self.args, self.s, self.scaler, self.classes = args, s, scaler, classes
        self.checkpoint = args.checkpoint
        self.callbacks = (
            list(self.checkpoint.callbacks) if self.checkpoint else callbacks
        )
        self.info = {**info, "argv": list(args.argv)}
        self.interrupted = False

    def fit_kwargs(self) -> dict[str, Any]:
        """``optimizer``, ``n_epochs`` and either ``seeds`` or the saved run."""
        c = self.checkpoint
        if c is None:
            return {
                "optimizer": self.s["optimizer"],
                "n_epochs": self.s["n_epochs"],
                "seeds": [self.s["seed"]],
            }
        return {
            "optimizer": c.optimizer,
            "state": c.state,
            "history": c.history,
            "n_epochs": max(self.s["n_epochs"] - c.state.epoch, 0),
        }

    def __enter__(self) -> _Checkpoints:
        import signal

        self.previous = None
        if self.args.save:
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        import signal

        self.interrupted = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def callback(self, view: Any) -> None:
        """After each epoch: write a checkpoint when due or interrupted."""
        every = self.args.checkpoint_every
        due = every is not None and view.epoch % every == 0
        if self.args.save and (due or self.interrupted):
            history = _history_rows(view.history, view.row + 1)
            self.save(view.state, history, view.optimizer)
        if self.interrupted:
            print(
                f"mlplab: checkpoint at epoch {view.epoch} saved to {self.args.save}; "
                f"continue with: mlplab train --resume {self.args.save}",
                file=sys.stderr,
            )
            raise KeyboardInterrupt

    def save(self, state: Any, history: Any, optimizer: Any) -> None:
        """Write the run to --save (atomically)."""
        from .serialization import save

        if not self.args.save:
            return
        save(
            self.args.save,
            self.s["config"],
            loss=self.s["loss"],
            state=state,
            optimizer=optimizer,
            history=history,
            seeds=[self.s["seed"]],
            callbacks=self.callbacks,
            scaler=self.scaler,
            classes=self.classes,
            info=self.info,
        )


def _history_rows(history: Any, n_rows: int) -> Any:
    """Return the first ``n_rows`` epochs of a history (the rest are not run yet)."""
    from .training import History

    return History(
        {k: v[:n_rows] for k, v in history.metrics.items()},
        history.diverged_epoch.copy(),
    )
