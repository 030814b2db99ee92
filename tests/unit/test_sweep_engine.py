import dataclasses
import itertools

import numpy as np
import pytest

from mlplab import _sweep_engine as engine
from mlplab.network import MLPConfig
from mlplab.optimizers import SGD
from mlplab.presets import original_setup
from mlplab.sweeps import _Chunk, _Data, _Run, run_chunk, sweep

STYLES = ("classical", "lr-inside", "dampened", "ema")


@pytest.mark.parametrize(
    ("style", "nesterov", "extra"),
    [
        (s, n, e)
        for s, n, e in itertools.product(
            STYLES,
            (False, True),
            (
                {},
                {"weight_decay": (0.0, 0.1, 0.01)},
                {"bias_correction": True, "decay_biases": True, "weight_decay": 0.05},
            ),
        )
    ],
)
def test_sgd_step_equals_sgd_update_bit_for_bit(rng, style, nesterov, extra):
    opt = SGD(
        learning_rate=(0.1, 0.5, 2.0),
        momentum=(0.0, 0.5, 0.9),
        momentum_style=style,
        nesterov=nesterov,
        dampening=(0.3, 0.0, 0.7),
        **extra,
    )
    w = rng.normal(size=(3, 2, 4))  # member-first (K, n_in, n_out)
    b = rng.normal(size=(3, 4))
    params = (w, b)
    state = opt.init(params)
    h = engine._hyper(opt, 3, np.float64)
    last = [np.ascontiguousarray(np.moveaxis(p, 0, -1)) for p in params]
    vel = [np.zeros_like(p) for p in last]
    for t in range(4):
        grads = (rng.normal(size=w.shape), rng.normal(size=b.shape))
        updates, state = opt.update(grads, state, params)
        params = tuple(p + u for p, u in zip(params, updates, strict=True))
        for j, (p, v, g) in enumerate(zip(last, vel, grads, strict=True)):
            g_last = np.ascontiguousarray(np.moveaxis(g, 0, -1))
            engine._sgd_step(
                opt, h, p, g_last, v, np.empty_like(p), t, is_weight=j == 0
            )
    for p_first, p_last in zip(params, last, strict=True):
        np.testing.assert_array_equal(np.moveaxis(p_last, -1, 0), p_first)
    for v_first, v_last in zip(state.velocity, vel, strict=True):
        np.testing.assert_array_equal(np.moveaxis(v_last, -1, 0), v_first)


def _one_cell(setup, *, lr, epochs, seeds=4, window=None, **grid):
    return sweep(
        {"lr": [lr], "epochs": [epochs], **grid},
        seeds=seeds,
        setup=setup,
        window=window,
    )


def test_plateau_at_the_constant_predictor_is_flagged():
    # Near-zero weights and a tiny rate: outputs stay at 0.5, loss at 1.0.
    setup = original_setup()
    setup = dataclasses.replace(
        setup, config=dataclasses.replace(setup.config, init="normal:1e-8")
    )
    result = _one_cell(setup, lr=1e-6, epochs=200)
    assert [r["outcome"] for r in result.rows] == ["plateau"] * 4
    assert all(r["constant_stall"] for r in result.rows)
    assert all(abs(r["final_loss"] - 1.0) < 1e-6 for r in result.rows)
    assert result.cells[0]["constant_stall_rate"] == 1.0


def test_too_high_a_rate_diverges_with_its_epoch():
    x = np.linspace(-1, 1, 8)[:, None]
    y = 3.0 * x[:, 0] + 1.0
    setup = dataclasses.replace(
        original_setup(),
        config=MLPConfig((1, 1), output_activation="identity", init="uniform"),
        loss="sse",
        x=x,
        y=y,
        optimizer=SGD(learning_rate=0.1, momentum_style="classical"),
    )
    result = _one_cell(setup, lr=100.0, epochs=200)
    assert [r["outcome"] for r in result.rows] == ["diverged"] * 4
    assert all(
        r["diverged_epoch"] is not None and 1 <= r["diverged_epoch"] < 20
        for r in result.rows
    )
    assert all(not r["solved"] for r in result.rows)
    ok = _one_cell(setup, lr=0.01, epochs=2000)
    assert [r["outcome"] for r in ok.rows] == ["solved"] * 4


