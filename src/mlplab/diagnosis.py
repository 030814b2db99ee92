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
ones a sweep reports (``outcomes``). This module holds ``diagnose``,
``diagnose_model`` and the ``Diagnosis`` report; the run record and layer
health live in ``_diagnosis_runs``, the finding builders in
``_diagnosis_findings`` and the variants tried in ``_diagnosis_fixes``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._diagnosis_findings import (
    Finding,
    _curvature_finding,
    _flow_finding,
    _gradient_finding,
    _plateau_finding,
    _rate_finding,
    _seed_finding,
    _units_finding,
)
from ._diagnosis_fixes import FixResult, _apply, _fix_result, _sweep_rows, _variants
from ._diagnosis_runs import SATURATION_TOL as SATURATION_TOL
from ._diagnosis_runs import _member, _Run, _value, layer_health
from ._types import Array
from .network import MLPConfig, Params
from .optimizers import SGD
from .outcomes import constant_predictor_loss
from .serialization import Checkpoint
from .stability import largest_eigenvalue
from .training import prepare_targets

__all__ = [
    "Diagnosis",
    "Finding",
    "FixResult",
    "diagnose",
    "diagnose_model",
    "layer_health",
]


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
