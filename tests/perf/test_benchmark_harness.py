"""Smoke test of the benchmark machinery on tiny sizes (runs it; times nothing)."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

RUN_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("mlplab_benchmarks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_make_data_has_the_dtype_and_labels(bench):
    x, labels = bench.make_data(100, "float32")
    assert x.shape == (100, 784)
    assert x.dtype == np.float32
    assert labels.min() >= 0
    assert labels.max() < 10
    y = bench.one_hot(labels, "float64")
    np.testing.assert_array_equal(y.argmax(axis=1), labels)
    np.testing.assert_array_equal(y.sum(axis=1), np.ones(100))


@pytest.mark.slow
def test_suite_runs_on_tiny_sizes_and_writes_both_reports(bench, tmp_path):
    pytest.importorskip("torch")
    settings = replace(
        bench.Settings(),
        n_samples=300,
        repeats=1,
        pause=0.0,
        memory_samples=(300,),
        startup_repeats=1,
        out_json=tmp_path / "r.json",
        out_md=tmp_path / "r.md",
    )
    cases = tuple(replace(c, batch_size=c.batch_size and 64) for c in bench.CASES)
    settings = replace(settings, cases=cases)
    doc = bench.run_suite(settings, log=lambda _line: None)
    assert [row["case"]["name"] for row in doc["epochs"]] == [
        c.name for c in bench.CASES
    ]
    for row in doc["epochs"]:
        assert set(row["results"]) == set(bench.CONTESTANTS)
        ratios = {
            "mlplab/torch",
            "mlplab/sklearn",
            "mlplab/limit",
            "mlplab/floor",
            "floor/limit",
        }
        assert set(row["ratios"]) == ratios
        assert set(row["paired_ratios"]) == ratios
        assert all(len(r["times"]) == 1 for r in row["results"].values())
    assert [(m["n_samples"], m["batch_size"]) for m in doc["memory"]] == [
        (300, 128),
        (300, None),
    ]
    assert doc["machine"]["threadpools"], "threadpoolctl found no BLAS"
    assert {"import numpy", "import mlplab", "mlplab --help"} <= set(doc["startup"])
    text = bench.markdown(doc)
    assert text.count("\n| 784-") == len(bench.CASES)
    assert "peak above data" in text
    json.dumps(doc)  # the results document is JSON-able


def test_limit_produces_every_weight_gradient(bench):
    case = bench.Case("tiny", (8, 4), 16, "float64")
    x, labels = bench.make_data(40, "float64")  # 2 full batches and a tail of 8
    grads = bench.prepare_limit(case, x, labels)()
    assert [g.shape for g in grads] == [(784, 8), (8, 4), (4, 10)]
    assert all(np.isfinite(g).all() and np.abs(g).sum() > 0 for g in grads)


def test_floor_updates_the_weights_and_stays_finite_over_many_epochs(bench):
    case = bench.Case("tiny", (8, 4), 16, "float32")
    x, labels = bench.make_data(40, "float32")
    epoch = bench.prepare_floor(case, x, labels)
    first = epoch().copy()
    with np.errstate(all="raise"):  # its fixed gradients must not overflow
        for _ in range(50):
            last = epoch()
    n_params = (784 + 1) * 8 + (8 + 1) * 4 + (4 + 1) * 10
    assert last.shape == (n_params,)
    assert np.isfinite(last).all()
    # The output layer's gradient is a fixed 0.5 batch: each of its weights moves.
    before, after = (
        bench._weight_views(a, case.layer_sizes)[-1] for a in (first, last)
    )
    assert (before != after).all()


@pytest.mark.parametrize("batch_size", [None, 16])
def test_floor_gathers_batches_only_when_fit_does(bench, monkeypatch, batch_size):
    # fit takes a full batch as it is (no shuffle, no copy); a lower bound
    # must not pay for a gather there, and must pay for it per mini-batch.
    inputs, copies = [], []  # the batches (reused buffers) and their rows then

    def products(xb, *rest):
        inputs.append(xb)
        copies.append(xb.copy())
        return real_products(xb, *rest)

    real_products = bench._products
    monkeypatch.setattr(bench, "_products", products)
    case = bench.Case("tiny", (8, 4), batch_size, "float32")
    x, labels = bench.make_data(40, "float32")
    bench.prepare_floor(case, x, labels)()
    if batch_size is None:
        assert len(inputs) == 1
        assert inputs[0] is x
    else:
        assert [len(b) for b in inputs] == [16, 16, 8]
        assert not any(np.shares_memory(b, x) for b in inputs)
        assert sorted(map(tuple, np.concatenate(copies))) == sorted(map(tuple, x))


def test_paired_ratios_compare_contestants_round_by_round(bench):
    # Round 3 ran while the machine was slow for "limit" only: pairing by
    # round keeps that round from moving the typical ratio.
    results = {
        name: bench.summarize(times)
        for name, times in {
            "mlplab": [1.0, 4.0, 9.0],
            "limit": [2.0, 8.0, 3.0],
            "floor": [1.0, 4.0, 1.5],
        }.items()
    }
    paired = bench.ratios(results, paired=True)
    assert paired == {"mlplab/limit": 0.5, "mlplab/floor": 1.0, "floor/limit": 0.5}
    of_medians = bench.ratios(results, paired=False)
    assert of_medians["mlplab/limit"] == pytest.approx(4.0 / 3.0)
    assert bench.ratios({"limit": results["limit"]}, paired=True) == {}


def test_each_timed_run_starts_after_the_pause(bench, monkeypatch):
    calls = []
    monkeypatch.setattr(bench.time, "sleep", calls.append)
    bench.time_alternating({"a": lambda: None, "b": lambda: None}, 3, pause=0.25)
    assert calls == [0.25] * 6


@pytest.fixture(scope="module")
def breakdown():
    spec = importlib.util.spec_from_file_location(
        "mlplab_benchmarks_breakdown", RUN_PY.with_name("breakdown.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_breakdown_step_is_the_workspace_step(breakdown):
    # breakdown.py runs Workspace.step's phases by hand: the same weights,
    # velocities and step count after a few steps, bit for bit.
    from mlplab.losses import LOSSES
    from mlplab.network import MLPConfig, init_params, param_arrays
    from mlplab.optimizers import SGD
    from mlplab.workspace import Workspace

    config = MLPConfig((784, 8, 4, 10), "relu", "identity", dtype="float32")
    x, labels = make_data_float32(64)
    y = np.eye(10, dtype="float32")[labels]
    params, optimizer = init_params(config, [0]), SGD(0.01, 0.9)
    by_hand, reference = (Workspace(config, LOSSES["cross_entropy"], 1) for _ in "ab")
    for ws in (by_hand, reference):
        ws.load(params, optimizer.init(param_arrays(params)), optimizer)
    initial = by_hand.flat[0].copy()
    rng = np.random.default_rng(1)
    for _ in range(3):
        rows = rng.permutation(64)[None, :16]
        times = breakdown.timed_step(
            by_hand, x, y, rows, by_hand.buffers(16, x, y, True)
        )
        buf = reference.buffers(16, x, y, True)
        xb, yb = reference.gather(x, rows, buf.x), reference.gather(y, rows, buf.y)
        reference.step(xb, yb, buf, np.ones(1, bool))
        assert len(times) == len(breakdown.PHASES) + 1
    assert by_hand.step_count == reference.step_count == 3
    np.testing.assert_array_equal(by_hand.flat[0], reference.flat[0])
    np.testing.assert_array_equal(by_hand.velocity[0], reference.velocity[0])
    assert not np.array_equal(by_hand.flat[0], initial)  # the weights moved


def make_data_float32(n):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 784)).astype("float32"), rng.integers(0, 10, n)


def test_breakdown_times_every_phase_on_tiny_data(breakdown, capsys):
    module = breakdown
    assert module.main(["--samples", "512", "--epochs", "1", "--hidden", "8,4"]) == 0
    out = capsys.readouterr().out
    assert "784-8-4-10 batch 128 float32, 6366 parameters" in out
    for phase in module.PHASES:
        assert f"  {phase} " in out
    assert "x the products" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeats", "0"], "--repeats expects a whole number >= 1; got 0"),
        (["--threads", "-1"], "--threads expects a whole number >= 1; got -1"),
        (["--samples", "100"], "--samples expects at least 128"),
        (["--cases", "b64"], "--cases 'b64' matches no case"),
        (["--out", "/no/such/folder/results"], "which is in a folder that does not"),
        (["--out", ""], "got '', which is empty"),
        (["--out", "/tmp"], "got '/tmp', which is a folder"),
        (["--out", "/tmp/"], "got '/tmp/', which is a folder"),
        (["--out", "/proc/results"], "which is in a folder that cannot be written"),
    ],
)
def test_bad_arguments_fail_before_any_work(bench, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(bench, "run_suite", lambda settings: pytest.fail("ran"))
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_thread_cap_is_what_the_results_name(bench):
    from threadpoolctl import threadpool_info, threadpool_limits

    before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    try:
        import torch
    except ImportError:
        torch = None
    torch_threads = torch.get_num_threads() if torch else None
    settings = replace(
        bench.Settings(),
        n_samples=200,
        repeats=1,
        pause=0.0,
        memory_samples=(),
        startup_repeats=0,
        threads=1,
        cases=(replace(bench.CASES[0], contestants=("mlplab", "limit")),),
    )
    try:
        doc = bench.run_suite(settings, log=lambda _line: None)
    finally:
        for pool in threadpool_info():  # undo the cap for the other tests
            threadpool_limits(before.get(pool["filepath"]), user_api=pool["user_api"])
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
    assert doc["machine"]["threads_cap"] == 1
    assert {p["num_threads"] for p in doc["machine"]["threadpools"]} == {1}
    assert "threads capped at 1" in bench.markdown(doc)
    omp = {"user_api": "openmp", "internal_api": "openmp", "num_threads": 1}
    doc["machine"]["threadpools"].append({**omp, "version": None})
    assert "openmp" not in bench.markdown(doc)  # the header names BLAS pools only


def test_out_names_a_folder_as_json_or_md_and_keeps_dots(bench, tmp_path, capsys):
    (tmp_path / "taken.json").mkdir()
    with pytest.raises(SystemExit):
        bench.main(["--out", str(tmp_path / "taken")])
    assert "names a folder as .json or .md" in capsys.readouterr().err
    assert bench._outputs(tmp_path / "res.v2") == (
        tmp_path / "res.v2.json",
        tmp_path / "res.v2.md",
    )


@pytest.mark.parametrize("hidden", ["abc", "", "256,", "0", "-5", "2.5"])
def test_breakdown_refuses_bad_widths_in_one_line(breakdown, capsys, hidden):
    with pytest.raises(SystemExit) as exit_info:
        breakdown.main(["--hidden", hidden])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    expected = "expected positive whole numbers separated by commas, e.g. 512,256"
    assert f"{expected}; got {hidden!r}" in err
