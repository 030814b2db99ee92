"""Playground findings (plateau, units, curvature) and multi-seed runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlplab.losses import LOSSES
from mlplab.network import backward, forward, init_params, param_arrays, with_arrays
from mlplab.optimizers import SGD
from mlplab.outcomes import wilson_interval
from mlplab.playground_core import Settings, accuracy, build_run, preset
from mlplab.playground_runs import (
    findings,
    heatmap_axes,
    largest_curvature,
    run_seeds,
)
from mlplab.training import fit

# ---------------------------------------------------------------- findings


def _flat_gradient(run, params, flat):
    arrays, start, rebuilt = param_arrays(params), 0, []
    for a in arrays:
        rebuilt.append(flat[start : start + a.size].reshape(a.shape))
        start += a.size
    p = with_arrays(params, rebuilt)
    out, caches = forward(p, run.config, run.x)
    grads = backward(p, run.config, caches, LOSSES[run.loss].grad(out, run.y[:, None]))
    return np.concatenate([g.ravel() for g in param_arrays(grads)])


def test_largest_curvature_matches_the_full_hessian():
    run = build_run(Settings(hidden=(3,), bias=True, init="glorot_uniform"))
    params = init_params(run.config, [3, 4])  # member 0 is the one measured
    member = tuple(type(layer)(layer.w[:1], layer.b[:1]) for layer in params)
    flat = np.concatenate([a.ravel() for a in param_arrays(member)])
    eps = 1e-5
    columns = [
        (
            _flat_gradient(run, member, flat + eps * e)
            - _flat_gradient(run, member, flat - eps * e)
        )
        / (2 * eps)
        for e in np.eye(flat.size)
    ]
    hessian = np.stack(columns)
    expected = np.linalg.eigvalsh((hessian + hessian.T) / 2).max()
    assert largest_curvature(run, params) == pytest.approx(expected, rel=1e-3)


def _train(settings: Settings, epochs: int):
    run = build_run(settings)
    result = fit(
        run.config,
        run.x,
        run.y,
        loss=run.loss,
        optimizer=run.optimizer,
        n_epochs=epochs,
        seeds=[settings.seed],
    )
    return run, result


def test_a_stuck_run_is_named_a_plateau():
    # rate 1e-4 cannot leave the start in 400 epochs; the loss is the plateau's only
    # if the outputs start near 0.5, so start from zero weights
    s = dataclasses.replace(Settings(), lr=1e-4, init="normal")
    run = build_run(s)
    params = tuple(
        type(layer)(np.zeros_like(layer.w), layer.b)
        for layer in init_params(run.config, [0])
    )
    result = fit(
        run.config,
        run.x,
        run.y,
        loss="sse",
        optimizer=run.optimizer,
        n_epochs=400,
        params=params,
    )
    found = findings(run, result.params, result.history.loss[:, 0], 400, False)
    plateau = [f for f in found if f["title"] == "Stuck on the constant-output plateau"]
    assert plateau
    assert plateau[0]["kind"] == "problem"


def test_a_solved_run_is_not_a_plateau_and_the_wrong_derivative_is_named():
    run, result = _train(Settings(lr=2.0), 3000)
    titles = {
        f["title"]
        for f in findings(run, result.params, result.history.loss[:, 0], 3000, False)
    }
    assert "Learning" in titles
    assert "Backpropagation is wrong" not in titles
    run, result = _train(preset(fixed=False), 10)
    titles = {
        f["title"]
        for f in findings(run, result.params, result.history.loss[:, 0], 10, False)
    }
    assert "Backpropagation is wrong" in titles


def test_saturated_and_dead_units_are_counted():
    run = build_run(Settings(activation="relu", bias=True, init="glorot_uniform"))
    params = init_params(run.config, [0])
    w = params[0].w.copy()
    w[:, :, :2] = -5.0  # two units negative on every XOR row (inputs are >= 0)
    w[:, :, 2:] = 1.0  # and two positive on every row (the constant input is 1)
    params = (type(params[0])(w, params[0].b), params[1])
    found = findings(run, params, np.array([]), 0, False)
    dead = [f for f in found if f["title"] == "Dead units in layer 1"]
    assert dead
    assert dead[0]["text"].startswith("2 of 4 ReLU units")
    run = build_run(Settings())
    params = init_params(run.config, [0])
    params = (type(params[0])(params[0].w * 100, None), params[1])
    found = findings(run, params, np.array([]), 0, False)
    saturated = [f for f in found if f["title"] == "Saturated units in layer 1"]
    assert saturated


def test_curvature_finding_flags_a_rate_above_the_stability_limit():
    run, result = _train(Settings(lr=2.0, momentum=0.0, style="classical"), 3000)
    curvature = largest_curvature(run, result.params)
    big = 3 * 2 / curvature
    fast = dataclasses.replace(run, optimizer=SGD(learning_rate=big))
    text = next(
        f
        for f in findings(fast, result.params, np.array([0.1]), 3000, False)
        if f["title"] == "Step size and curvature"
    )
    assert text["kind"] == "problem"
    assert "ABOVE the stability limit 2 of classical momentum 0" in text["text"]


# ---------------------------------------------------------------- many seeds


@pytest.mark.slow
def test_run_seeds_counts_each_member_as_its_single_run():
    s = dataclasses.replace(preset(fixed=False), epochs=3000, momentum=0.95)
    result = run_seeds(s, 12)
    assert result["n_seeds"] == 12
    firsts = result["epochs_to_solve"]
    assert len(firsts) == 12
    assert 0 < result["solved"] < 12  # a setting where seeds disagree
    run = build_run(s)
    every = 3  # accuracy is checked every ceil(3000 / 1000) epochs
    solved = [k for k in range(12) if firsts[k] >= 0][:2]
    unsolved = [k for k in range(12) if firsts[k] < 0][:2]
    for k in solved + unsolved:
        history = []

        def record(view, history=history):
            if view.epoch % every == 0 or view.last:
                history.append(
                    (view.epoch, accuracy(run, view.params, run.x, run.y)[0])
                )

        fit(
            run.config,
            run.x,
            run.y,
            loss=run.loss,
            optimizer=run.optimizer,
            n_epochs=3000,
            seeds=[k],
            callbacks=[record],
        )
        expected = next((e for e, acc in history if acc >= s.solve), -1)
        assert firsts[k] == expected
    assert result["solved"] == sum(e >= 0 for e in firsts)
    low, high = result["interval"]
    assert low <= result["rate"] <= high
    assert (low, high) == wilson_interval(result["solved"], 12)


def test_seed_budget_is_enforced():
    s = Settings(epochs=100_000)
    with pytest.raises(
        ValueError, match="seeds x epochs x steps per epoch must be <= 5,000,000"
    ):
        run_seeds(s, 100)


def test_heatmap_axes_surround_the_current_setting():
    rates, momenta = heatmap_axes(Settings(lr=0.5, momentum=0.5))
    assert rates == [0.125, 0.25, 0.5, 1.0, 2.0]
    assert momenta == [0.0, 0.5, 0.9, 0.95, 0.99]
    for momentum in (0.0, 0.3, 0.9, 0.95, 0.99):
        _, momenta = heatmap_axes(Settings(lr=0.1, momentum=momentum))
        assert momentum in momenta
        assert len(momenta) == 5  # always a 5 x 5 grid, as the README says
