"""Shared pieces of the command line: limits, errors, option types, consoles, progress.

``cli`` and the subcommand modules (``_cli_*``) import from here; nothing here
builds a parser. Heavy modules (NumPy, rich, matplotlib) are imported inside the
functions so that ``mlplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

# Guards against requests that could only exhaust memory (the CLI's, not the API's).
MAX_WIDTH = 100_000
MAX_EPOCHS = 100_000_000
MAX_DIAGNOSE_SEEDS = 1000  # diagnose --seeds: each seed is a full run, per fix too
TRY_FIXES_SEEDS = 20  # diagnose --try-fixes without --seeds: rates in steps of 5%
# About 1.3 KB of results per member stay in memory (200,000 members: 260 MB).
MAX_SWEEP_MEMBERS = 1_000_000  # sweep: cells x seeds
MAX_LR_FIND_STEPS = 100_000  # lr-find --steps: one epoch each (XOR: 10 s)
# Two forward passes per parameter: 10,000 parameters take 6 s on XOR, 40,000 a minute.
MAX_GRADCHECK_PARAMETERS = 20_000


class UsageError(Exception):
    """A mistake in the command line or its inputs: one line, exit code 2."""


def _to_json(doc: Any) -> str:
    """One strict JSON document: non-finite floats (a diverged loss) become null."""
    import math

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(doc), allow_nan=False)


def _floats(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None


def _output_path(text: str) -> str:
    """Accept a file path we can create: not empty, not a folder, in a folder."""
    from pathlib import Path

    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path; got an empty string")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; expected a file path")
    if not path.resolve().parent.is_dir():
        raise argparse.ArgumentTypeError(f"the folder of {text!r} does not exist")
    if not os.access(path if path.exists() else path.resolve().parent, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be written here")
    return text


def _plot_path(option: str, text: str) -> str:
    """Check a plot path as ``_output_path`` does, and its format, before training.

    No suffix means PNG (as matplotlib saves it); return the path that is written.
    """
    from pathlib import Path

    try:
        _output_path(text)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"argument {option}: {e}") from None
    suffix = Path(text).suffix.lower().removeprefix(".")
    if not suffix:
        return f"{text}.png"
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix not in formats:
        raise UsageError(
            f"argument {option}: expected a file ending in one of "
            f"{', '.join('.' + f for f in formats)}; got {text!r}"
        )
    return text


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 4,8; got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    if any(s > MAX_WIDTH for s in sizes):
        raise argparse.ArgumentTypeError(
            f"layer widths must be <= {MAX_WIDTH}; got {text!r}"
        )
    return sizes


def _stderr_console() -> Any:
    """Return a rich console on stderr for progress, or None when it is no terminal.

    Progress is for people: piped or logged, it would leave blank lines in
    what a script reads (an error would then be two lines, not one).
    """
    from rich.console import Console

    console = Console(stderr=True)
    return console if console.is_terminal else None


def _stdout_console() -> Any:
    """Return a rich console for results on stdout.

    Piped output gets 160 columns (rich's default is 80, which cuts wide
    tables such as the sweep's) unless COLUMNS says otherwise.
    """
    import os

    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(highlight=False, width=160)
    return console


class _Progress:
    """A rich progress bar on stderr, driven by fit's epoch callback."""

    def __init__(self, n_epochs: int, quiet: bool = False) -> None:
        self.n_epochs, self.quiet = n_epochs, quiet or _stderr_console() is None

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda view: None
        from rich.progress import Progress

        self.bar = Progress(console=_stderr_console(), transient=True)
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


class _Status:
    """A rich spinner on stderr while a long computation runs."""

    def __init__(self, text: str, quiet: bool = False) -> None:
        self.text, self.quiet = text, quiet or _stderr_console() is None

    def __enter__(self) -> None:
        if not self.quiet:
            self.spinner = _stderr_console().status(self.text)
            self.spinner.start()

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.spinner.stop()


def _same_label(label: Any, cell: str) -> bool:
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        try:
            return float(cell) == float(label)
        except ValueError:
            return False
    return str(label) == cell


class _SweepProgress:
    """Members done and time left, on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or _stderr_console() is None

    def __enter__(self) -> Any:
        if self.quiet:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("members"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_stderr_console(),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("members", total=None)

        def progress(done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total)

        return progress

    def __exit__(self, *exc: object) -> None:
        if not self.quiet:
            self.bar.stop()
