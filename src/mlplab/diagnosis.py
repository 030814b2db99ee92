"""Name the failure of a stuck or unstable run, with the numbers, and what to change.

``diagnose`` trains a configuration (one member per seed, as one ensemble),
keeping per-layer gradient norms at checkpoints, and returns a ``Diagnosis``:
one ``Finding`` per question (are the gradients right, is the loss the best
constant predictor's, are units saturated or dead, do gradients vanish or
explode, is the step stable for the curvature, what is the effective rate, how
do other seeds fare), each with its evidence and advice; with
``try_fixes=True`` it also runs the suggested variants over the same seeds and
reports their success rates. The curvature and rate arithmetic lives in
``stability``, the gradient checks in ``gradcheck``; seeds and fixes run
through the sweep engine (``sweeps.sweep``), so their outcomes (solved,
plateau, diverged, unfinished, and the constant-predictor stall) are the
ones a sweep reports (``outcomes``). The run record and layer health live in
``_diagnosis_runs``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._diagnosis_runs import _BOUNDS, _member, _Run, _value, layer_health
from ._diagnosis_runs import SATURATION_TOL as SATURATION_TOL
from ._types import Array
from .gradcheck import GradientReport, check_gradients
from .losses import LOSSES
from .network import MLPConfig, Params, forward, param_arrays, param_names, with_arrays
from .optimizers import SGD
from .outcomes import CONSTANT_STALL_RTOL, classify, constant_predictor_loss
from .presets import OriginalSetup
from .schedules import learning_rate_at
from .serialization import Checkpoint
from .stability import (
    effective_rates,
    largest_eigenvalue,
    loss_gradient,
    stability_bound,
)
from .training import prepare_targets

__all__ = [
    "Diagnosis",
    "Finding",
    "FixResult",
    "diagnose",
    "diagnose_model",
    "layer_health",
]

# ---------------------------------------------------------------- findings


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


# ---------------------------------------------------------------- fixes


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


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` found, finding by finding, and the fixes it tried."""

    settings: dict[str, Any]
    findings: tuple[Finding, ...]
    fixes: tuple[FixResult, ...] = field(default=())

    def finding(self, name: str) -> Finding:
        """Return the finding called ``name`` (gradients, plateau, units, ...)."""
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding {name!r}; have {[f.name for f in self.findings]}")

    @property
    def problems(self) -> list[str]:
        """The names of the findings that are problems."""
        return [f.name for f in self.findings if f.problem]

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-able values."""
        return _jsonable(dataclasses.asdict(self))  # type: ignore[no-any-return]

    def text(self, width: int = 88) -> str:
        """Return the report for a terminal: findings, key numbers, advice."""
        import textwrap

        lines = [
            f"diagnosis of seed {self.settings['seeds'][0]} after "
            f"{self.settings['n_epochs']} epochs"
            if "member" not in self.settings
            else f"diagnosis of member {self.settings['member']} at its saved "
            f"weights (after {self.settings['n_epochs']} recorded epochs)"
        ]
        for f in sorted(self.findings, key=lambda f: not f.problem):
            lines.append(f"{'PROBLEM' if f.problem else 'ok':<8} {f.name}: {f.summary}")
            lines += [f"{'':<9}try: {a}" for a in f.advice]
            unsolved = [
                r for r in f.evidence.get("runs", []) if r["outcome"] != "solved"
            ]
            if f.name == "seeds" and unsolved:
                lines.append(
                    f"{'':<9}not solved: "
                    + ", ".join(
                        f"seed {r['seed']} {r['outcome']} (loss {r['final_loss']:.3g})"
                        for r in unsolved
                    )
                )
            if f.name == "rates":
                lines += [
                    f"{'':<9}= {e['momentum_style']} rate {e['learning_rate']:.6g}, "
                    f"momentum {e['momentum']:g}"
                    f"{'' if e['exact'] else ' (approx.)'}: {e['also']}"
                    for e in f.evidence.get("equivalents", [])
                ]
        if self.fixes:
            lines.append("fixes tried over the same seeds (success = solved):")
            lines += [
                f"  {r.success_rate:>5.0%}  {r.name}  (median final loss "
                f"{r.median_final_loss:.3g})"
                for r in self.fixes
            ]
        return "\n".join(
            textwrap.fill(
                line, width, subsequent_indent=" " * 13, break_on_hyphens=False
            )
            for line in lines
        )


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays, tuples and infinities turned into JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _quiet_overflow(fn: Any) -> Any:
    """Run ``fn`` with overflow ignored: a diverged run's inf losses are findings."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(*args, **kwargs)

    return wrapper


