"""Results files do not depend on where chunks run, and survive a kill."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mlplab.presets import original_setup
from mlplab.sweeps import sweep

from .conftest import SRC

GRID = {
    "lr": [0.5, 1.0],
    "momentum": [0.0, 0.9],
    "momentum_style": ["ema", "classical"],
}
SEEDS = 12
SETUP = dataclasses.replace(original_setup(), n_epochs=500)


def _run(tmp_path, name, **kwargs):
    out = tmp_path / name
    result = sweep(
        GRID,
        seeds=SEEDS,
        setup=SETUP,
        out=out,
        chunk_size=kwargs.pop("chunk_size", 10),
        **kwargs,
    )
    return out.read_bytes(), result


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("ref"), "one.csv", workers=1)


def test_results_file_has_one_sorted_row_per_member(reference):
    text = reference[0].decode()
    lines = text.splitlines()
    assert lines[0] == (
        "member,lr,momentum,momentum_style,seed,outcome,solved,"
        "epochs_to_solve,diverged_epoch,final_loss,constant_stall"
    )
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(8 * SEEDS))
    assert lines[1].startswith("0,0.5,0.0,ema,0,")


@pytest.mark.slow
def test_two_workers_give_the_same_bytes(tmp_path, reference):
    assert _run(tmp_path, "two.csv", workers=2)[0] == reference[0]


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_bytes(tmp_path, reference):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        data, _ = _run(tmp_path, "local.csv", scheduler=cluster.scheduler_address)
    assert data == reference[0]


@pytest.mark.slow
def test_dask_scheduler_address_with_a_worker_process(tmp_path, reference):
    pytest.importorskip("dask.distributed")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--scheduler-file",
            str(file),
            *common,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        for _ in range(300):
            if file.exists() and file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                *common,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        data, _ = _run(tmp_path, "remote.csv", scheduler=address)
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    assert data == reference[0]


@pytest.mark.slow
def test_another_chunk_size_gives_the_same_outcomes(tmp_path, reference):
    _, ref = reference
    _, other = _run(tmp_path, "chunks.csv", chunk_size=7)
    assert [r["outcome"] for r in other.rows] == [r["outcome"] for r in ref.rows]
    assert [r["epochs_to_solve"] for r in other.rows] == [
        r["epochs_to_solve"] for r in ref.rows
    ]
    np.testing.assert_allclose(
        [r["final_loss"] for r in other.rows],
        [r["final_loss"] for r in ref.rows],
        rtol=1e-9,
    )


KILLER = """
import dataclasses, os, signal, sys
from mlplab.presets import original_setup
from mlplab.sweeps import sweep
GRID = {grid!r}
def progress(done, total):
    if done >= total // 2:
        os.kill(os.getpid(), signal.SIGKILL)
sweep(GRID, seeds={seeds}, setup=dataclasses.replace(original_setup(), n_epochs=500),
      out=sys.argv[1], chunk_size=10, progress=progress)
"""


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_same_file(tmp_path, reference):
    out = tmp_path / "killed.csv"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-c", KILLER.format(grid=GRID, seeds=SEEDS), str(out)],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -9
    partial = out.read_text().splitlines()
    assert 1 + 8 * SEEDS // 2 <= len(partial) < 1 + 8 * SEEDS
    with out.open("a") as f:  # a row cut off mid-write
        f.write("95,1.0,0.9,classical,11,sol")
    finished = []
    result = sweep(
        GRID,
        seeds=SEEDS,
        setup=SETUP,
        out=out,
        chunk_size=10,
        progress=lambda done, total: finished.append(done),
    )
    assert finished[0] == len(partial) - 1  # the finished members were kept
    assert out.read_bytes() == reference[0]
    assert [r["final_loss"] for r in result.rows] == [
        r["final_loss"] for r in reference[1].rows
    ]


def test_a_results_file_of_another_sweep_is_refused(tmp_path, reference):
    out = tmp_path / "other.csv"
    out.write_bytes(reference[0])
    with pytest.raises(ValueError, match="different sweep: member 0 has lr"):
        sweep({**GRID, "lr": [0.25, 1.0]}, seeds=SEEDS, setup=SETUP, out=out)


@pytest.mark.slow
def test_a_worker_that_dies_is_retried_and_the_results_are_the_same(
    tmp_path, reference, monkeypatch
):
    import mlplab.sweeps

    marker = tmp_path / "died-once"
    run = mlplab.sweeps._indexed

    def die_once_on_chunk_3(i, chunk, data):
        # A closure, so joblib's workers get it by value (cloudpickle).
        if i == 3 and not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies mid-chunk
        return run(i, chunk, data)

    monkeypatch.setattr(mlplab.sweeps, "_indexed", die_once_on_chunk_3)
    data, _ = _run(tmp_path, "died.csv", workers=2)
    assert marker.exists()  # the worker did die
    assert data == reference[0]


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_rows_and_a_rerun_completes(tmp_path):
    out = tmp_path / "interrupted.csv"
    args = [sys.executable, "-m", "mlplab", "sweep", "--lr", "0.5,1"]
    # 16 chunks of ~0.3 s: the interrupt after the first lands long before the end
    # (with 4000 epochs a suite-loaded machine once saw the sweep finish first).
    args += ["--momentum", "0,0.9", "--seeds", "200", "--epochs", "10000"]
    args += ["--chunk-size", "50", "--no-plot", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not out.exists() or len(out.read_text().splitlines()) < 51
    ):
        time.sleep(0.05)
    proc.send_signal(2)  # SIGINT, as Ctrl-C sends
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.replace("\r", "\n").strip().splitlines()[-1] == "mlplab: interrupted"
    kept = out.read_text().splitlines()
    assert 51 <= len(kept) < 1 + 800  # finished chunks only, none lost
    again = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 800
    assert set(kept) <= set(rows)  # the kept rows were not recomputed differently
