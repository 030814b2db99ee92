"""Benchmark: the original question's sweep, three ways, in network-epochs per second.

The original sweep is 24 cells (rates 0.1..5 x momenta 0..0.99) x 1000 seeds x
10,000 epochs of the 3-4-1 XOR network with the original derivative and EMA
momentum: 240 million network-epochs. Measured on the same networks, in one
run, alternating, taking medians:

- ``mlplab``: the sweep engine (one chunk of K members, one BLAS thread);
- ``numpy-loop``: the original program's NumPy code, one network at a time;
- ``torch-bmm``: PyTorch batching the same ensemble with ``torch.bmm`` over a
  leading member axis (float64, one thread).

Then the whole original sweep (and with --compare-fixed) end to end through
``mlplab.sweep`` with 1 and 2 workers. Run:

    PYTHONPATH=src python benchmarks/bench_sweep.py [--quick] [--no-full]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from mlplab import _sweep_engine as engine
from mlplab.optimizers import SGD
from mlplab.presets import original_setup
from mlplab.sweeps import original_grid, sweep

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def grid_hyper(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rates and momenta of k members spread over the 24 original cells."""
    g = original_grid()
    cells = [(lr, mu) for lr in g["lr"] for mu in g["momentum"]]
    lr = np.array([cells[i % 24][0] for i in range(k)])
    mu = np.array([cells[i % 24][1] for i in range(k)])
    return lr, mu