@_quiet_overflow
def diagnose(
    config: MLPConfig,
    x: Array,
    y: Array,
    *,
    loss: str,
    optimizer: SGD,
    n_epochs: int,
    seeds: Sequence[int] = (0,),
    batch_size: int | None = None,
    params: Params | None = None,
    try_fixes: bool = False,
) -> Diagnosis:
    """Train a configuration and say why it is stuck or unstable, and what to change.

    One member per seed trains as one ensemble. The first seed's run is
    diagnosed in detail; the others (if any) show whether its outcome is the
    seed's luck or the setting's.

    Parameters
    ----------
    config, x, y, loss, optimizer, n_epochs, batch_size
        As for ``fit``; ``optimizer`` is an ``SGD``.
    seeds : sequence of int
        Seeds to train; the first is the run diagnosed in detail. With more
        than one (or with ``try_fixes``), every seed also runs through the
        sweep engine, for the ``seeds`` finding.
    params : Params, optional
        Initial weights of the diagnosed run instead of drawing them from the
        first seed (the sweep over seeds draws its own).
    try_fixes : bool
        Also run each suggested variant over the same seeds.

    Returns
    -------
    Diagnosis
        Findings ``gradients``, ``plateau``, ``units``, ``gradient-flow``,
        ``curvature``, ``rates`` and (with several seeds) ``seeds``, each with
        ``problem``,
        ``summary``, ``evidence`` and ``advice``; ``fixes`` if tried.

    Examples
    --------
    >>> from mlplab import original_setup
    >>> s = original_setup(fixed=False)
    >>> d = diagnose(s.config, s.x, s.y, loss="sse", optimizer=s.optimizer, n_epochs=50)
    >>> d.finding("gradients").problem
    True
    """
    if not isinstance(optimizer, SGD):
        raise TypeError(
            f"diagnose needs an SGD optimizer; got {type(optimizer).__name__}"
        )
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    x = np.asarray(x, np.float64)
    y = prepare_targets(np.asarray(y, np.float64), config.n_outputs)
    run = _Run(config, x, y, loss, optimizer, n_epochs, seeds[:1], batch_size, params)
    findings = [
        _gradient_finding(config, x, y, loss, _member(run.initial, 0))[0],
        _plateau_finding(config, x, y, loss, run, constant_predictor_loss(loss, y)),
        _units_finding(config, x, run),
        _flow_finding(run),
        _curvature_finding(config, x, y, loss, run, optimizer),
        _rate_finding(optimizer),
    ]
    rows = None
    if len(seeds) > 1 or try_fixes:
        rows = _sweep_rows(config, x, y, loss, optimizer, n_epochs, seeds, batch_size)
        findings.append(_seed_finding(rows))
    settings = {
        "config": dataclasses.asdict(config),
        "loss": loss,
        "optimizer": dataclasses.asdict(optimizer),
        "n_epochs": n_epochs,
        "seeds": seeds,
        "batch_size": batch_size,
    }
    fixes: list[FixResult] = []
    if try_fixes:
        by_name = {f.name: f for f in findings}
        for name, changes in [
            ("as given", {}),
            *_variants(config, loss, optimizer, by_name),
        ]:
            if changes:
                c, lname, opt = _apply(config, loss, optimizer, changes)
                rows = _sweep_rows(c, x, y, lname, opt, n_epochs, seeds, batch_size)
            fixes.append(_fix_result(name, changes, rows))  # type: ignore[arg-type]
    return Diagnosis(settings, tuple(findings), tuple(fixes))


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


def _member_optimizer(optimizer: Any, k: int) -> Any:
    """Member k's SGD: per-member hyperparameters (tuples) narrowed to its value."""
    if not isinstance(optimizer, SGD):
        return optimizer
    narrowed: dict[str, Any] = {
        f.name: _value(getattr(optimizer, f.name), k)
        for f in dataclasses.fields(SGD)
        if isinstance(getattr(optimizer, f.name), tuple)
    }
    return dataclasses.replace(optimizer, **narrowed)


