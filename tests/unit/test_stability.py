"""Curvature, stability bounds and effective rates (issue 8)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from mlplab import (
    SGD,
    MLPConfig,
    fit,
    init_params,
    original_setup,
    param_arrays,
    with_arrays,
)
from mlplab.diagnosis import diagnose
from mlplab.plots import effective_learning_rate
from mlplab.stability import (
    _top_eigenvalue,
    effective_rates,
    largest_eigenvalue,
    loss_gradient,
    stability_bound,
)
from mlplab.training import DivergenceWarning

LINEAR = MLPConfig((3, 1), output_activation="identity", use_bias=False)


@pytest.fixture
def quadratic():
    """Least squares: L(w) = sum (x w - y)^2 has Hessian 2 x^T x everywhere."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 3))
    y = rng.standard_normal(20)
    return x, y, float(2 * np.linalg.eigvalsh(x.T @ x).max())


def test_hessian_estimate_on_a_quadratic(quadratic):
    x, y, h = quadratic
    params = init_params(LINEAR, seeds=[0, 1, 2])
    estimate = largest_eigenvalue(LINEAR, x, y, loss="sse", params=params)
    np.testing.assert_allclose(estimate, h, rtol=1e-2)
    np.testing.assert_allclose(estimate, h, rtol=1e-8)  # what it actually achieves


def test_top_eigenvalue_when_the_dominant_one_is_negative():
    diagonal = np.array([[-4.0, 2.0, 1.0], [3.0, -1.0, 0.5]])  # two members

    def matvec(v):
        return (v[0] * diagonal,)

    start = (np.ones((2, 3)),)
    np.testing.assert_allclose(
        _top_eigenvalue(matvec, start, 500, 1e-13), [2.0, 3.0], rtol=1e-8
    )


def test_hessian_estimate_matches_the_full_hessian_of_a_network():
    config = MLPConfig((2, 3, 1), activation="tanh", output_activation="identity")
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    params = init_params(config, seeds=[4])
    arrays = param_arrays(params)
    sizes = [a.size for a in arrays]
    flat = np.concatenate([a.ravel() for a in arrays])

    def grad(v):
        parts = np.split(v, np.cumsum(sizes)[:-1])
        net = with_arrays(
            params, [p.reshape(a.shape) for p, a in zip(parts, arrays, strict=True)]
        )
        return np.concatenate(
            [g.ravel() for g in loss_gradient(net, config, x, y[:, None], "mse")]
        )

    eps = 1e-5
    hessian = np.array(
        [
            (grad(flat + eps * e) - grad(flat - eps * e)) / (2 * eps)
            for e in np.eye(flat.size)
        ]
    )
    expected = np.linalg.eigvalsh((hessian + hessian.T) / 2).max()
    estimate = largest_eigenvalue(
        config, x, y, loss="mse", params=params, n_iter=2000, rtol=1e-13
    )
    np.testing.assert_allclose(estimate, [expected], rtol=1e-2)


CONVENTIONS = [
    ({"momentum_style": "classical"}, lambda mu, d: 2 * (1 + mu)),
    ({"momentum_style": "lr-inside"}, lambda mu, d: 2 * (1 + mu)),
    (
        {"momentum_style": "classical", "nesterov": True},
        lambda mu, d: 2 * (1 + mu) / (1 + 2 * mu),
    ),
    (
        {"momentum_style": "lr-inside", "nesterov": True},
        lambda mu, d: 2 * (1 + mu) / (1 + 2 * mu),
    ),
    ({"momentum_style": "ema"}, lambda mu, d: 2 * (1 + mu) / (1 - mu)),
    (
        {"momentum_style": "ema", "nesterov": True},
        lambda mu, d: 2 * (1 + mu) / ((1 - mu) * (1 + 2 * mu)),
    ),
    (
        {"momentum_style": "dampened", "dampening": 0.3},
        lambda mu, d: 2 * (1 + mu) / (1 - d),
    ),
    (
        {"momentum_style": "dampened", "dampening": 0.3, "nesterov": True},
        lambda mu, d: 2 * (1 + mu) / (1 + 2 * mu - mu * d),
    ),
]


@pytest.mark.parametrize(("options", "formula"), CONVENTIONS)
def test_stability_bound_formulas(options, formula):
    for mu in (0.0, 0.5, 0.9):
        bound = stability_bound(SGD(0.1, momentum=mu, **options))
        np.testing.assert_allclose(
            bound, formula(mu, options.get("dampening", 0.0)), rtol=1e-14
        )


