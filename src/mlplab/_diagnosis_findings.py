"""The findings of a diagnosis: ``Finding`` and one builder per question.

Each builder turns a ``_Run`` (``_diagnosis_runs``) and the configuration into
a ``Finding`` with its summary, evidence and advice: ``gradients`` (checked by
``gradcheck``), ``plateau`` (the constant predictor and the sweep's stall rule,
from ``outcomes``), ``units``, ``gradient-flow``, ``curvature`` (against the
stability bound of ``stability``), ``rates`` (the effective rates) and
``seeds`` (from sweep rows). Training is left to ``_diagnosis_runs``, trying
fixes to ``_diagnosis_fixes``, and choosing and reporting the findings to
``diagnosis``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._diagnosis_runs import _BOUNDS, _member, _Run, _value, layer_health
from ._types import Array
from .gradcheck import GradientReport, check_gradients
from .losses import LOSSES
from .network import MLPConfig, Params, forward, param_arrays, param_names, with_arrays
from .optimizers import SGD
from .outcomes import CONSTANT_STALL_RTOL, classify
from .schedules import learning_rate_at
from .stability import (
    effective_rates,
    largest_eigenvalue,
    loss_gradient,
    stability_bound,
)


@dataclass(frozen=True)
class Finding:
    """One question answered: whether it is a problem, the numbers, what to try."""

    name: str
    problem: bool
    summary: str
    evidence: dict[str, Any]
    advice: tuple[str, ...] = ()


def _gradient_finding(
    config: MLPConfig, x: Array, y: Array, loss: str, params: Params
) -> tuple[Finding, GradientReport]:
    """Check backpropagation of the configuration's own activations and loss."""
    config64 = dataclasses.replace(config, dtype="float64")
    loss_fn = LOSSES[loss]
    names = param_names(params)

    def value(p: dict[str, Array]) -> float:
        net = with_arrays(params, [p[n][None] for n in names])
        return float(loss_fn.value(forward(net, config64, x)[0], y)[0])

    def grad(p: dict[str, Array]) -> dict[str, Array]:
        net = with_arrays(params, [p[n][None] for n in names])
        return {
            n: g[0]
            for n, g in zip(
                names, loss_gradient(net, config64, x, y, loss), strict=True
            )
        }

    report = check_gradients(
        value, grad, {n: a[0] for n, a in zip(names, param_arrays(params), strict=True)}
    )
    advice: list[str] = []
    if "sigmoid_wrong_derivative" in (config.activation, config.output_activation):
        advice.append(
            "take the sigmoid's derivative at the layer's input: s'(z) = "
            "a (1 - a) with a = s(z) the layer's output, not s'(a) "
            "(mlplab: drop --original)"
        )
    if not advice:  # no known cause: the checker's own advice for the first failure
        advice += [f"{a.name}: {a.advice}" for a in report.arrays if a.verdict != "ok"][
            :1
        ]
    failed = [a for a in report.arrays if a.verdict != "ok"]
    summary = (
        "backpropagation matches central differences"
        if not failed
        else "backpropagation is wrong: "
        + ", ".join(
            f"{a.name} ({a.verdict}, rel. error {a.rel_error:.2g})" for a in failed
        )
    )
    evidence = {
        "tolerance": report.tol,
        "arrays": [
            {
                "name": a.name,
                "rel_error": a.rel_error,
                "verdict": a.verdict,
                "factor": a.factor,
            }
            for a in report.arrays
        ],
    }
    return Finding("gradients", bool(failed), summary, evidence, tuple(advice)), report