def _optimizer_findings(
    config: MLPConfig, x: Array, y: Array, loss: str, run: _Run, optimizer: Any
) -> tuple[Finding, Finding]:
    """Return the curvature and rates findings; without an SGD, the curvature alone."""
    if isinstance(optimizer, SGD):
        return (
            _curvature_finding(config, x, y, loss, run, optimizer),
            _rate_finding(optimizer),
        )
    name = type(optimizer).__name__
    h = float(
        largest_eigenvalue(config, x, y, loss=loss, params=_member(run.params, 0))[0]
    )
    return (
        Finding(
            "curvature",
            False,
            f"largest Hessian eigenvalue {h:.4g}; no stability bound is known "
            f"for {name} (the bounds are SGD's)",
            {"largest_eigenvalue": h, "optimizer": name},
        ),
        Finding(
            "rates",
            False,
            f"{name}: the effective-rate translations cover SGD's momentum "
            "conventions only",
            {"optimizer": name},
        ),
    )


@_quiet_overflow
def diagnose_model(
    model: Checkpoint, x: Array, y: Array, *, member: int = 0
) -> Diagnosis:
    """Say what is wrong with a saved model, at its saved weights; no training.

    The findings are those of ``diagnose`` except ``seeds`` (nothing is
    trained): the gradient check, the plateau, saturated or dead units and the
    gradient norms at the saved weights; the curvature there against the
    stability bound of the saved optimizer, and its effective rates. The
    loss history the file records (if any) supplies the plateau's recent
    change and the loss oscillation.

    Parameters
    ----------
    model : Checkpoint
        What ``load`` returns. The stability bound and the effective rates
        exist for ``SGD`` only; for another optimizer those two findings
        report the curvature alone.
    x : array, shape (n_samples, n_features)
        Features as given to the model (its saved scaler, if any, is applied).
    y : array
        Network targets as ``fit`` takes them (one-hot rows for several
        outputs).
    member : int
        Which member of an ensemble to diagnose (default 0).

    Returns
    -------
    Diagnosis
        Findings ``gradients``, ``plateau``, ``units``, ``gradient-flow``,
        ``curvature`` and ``rates``; ``settings["member"]`` names the member.
        Without a loss history in the file, the plateau's outcome is
        ``"unknown"``.

    Raises
    ------
    ValueError
        If ``member`` is not a member of the file, the file records no
        optimizer, ``x`` has another number of features than the network, or
        ``y`` another number of rows than ``x``.
    """
    k = model.n_members
    if not 0 <= member < k:
        raise ValueError(
            f"member must be in 0..{k - 1} (the model has {k}); got {member}"
        )
    if model.optimizer is None:
        raise ValueError("diagnose needs the model's optimizer; the file records none")
    optimizer = _member_optimizer(model.optimizer, member)
    config = model.config
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != config.n_features:
        raise ValueError(
            f"the model takes {config.n_features} features per row; "
            f"got data of shape {x.shape}"
        )
    if len(y) != len(x):
        raise ValueError(f"y must have one row per row of x ({len(x)}); got {len(y)}")
    if model.scaler is not None:
        x = model.scaler.transform(x)
    y = prepare_targets(np.asarray(y, np.float64), config.n_outputs)
    params = _member(model.params, member)
    history = model.history
    past = np.zeros(0) if history is None else history.loss[:, member]
    diverged = -1 if history is None else int(history.diverged_epoch[member])
    step = int(getattr(getattr(model.state, "opt_state", None), "step", len(past)))
    run = _Run.at_weights(config, x, y, model.loss, params, past, step, diverged)
    loss = model.loss
    findings = (
        _gradient_finding(config, x, y, loss, params)[0],
        _plateau_finding(config, x, y, loss, run, constant_predictor_loss(loss, y)),
        _units_finding(config, x, run),
        _flow_finding(run),
        *_optimizer_findings(config, x, y, loss, run, optimizer),
    )
    seeds = model.seeds
    settings = {
        "config": dataclasses.asdict(config),
        "loss": loss,
        "optimizer": dataclasses.asdict(optimizer)
        if dataclasses.is_dataclass(optimizer) and not isinstance(optimizer, type)
        else repr(optimizer),
        "n_epochs": len(past),
        "seeds": [None if seeds is None else seeds[member]],
        "member": member,
        "n_members": k,
    }
    return Diagnosis(settings, findings)
