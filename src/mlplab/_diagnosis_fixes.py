"""The fixes a diagnosis tries: the suggested variants and ``FixResult``.

From the findings, ``_variants`` lists the changes to try (the correct
sigmoid derivative, biases, glorot_uniform init, cross-entropy from logits,
classical momentum, leaky_relu, half the stable rate), ``_apply`` splits one
between the config, the loss and the optimizer, ``_sweep_rows`` runs every
seed through the sweep engine (``sweeps``, imported when first needed), and
``_fix_result`` summarises a variant's rows. Whether to try fixes at all is
``diagnosis.diagnose``'s choice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._diagnosis_findings import Finding
from ._diagnosis_runs import _value
from ._types import Array
from .network import MLPConfig
from .optimizers import SGD
from .presets import OriginalSetup


@dataclass(frozen=True)
class FixResult:
    """One variant run over the diagnosed seeds, with its outcomes."""

    name: str
    changes: dict[str, Any]
    success_rate: float
    outcomes: list[str]
    median_final_loss: float


def _variants(
    config: MLPConfig, loss: str, optimizer: SGD, findings: dict[str, Finding]
) -> list[tuple[str, dict[str, Any]]]:
    """List suggested ``(name, changes)``; a derivative fix stays in every later one."""
    base: dict[str, Any] = {}
    out: list[tuple[str, dict[str, Any]]] = []
    if findings["gradients"].problem and "sigmoid_wrong_derivative" in (
        config.activation,
        config.output_activation,
    ):
        base = {
            "activation": "sigmoid"
            if config.activation == "sigmoid_wrong_derivative"
            else config.activation,
            "output_activation": "sigmoid"
            if config.output_activation == "sigmoid_wrong_derivative"
            else config.output_activation,
        }
        out.append(("correct derivative", dict(base)))
    prefix = "correct derivative + " if base else ""
    seeds_fail = "seeds" in findings and findings["seeds"].problem
    if findings["plateau"].problem or seeds_fail or findings["units"].problem:
        if not config.use_bias:
            out.append((prefix + "biases", {**base, "use_bias": True}))
        if config.init != "glorot_uniform":
            out.append(
                (prefix + "glorot_uniform init", {**base, "init": "glorot_uniform"})
            )
        if loss in ("sse", "mse") and config.n_outputs == 1:
            out.append(
                (
                    prefix + "cross-entropy from logits",
                    {
                        **base,
                        "loss": "binary_cross_entropy",
                        "output_activation": "identity",
                    },
                )
            )
        if optimizer.momentum_style == "ema" and _value(optimizer.momentum) > 0:
            out.append(
                (prefix + "classical momentum", {**base, "momentum_style": "classical"})
            )
        if config.activation == "relu":
            out.append((prefix + "leaky_relu", {**base, "activation": "leaky_relu"}))
    curvature = findings["curvature"]
    if curvature.problem and curvature.evidence["max_stable_rate"]:
        out.append(
            (
                prefix + "half the stable rate",
                {**base, "learning_rate": 0.5 * curvature.evidence["max_stable_rate"]},
            )
        )
    return out


def _apply(
    config: MLPConfig, loss: str, optimizer: SGD, changes: dict[str, Any]
) -> tuple[MLPConfig, str, SGD]:
    """Split a variant's changes between the config, the loss and the optimizer."""
    opt_fields = {f.name for f in dataclasses.fields(SGD)}
    config = dataclasses.replace(
        config,
        **{k: v for k, v in changes.items() if k not in opt_fields and k != "loss"},
    )
    optimizer = dataclasses.replace(
        optimizer, **{k: v for k, v in changes.items() if k in opt_fields}
    )
    return config, changes.get("loss", loss), optimizer


def _sweep_rows(
    config: MLPConfig,
    x: Array,
    y: Array,
    loss: str,
    optimizer: SGD,
    n_epochs: int,
    seeds: Sequence[int],
    batch_size: int | None,
) -> list[dict[str, Any]]:
    """Every seed through the sweep engine; one classified row per seed."""
    from .sweeps import sweep

    setup = OriginalSetup(config, optimizer, loss, n_epochs, int(seeds[0]), x, y)
    return sweep({}, seeds=list(seeds), setup=setup, batch_size=batch_size).rows


def _fix_result(
    name: str, changes: dict[str, Any], rows: list[dict[str, Any]]
) -> FixResult:
    """Summarise one variant's sweep rows."""
    outcomes = [r["outcome"] for r in rows]
    return FixResult(
        name,
        changes,
        outcomes.count("solved") / len(rows),
        outcomes,
        float(np.median([r["final_loss"] for r in rows])),
    )
