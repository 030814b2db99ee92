"""``mlplab playground``: check the extra and the address, then serve the page."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_common import UsageError


def add_playground(sub: Any) -> None:
    p = sub.add_parser(
        "playground",
        help="a local web page to train networks live",
        description="Serve the mlplab playground: a web page to train a network "
        "live, change the learning rate and momentum while it runs, see the decision "
        "boundary and the diagnosis, and ask how often a setting works over many "
        "seeds. It binds to 127.0.0.1 (this machine only) unless --host says "
        "otherwise, and needs no internet. Limits (playground_core.LIMITS): 4 hidden "
        "layers of at most 32 units, 1000 points, 100000 epochs, 1000 seeds, and "
        "seeds x epochs x steps per epoch <= 5,000,000 for a multi-seed run. "
        "Needs the extra: pip install 'mlplab[playground]'.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.set_defaults(run=_run_playground)


def _run_playground(args: argparse.Namespace) -> int:
    import os
    import socket

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(
            f"the playground needs starlette and uvicorn ({e.name} is "
            "missing): pip install 'mlplab[playground]'"
        ) from None
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
    where = (
        "loopback only: other machines cannot connect"
        if loopback
        else "reachable from other machines: anyone who can reach this port can use it"
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"mlplab playground on http://{shown}:{args.port}/ ({where}); Ctrl+C stops it",
        flush=True,
    )
    serve(args.host, args.port)
    return 0
