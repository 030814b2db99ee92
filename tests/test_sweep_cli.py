import json
import os
import subprocess
import sys

import pytest

from mlplab.presets import original_setup
from mlplab.sweeps import sweep

from .conftest import SRC, run_cli


@pytest.mark.slow
def test_sweep_json_summary_and_files(tmp_path):
    out = tmp_path / "r.csv"
    png = tmp_path / "h.png"
    proc = run_cli(
        "sweep",
        "--lr",
        "0.5,2",
        "--momentum",
        "0,0.9",
        "--seeds",
        "8",
        "--epochs",
        "300",
        "--out",
        str(out),
        "--heatmap",
        str(png),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["n_members"] == 32
    assert [c["settings"]["lr"] for c in doc["cells"]] == [0.5, 0.5, 2.0, 2.0]
    cell = doc["cells"][0]
    assert set(cell) >= {
        "success_rate",
        "success_ci95",
        "median_epochs_to_solve",
        "epochs_to_solve_q25",
        "epochs_to_solve_q75",
        "plateau_rate",
        "constant_stall_rate",
        "diverged_rate",
        "unfinished_rate",
    }
    assert len(out.read_text().splitlines()) == 33
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_sweep_table_and_original_compare_fixed(tmp_path):
    proc = run_cli(
        "sweep",
        "--original",
        "--compare-fixed",
        "--seeds",
        "2",
        "--epochs",
        "50",
        "--heatmap",
        str(tmp_path / "o.png"),
        "--effective-lr",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "96 runs" in proc.stdout
    assert "heatmaps written" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "abc"], "comma list of numbers"),
        (["--seeds", "1"], "at least one axis"),
        (
            ["--lr", "0.5", "--momentum-style", "heavy", "--seeds", "1"],
            "momentum_style must be one of",
        ),
        (["--lr", "-1", "--seeds", "1"], "learning_rate must be >= 0"),
        (["--lr", "0.5", "--seeds", "0"], "--seeds must be >= 1"),
        (["--lr", "0.5", "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_sweep_user_errors_exit_2(tmp_path, args, message):
    proc = run_cli("sweep", *args, "--no-plot", cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_axis_is_refused():
    with pytest.raises(ValueError, match="unknown sweep axis 'rate'"):
        sweep({"rate": [0.1]}, seeds=1)


@pytest.mark.slow
def test_fixed_xor_network_solves_99_percent_of_1000_seeds():
    # The corrected derivative, EMA momentum 0.5, rate 0.5, 10,000 epochs.
    result = sweep(
        {"lr": [0.5], "momentum": [0.5]}, seeds=1000, setup=original_setup(fixed=True)
    )
    cell = result.cells[0]
    assert cell["n"] == 1000
    assert cell["success_rate"] >= 0.99


def test_piped_sweep_table_is_not_cut_to_80_columns(tmp_path):
    # rich draws 80 columns when stdout is not a terminal; a log of the sweep
    # must still show every figure whole.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(SRC)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mlplab", "sweep", "--lr", "0.5"),
            *("--momentum", "0", "--seeds", "4", "--epochs", "3000", "--no-plot"),
            *("--out", str(tmp_path / "r.csv")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "100.0%" in proc.stdout
    assert "epochs to solve q25/median/q75" in proc.stdout
    assert "…" not in proc.stdout
