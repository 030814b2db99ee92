"""mlplab's benchmarks: one command, every figure of the performance note.

    python benchmarks/run.py            # full run (>= 5 repeats), a few minutes
    python benchmarks/run.py --quick    # smoke run on small data

What it measures, in one process, alternating the contestants and repeating
each case (median and min-max reported):

- one epoch of mini-batch SGD (momentum 0.9) with softmax cross-entropy on
  synthetic 60,000 x 784 inputs, for mlplab, PyTorch (``nn.Sequential`` +
  ``optim.SGD`` over pre-shuffled tensors), scikit-learn's
  ``MLPClassifier(solver="sgd")`` and the "limit": the same epoch's forward
  and backward matrix products alone, on the same shapes and batches; and
  the "floor": the limit plus the per-batch work that a NumPy step rounding
  like mlplab's cannot skip (the gather, the four-pass momentum update, the
  divergence check), the least time mlplab could take;
- variants: float32 and float64, full batch, batch 32, a deeper network;
- the peak resident memory of an mlplab fit in a fresh process, minus its
  resident memory just before ``fit``, against the data size;
- ``import mlplab`` against ``import numpy``, and ``mlplab --help``.

The BLAS library, its kernel and thread count (threadpoolctl) and the load
average go into the results. Full runs write ``benchmarks/results.json`` and
``benchmarks/RESULTS.md``; ``--quick`` writes ``results-quick.json`` and
``RESULTS-quick.md`` (not committed) instead.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # benchmark this checkout, not an installed copy
    sys.path.insert(0, str(SRC))

LEARNING_RATE = 0.01
MOMENTUM = 0.9
N_FEATURES = 784
N_CLASSES = 10
# The floor's gradients are fixed buffers, not a loss's: a tiny rate keeps its
# weights finite over every repeat (a pass costs the same whatever the values).
FLOOR_RATE = 1e-7
CONTESTANTS = ("mlplab", "torch", "sklearn", "limit", "floor")

Epoch = Callable[[], object]


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Case:
    """One epoch benchmark: an architecture, a batch size and a dtype."""

    name: str
    hidden: tuple[int, ...]
    batch_size: int | None  # None: full batch
    dtype: str
    contestants: tuple[str, ...] = CONTESTANTS

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (N_FEATURES, *self.hidden, N_CLASSES)


CASES = (
    Case("784-256-10 b128 float32", (256,), 128, "float32"),
    Case("784-256-10 b128 float64", (256,), 128, "float64"),
    Case("784-256-10 full-batch float32", (256,), None, "float32"),
    Case("784-256-10 b32 float32", (256,), 32, "float32"),
    Case("784-512-256-128-10 b128 float32", (512, 256, 128), 128, "float32"),
)


@dataclass(frozen=True)
class Settings:
    """How big and how often; ``--quick`` and the smoke test shrink these."""

    n_samples: int = 60_000
    repeats: int = 5
    cases: tuple[Case, ...] = CASES
    memory_samples: tuple[int, ...] = (15_000, 30_000, 60_000, 120_000)
    memory_full_batch: bool = True
    startup_repeats: int = 10
    # Seconds of rest before each timed epoch: after a call OpenBLAS keeps one
    # thread busy-waiting for about 0.1 s (measured with getrusage across a
    # sleep), which would take a core from the next contestant (PyTorch).
    pause: float = 0.25
    threads: int | None = None  # cap BLAS and torch threads (None: as installed)
    out_json: Path = HERE / "results.json"
    out_md: Path = HERE / "RESULTS.md"
    extra: dict[str, Any] = field(default_factory=dict)


QUICK = Settings(
    n_samples=6_000,
    repeats=3,
    memory_samples=(6_000,),
    startup_repeats=3,
    out_json=HERE / "results-quick.json",
    out_md=HERE / "RESULTS-quick.md",
)


# ---------------------------------------------------------------------- data


def make_data(
    n_samples: int, dtype: str, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic inputs ``(n, 784)`` and labels from a random linear teacher.

    Drawn in chunks straight into ``dtype`` so that no float64 temporary of the
    whole set exists (it would distort the memory benchmark).
    """
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((N_FEATURES, N_CLASSES)).astype(dtype)
    x = np.empty((n_samples, N_FEATURES), dtype)
    labels = np.empty(n_samples, np.int64)
    for start in range(0, n_samples, 8192):
        chunk = x[start : start + 8192]
        rng.standard_normal(
            chunk.shape, dtype=np.float32, out=chunk
        ) if dtype == "float32" else rng.standard_normal(chunk.shape, out=chunk)
        labels[start : start + 8192] = np.argmax(chunk @ teacher, axis=1)
    return x, labels


