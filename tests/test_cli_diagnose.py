"""The diagnose and lr-find subcommands (issue 8)."""

import json

import pytest

from mlplab.cli import main
from tests.conftest import run_cli


@pytest.mark.slow
def test_diagnose_original_stalling_seed_with_fixes_json(capsys):
    code = main(
        [
            "diagnose",
            "--original",
            "--seed",
            "3",
            "--seeds",
            "4",
            "--epochs",
            "3000",
            "--try-fixes",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    findings = {f["name"]: f for f in doc["findings"]}
    assert findings["gradients"]["problem"]
    assert findings["plateau"]["problem"]
    assert findings["plateau"]["evidence"]["constant_loss"] == 1.0
    assert [r["seed"] for r in findings["seeds"]["evidence"]["runs"]] == [3, 0, 1, 2]
    fixes = {f["name"]: f for f in doc["fixes"]}
    # seed 3 has not solved XOR after 3000 epochs as given; corrected, all four do
    assert fixes["as given"]["outcomes"][0] != "solved"
    assert fixes["as given"]["success_rate"] <= 0.75
    assert fixes["correct derivative"]["success_rate"] == 1.0
    assert all(len(f["outcomes"]) == 4 for f in doc["fixes"])


@pytest.mark.slow
def test_diagnose_prints_a_readable_report(tmp_path):
    result = run_cli(
        "diagnose", "--original", "--seed", "3", "--epochs", "3000", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "PROBLEM  gradients" in result.stdout
    assert "PROBLEM  plateau" in result.stdout
    assert "try: take the sigmoid's derivative" in result.stdout
    assert "classical rate 0.25, momentum 0.5" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0"], "--seeds must be in 1..1000; got 0"),
        (["--seeds", "100000000"], "--seeds must be in 1..1000; got 100000000"),
        (["--seeds", "1", "--try-fixes"], "--try-fixes needs --seeds >= 2"),
        (["--dataset", "iris"], "--dataset needs --model FILE; got no --model"),
        (["--member", "0"], "--member needs --model FILE; got no --model"),
    ],
)
def test_diagnose_usage_errors(capsys, argv, message):
    assert main(["diagnose", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_try_fixes_defaults_to_twenty_seeds(capsys):
    assert main(["diagnose", "--epochs", "20", "--try-fixes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["seeds"] == list(range(20))
    assert all(len(f["outcomes"]) == 20 for f in doc["fixes"])


def test_diagnose_help_states_the_seed_defaults_and_limit(capsys):
    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default 1, or 20 with --try-fixes; at most 1000" in text


@pytest.mark.slow
def test_lr_find_json_and_plot(tmp_path, capsys):
    png = tmp_path / "range.png"
    code = main(
        [
            "lr-find",
            "--steps",
            "40",
            "--min-lr",
            "1e-3",
            "--max-lr",
            "10",
            "--plot",
            str(png),
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert 1e-3 <= doc["suggested_rate"] <= 10
    assert doc["suggested_rate"] <= doc["steepest_rate"]
    assert len(doc["rates"]) == len(doc["losses"]) <= 40
    assert doc["rates"][0] == pytest.approx(1e-3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lr_find_rejects_an_empty_range(capsys):
    assert main(["lr-find", "--min-lr", "1", "--max-lr", "0.1", "--no-plot"]) == 2
    assert "min_lr < max_lr" in capsys.readouterr().err


def test_diagnose_a_saved_model_file(tmp_path, capsys):
    from tests.unit.test_diagnosis import _saved_original

    path, _ = _saved_original(tmp_path, [3])
    assert main(["diagnose", "--model", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    findings = {f["name"]: f for f in doc["findings"]}
    assert doc["settings"]["member"] == 0
    assert doc["settings"]["n_epochs"] == 300
    assert findings["gradients"]["problem"]
    assert findings["curvature"]["evidence"]["learning_rate"] == 0.5
    assert "seeds" not in findings
    assert main(["diagnose", "--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert "member 0 at its saved weights" in out
    assert "PROBLEM  gradients" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "missing.safetensors"], "cannot read model file"),
        (["--dataset", "iris"], "takes 3 features; iris has 4"),
        (["--member", "2"], "member must be in 0..0"),
        (["--lr", "0.1"], "--lr does not apply"),
        (["--member", "1", "--seed", "0"], "--seed does not apply"),
        (["--dataset", "diabetes"], "takes 3 features; diabetes has 10"),
    ],
)
def test_diagnose_model_usage_errors(tmp_path, capsys, extra, message):
    from tests.unit.test_diagnosis import _saved_original

    path, _ = _saved_original(tmp_path, [0])
    args = ["diagnose", *(["--model", str(path)] if "--model" not in extra else [])]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_diagnose_model_data_must_match_what_the_model_predicts(tmp_path, capsys):
    from mlplab import fit, save
    from mlplab.presets import original_setup

    s = original_setup(fixed=True)
    result = fit(s.config, s.x, s.y, loss="sse", optimizer=s.optimizer, n_epochs=50)
    path = tmp_path / "xor.safetensors"
    save(path, s.config, loss="sse", state=result.state, optimizer=result.optimizer)
    # the XOR network's own data set, named: 0/1 targets for its one output
    assert main(["diagnose", "--model", str(path), "--dataset", "xor"]) == 0
    capsys.readouterr()
    # a classifier with diabetes' 10 features, diagnosed on diabetes (regression)
    rows = "".join(
        ",".join(str((i * 7 + j) % 5) for j in range(10)) + f",{'ab'[i % 2]}\n"
        for i in range(40)
    )
    csv = tmp_path / "classes.csv"
    csv.write_text(",".join(f"f{j}" for j in range(10)) + ",label\n" + rows)
    model = tmp_path / "clf.safetensors"
    train = ["train", "--data", str(csv), "--target", "label", "--epochs", "5"]
    assert main([*train, "--no-plot", "--save", str(model)]) == 0
    capsys.readouterr()
    code = main(["diagnose", "--model", str(model), "--dataset", "diabetes"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "the model is a classifier of 'a', 'b'; diabetes is a regression" in err