def _plateau_finding(
    config: MLPConfig, x: Array, y: Array, loss: str, run: _Run, constant: float
) -> Finding:
    """Is the loss the best constant predictor's? With the gradient norm there.

    Whether the run has stalled there is the sweep's rule (``outcomes``):
    improved by less than 1e-4 relative over the last 10% of the epochs. A
    run near the constant loss that still improves faster is "unfinished".
    """
    losses = run.loss[:, 0]
    final = float(losses[-1])
    gap = abs(final - constant)
    window = min(max(round(0.1 * len(losses)), 1), len(losses))  # the sweep's
    config64 = dataclasses.replace(config, dtype="float64")
    raw = forward(_member(run.params, 0), config64, x)[0]
    outputs = LOSSES[loss].link(raw)[0]
    outcome = (
        _outcome(config, loss, raw, y, losses, window, run, constant)
        if len(losses) > 1
        else "unknown"  # a saved model without a loss history
    )
    change = float(losses[-1] - losses[-window]) if len(losses) > window else 0.0
    evidence = {
        "final_loss": final,
        "constant_loss": constant,
        "gap": gap,
        "relative_gap": gap / constant if constant > 0 else float("inf"),
        "gradient_norm": float(np.sqrt(np.sum(run.grad_norm[-1][:, 0] ** 2))),
        "window": window,
        "loss_change_last_10pct": change,
        "outcome": outcome,
        "output_spread": float(np.max(np.ptp(outputs, axis=0))),
    }
    near = bool(np.isfinite(final) and gap <= CONSTANT_STALL_RTOL * constant)
    numbers = (
        f"loss {final:.6g} against {constant:.6g} for predicting the target mean "
        f"on every row, gradient norm {evidence['gradient_norm']:.2e}"
    )
    if near and outcome == "plateau":
        summary = f"stalled on the constant-predictor plateau: {numbers}"
    elif near and outcome == "unfinished":
        summary = (
            f"near the constant-predictor loss and still creeping down: {numbers}; "
            f"the loss fell {-change:.3g} over the last {window} epochs, so a "
            "sweep counts this run as unfinished, not stalled"
        )
    elif near and outcome == "unknown":
        summary = (
            f"at the constant-predictor loss: {numbers}; the model file records no "
            "loss history, so whether the run has stalled there is unknown"
        )
    elif near and outcome == "solved":
        return Finding(
            "plateau",
            False,
            f"the loss ({final:.4g}) is within {CONSTANT_STALL_RTOL:.0%} of the "
            f"constant predictor's ({constant:.4g}), but every training row is "
            "classified correctly",
            evidence,
        )
    else:
        return Finding(
            "plateau",
            False,
            f"the loss ({final:.4g}) is not the constant predictor's ({constant:.4g})",
            evidence,
        )
    return Finding(
        "plateau", True, summary, evidence, tuple(_plateau_advice(config, loss))
    )


def _outcome(
    config: MLPConfig,
    loss: str,
    raw: Array,
    y: Array,
    losses: Array,
    window: int,
    run: _Run,
    constant: float,
) -> str:
    """Classify the diagnosed run by the sweep's rules (``outcomes.classify``)."""
    from .sweeps import task_kind

    kind, threshold = task_kind(config, loss, y)
    if kind == "multiclass":
        solved = bool(np.all(np.argmax(raw[0], 1) == np.argmax(y, 1)))
    elif kind == "classification":
        solved = bool(np.all((raw[0] > threshold) == (y > 0.5)))
    else:  # regression: solved only under a loss threshold the sweep is given
        solved = False
    n = len(losses)
    return str(
        classify(
            n_epochs=n,
            final_loss=losses[-1:],
            window_loss=losses[n - window : n - window + 1],
            diverged_epoch=run.diverged[:1],
            last_bad=np.array([0 if solved else n]),
            constant_loss=constant,
        ).outcome[0]
    )


def _plateau_advice(config: MLPConfig, loss: str) -> list[str]:
    """List changes that move a network off the constant-predictor plateau."""
    advice = []
    if not config.use_bias:
        advice.append(
            "add biases (--bias): without them every unit's threshold is tied to "
            "the origin"
        )
    if config.init.startswith(("uniform", "normal")):
        advice.append(
            "start from glorot_uniform weights (--init glorot_uniform): the "
            f"current init {config.init!r} makes the hidden units alike, or too "
            "small to break the symmetry"
        )
    if loss in ("sse", "mse") and config.output_activation in _BOUNDS:
        advice.append(
            "use cross-entropy from logits (--loss binary_cross_entropy): its "
            "gradient does not shrink with the output sigmoid's slope"
        )
    advice.append("run several seeds (--seeds 10) to see how often the setting stalls")
    return advice


