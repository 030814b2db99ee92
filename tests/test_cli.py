"""The command line, run as a user runs it: a fresh process, exit codes, files."""

import json

import numpy as np
import pytest

from mlplab.cli import main
from tests.conftest import run_cli


@pytest.mark.slow
def test_train_with_no_arguments_solves_xor_and_writes_a_png(tmp_path):
    result = run_cli("train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "network   3-4-1, sigmoid hidden, sigmoid output, no biases" in result.stdout
    assert "ema" in result.stdout
    # The printed table: "│ 0 0 1 │      0 │ 0.0042 │", one row per XOR input.
    rows = [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    assert [r[0] for r in rows] == ["0 0 1", "0 1 1", "1 0 1", "1 1 1"]
    targets = [float(r[1]) for r in rows]
    outputs = [float(r[2]) for r in rows]
    assert targets == [0, 1, 1, 0]
    np.testing.assert_array_equal(np.round(outputs), targets)
    final_loss = float(result.stdout.split("final loss")[1].split()[0])
    assert final_loss < 0.01
    png = tmp_path / "loss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_json_outputs_solve_xor(tmp_path, capsys):
    code = main(
        ["train", "--json", "--plot", str(tmp_path / "curve.png"), "--epochs", "3000"]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    outputs = np.array(doc["outputs"])[:, 0]
    np.testing.assert_array_equal(np.round(outputs), [0, 1, 1, 0])
    assert doc["settings"]["optimizer"]["momentum_style"] == "ema"
    assert len(doc["losses"]) == 3000
    assert doc["final_loss"] == doc["losses"][-1]
    assert (tmp_path / "curve.png").exists()


def test_every_option_overrides_only_its_own_setting(capsys):
    assert (
        main(
            [
                "train",
                "--json",
                "--no-plot",
                "--epochs",
                "5",
                "--lr",
                "0.1",
                "--momentum-style",
                "classical",
                "--hidden",
                "8,3",
                "--bias",
            ]
        )
        == 0
    )
    settings = json.loads(capsys.readouterr().out)["settings"]
    assert settings["layer_sizes"] == [3, 8, 3, 1]
    assert settings["use_bias"] is True
    assert settings["optimizer"]["learning_rate"] == 0.1
    assert settings["optimizer"]["momentum"] == 0.5  # untouched default
    assert settings["init"] == "uniform"
    assert settings["activation"] == "sigmoid"


def test_original_trains_with_the_mistake(capsys):
    assert main(["train", "--original", "--json", "--no-plot", "--epochs", "10"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["activation"] == (
        "sigmoid_wrong_derivative"
    )


def test_gradcheck_reports_the_original_mistake(capsys):
    assert main(["gradcheck", "--original", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False
    assert all(a["rel_error"] > 0.1 for a in doc["arrays"])
    assert main(["gradcheck"]) == 0
    assert "gradient check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--lr", "-0.1"], "learning_rate must be >= 0.0; got -0.1"),
        (["train", "--momentum", "1"], "momentum must be < 1.0; got 1.0"),
        (
            ["train", "--momentum", "1.5", "--momentum-style", "ema"],
            "momentum must be < 1.0",
        ),
        (["train", "--activation", "swish"], "unknown activation 'swish'"),
        (["train", "--lr", "abc"], "expected a number; got 'abc'"),
        (["train", "--epochs", "0"], "--epochs must be between 1 and"),
        (["train", "--hidden", "4,x"], "expected comma-separated layer widths"),
        (["train", "--data", "nowhere.csv", "--target", "y"], "cannot read CSV file"),
        (["train", "--data", "x.csv"], "--data and --target go together"),
        (["train", "--loss", "hinge"], "unknown loss 'hinge'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_code_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n", "no column named 'y'"),
        ("a,y\n1,\n2,1\n", "missing value at line 2, column 'y'"),
        ("a,y\n1,0\nfoo,1\n", "non-numeric value 'foo' at line 3, column 'a'"),
        ("a,y\n1,0\n2\n", "line 3 has 1 cells; expected 2"),
        ("", "empty file"),
    ],
)
def test_bad_csv_files_are_one_line_errors(tmp_path, content, message, capsys):
    path = tmp_path / "data.csv"
    path.write_text(content)
    assert main(["train", "--data", str(path), "--target", "y", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_a_csv_file_trains(tmp_path, capsys):
    # --data goes through the data-set path (branch data): task detection, a
    # held-out test split, metrics; so the AND table is repeated to split it.
    path = tmp_path / "and.csv"
    path.write_text("a,b,y\n" + "0,0,0\n0,1,0\n1,0,0\n1,1,1\n" * 10)
    assert (
        main(
            [
                "train",
                "--data",
                str(path),
                "--target",
                "y",
                "--json",
                "--no-plot",
                "--epochs",
                "300",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["task"] == "binary"
    assert doc["metrics"]["test"]["accuracy"] == 1.0


def test_help_runs_in_a_fresh_process():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "train" in result.stdout
    assert "gradcheck" in result.stdout


def test_an_unknown_option_of_a_subcommand_names_the_subcommand_once(capsys):
    assert main(["gradcheck", "--frobnicate"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "mlplab: error: unrecognized arguments: --frobnicate\n"
        or err.startswith("mlplab: error: gradcheck: ")
    )
    assert err.count("mlplab") == 1


def test_a_closed_pipe_is_not_a_traceback():
    import subprocess
    import sys

    from tests.conftest import SRC

    cmd = (
        f"{sys.executable} -m mlplab train --json --no-plot --epochs 2000 | head -c 10"
    )
    result = subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert result.stdout == '{"settings'
    assert "Traceback" not in result.stderr


def test_gradcheck_on_a_multiclass_csv_uses_a_softmax_head(tmp_path, capsys, rng):
    rows = ["a,b,label"] + [
        f"{u:.3f},{v:.3f},{'xyz'[i % 3]}"
        for i, (u, v) in enumerate(rng.normal(size=(30, 2)))
    ]
    path = tmp_path / "three.csv"
    path.write_text("\n".join(rows) + "\n")
    assert (
        main(
            ["gradcheck", "--data", str(path), "--target", "label", "--bias", "--json"]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["layer_sizes"] == [2, 4, 3]
    assert doc["settings"]["loss"] == "cross_entropy"
    assert doc["settings"]["output_activation"] == "identity"


def test_piped_stderr_gets_no_progress_so_an_error_is_one_line(tmp_path):
    # Progress bars are for terminals; a script reading stderr sees only
    # the error (rich's bar used to leave a blank line before it).
    result = run_cli("sweep", "--lr", "-1", "--seeds", "5", "--epochs", "100")
    assert result.returncode == 2
    assert result.stderr == "mlplab: error: learning_rate must be >= 0.0; got -1.0\n"
    result = run_cli("train", "--epochs", "50", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr == ""
