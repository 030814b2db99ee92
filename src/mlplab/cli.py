"""The ``mlplab`` command line: parse arguments, call the public API, print.

This module builds the parser and turns errors into exit codes; the subcommands
live in the sibling modules ``_cli_train`` (with ``_cli_train_data`` and
``_cli_checkpoints``), ``_cli_check`` (gradcheck, diagnose, lr-find),
``_cli_predict``, ``_cli_playground`` and ``_cli_sweep``, each a pair
``add_<name>(subparsers)`` / ``_run_<name>(args)``, over the shared pieces in
``_cli_common`` and ``_cli_setup``. A user mistake prints one line to stderr and
exits with 2; ``--json`` prints one JSON document to stdout; progress bars go to
stderr. Heavy modules (NumPy, rich, matplotlib) are imported inside the handlers
so that ``mlplab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ._cli_check import add_diagnose, add_gradcheck, add_lr_find

# Re-exported: the limits were defined here before the split and are read as cli.MAX_*.
from ._cli_common import MAX_DIAGNOSE_SEEDS as MAX_DIAGNOSE_SEEDS
from ._cli_common import MAX_EPOCHS as MAX_EPOCHS
from ._cli_common import MAX_GRADCHECK_PARAMETERS as MAX_GRADCHECK_PARAMETERS
from ._cli_common import MAX_LR_FIND_STEPS as MAX_LR_FIND_STEPS
from ._cli_common import MAX_SWEEP_MEMBERS as MAX_SWEEP_MEMBERS
from ._cli_common import MAX_WIDTH as MAX_WIDTH
from ._cli_common import TRY_FIXES_SEEDS as TRY_FIXES_SEEDS
from ._cli_common import UsageError
from ._cli_playground import add_playground
from ._cli_predict import add_predict
from ._cli_sweep import add_sweep
from ._cli_train import add_train

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("mlplab").strip()
        raise UsageError(f"{command}: {message}" if command else message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _build_parser()
    # The CLI reports diverged members itself (table, JSON); the library's warning
    # would repeat it on stderr.
    warnings.filterwarnings("ignore", message=r".* members diverged")
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return 0
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (``mlplab train --json | head``): stop quietly, and
        # keep Python from complaining while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UsageError, ValueError, TypeError) as e:
        print(f"mlplab: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "mlplab: error: not enough memory for this run; use fewer epochs, "
            "members, rows or units",
            file=sys.stderr,
        )
        return 2
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"mlplab: error: {e.strerror or e}{where}", file=sys.stderr)
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
    add_train(sub)
    add_gradcheck(sub)
    add_diagnose(sub)  # issue 8
    add_lr_find(sub)  # issue 8
    add_predict(sub)
    add_playground(sub)
    add_sweep(sub)  # issue 4
    return parser