def one_hot(labels: np.ndarray, dtype: str) -> np.ndarray:
    """``(n, 10)`` one-hot rows in ``dtype``."""
    y = np.zeros((labels.size, N_CLASSES), dtype)
    y[np.arange(labels.size), labels] = 1.0
    return y


# ---------------------------------------------------------------- contestants


def prepare_mlplab(case: Case, x: np.ndarray, labels: np.ndarray) -> Epoch:
    """One ``mlplab.fit`` epoch from He-initialised weights (fit copies them)."""
    from mlplab.network import MLPConfig, init_params
    from mlplab.optimizers import SGD
    from mlplab.training import fit

    config = MLPConfig(
        case.layer_sizes,
        activation="relu",
        output_activation="identity",
        init="he_uniform",
        dtype=case.dtype,
    )
    y = one_hot(labels, case.dtype)
    optimizer = SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
    params = init_params(config, [0])  # drawn once, like the PyTorch model

    def epoch() -> object:
        return fit(
            config,
            x,
            y,
            loss="cross_entropy",
            optimizer=optimizer,
            n_epochs=1,
            seeds=(0,),
            batch_size=case.batch_size,
            params=params,
        )

    return epoch


def prepare_torch(case: Case, x: np.ndarray, labels: np.ndarray) -> Epoch:
    """The usual PyTorch loop: shuffle the tensors once, then slice batches."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    sizes = case.layer_sizes
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(getattr(torch, case.dtype))
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    criterion = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    n = len(x)
    batch = case.batch_size or n

    def epoch() -> object:
        order = torch.randperm(n)
        xs, ys = xt[order], yt[order]
        for start in range(0, n, batch):
            optimizer.zero_grad()
            loss = criterion(
                model(xs[start : start + batch]), ys[start : start + batch]
            )
            loss.backward()
            optimizer.step()
        return loss

    return epoch


def prepare_sklearn(case: Case, x: np.ndarray, labels: np.ndarray) -> Epoch:
    """``MLPClassifier(solver="sgd", max_iter=1).fit``: one epoch from scratch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def epoch() -> object:
        model = MLPClassifier(
            case.hidden,
            activation="relu",
            solver="sgd",
            alpha=0.0,
            batch_size=case.batch_size or len(x),
            learning_rate_init=LEARNING_RATE,
            momentum=MOMENTUM,
            nesterovs_momentum=False,
            max_iter=1,
            shuffle=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(x, labels)

    return epoch


def prepare_limit(case: Case, x: np.ndarray, labels: np.ndarray) -> Epoch:
    """The epoch's forward and backward matrix products alone, nothing else.

    Per batch: ``z = a w`` for every layer, then ``grad_w = a^T grad_z`` for
    every layer and ``grad_a = grad_z w^T`` for every layer but the first,
    into preallocated outputs, over the same pre-shuffled contiguous batches.
    """
    rng = np.random.default_rng(0)
    n = len(x)
    batch = case.batch_size or n
    xs = x[rng.permutation(n)]
    ws = _small_weights(case, rng)
    grad_ws = [np.empty_like(w) for w in ws]
    full, tail = _batch_buffers(case, n)

    def epoch() -> object:
        for start in range(0, n, batch):
            xb = xs[start : start + batch]
            _products(xb, ws, grad_ws, *(full if len(xb) == batch else tail))
        return grad_ws

    return epoch


def prepare_floor(case: Case, x: np.ndarray, labels: np.ndarray) -> Epoch:
    """The limit plus what a NumPy step that rounds like mlplab's cannot skip.

    On top of the limit's products, per batch: the batch's rows gathered from
    one epoch permutation into buffers (``take``, as ``fit`` does; not for a
    full batch, which ``fit`` takes as it is), the momentum update in the four
    separately rounded passes that give the reference's bits
    (``v' = mu v; v' += g; g = lr v'; w' = w - g``) over every
    parameter (biases included, in one flat array, into spare arrays), and the
    divergence check (a product of the new parameters with ones). No bias,
    activation, loss, metric or Python bookkeeping: a lower bound for mlplab.
    """
    rng = np.random.default_rng(0)
    sizes = case.layer_sizes
    n = len(x)
    batch = case.batch_size or n
    y = one_hot(labels, case.dtype)
    n_params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    flat = [np.zeros(n_params, case.dtype) for _ in range(2)]  # current, spare
    flat[0][:] = rng.standard_normal(n_params).astype(case.dtype) * 0.01
    velocity = [np.zeros(n_params, case.dtype) for _ in range(2)]
    grad_flat = np.zeros(n_params, case.dtype)
    views = [_weight_views(f, sizes) for f in flat]
    grad_ws = _weight_views(grad_flat, sizes)
    ones, total = np.ones(n_params, case.dtype), np.empty((), case.dtype)
    full, tail = _batch_buffers(case, n)
    # Gather buffers for a full batch and the last one (none for full-batch runs).
    row_counts = {batch, n % batch or batch} if batch < n else set()
    rows_x = {k: np.empty((k, sizes[0]), case.dtype) for k in row_counts}
    rows_y = {k: np.empty((k, N_CLASSES), case.dtype) for k in row_counts}

    def epoch() -> object:
        order = rng.permutation(n) if batch < n else None
        for start in range(0, n, batch):
            if order is None:  # full batch: no shuffle, no gather
                xb = x
            else:
                rows = order[start : start + batch]
                xb = x.take(rows, axis=0, out=rows_x[len(rows)], mode="clip")
                y.take(rows, axis=0, out=rows_y[len(rows)], mode="clip")
            n_rows = len(xb)
            _products(xb, views[0], grad_ws, *(full if n_rows == batch else tail))
            np.multiply(velocity[0], MOMENTUM, out=velocity[1])
            velocity[1] += grad_flat
            np.multiply(velocity[1], FLOOR_RATE, out=grad_flat)
            np.subtract(flat[0], grad_flat, out=flat[1])
            np.isfinite(np.matmul(flat[1], ones, out=total))
            for pair in (flat, views, velocity):
                pair.reverse()
        return flat[0]

    return epoch


def _small_weights(case: Case, rng: np.random.Generator) -> list[np.ndarray]:
    """Random weights ``(n_in, n_out)`` per layer, small enough to stay finite."""
    return [
        rng.standard_normal(s).astype(case.dtype) * 0.01
        for s in itertools.pairwise(case.layer_sizes)
    ]


def _weight_views(flat: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Views ``(n_in, n_out)`` of each layer's weights in a flat parameter array.

    Each layer takes ``(n_in + 1) n_out`` entries: weights, then a bias slot.
    """
    views, start = [], 0
    for a, b in itertools.pairwise(sizes):
        views.append(flat[start : start + a * b].reshape(a, b))
        start += (a + 1) * b
    return views


Buffers = tuple[list[np.ndarray], list[np.ndarray]]


def _batch_buffers(case: Case, n: int) -> tuple[Buffers, Buffers]:
    """Activation and gradient buffers for a full batch and for the last one."""
    batch = case.batch_size or n

    def buffers(rows: int) -> Buffers:
        acts = [np.full((rows, s), 0.5, case.dtype) for s in case.layer_sizes[1:]]
        grads = [np.full((rows, s), 0.5, case.dtype) for s in case.layer_sizes[1:]]
        return acts, grads

    full = buffers(batch)
    return full, (buffers(n % batch) if n % batch else full)


def _products(
    xb: np.ndarray,
    ws: list[np.ndarray],
    grad_ws: list[np.ndarray],
    acts: list[np.ndarray],
    grads: list[np.ndarray],
) -> None:
    """One batch's forward and backward matrix products into the buffers."""
    inputs = [xb, *acts[:-1]]
    for a_in, w, z in zip(inputs, ws, acts, strict=True):
        np.matmul(a_in, w, out=z)
    for i in reversed(range(len(ws))):
        np.matmul(inputs[i].T, grads[i], out=grad_ws[i])
        if i > 0:
            np.matmul(grads[i], ws[i].T, out=grads[i - 1])


PREPARE = {
    "mlplab": prepare_mlplab,
    "torch": prepare_torch,
    "sklearn": prepare_sklearn,
    "limit": prepare_limit,
    "floor": prepare_floor,
}


def available(contestants: Sequence[str]) -> tuple[str, ...]:
    """The contestants whose library imports here (PyTorch is optional)."""
    ok = []
    for name in contestants:
        try:
            if name == "torch":
                import torch  # noqa: F401
            elif name == "sklearn":
                import sklearn  # noqa: F401
        except ImportError:
            print(f"skipping {name}: not installed", file=sys.stderr)
            continue
        ok.append(name)
    return tuple(ok)


# ------------------------------------------------------------------- timing


def summarize(times: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of a list of seconds (and the list itself)."""
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "times": list(times),
    }


def time_alternating(
    epochs: dict[str, Epoch], repeats: int, timed: bool = True, pause: float = 0.0
) -> dict[str, dict[str, Any]]:
    """Run every contestant once as warm-up, then ``repeats`` rounds, alternating.

    The order rotates each round so that no contestant always follows the same
    one, and each timed run starts after ``pause`` seconds of rest (so that no
    thread pool of the one before still spins). With ``timed=False`` (the
    smoke test) it only runs them.
    """
    names = list(epochs)
    for name in names:
        epochs[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            time.sleep(pause)
            start = time.perf_counter()
            epochs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: summarize(t) for name, t in times.items()} if timed else {}


def run_case(
    case: Case, settings: Settings, data: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """Time one case's contestants and return their summaries and ratios."""
    x, labels = data[case.dtype]
    names = available(case.contestants)
    epochs = {name: PREPARE[name](case, x, labels) for name in names}
    load_before = os.getloadavg()[0]
    results = time_alternating(epochs, settings.repeats, pause=settings.pause)
    row: dict[str, Any] = {
        "case": asdict(case),
        "n_samples": len(x),
        "results": results,
        "load_1min": [load_before, os.getloadavg()[0]],
    }
    row["ratios"] = ratios(results, paired=False)
    row["paired_ratios"] = ratios(results, paired=True)
    return row


def ratios(results: dict[str, dict[str, Any]], paired: bool) -> dict[str, float]:
    """mlplab's time over each other contestant's, and the floor's over the limit's.

    Either the ratio of the medians or (``paired``) the median over rounds of
    each round's ratio: a round runs the contestants back to back, so both
    sides of its ratio saw the same state of a shared machine, whose other
    tenants come and go (on ours, epochs of every NumPy contestant slowed by
    up to 2.7 times for stretches of a few rounds).
    """

    def ratio(a: str, b: str) -> float:
        if not paired:
            return float(results[a]["median"] / results[b]["median"])
        rounds = zip(results[a]["times"], results[b]["times"], strict=True)
        return statistics.median(ta / tb for ta, tb in rounds)

    others = [name for name in results if name != "mlplab"]
    pairs = [("mlplab", name) for name in others] if "mlplab" in results else []
    if "floor" in results and "limit" in results:  # the least any NumPy step takes
        pairs.append(("floor", "limit"))
    return {f"{a}/{b}": ratio(a, b) for a, b in pairs}


# ------------------------------------------------------------------- memory


def _rss_kib(field_name: str) -> int:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_child(n_samples: int, batch_size: int | None, dtype: str) -> dict[str, Any]:
    """In a fresh process: load data, then measure a fit's peak RSS above it."""
    from mlplab.network import MLPConfig
    from mlplab.optimizers import SGD
    from mlplab.training import fit

    config = MLPConfig(
        (N_FEATURES, 256, N_CLASSES),
        activation="relu",
        output_activation="identity",
        init="he_uniform",
        dtype=dtype,
    )
    optimizer = SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM)
    x, labels = make_data(n_samples, dtype)
    y = one_hot(labels, dtype)
    del labels

    def peak_of_fit() -> tuple[float, float, bool]:
        gc.collect()
        before = _rss_kib("VmRSS")
        reset = _reset_peak()
        fit(
            config,
            x,
            y,
            loss="cross_entropy",
            optimizer=optimizer,
            n_epochs=1,
            seeds=(0,),
            batch_size=batch_size,
        )
        return before / 1024, (_rss_kib("VmHWM") - before) / 1024, reset

    # The first fit also pays one-time costs of the process (OpenBLAS grows
    # its thread buffers, ~120 MB, on the first large product); the second
    # fit's peak is the fit's own. Both are reported.
    _, cold_peak, _ = peak_of_fit()
    rss_before, peak_above, reset = peak_of_fit()
    itemsize = np.dtype(dtype).itemsize
    rows = batch_size or n_samples
    sizes = config.layer_sizes
    n_params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    return {
        "n_samples": n_samples,
        "batch_size": batch_size,
        "dtype": dtype,
        "data_mb": (x.nbytes + y.nbytes) / 2**20,
        "params_mb": n_params * itemsize / 2**20,
        "batch_activations_mb": rows * sum(sizes[1:]) * itemsize / 2**20,
        "rss_before_fit_mb": rss_before,
        "peak_above_data_mb": peak_above,
        "first_fit_peak_above_data_mb": cold_peak,
        "peak_reset": reset,
    }


def run_memory(settings: Settings) -> list[dict[str, Any]]:
    """One fresh process per data size (and one full-batch run)."""
    jobs: list[tuple[int, int | None]] = [(n, 128) for n in settings.memory_samples]
    if settings.memory_full_batch:
        jobs.append(
            (
                settings.memory_samples[-1 if len(settings.memory_samples) < 3 else 2],
                None,
            )
        )
    rows = []
    for n, batch in jobs:
        out = subprocess.run(
            [
                sys.executable,
                str(Path(__file__)),
                "--memory-child",
                str(n),
                str(batch or 0),
                "float32",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout)
        row["budget_mb"] = (
            row["data_mb"] + 2 * (row["params_mb"] + row["batch_activations_mb"]) + 50
        )
        row["peak_total_mb"] = row["peak_above_data_mb"] + row["data_mb"]
        rows.append(row)
    return rows


# ------------------------------------------------------------------ start-up


def run_startup(settings: Settings) -> dict[str, Any]:
    """Wall time of fresh processes, alternating: baseline, numpy, mlplab, --help."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import numpy": [sys.executable, "-c", "import numpy"],
        "import mlplab": [sys.executable, "-c", "import mlplab"],
        "import mlplab.training": [sys.executable, "-c", "import mlplab.training"],
        "mlplab --help": [sys.executable, "-m", "mlplab", "--help"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(settings.startup_repeats):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
    result = {name: summarize(t) for name, t in times.items()}
    result["import mlplab - import numpy"] = (
        result["import mlplab"]["median"] - result["import numpy"]["median"]
    )
    return result


# ---------------------------------------------------------------- machinery


def machine_info() -> dict[str, Any]:
    """BLAS library, kernel and threads (threadpoolctl), torch threads, load."""
    from threadpoolctl import threadpool_info

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threadpools": threadpool_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "load_1_5_15": list(os.getloadavg()),
    }
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def run_suite(
    settings: Settings, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every benchmark of ``settings``; return the results document."""
    if log is None:
        log = functools.partial(print, flush=True)
    info = machine_info()
    log(f"threadpools: {json.dumps(info['threadpools'])}")
    log(
        f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']} "
        f"OPENBLAS_L2_SIZE={info['OPENBLAS_L2_SIZE']} load={info['load_1_5_15']}"
    )
    if settings.threads:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(settings.threads)
        try:
            import torch

            torch.set_num_threads(settings.threads)
            info["torch_threads"] = torch.get_num_threads()
        except ImportError:
            pass
        info["threads_cap"] = settings.threads
        info["threadpools"] = threadpool_info()  # what runs, not what was installed
        log(f"threads capped at {settings.threads}: {json.dumps(info['threadpools'])}")
    dtypes = sorted({case.dtype for case in settings.cases})
    data = {}
    for dtype in dtypes:
        data[dtype] = make_data(settings.n_samples, dtype)
    epochs = []
    for case in settings.cases:
        row = run_case(case, settings, data)
        epochs.append(row)
        log(format_case(row))
    memory = run_memory(settings) if settings.memory_samples else []
    for row in memory:
        log(
            f"memory n={row['n_samples']} batch={row['batch_size']}: peak above data "
            f"{row['first_fit_peak_above_data_mb']:.1f} MB in the first fit, "
            f"{row['peak_above_data_mb']:.1f} MB in a second "
            f"(budget {row['budget_mb']:.1f} MB)"
        )
    startup = run_startup(settings) if settings.startup_repeats else {}
    if startup:
        log(
            "startup: "
            + ", ".join(
                f"{k} {v['median'] * 1000:.0f} ms"
                for k, v in startup.items()
                if isinstance(v, dict)
            )
        )
    info["load_1_5_15_after"] = list(os.getloadavg())
    return {
        "settings": {
            "n_samples": settings.n_samples,
            "repeats": settings.repeats,
            "threads": settings.threads,
            "pause": settings.pause,
        },
        "machine": info,
        "epochs": epochs,
        "memory": memory,
        "startup": startup,
    }


def format_case(row: dict[str, Any]) -> str:
    """One line per case for the console."""
    parts = [
        f"{name} {r['median']:.3f}s [{r['min']:.3f}-{r['max']:.3f}]"
        for name, r in row["results"].items()
    ]
    paired = row["paired_ratios"]
    shown = ", ".join(
        f"{k} {paired[k]:.2f} ({v:.2f})" for k, v in row["ratios"].items()
    )
    return f"{row['case']['name']}: " + "; ".join(parts) + f" | {shown}"


def markdown(doc: dict[str, Any]) -> str:
    """The short Markdown table that the README links to."""
    m, settings = doc["machine"], doc["settings"]
    blas = ", ".join(
        f"{p['internal_api']} {p['version']} ({p.get('architecture')}, "
        f"{p['num_threads']} threads)"
        for p in m["threadpools"]
        if p["user_api"] == "blas"  # (OpenMP pools are in the JSON)
    )
    lines = [
        "# mlplab benchmarks",
        "",
        f"Generated by `python benchmarks/run.py` ({settings['repeats']} repeats, "
        f"alternating, each after {settings.get('pause', 0)} s of rest; "
        f"{settings['n_samples']} samples"
        + (
            f", threads capped at {settings['threads']}"
            if settings.get("threads")
            else ""
        )
        + f"). BLAS: {blas}; "
        f"OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']}, "
        f"OPENBLAS_L2_SIZE={m['OPENBLAS_L2_SIZE']}; numpy {m['numpy']}, "
        f"torch {m.get('torch')} ({m.get('torch_threads')} threads), "
        f"scikit-learn {m.get('sklearn')}; {m['cpus']} CPUs; "
        "load average (1, 5, 15 min) "
        f"{', '.join(f'{v:.2f}' for v in m['load_1_5_15'])} before and "
        f"{', '.join(f'{v:.2f}' for v in m['load_1_5_15_after'])} after.",
        "",
        "## One epoch (seconds: median [min-max]) and mlplab's ratios",
        "",
        "The limit is the epoch's matrix products alone; the floor adds what a "
        "NumPy step with mlplab's rounding cannot skip (gathering each batch, "
        "the four-pass momentum update, the divergence check), so floor/limit "
        "is the least mlplab/limit that NumPy allows. Each ratio is the median "
        "over rounds of the round's ratio (a round runs every contestant once, "
        "back to back), and in brackets the ratio of the medians.",
        "",
        "| case | mlplab | PyTorch | scikit-learn | limit (matmuls) | floor "
        "| mlplab/PyTorch | mlplab/sklearn | mlplab/limit | floor/limit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in doc["epochs"]:
        cells = []
        for name in CONTESTANTS:
            r = row["results"].get(name)
            cells.append(
                f"{r['median']:.3f} [{r['min']:.3f}-{r['max']:.3f}]" if r else "-"
            )
        for key in ("mlplab/torch", "mlplab/sklearn", "mlplab/limit", "floor/limit"):
            of_medians, paired = row["ratios"].get(key), row["paired_ratios"].get(key)
            cells.append("-" if paired is None else f"{paired:.2f} ({of_medians:.2f})")
        lines.append(f"| {row['case']['name']} | " + " | ".join(cells) + " |")
    if doc["memory"]:
        lines += [
            "",
            "## Peak memory of an mlplab fit "
            "(784-256-10, float32, one epoch, fresh process)",
            "",
            "Peak resident memory minus the resident memory after loading the "
            "data, just before `fit`: the process's first fit (which includes "
            "OpenBLAS's one-time thread buffers) and, in brackets, a second fit's. "
            "Budget (issue 7): data + 2 x (parameters + one batch of activations) "
            "+ 50 MB; the first fit is judged.",
            "",
            "| samples | batch | data MB | peak above data MB: first fit (second) "
            "| budget MB | within |",
            "|---|---|---|---|---|---|",
        ]
        for r in doc["memory"]:
            first = r["first_fit_peak_above_data_mb"]
            within = "yes" if first <= r["budget_mb"] else "NO"
            lines.append(
                f"| {r['n_samples']} | {r['batch_size'] or 'full'} "
                f"| {r['data_mb']:.1f} | {first:.1f} "
                f"({r['peak_above_data_mb']:.1f}) "
                f"| {r['budget_mb']:.1f} | {within} |"
            )
    if doc["startup"]:
        s = doc["startup"]
        lines += [
            "",
            "## Start-up (fresh process wall time, median [min-max])",
            "",
            "| command | ms |",
            "|---|---|",
        ]
        for name, r in s.items():
            if isinstance(r, dict):
                lines.append(
                    f"| `{name}` | {r['median'] * 1000:.0f} "
                    f"[{r['min'] * 1000:.0f}-{r['max'] * 1000:.0f}] |"
                )
        lines.append(
            f"| `import mlplab` - `import numpy` | "
            f"{s['import mlplab - import numpy'] * 1000:+.0f} |"
        )
    return "\n".join(lines) + "\n"


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse values that would fail or mean nothing only after the run (exit 2)."""
    for name in ("repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} expects a whole number >= 1; got {value}")
    chosen = [c for c in CASES if args.cases is None or args.cases in c.name]
    if not chosen:
        names = "; ".join(c.name for c in CASES)
        parser.error(f"--cases {args.cases!r} matches no case; the cases: {names}")
    largest_batch = max(c.batch_size or 1 for c in chosen)
    if args.samples is not None and args.samples < largest_batch:
        parser.error(
            f"--samples expects at least {largest_batch} (the largest batch); "
            f"got {args.samples}"
        )
    if args.out is not None:
        _check_out(parser, args.out)
        args.out = Path(args.out)


def _outputs(prefix: Path) -> tuple[Path, Path]:
    """``prefix.json`` and ``prefix.md``: appended, so ``a.v2`` gives ``a.v2.json``."""
    return Path(f"{prefix}.json"), Path(f"{prefix}.md")


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried, not guessed from modes)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _check_out(parser: argparse.ArgumentParser, text: str) -> None:
    """``--out`` must name files that can be written in an existing folder."""
    prefix, problem = Path(text), None
    if not text:
        problem = "is empty"
    elif not prefix.name or text.endswith(os.sep) or prefix.is_dir():
        problem = "is a folder"
    elif not prefix.parent.is_dir():
        problem = "is in a folder that does not exist"
    elif not _writable(prefix.parent):
        problem = "is in a folder that cannot be written"
    elif any(p.is_dir() for p in _outputs(prefix)):
        problem = "names a folder as .json or .md"
    if problem:
        parser.error(
            f"--out expects a file prefix in a writable folder (.json and .md are "
            f"added); got {text!r}, which {problem}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, 3 repeats")
    parser.add_argument("--repeats", type=int, help="timed rounds per case (default 5)")
    parser.add_argument("--samples", type=int, help="rows of synthetic data")
    parser.add_argument("--cases", help="only cases whose name contains this text")
    parser.add_argument("--threads", type=int, help="cap BLAS and torch threads")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--out", help="output prefix (.json and .md added)")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        n, batch, dtype = args.memory_child
        print(json.dumps(memory_child(int(n), int(batch) or None, dtype)))
        return 0
    _check_args(parser, args)  # before any work: a bad value fails in a second
    settings = QUICK if args.quick else Settings()
    if args.repeats is not None:
        settings = replace(settings, repeats=args.repeats)
    if args.samples is not None:
        settings = replace(settings, n_samples=args.samples)
    if args.cases is not None:
        settings = replace(
            settings, cases=tuple(c for c in settings.cases if args.cases in c.name)
        )
    if args.threads is not None:
        settings = replace(settings, threads=args.threads)
    if args.no_memory:
        settings = replace(settings, memory_samples=())
    if args.no_startup:
        settings = replace(settings, startup_repeats=0)
    if args.out is not None:
        out_json, out_md = _outputs(args.out)
        settings = replace(settings, out_json=out_json, out_md=out_md)
    doc = run_suite(settings)
    settings.out_json.write_text(json.dumps(doc, indent=1) + "\n")
    settings.out_md.write_text(markdown(doc))
    print(f"wrote {settings.out_json} and {settings.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
