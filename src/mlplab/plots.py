"""Plots with matplotlib (imported here only, lazily): loss curves, sweep heatmaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._types import Array
from .optimizers import SGD
from .stability import effective_rates

__all__ = ["plot_loss", "plot_lr_find", "plot_sweep_heatmaps", "plot_training"]


def plot_loss(losses: Array, path: str | Path, title: str = "training loss") -> Path:
    """Write the loss of each member against the epoch to a PNG file.

    ``losses`` is ``(n_epochs, n_members)``; the y axis is logarithmic when
    every loss is positive.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    losses = np.asarray(losses)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, linewidth=1)
    if np.all(losses[np.isfinite(losses)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- lr-find (issue 8)


def plot_lr_find(
    rates: Array,
    losses: Array,
    path: str | Path,
    suggested: float,
    title: str = "learning-rate range test",
) -> Path:
    """Write the loss against the (log-scaled) learning rate, the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(rates, losses, linewidth=1.2)
    ax.axvline(
        suggested,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"suggested {suggested:.3g}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- training curves
# (train and validation loss, learning rate on a second axis)


def plot_training(
    metrics: dict[str, Array],
    path: str | Path,
    title: str = "training",
    member: int = 0,
) -> Path:
    """Write one member's training and validation loss against the epoch to a PNG.

    ``metrics`` is ``History.metrics`` (arrays ``(n_epochs, n_members)``). The
    loss axis is logarithmic when every loss is positive; when the history
    records ``"learning_rate"`` (a schedule or a callback changed it), the rate
    is drawn on a second axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    epochs = np.arange(1, len(metrics["loss"]) + 1)
    curves = [
        (name, label)
        for name, label in (("loss", "training loss"), ("val_loss", "validation loss"))
        if name in metrics
    ]
    for name, label in curves:
        ax.plot(epochs, metrics[name][:, member], linewidth=1, label=label)
    losses = np.concatenate([metrics[name][:, member] for name, _ in curves])
    if np.all(losses[np.isfinite(losses)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if "learning_rate" in metrics:
        rate_ax = ax.twinx()
        rates = metrics["learning_rate"][:, member]
        (line,) = rate_ax.plot(epochs, rates, color="gray", linestyle="--", linewidth=1)
        rate_ax.set_ylabel("learning rate")
        handles, labels = [*handles, line], [*labels, "learning rate"]
    ax.legend(handles, labels, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- sweep heatmaps


def effective_learning_rate(
    lr: float, momentum: float, momentum_style: str, dampening: float = 0.0
) -> float:
    """Return the long-run step per unit gradient (``stability.effective_rates``).

    ``lr / (1 - momentum)`` for classical momentum (and its lr-inside form),
    ``lr (1 - dampening) / (1 - momentum)`` for PyTorch's dampened form, and
    ``lr`` itself for the EMA form, which never enlarges the step.

    Examples
    --------
    >>> effective_learning_rate(0.1, 0.5, "dampened", dampening=0.5)
    0.1
    """
    optimizer = SGD(
        lr, momentum=momentum, momentum_style=momentum_style, dampening=dampening
    )
    return effective_rates(optimizer).terminal_rate


def plot_sweep_heatmaps(
    cells: list[dict[str, Any]],
    path: str | Path,
    *,
    x: str = "lr",
    y: str = "momentum",
    effective_lr: bool = False,
    momentum_style: str = "ema",
    dampening: float = 0.0,
    title: str = "",
) -> Path:
    """Write heatmaps of success rate and median epochs to solve over two axes.

    ``cells`` are ``SweepResult.cells``. Cells that differ in any other axis go
    to separate rows of panels (e.g. the original derivative and the fixed
    one). Each square is annotated: the success rate, and the Kaplan-Meier
    median epochs to solve ("-" when fewer than half solved). With
    ``effective_lr`` the x position is the effective learning rate
    (``effective_learning_rate``), on a log scale.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def key(cell: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(
            (k, str(v)) for k, v in cell["settings"].items() if k not in (x, y)
        )

    panels: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for cell in cells:
        panels.setdefault(key(cell), []).append(cell)
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(12, 4.2 * len(panels)), dpi=100, squeeze=False
    )
    for row, (panel_key, members) in enumerate(panels.items()):
        label = ", ".join(_FIXED.get(f"{k}={v}", f"{k}={v}") for k, v in panel_key)
        for col, metric in enumerate(("success_rate", "median_epochs_to_solve")):
            _heatmap(
                axes[row][col],
                members,
                x,
                y,
                metric,
                effective_lr,
                (momentum_style, dampening),
            )
            name = "success rate" if col == 0 else "median epochs to solve"
            axes[row][col].set_title(
                f"{name}{' (' + label + ')' if label else ''}", fontsize=10
            )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _heatmap(
    ax: Any,
    cells: list[dict[str, Any]],
    x: str,
    y: str,
    metric: str,
    effective_lr: bool,
    sweep_momentum: tuple[str, float],
) -> None:
    """One annotated panel: a grid image, or squares at effective learning rates.

    ``sweep_momentum`` is the sweep's momentum style and dampening, used where
    the panel's cells do not set their own.
    """
    xs = sorted({c["settings"][x] for c in cells})
    ys = sorted({c["settings"][y] for c in cells})
    grid = np.full((len(ys), len(xs)), np.nan)
    for c in cells:
        value = c[metric]
        grid[ys.index(c["settings"][y]), xs.index(c["settings"][x])] = (
            np.nan if value is None else value
        )
    cmap = "viridis" if metric == "success_rate" else "magma_r"
    vmin, vmax = (0.0, 1.0) if metric == "success_rate" else (None, None)
    if effective_lr:
        momentum_style, dampening = _panel_momentum(cells, sweep_momentum)
        pos = [
            [
                effective_learning_rate(float(xv), float(yv), momentum_style, dampening)
                for xv in xs
            ]
            for yv in ys
        ]
        flat = [
            (pos[i][j], i, grid[i, j]) for i in range(len(ys)) for j in range(len(xs))
        ]
        image = ax.scatter(
            [p[0] for p in flat],
            [p[1] for p in flat],
            c=[p[2] for p in flat],
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            marker="s",
            s=900,
        )
        ax.set_xscale("log")
        ax.margins(x=0.12, y=0.15)
        ax.set_xlabel(f"effective learning rate ({momentum_style} momentum)")
        for xe, i, v in flat:
            ax.annotate(
                _cell_text(v, metric),
                (xe, i),
                ha="center",
                va="center",
                fontsize=7,
                color=_text_colour(image, v),
            )
    else:
        image = ax.imshow(
            grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", origin="lower"
        )
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_xlabel(x)
        for i in range(len(ys)):
            for j in range(len(xs)):
                v = grid[i, j]
                ax.text(
                    j,
                    i,
                    _cell_text(v, metric),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color=_text_colour(image, v),
                )
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_ylabel(y)
    ax.figure.colorbar(image, ax=ax)


def _panel_momentum(
    cells: list[dict[str, Any]], default: tuple[str, float]
) -> tuple[str, float]:
    """Return a panel's momentum style and dampening (swept, else the sweep's)."""
    settings = cells[0]["settings"]
    return (
        str(settings.get("momentum_style", default[0])),
        float(settings.get("dampening", default[1])),
    )


_FIXED = {
    "fixed=False": "original derivative s'(s(z))",
    "fixed=True": "derivative corrected",
}


def _text_colour(image: Any, value: float) -> str:
    """Black on light squares, white on dark ones (and black on blank ones)."""
    if not np.isfinite(value):
        return "k"
    r, g, b, _ = image.to_rgba(value)
    return "k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w"


def _cell_text(value: float, metric: str) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{100 * value:.0f}%" if metric == "success_rate" else f"{value:.0f}"