@pytest.mark.slow
@pytest.mark.parametrize(("options", "formula"), CONVENTIONS)
def test_rate_just_above_the_bound_is_flagged_and_diverges(quadratic, options, formula):
    x, y, h = quadratic
    mu = 0.6
    bound = formula(mu, options.get("dampening", 0.0))
    for factor, unstable in ((0.99, False), (1.01, True)):
        opt = SGD(factor * bound / h, momentum=mu, **options)
        d = diagnose(LINEAR, x, y, loss="sse", optimizer=opt, n_epochs=2)
        finding = d.finding("curvature")
        assert finding.problem is unstable, (factor, finding.summary)
        np.testing.assert_allclose(finding.evidence["largest_eigenvalue"], h, rtol=1e-2)
        # and the bound is real: the run grows above it and shrinks below it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)
            loss = fit(
                LINEAR, x, y, loss="sse", optimizer=opt, n_epochs=4000
            ).history.loss[:, 0]
        grew = bool(not np.isfinite(loss[-1]) or loss[-1] > 10 * loss[0])
        assert grew is unstable, (factor, loss[0], loss[-1])


def _trajectory(optimizer, n_epochs=300):
    s = original_setup()
    r = fit(
        s.config,
        s.x,
        s.y,
        loss="sse",
        optimizer=optimizer,
        n_epochs=n_epochs,
        seeds=[0, 5],
    )
    return r.history.loss, r.params


@pytest.mark.parametrize(
    "source",
    [
        SGD(0.5, momentum=0.9, momentum_style="ema"),
        SGD(0.5, momentum=0.5, momentum_style="ema", nesterov=True),
        SGD(0.3, momentum=0.9, momentum_style="classical"),
        SGD(0.3, momentum=0.7, momentum_style="lr-inside", nesterov=True),
    ],
)
def test_effective_rate_translations_reproduce_the_trajectory(source):
    report = effective_rates(source)
    exact = [e for e in report.equivalents if e.exact]
    assert len(exact) == 2
    loss, params = _trajectory(source)
    for e in exact:
        other_loss, other_params = _trajectory(e.optimizer)
        np.testing.assert_allclose(other_loss, loss, rtol=0, atol=1e-12)
        for a, b in zip(params, other_params, strict=True):
            np.testing.assert_allclose(b.w, a.w, rtol=0, atol=1e-12)


def test_effective_rates_of_the_issue_example():
    report = effective_rates(SGD(0.5, momentum=0.9, momentum_style="ema"))
    assert report.classical_rate == pytest.approx(0.05, rel=1e-12)
    classical = next(
        e for e in report.equivalents if e.optimizer.momentum_style == "classical"
    )
    assert "PyTorch SGD(lr=0.05, momentum=0.9)" in classical.also
    damp = next(
        e for e in report.equivalents if e.optimizer.momentum_style == "dampened"
    )
    assert not damp.exact
    assert damp.optimizer.dampening == pytest.approx(0.9)


def test_dampened_translation_is_only_approximate():
    report = effective_rates(
        SGD(0.2, momentum=0.9, momentum_style="dampened", dampening=0.5)
    )
    assert report.classical_rate == pytest.approx(0.1)
    assert not any(e.exact for e in report.equivalents)
    base = dataclasses.replace(SGD(0.2, momentum=0.9), momentum_style="dampened")
    assert any(
        e.exact for e in effective_rates(base).equivalents
    )  # dampening 0 is classical


@pytest.mark.parametrize(
    ("style", "dampening", "expected"),
    [
        ("classical", 0.0, 0.1 / (1 - 0.8)),
        ("lr-inside", 0.0, 0.1 / (1 - 0.8)),
        ("dampened", 0.5, 0.1 * 0.5 / (1 - 0.8)),
        ("ema", 0.0, 0.1),
    ],
)
def test_heatmap_effective_rate_is_the_long_run_step_per_unit_gradient(
    style, dampening, expected
):
    # On f(w) = w (gradient 1) the step settles at the effective rate.
    opt = SGD(0.1, momentum=0.8, momentum_style=style, dampening=dampening)
    params = [np.zeros((1, 1))]
    state = opt.init(params)
    for _ in range(300):
        step, state = opt.update([np.ones((1, 1))], state, params)
    assert float(-step[0][0, 0]) == pytest.approx(expected, rel=1e-12)
    assert effective_learning_rate(0.1, 0.8, style, dampening) == pytest.approx(
        expected, rel=1e-12
    )