def test_run_cut_short_while_improving_is_unfinished():
    result = _one_cell(original_setup(), lr=0.5, epochs=60)
    assert [r["outcome"] for r in result.rows] == ["unfinished"] * 4
    assert result.cells[0]["median_epochs_to_solve"] is None


def test_fit_fallback_agrees_with_the_engine(monkeypatch):
    setup = original_setup()
    opt = dataclasses.replace(setup.optimizer, learning_rate=1.0, momentum=0.0)
    numeric = tuple(
        {"lr": lr, "momentum": mu, "dampening": 0.0, "weight_decay": 0.0}
        for lr, mu in [(0.5, 0.5), (2.0, 0.9), (1.0, 0.0)]
    )
    data = _Data(setup.x, setup.y, 1e-4, 30, 1e-3)
    full = _Chunk(
        _Run(setup.config, "sse", opt, 300, None), (0, 1, 2), (0, 1, 2), numeric
    )
    assert engine.supports(setup.config, "sse", opt, None, 4)
    assert not engine.supports(setup.config, "sse", opt, 2, 4)
    fast = run_chunk(full, data)
    monkeypatch.setattr(engine, "supports", lambda *args: False)
    slow = run_chunk(full, data)
    for a, b in zip(fast, slow, strict=True):
        assert a["outcome"] == b["outcome"]
        assert a["epochs_to_solve"] == b["epochs_to_solve"]
        assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-12)


def test_member_bytes_is_small_for_xor():
    assert engine.member_bytes(original_setup().config, 4) < 4096


def test_mini_batches_run_through_fit():
    result = sweep(
        {"lr": [0.5], "batch_size": [2], "epochs": [400]},
        seeds=3,
        setup=original_setup(),
    )
    assert len(result.rows) == 3
    assert {r["outcome"] for r in result.rows} <= {"solved", "unfinished", "plateau"}
    assert result.rows[0]["final_loss"] < 1.0


def test_non_numeric_axes_make_separate_groups(tmp_path):
    from mlplab.sweeps import _chunks, _expand

    grid = {
        "hidden": [(4,), (3, 3)],
        "activation": ["sigmoid", "tanh"],
        "init": ["uniform", "glorot_uniform"],
        "optimizer": ["sgd"],
        "lr": [0.5, 1.0],
        "epochs": [50],
    }
    _, cells = _expand(grid)
    chunks = _chunks(cells, [0, 1], original_setup(), None, 1000)
    assert len(chunks) == 8  # the two rates share a group
    assert all(len(c.members) == 4 for c in chunks)
    out = tmp_path / "r.csv"
    result = sweep(grid, seeds=2, out=out)
    header, first = out.read_text().splitlines()[:2]
    assert header.startswith(
        "member,lr,momentum,momentum_style,hidden,activation,init,"
    )
    assert first.startswith("0,0.5,0.5,ema,4,sigmoid,uniform,sgd,50,0,")
    assert out.read_text().splitlines()[17].startswith("16,0.5,0.5,ema,3-3,sigmoid,")
    assert len(result.rows) == 32


def test_other_optimizers_run_through_fit():
    result = sweep(
        {"optimizer": ["sgd", "adam"], "lr": [0.05], "epochs": [300]},
        seeds=3,
        setup=original_setup(),
    )
    assert len(result.rows) == 6
    adam = result.rows[3:]
    assert all(r["final_loss"] < 1.0 for r in adam)
    with pytest.raises(ValueError, match="Adam has no dampening"):
        sweep({"optimizer": ["adam"], "dampening": [0.1]}, seeds=1)


def test_multiclass_runs_are_solved_by_their_arg_max():
    x = np.array(
        [[0.0, 0.0], [0.1, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]
    )
    y = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    setup = dataclasses.replace(
        original_setup(),
        config=MLPConfig(
            (2, 6, 3), output_activation="identity", init="glorot_uniform"
        ),
        loss="cross_entropy",
        x=x,
        y=y,
        optimizer=SGD(learning_rate=0.5, momentum=0.9, momentum_style="classical"),
    )
    result = _one_cell(setup, lr=0.5, epochs=300, seeds=3)
    assert [r["outcome"] for r in result.rows] == ["solved"] * 3
    assert all(0 < r["epochs_to_solve"] < 300 for r in result.rows)
    stuck = _one_cell(setup, lr=1e-9, epochs=20, seeds=3)
    assert not any(r["solved"] for r in stuck.rows)