def run_mlplab(k: int, epochs: int) -> float:
    setup = original_setup(fixed=False)
    lr, mu = grid_hyper(k)
    opt = SGD(learning_rate=tuple(lr), momentum=tuple(mu), momentum_style="ema")
    start = time.perf_counter()
    engine.train_tracked(
        setup.config,
        setup.x,
        setup.y[:, None],
        loss="sse",
        optimizer=opt,
        n_epochs=epochs,
        seeds=list(range(k)),
        window=max(1, epochs // 10),
        kind="classification",
        threshold=0.5,
    )
    return time.perf_counter() - start


def _s(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def run_numpy_loop(n_nets: int, epochs: int) -> float:
    """The Code Review program (its derivative mistake included), seed by seed."""
    lr, mu = grid_hyper(n_nets)
    start = time.perf_counter()
    for i in range(n_nets):
        rng = np.random.default_rng(i)
        w1, w2 = rng.uniform(size=(3, 4)), rng.uniform(size=(4, 1))
        v1, v2 = np.zeros_like(w1), np.zeros_like(w2)
        a, b = lr[i], mu[i]
        for _ in range(epochs):
            h = _s(X @ w1)
            o = _s(h @ w2)
            d2 = 2 * (Y - o) * (_s(o) * (1 - _s(o)))
            g2 = h.T @ d2
            d1 = (d2 @ w2.T) * (_s(h) * (1 - _s(h)))
            g1 = X.T @ d1
            v1 = b * v1 + (1 - b) * g1
            v2 = b * v2 + (1 - b) * g2
            w1 = w1 + a * v1
            w2 = w2 + a * v2
    return time.perf_counter() - start


def run_torch_bmm(k: int, epochs: int) -> float:
    import torch

    torch.set_num_threads(1)
    lr, mu = grid_hyper(k)
    gen = torch.Generator().manual_seed(0)
    x = torch.tensor(X).expand(k, 4, 3)
    y = torch.tensor(Y).expand(k, 4, 1)
    w1 = torch.rand(k, 3, 4, generator=gen, dtype=torch.float64)
    w2 = torch.rand(k, 4, 1, generator=gen, dtype=torch.float64)
    v1, v2 = torch.zeros_like(w1), torch.zeros_like(w2)
    a = torch.tensor(lr).view(k, 1, 1)
    b = torch.tensor(mu).view(k, 1, 1)
    xt = x.transpose(1, 2)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(epochs):
            h = torch.sigmoid(torch.bmm(x, w1))
            o = torch.sigmoid(torch.bmm(h, w2))
            so, sh = torch.sigmoid(o), torch.sigmoid(h)
            d2 = 2 * (y - o) * so * (1 - so)
            g2 = torch.bmm(h.transpose(1, 2), d2)
            d1 = torch.bmm(d2, w2.transpose(1, 2)) * sh * (1 - sh)
            g1 = torch.bmm(xt, d1)
            v1.mul_(b).add_((1 - b) * g1)
            v2.mul_(b).add_((1 - b) * g2)
            w1.add_(a * v1)
            w2.add_(a * v2)
    return time.perf_counter() - start


def anatomy(epochs: int) -> None:
    """Split the engine's time per epoch into a fixed part and a per-member part.

    The fixed part (Python and about 40 NumPy calls an epoch) is the time per
    epoch of 16 members; the rest grows with K: arithmetic and memory traffic.
    A streaming multiply over a member's 16 values gives the cost of one pass,
    to express an epoch as a number of such passes. Best of 3 (noise only
    ever adds time).
    """
    ks = [16, 500, 1000, 2000, 4000]
    per_epoch = []
    for k in ks:  # minus the set-up (drawing seeded weights: ~70 us a member)
        runs = [run_mlplab(k, epochs) - run_mlplab(k, 0) for _ in range(3)]
        per_epoch.append(min(runs) / epochs)
    fixed = per_epoch[0]
    a = np.random.default_rng(0).random((16, 2000))
    out = np.empty_like(a)
    start = time.perf_counter()
    for _ in range(2000):
        np.multiply(a, a, out=out)
    one_pass = (time.perf_counter() - start) / 2000 / 2000  # per member, 16 values
    print(
        f"\nanatomy ({epochs} epochs): fixed {fixed * 1e6:.1f} us per epoch; one "
        f"streaming multiply over a member's 16 values: {one_pass * 1e9:.2f} ns"
    )
    for k, t in zip(ks[1:], per_epoch[1:], strict=True):
        member = (t - fixed) / (k - 16)
        print(
            f"  K={k:5d}: {t / k * 1e6:.3f} us per network-epoch, fixed part "
            f"{fixed / t:.0%}, per member {member * 1e9:.0f} ns = "
            f"{member / one_pass:.0f} streaming passes"
        )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-full", action="store_true", help="skip the full sweeps")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    k, epochs, loop_nets = (1000, 500, 2) if args.quick else (2000, 2000, 3)
    print(f"load average {load()}; cores {os.cpu_count()}")
    for info in threadpool_info():
        print(
            f"  {info['internal_api']} {info.get('version')} "
            f"threads={info['num_threads']} ({info['user_api']})"
        )
    methods = {
        "mlplab": (lambda: run_mlplab(k, epochs), k * epochs),
        "numpy-loop": (lambda: run_numpy_loop(loop_nets, epochs), loop_nets * epochs),
    }
    try:
        import torch

        print(f"  torch {torch.__version__}, 1 thread")
        methods["torch-bmm"] = (lambda: run_torch_bmm(k, epochs), k * epochs)
    except ImportError:
        print("  torch not installed: torch-bmm skipped")
    times: dict[str, list[float]] = {name: [] for name in methods}
    with threadpool_limits(limits=1):
        print(
            "  inside the benchmark:",
            [
                f"{i['internal_api']} threads={i['num_threads']}"
                for i in threadpool_info()
            ],
        )
        for _ in range(args.repeats):
            for name, (fn, _) in methods.items():
                times[name].append(fn())
    rate = {name: methods[name][1] / statistics.median(t) for name, t in times.items()}
    print(
        f"\nK={k} members x {epochs} epochs (loop: {loop_nets} networks), "
        f"median of {args.repeats}, one thread each; load {load()}"
    )
    for name in methods:
        print(
            f"  {name:11s} {rate[name]:14,.0f} network-epochs/s "
            f"({1e6 / rate[name]:.3f} us each)"
        )
    print(f"  mlplab / numpy-loop: {rate['mlplab'] / rate['numpy-loop']:.0f}x")
    if "torch-bmm" in rate:
        print(f"  mlplab / torch-bmm:  {rate['mlplab'] / rate['torch-bmm']:.2f}x")
    with threadpool_limits(limits=1):
        anatomy(200 if args.quick else 1000)
    if args.no_full:
        return
    seeds = 100 if args.quick else 1000
    for compare in (False, True):
        grid = (
            {"fixed": [False, True], **original_grid()} if compare else original_grid()
        )
        n = (48 if compare else 24) * seeds * 10_000
        for workers in (1, 2):
            start = time.perf_counter()
            sweep(grid, seeds=seeds, setup=original_setup(fixed=False), workers=workers)
            seconds = time.perf_counter() - start
            print(
                f"sweep --original{' --compare-fixed' if compare else ''} "
                f"({n / 1e6:.0f}M network-epochs), workers={workers}: {seconds:.1f} s, "
                f"{n / seconds:,.0f} network-epochs/s; load {load()}"
            )


if __name__ == "__main__":
    main()
