"""Where one mlplab training step spends its time, phase by phase, in context.

    python benchmarks/breakdown.py                       # 784-256-10, b128, float32
    python benchmarks/breakdown.py --hidden 512,256,128  # the deeper network

Runs the phases of ``Workspace.step``, with the gather and the hit count of
``fit``'s epoch loop, in their real order over shuffled batches of synthetic
data, timing each with ``perf_counter``, and prints per-batch medians in
microseconds beside the bare matrix products of the same batch (what
``run.py`` calls the limit), timed separately right after the step. The rest
of ``fit``'s per-batch bookkeeping (buffer lookup, loss sums, the divergence
bookkeeping) is not timed, so the phases' sum over the products is less than
``run.py``'s mlplab/limit. A
profiler's per-function totals hide the products inside ``_forward`` and
``_backward``; this splits them out. It calls the workspace's private phases,
so it follows ``Workspace.step`` by hand: keep the two in step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:  # measure this checkout, not an installed copy
    sys.path.insert(0, str(SRC))

PHASES = (
    "gather",  # the batch's rows into buffers (take)
    "forward",  # products, bias adds, ReLU
    "loss",  # softmax cross-entropy and its gradient, in place
    "backward",  # products, ReLU mask, bias sums
    "update",  # SGD, four passes over every parameter
    "guard",  # the divergence check
    "accuracy",  # hits of the batch
)


def main(argv: Sequence[str] | None = None) -> int:
    from threadpoolctl import threadpool_info

    from mlplab.losses import LOSSES
    from mlplab.network import MLPConfig, init_params, param_arrays
    from mlplab.optimizers import SGD
    from mlplab.workspace import Workspace

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--hidden", default="256", type=_widths, help="hidden widths, e.g. 512,256"
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= args.samples or args.epochs < 1:
        parser.error(
            f"expected 1 <= --batch <= --samples and --epochs >= 1; got --batch "
            f"{args.batch}, --samples {args.samples}, --epochs {args.epochs}"
        )

    sizes = (784, *args.hidden, 10)
    config = MLPConfig(sizes, "relu", "identity", init="he_uniform", dtype=args.dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.samples, sizes[0])).astype(args.dtype)
    y = np.eye(sizes[-1], dtype=args.dtype)[rng.integers(0, sizes[-1], args.samples)]
    params, optimizer = init_params(config, [0]), SGD(0.01, 0.9)
    ws = Workspace(config, LOSSES["cross_entropy"], 1)
    ws.load(params, optimizer.init(param_arrays(params)), optimizer)
    buf = ws.buffers(args.batch, x, y, gathered=True)

    names = (*PHASES, "products forward", "products backward")
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for epoch in range(args.epochs + 1):  # the first is a warm-up
        order = rng.permutation(args.samples)[None]
        for start in range(0, args.samples - args.batch + 1, args.batch):
            rows = order[:, start : start + args.batch]
            t = timed_step(ws, x, y, rows, buf)
            xb = buf.x
            begin = clock()
            middle = _products(xb, ws, buf)  # the batch's products alone, after
            if epoch:
                for name, i in zip(PHASES, range(len(PHASES)), strict=True):
                    times[name].append(t[i + 1] - t[i])
                times["products forward"].append(middle - begin)
                times["products backward"].append(clock() - middle)

    blas = ", ".join(
        f"{p['internal_api']} {p['version']} {p.get('architecture')} "
        f"{p['num_threads']} threads"
        for p in threadpool_info()
    )
    n_params = ws.flat[0].shape[1]
    print(
        f"{'-'.join(map(str, sizes))} batch {args.batch} {args.dtype}, "
        f"{n_params} parameters; {blas}"
    )
    med = {name: statistics.median(v) * 1e6 for name, v in times.items()}
    print(f"per batch, median of {len(times['gather'])} batches (us):")
    for name in PHASES:
        print(f"  {name:9s} {med[name]:8.1f}")
    products = med["products forward"] + med["products backward"]
    step = sum(med[name] for name in PHASES)
    print(
        f"  the products alone: forward {med['products forward']:.1f}, backward "
        f"{med['products backward']:.1f}; the phases' sum {step:.1f} us = "
        f"{step / products:.2f} x the products"
    )
    return 0


def _widths(text: str) -> tuple[int, ...]:
    """``--hidden``: comma-separated positive whole numbers (argparse's type)."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive whole numbers separated by commas, e.g. 512,256; "
            f"got {text!r}"
        )
    return widths


def timed_step(
    ws: Any, x: np.ndarray, y: np.ndarray, rows: np.ndarray, buf: Any
) -> list[float]:
    """One step of a single-member, fused-SGD, cross-entropy workspace, phase by phase.

    Gathers ``rows`` of ``x`` and ``y`` into ``buf`` and does what
    ``Workspace.step`` does (for finite members), returning the clock before
    and after each phase of ``PHASES``.
    """
    from mlplab.training import hit_count

    clock = time.perf_counter
    t = [clock()]
    xb, yb = ws.gather(x, rows, buf.x), ws.gather(y, rows, buf.y)
    t.append(clock())
    acts = ws._forward(xb, buf)
    t.append(clock())
    ws._loss(acts[-1], yb, buf, None)
    t.append(clock())
    ws._backward(xb, acts, buf)
    t.append(clock())
    ws._update()
    t.append(clock())
    np.isfinite(np.matmul(ws.flat[1], ws.ones, out=ws.sums))
    t.append(clock())
    hit_count(acts[-1], yb, "cross_entropy")
    t.append(clock())
    for pair in (ws.flat, ws.views, ws.velocity):  # as step does
        pair.reverse()
    ws.step_count += 1
    return t


def _products(xb: np.ndarray, ws: object, buf: object) -> float:
    """Run the batch's matrix products alone; return the clock between the passes."""
    params, z, grad = ws.params, buf.z, buf.grad  # type: ignore[attr-defined]
    inputs = [xb, *z[:-1]]
    for a_in, layer, out in zip(inputs, params, z, strict=True):
        np.matmul(a_in, layer.w, out=out)
    middle = time.perf_counter()
    for i in reversed(range(len(params))):
        np.matmul(np.swapaxes(inputs[i], -1, -2), grad[i], out=ws.grad_w[i])  # type: ignore[attr-defined]
        if i > 0:
            np.matmul(grad[i], np.swapaxes(params[i].w, -1, -2), out=grad[i - 1])
    return middle


if __name__ == "__main__":
    sys.exit(main())
