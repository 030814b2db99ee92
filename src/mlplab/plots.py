"""Plots with matplotlib (imported here only, and lazily): loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._types import Array

__all__ = ["plot_loss", "plot_lr_find", "plot_training"]


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


def plot_lr_find(rates: Array, losses: Array, path: str | Path, suggested: float,
                 title: str = "learning-rate range test") -> Path:
    """Write the loss against the (log-scaled) learning rate, the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(rates, losses, linewidth=1.2)
    ax.axvline(suggested, color="tab:red", linestyle="--", linewidth=1,
               label=f"suggested {suggested:.3g}")
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
    curves = [(name, label) for name, label in (("loss", "training loss"),
                                                ("val_loss", "validation loss"))
              if name in metrics]
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