def _units_finding(config: MLPConfig, x: Array, run: _Run) -> Finding:
    """Report saturated sigmoid/tanh and dead ReLU units per layer (diagnosed seed)."""
    layers = []
    for row, grad_norm in zip(
        layer_health(run.params, config, x), run.grad_norm[-1], strict=True
    ):
        layers.append(
            {
                "layer": row["layer"],
                "activation": row["activation"],
                "units": row["units"],
                "saturated": float(row["saturated"][0]),
                "dead": float(row["dead"][0]),
                "weight_grad_norm": float(grad_norm[0]),
            }
        )
    bad = [r for r in layers if r["saturated"] > 0 or r["dead"] > 0]
    if not bad:
        return Finding("units", False, "no saturated or dead units", {"layers": layers})
    parts = [
        f"layer {r['layer']} ({r['activation']}): "
        + (
            f"{r['dead']:.0%} dead"
            if r["dead"] > 0
            else f"{r['saturated']:.0%} saturated"
        )
        + f", weight gradient norm {r['weight_grad_norm']:.3g}"
        for r in bad
    ]
    advice = []
    if any(r["dead"] > 0 for r in bad):
        advice.append(
            "dead ReLU units pass no gradient and never recover: use leaky_relu "
            "(--activation leaky_relu), he_uniform init, or a smaller rate"
        )
    if any(r["saturated"] > 0 for r in bad):
        advice.append(
            "saturated units have a near-zero slope: start from smaller weights "
            "(--init glorot_uniform), standardise the inputs, or use "
            "cross-entropy from logits at the output"
        )
    return Finding("units", True, "; ".join(parts), {"layers": layers}, tuple(advice))


def _flow_finding(run: _Run) -> Finding:
    """Per-layer ||grad_w|| / ||w|| over the run: vanishing or exploding gradients."""
    ratio = run.grad_ratio[:, :, 0]  # (checkpoints, layers)
    evidence = {"epochs": run.epochs, "grad_to_weight": ratio.T.tolist()}
    finite = np.all(np.isfinite(ratio))
    exploding = (not finite) or bool(np.max(ratio) > 1e3)
    first, last = ratio[-1, 0], ratio[-1, -1]
    vanishing = ratio.shape[1] > 1 and last > 0 and first / last < 1e-3
    evidence["first_to_last_layer"] = float(first / last) if last > 0 else None
    if exploding:
        return Finding(
            "gradient-flow",
            True,
            f"exploding gradients: ||grad_w|| / ||w|| reached {np.nanmax(ratio):.3g}",
            evidence,
            ("lower the rate, clip gradients, or standardise the inputs",),
        )
    if vanishing:
        return Finding(
            "gradient-flow",
            True,
            "vanishing gradients: the first layer's "
            f"relative gradient is {first / last:.2e} of the last layer's",
            evidence,
            ("use tanh or relu hidden units with glorot/he init, or fewer layers",),
        )
    return Finding(
        "gradient-flow",
        False,
        "gradient norms relative to the weights stay "
        f"in [{np.min(ratio):.2e}, {np.max(ratio):.2e}]",
        evidence,
    )


