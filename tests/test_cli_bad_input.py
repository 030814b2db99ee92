"""Hostile command lines found by trying to break the CLI: one line, exit code 2."""

import json
import os
import sys
import warnings

import numpy as np
import pytest

import mlplab
from mlplab.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--loss", "cross_entropy"], "needs at least 2 outputs"),
        (
            ["gradcheck", "--activation", "relu", "--init", "normal:1e300"],
            "needs finite arguments",
        ),
        (["train", "--init", "uniform:0,inf"], "needs finite arguments"),
        (["lr-find", "--no-plot", "--max-lr", "1e308"], "max_lr <= 1e100"),
        (["train", "--save", "/nonexistent/dir/m.safetensors"], "does not exist"),
        (["train", "--plot", "/nonexistent/x.png"], "does not exist"),
        (["train", "--epochs", "1000000000000000000"], "--epochs must be between"),
        (["train", "--hidden", "1000000000000"], "layer widths must be <="),
        (["train", "--hidden", "4,,4"], "expected comma-separated layer widths"),
        (["train", "--seed", "-1"], "--seed must be >= 0"),
        (
            [
                "train",
                "--loss",
                "binary_cross_entropy",
                "--output-activation",
                "sigmoid",
            ],
            "--output-activation must be identity",
        ),
        (["gradcheck", "--eps", "inf"], "--eps in (0, 1)"),
        # a plot format matplotlib cannot write fails before training, not after
        (["train", "--plot", "h.txt"], "argument --plot: expected a file ending in"),
        (["lr-find", "--plot", "c.doc"], "argument --plot: expected a file ending in"),
        (["gradcheck", "--tol", "inf"], "--tol must be a finite number"),
        (
            ["sweep", "--lr", "0.5", "--seeds", "100000000000"],
            "a sweep takes at most 1,000,000 members (cells x seeds); got 1 cells",
        ),
        (["sweep", "--original", "--seeds", "100000"], "24 cells x 100,000 seeds"),
        (["lr-find", "--steps", "100000000"], "--steps must be between 3 and 100,000"),
        (["gradcheck", "--hidden", "1000,1000"], "at most 20,000 parameters"),
        (["lr-find", "--lr", "0.3"], "--lr does not apply to lr-find"),
        (["lr-find", "--epochs", "5"], "--epochs does not apply to lr-find"),
        (
            ["sweep", "--compare-fixed", "--seeds", "2", "--epochs", "10"],
            "--compare-fixed needs --original",
        ),
        (["sweep", "--epochs", "0,100"], "--epochs values must be between 1 and"),
        (["sweep", "--lr", "0.5", "--batch-size", "0"], "--batch-size values must be"),
        (["sweep", "--lr", "0.5", "--chunk-size", "0"], "--chunk-size must be >= 1"),
        (["sweep", "--lr", "0.5", "--window", "0"], "--window must be >= 1; got 0"),
        (
            ["sweep", "--lr", "0.5", "--loss-threshold", "nan"],
            "--loss-threshold must be a finite number > 0; got nan",
        ),
        (
            ["sweep", "--lr", "0.5", "--plateau-tol", "inf"],
            "--plateau-tol must be a finite number >= 0; got inf",
        ),
        (["sweep", "--lr", "0.5", "--seed-start", "-1"], "--seed-start must be >= 0"),
    ],
)
def test_hostile_arguments_are_one_line_and_exit_2(
    args, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_a_folder_as_output_is_refused(tmp_path, capsys):
    assert main(["train", "--save", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_diverged_run_prints_strict_json_and_no_warnings(capsys, tmp_path):
    assert (
        main(
            [
                "train",
                "--epochs",
                "50",
                "--lr",
                "1e6",
                "--activation",
                "identity",
                "--output-activation",
                "identity",
                "--loss",
                "mse",
                "--json",
                "--no-plot",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    doc = json.loads(captured.out, parse_constant=pytest.fail)
    assert doc["diverged_epoch"] is not None
    assert captured.err == ""


def test_a_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path, capsys):
    path = tmp_path / "bom.csv"
    rows = ["y,a"] + [f"{i % 2},{(i % 2) + 0.1 * (i % 3)}" for i in range(40)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    assert main(["gradcheck", "--data", str(path), "--target", "y", "--bias"]) == 0


def test_api_type_checks():
    import numpy as np

    import mlplab

    with pytest.raises(TypeError, match="use_bias must be True or False; got 'no'"):
        mlplab.MLPConfig(use_bias="no")
    x, y = mlplab.xor_data()
    with pytest.raises(ValueError, match="seeds must be non-negative integers"):
        mlplab.fit(
            mlplab.MLPConfig(),
            x,
            y,
            loss="sse",
            optimizer=mlplab.SGD(),
            n_epochs=1,
            seeds=[1.5],
        )
    with pytest.raises(ValueError, match="only finite values"):
        mlplab.fit(
            mlplab.MLPConfig(),
            x,
            np.array([0, 1, np.nan, 0]),
            loss="sse",
            optimizer=mlplab.SGD(),
            n_epochs=1,
        )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_predict_names_the_output_it_could_not_write(tmp_path, capsys):
    rows = ["a,b,y"] + [f"{i % 2},{(i // 2) % 2},{int(i % 4 == 3)}" for i in range(40)]
    data = tmp_path / "and.csv"
    data.write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.safetensors"
    train = ["train", "--data", str(data), "--target", "y", "--epochs", "3"]
    assert main([*train, "--save", str(model), "--no-plot", "--json"]) == 0
    capsys.readouterr()
    assert (
        main(["predict", str(model), "--data", str(data), "--output", "/dev/full"]) == 2
    )
    captured = capsys.readouterr()
    assert captured.err == (
        "mlplab: error: --output /dev/full: could not write the predictions "
        "(No space left on device)\n"
    )


def test_predict_never_writes_over_its_model_or_data(tmp_path, capsys):
    rows = ["a,b,y"] + [f"{i % 2},{(i // 2) % 2},{int(i % 4 == 3)}" for i in range(40)]
    data = tmp_path / "and.csv"
    data.write_text("\n".join(rows) + "\n")
    model = tmp_path / "m.safetensors"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--target",
                "y",
                "--epochs",
                "3",
                "--save",
                str(model),
                "--no-plot",
                "--json",
            ]
        )
        == 0
    )
    before = model.read_bytes()
    for target in (model, data):
        assert (
            main(["predict", str(model), "--data", str(data), "--output", str(target)])
            == 2
        )
    assert "would overwrite an input file" in capsys.readouterr().err
    assert model.read_bytes() == before


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["x", "y"])
@pytest.mark.parametrize("index", [0, 5, 11])
def test_fit_refuses_any_non_finite_entry(bad, where, index):
    x, y = mlplab.xor_data()
    x, y = x.copy(), y.copy()
    target = x if where == "x" else y
    target.flat[index % target.size] = bad
    with pytest.raises(ValueError, match="only finite values"):
        mlplab.fit(
            mlplab.MLPConfig(), x, y, loss="sse", optimizer=mlplab.SGD(), n_epochs=1
        )


def test_fit_accepts_huge_finite_data_without_warnings():
    # Row sums overflow here; the finiteness check must still say "finite".
    x = np.array([[1e308, 1e308], [0.0, 1.0]])
    config = mlplab.MLPConfig(layer_sizes=(2, 2, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlplab.fit(
            config,
            x,
            np.array([0.0, 1.0]),
            loss="sse",
            optimizer=mlplab.SGD(learning_rate=0.0),
            n_epochs=1,
        )


def test_sweep_scheduler_without_dask_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    args = ["sweep", "--seeds", "5", "--epochs", "100"]
    assert main([*args, "--scheduler", "tcp://127.0.0.1:1", "--no-plot"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "mlplab: error: --scheduler needs Dask: pip install 'mlplab[cluster]'\n"
    )
    assert captured.out == ""


@pytest.mark.parametrize(
    ("command", "limit"),
    [
        ("sweep", "at most 1,000,000 members"),
        ("lr-find", "3 to 100,000"),
        ("gradcheck", "At most 20,000 parameters"),
    ],
)
def test_size_limits_are_in_the_help(command, limit, capsys):
    from mlplab import cli

    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert limit in help_text
    assert cli.MAX_SWEEP_MEMBERS == 1_000_000
    assert cli.MAX_LR_FIND_STEPS == 100_000
    assert cli.MAX_GRADCHECK_PARAMETERS == 20_000


SWEEP = ["sweep", "--lr", "0.5,1", "--momentum", "0,0.5", "--seeds", "2"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--heatmap", "/nonexistent/h.png"], "the folder of '/nonexistent/h.png'"),
        (["--heatmap", "h.txt"], "expected a file ending in one of"),
        (["--heatmap", "adir"], "'adir' is a folder"),
        (["--out", "adir"], "'adir' is a folder"),
        (["--out", "/nonexistent/r.csv"], "the folder of '/nonexistent/r.csv'"),
        (["--out", "garbled.csv"], "--out garbled.csv is not the results file"),
        (["--out", "other.csv"], "--out other.csv is not the results file"),
    ],
)
def test_sweep_output_paths_are_checked_before_training(
    option, message, capsys, tmp_path, monkeypatch
):
    import mlplab.sweeps

    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "garbled.csv").write_bytes(b"\xff\xfe\x00member\xff\n")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")

    def no_training(*args, **kwargs):
        raise AssertionError("the sweep ran")

    monkeypatch.setattr(mlplab.sweeps, "sweep", no_training)
    assert main([*SWEEP, "--epochs", "10", *option]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("mlplab: error: ")
    assert captured.err.count("\n") == 1


def test_a_non_utf8_results_file_is_one_clear_error(tmp_path):
    from mlplab.sweeps import sweep

    out = tmp_path / "r.csv"
    out.write_bytes(b"member,\xff\n")
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        sweep({"lr": [0.5]}, seeds=1, out=out)


def test_sweep_heatmap_without_suffix_reports_the_png_it_wrote(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main([*SWEEP, "--epochs", "10", "--heatmap", "adir"]) == 0
    assert "heatmaps written to adir.png\n" in capsys.readouterr().out
    assert (tmp_path / "adir.png").read_bytes()[:4] == b"\x89PNG"
