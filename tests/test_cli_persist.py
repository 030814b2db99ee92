"""CLI: train --save/--checkpoint-every/--resume, Ctrl-C checkpoints, predict."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mlplab.serialization import load
from tests.conftest import SRC, run_cli


def _json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_save_then_resume_in_new_processes_equals_one_run(tmp_path):
    common = ["train", "--batch-size", "2", "--no-plot", "--json"]
    straight = _json(run_cli(*common, "--epochs", "900", cwd=tmp_path))
    _json(
        run_cli(
            *common,
            "--epochs",
            "400",
            "--save",
            "m.safetensors",
            "--checkpoint-every",
            "150",
            cwd=tmp_path,
        )
    )
    assert load(tmp_path / "m.safetensors").state.epoch == 400
    resumed = _json(
        run_cli(
            "train",
            "--resume",
            "m.safetensors",
            "--epochs",
            "900",
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    assert resumed["losses"] == straight["losses"]
    assert resumed["outputs"] == straight["outputs"]
    assert load(tmp_path / "m.safetensors").state.epoch == 900


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_exits_130_and_resume_is_exact(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    cmd = [
        sys.executable,
        "-m",
        "mlplab",
        "train",
        "--batch-size",
        "2",
        "--epochs",
        "10000000",
        "--save",
        "c.safetensors",
        "--checkpoint-every",
        "200",
        "--no-plot",
        "--json",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "c.safetensors").exists():
            assert time.monotonic() < deadline, "no checkpoint appeared"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "checkpoint at epoch" in err
    epoch = load(tmp_path / "c.safetensors").state.epoch
    assert epoch >= 200
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    total = str(epoch + 150)
    resumed = _json(
        run_cli(
            "train",
            "--resume",
            "c.safetensors",
            "--epochs",
            total,
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    straight = _json(
        run_cli(
            "train",
            "--batch-size",
            "2",
            "--epochs",
            total,
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    assert resumed["losses"] == straight["losses"]
    assert resumed["outputs"] == straight["outputs"]


def _write_test_split(path, dataset: str, seed: int = 0, target: bool = True) -> None:
    from mlplab.datasets import load_dataset, split_data

    data = load_dataset(dataset, seed=seed)
    _, x_test, _, y_test = split_data(
        data.x, data.y, test_size=0.2, seed=seed, stratify=data.task != "regression"
    )
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*data.feature_names, *(["target"] if target else [])])
        for row, y in zip(x_test, y_test, strict=True):
            label = data.classes[y] if data.classes else repr(float(y))
            writer.writerow([*map(repr, row.tolist()), *([label] if target else [])])


@pytest.mark.slow
def test_predict_reproduces_the_test_accuracy_train_printed(tmp_path):
    trained = _json(
        run_cli(
            "train",
            "--dataset",
            "breast_cancer",
            "--save",
            "bc.safetensors",
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    _write_test_split(tmp_path / "test.csv", "breast_cancer")
    predicted = _json(
        run_cli(
            "predict",
            "bc.safetensors",
            "--data",
            "test.csv",
            "--output",
            "preds.csv",
            "--json",
            cwd=tmp_path,
        )
    )
    assert predicted["accuracy"] == trained["metrics"]["test"]["accuracy"]
    assert predicted["classes"] == ["malignant", "benign"]
    probs = np.array(predicted["probabilities"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    with open(tmp_path / "preds.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction", "p_malignant", "p_benign"]
    assert [r[0] for r in rows[1:]] == predicted["predictions"]
    model = load(tmp_path / "bc.safetensors")
    assert model.scaler is not None
    assert model.classes == ("malignant", "benign")


@pytest.mark.slow
def test_predict_regression_and_column_errors(tmp_path):
    trained = _json(
        run_cli(
            "train",
            "--dataset",
            "diabetes",
            "--epochs",
            "30",
            "--save",
            "d.safetensors",
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    _write_test_split(tmp_path / "test.csv", "diabetes")
    predicted = _json(
        run_cli(
            "predict", "d.safetensors", "--data", "test.csv", "--json", cwd=tmp_path
        )
    )
    assert predicted["rmse"] == pytest.approx(
        trained["metrics"]["test"]["rmse"], rel=1e-12, abs=0
    )
    _write_test_split(tmp_path / "nolabel.csv", "diabetes", target=False)
    assert "rmse" not in _json(
        run_cli(
            "predict", "d.safetensors", "--data", "nolabel.csv", "--json", cwd=tmp_path
        )
    )
    with open(tmp_path / "test.csv", newline="") as f:
        rows = list(csv.reader(f))
    for name, edit in (
        ("fewer.csv", lambda r: r[1:]),
        ("renamed.csv", lambda r: ["AGE", *r[1:]]),
    ):
        with open(tmp_path / name, "w", newline="") as f:
            csv.writer(f).writerows(
                [
                    edit(rows[0]),
                    *(r if name == "renamed.csv" else r[1:] for r in rows[1:]),
                ]
            )
        done = run_cli("predict", "d.safetensors", "--data", name, cwd=tmp_path)
        assert done.returncode == 2
        assert "columns must be the model's 10 features" in done.stderr
        assert "'age'" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_hostile_or_wrong_files_are_one_line_errors(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    for args in (
        ["predict", "junk.safetensors", "--data", "x.csv"],
        ["train", "--resume", "junk.safetensors"],
        ["train", "--resume", "missing.safetensors"],
        ["train", "--checkpoint-every", "5"],
    ):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert done.stderr.startswith("mlplab: error: ")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.slow
def test_resume_takes_settings_from_the_file(tmp_path):
    _json(
        run_cli(
            "train",
            "--epochs",
            "5",
            "--save",
            "m.safetensors",
            "--no-plot",
            "--json",
            cwd=tmp_path,
        )
    )
    done = run_cli("train", "--resume", "m.safetensors", "--lr", "0.1", cwd=tmp_path)
    assert done.returncode == 2
    assert "--resume takes the settings from the file; got --lr" in done.stderr
    back = run_cli("train", "--resume", "m.safetensors", "--epochs", "3", cwd=tmp_path)
    assert back.returncode == 2
    assert back.stderr.strip().splitlines() == [
        "mlplab: error: --epochs is the total to train to; m.safetensors is already "
        "at epoch 5, got --epochs 3"
    ]


def test_predict_refuses_a_target_column_with_labels_the_model_never_saw(
    tmp_path, capsys
):
    from mlplab.cli import main as cli_main

    model = tmp_path / "and.safetensors"
    rows = ["a,b,y"] + [
        f"{i % 2},{(i // 2) % 2},{'yes' if i % 4 == 3 else 'no'}" for i in range(40)
    ]
    (tmp_path / "and.csv").write_text("\n".join(rows) + "\n")
    assert (
        cli_main(
            [
                "train",
                "--data",
                str(tmp_path / "and.csv"),
                "--target",
                "y",
                "--epochs",
                "5",
                "--save",
                str(model),
                "--no-plot",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert model.stat().st_mode & 0o777 == 0o666 & ~_umask()
    numeric = ["a,b,y"] + [
        f"{i % 2},{(i // 2) % 2},{int(i % 4 == 3)}" for i in range(8)
    ]
    (tmp_path / "numeric.csv").write_text("\n".join(numeric) + "\n")
    assert (
        cli_main(["predict", str(model), "--data", str(tmp_path / "numeric.csv")]) == 2
    )
    err = capsys.readouterr().err
    assert "not among the model's classes" in err
    assert err.count("\n") == 1


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_train_says_where_it_saved_and_how_much_a_resume_trained(tmp_path):
    first = run_cli(
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "30",
        "--save",
        "i.safetensors",
        "--no-plot",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert "30 epochs in " in first.stdout
    assert first.stdout.rstrip().endswith("model saved to i.safetensors")
    more = run_cli(
        "train",
        "--resume",
        "i.safetensors",
        "--epochs",
        "50",
        "--no-plot",
        cwd=tmp_path,
    )
    assert more.returncode == 0, more.stderr
    assert "20 epochs in " in more.stdout
    assert "(resumed at epoch 30, now at 50)" in more.stdout
    xor = run_cli(
        "train", "--epochs", "20", "--save", "x.safetensors", "--no-plot", cwd=tmp_path
    )
    assert xor.stdout.rstrip().endswith("model saved to x.safetensors")