def _curvature_finding(
    config: MLPConfig, x: Array, y: Array, loss: str, run: _Run, optimizer: SGD
) -> Finding:
    """Compare the largest Hessian eigenvalue with the convention's stability bound."""
    h = float(
        largest_eigenvalue(config, x, y, loss=loss, params=_member(run.params, 0))[0]
    )
    h_eff = h + _value(optimizer.weight_decay)
    rate = _value(learning_rate_at(optimizer.learning_rate, run.step))
    bound = _value(stability_bound(optimizer))
    tail = np.diff(run.loss[-max(3, len(run.loss) // 10) :, 0])
    oscillation = (
        float(np.mean(np.sign(tail[1:]) * np.sign(tail[:-1]) < 0))
        if len(tail) > 1
        else 0.0
    )
    evidence = {
        "largest_eigenvalue": h,
        "learning_rate": rate,
        "rate_times_curvature": rate * h_eff,
        "stability_bound": bound,
        "max_stable_rate": bound / h_eff if h_eff > 0 else None,
        "loss_oscillation": oscillation,
    }
    style = optimizer.momentum_style + (" Nesterov" if optimizer.nesterov else "")
    if h_eff > 0 and rate * h_eff > bound:
        return Finding(
            "curvature",
            True,
            f"the step is too large for the curvature: a h = "
            f"{rate * h_eff:.4g} exceeds the {style} bound {bound:.4g} "
            f"(loss direction changes on {oscillation:.0%} of late epochs)",
            evidence,
            (
                f"lower the rate below {bound / h_eff:.3g} "
                f"(try {0.5 * bound / h_eff:.3g})",
            ),
        )
    margin = "" if h_eff <= 0 else f" ({rate * h_eff / bound:.1%} of it)"
    return Finding(
        "curvature",
        False,
        f"a h = {rate * h_eff:.4g} is within the {style} "
        f"stability bound {bound:.4g}{margin}",
        evidence,
    )


def _rate_finding(optimizer: SGD) -> Finding:
    """Report the nominal and effective rates and the equivalent settings."""
    report = effective_rates(optimizer)
    equivalents = [
        {
            "momentum_style": e.optimizer.momentum_style,
            "learning_rate": _value(e.optimizer.learning_rate),
            "momentum": _value(e.optimizer.momentum),
            "dampening": _value(e.optimizer.dampening),
            "nesterov": e.optimizer.nesterov,
            "exact": e.exact,
            "also": e.also,
        }
        for e in report.equivalents
    ]
    evidence = {
        "nominal_rate": report.nominal_rate,
        "classical_rate": report.classical_rate,
        "terminal_rate": report.terminal_rate,
        "equivalents": equivalents,
    }
    advice: tuple[str, ...] = ()
    if optimizer.momentum_style == "ema" and _value(optimizer.momentum) > 0:
        advice = (
            "for larger steps with the same momentum use classical momentum "
            "(--momentum-style classical), whose long-run step is rate / (1 - mu)",
        )
    return Finding("rates", False, report.note, evidence, advice)


def _seed_finding(rows: list[dict[str, Any]]) -> Finding:
    """How the other seeds fare: this seed's bad luck or the setting's failure."""
    outcomes = [r["outcome"] for r in rows]
    n = len(rows)
    counts = {
        name: outcomes.count(name)
        for name in ("solved", "plateau", "unfinished", "diverged")
    }
    evidence = {
        "runs": [
            {
                k: r[k]
                for k in (
                    "seed",
                    "outcome",
                    "final_loss",
                    "constant_stall",
                    "epochs_to_solve",
                )
            }
            for r in rows
        ],
        "counts": counts,
        "success_rate": counts["solved"] / n,
        "constant_stall_rate": sum(r["constant_stall"] for r in rows) / n,
    }
    failing = n - counts["solved"]
    tally = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    if failing == 0:
        summary = f"all {n} seeds solve it"
    elif outcomes[0] == "solved":
        summary = f"this seed solves it but {failing} of {n} seeds do not ({tally})"
    elif counts["solved"] >= n / 2:
        summary = (
            f"{counts['solved']} of {n} seeds solve it ({tally}): this seed's "
            f"{outcomes[0]} run is partly bad luck, but the setting fails "
            f"{failing / n:.0%} of the time"
        )
    else:
        summary = (
            f"only {counts['solved']} of {n} seeds solve it ({tally}): the failure "
            "is the setting's, not the seed's"
        )
    return Finding(
        "seeds",
        failing > 0,
        summary,
        evidence,
        ("--try-fixes runs the suggested changes over these seeds",) if failing else (),
    )
