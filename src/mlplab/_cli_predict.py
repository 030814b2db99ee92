"""``mlplab predict``: apply a saved model to the rows of a CSV file; score them."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli_common import (
    UsageError,
    _output_path,
    _same_label,
    _stdout_console,
    _to_json,
)


def add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a saved model on a CSV file",
        description="Apply a model saved by 'mlplab train --save' (its "
        "input scaling included) to the rows of a CSV file whose header "
        "names the model's feature columns. Classifiers give the label and "
        "the probability of each class. When the CSV also holds the "
        "target column, the accuracy (or RMSE) is reported.",
    )
    p.add_argument(
        "model", metavar="MODEL", help="a .safetensors file from train --save"
    )
    p.add_argument("--data", metavar="FILE.csv", required=True, help="rows to predict")
    p.add_argument(
        "--output",
        metavar="PREDS.csv",
        type=_output_path,
        help="write the predictions here",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .serialization import load

    if args.output and any(
        Path(args.output).resolve() == Path(f).resolve()
        for f in (args.model, args.data)
    ):
        raise UsageError(f"--output {args.output} would overwrite an input file")
    model = load(args.model)
    features = model.info.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise UsageError(
            f"{args.model} does not name its feature columns (save it with "
            "'mlplab train --save')"
        )
    if len(features) != model.config.n_features:
        raise UsageError(
            f"{args.model}: info.features names {len(features)} columns; "
            f"the network takes {model.config.n_features}"
        )
    target = model.info.get("target")
    x, truth = _read_predict_csv(
        args.data, features, target if isinstance(target, str) else None
    )
    result = _predict_rows(model, x)
    if truth is not None:
        result.update(_score(model, result, truth))
    if args.output:
        _write_predictions(args.output, result)
    if args.json:
        print(_to_json({"model": str(args.model), "data": str(args.data), **result}))
        return 0
    _print_predictions(args, result)
    return 0


def _read_predict_csv(
    path: str, features: list[str], target: str | None
) -> tuple[Any, list[str] | None]:
    """Return the feature columns in the model's order, and the target cells."""
    import csv

    import numpy as np

    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except OSError as e:
        raise UsageError(f"cannot read CSV file {path!r}: {e.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise UsageError(f"{path}: not a readable CSV file ({e})") from None
    if len(rows) < 2:
        raise UsageError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    missing = [f for f in features if f not in header]
    extra = [h for h in header if h not in features and h != target]
    if missing or extra or len(set(header)) != len(header):
        raise UsageError(
            f"{path}: columns must be the model's {len(features)} features"
            f"{f' (plus the target {target!r})' if target else ''}; "
            + (f"missing {', '.join(map(repr, missing[:5]))}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {', '.join(map(repr, extra[:5]))}" if extra else "")
            + ("duplicate column names" if not missing and not extra else "")
        )
    index = [header.index(f) for f in features]
    x = np.empty((len(rows) - 1, len(features)))
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise UsageError(
                f"{path}: line {i + 2} has {len(row)} cells; expected {len(header)}"
            )
        for j, col in enumerate(index):
            try:
                x[i, j] = float(row[col])
            except ValueError:
                raise UsageError(
                    f"{path}: non-numeric value {row[col]!r} at line {i + 2}, "
                    f"column {features[j]!r}"
                ) from None
    if not np.all(np.isfinite(x)):
        raise UsageError(f"{path}: features must be finite numbers")
    truth = (
        [row[header.index(target)].strip() for row in rows[1:]]
        if target in header
        else None
    )
    return x, truth


def _predict_rows(model: Any, x: Any) -> dict[str, Any]:
    """Labels and class probabilities (averaged over members), or values."""
    import numpy as np

    from .losses import LOSSES
    from .network import predict_raw

    if model.scaler is not None:
        x = model.scaler.transform(x)
    out = predict_raw(model.params, model.config, np.asarray(x, model.config.np_dtype))
    linked = np.mean(LOSSES[model.loss].link(out), axis=0)  # (n_samples, n_outputs)
    if not model.classes:
        mean, std = model.info.get("target_shift", [0.0, 1.0])
        values = linked[:, 0] * std + mean if linked.shape[1] == 1 else linked
        return {"predictions": values.tolist()}
    probs = np.hstack([1.0 - linked, linked]) if linked.shape[1] == 1 else linked
    # Labels from the logits, as train scores them (sigmoid(z) may round to 0.5).
    logits = np.mean(out, axis=0)
    index = (
        (logits[:, 0] > 0).astype(int)
        if linked.shape[1] == 1
        else np.argmax(logits, axis=1)
    )
    labels = [model.classes[i] for i in index]
    return {
        "classes": list(model.classes),
        "predictions": labels,
        "probabilities": probs.tolist(),
    }


def _score(model: Any, result: dict[str, Any], truth: list[str]) -> dict[str, Any]:
    """Accuracy against the target column (labels compared as the CSV writes them)."""
    import numpy as np

    if not model.classes:
        y = np.array([float(t) for t in truth])
        pred = np.asarray(result["predictions"], np.float64).reshape(len(y), -1)[:, 0]
        return {"rmse": float(np.sqrt(np.mean((pred - y) ** 2)))}
    unknown = sorted(
        {t for t in truth if not any(_same_label(c, t) for c in model.classes)}
    )
    if unknown:
        # A 0/1 column against labels "malignant"/"benign" would score 0% silently.
        raise UsageError(
            f"the target column holds {', '.join(map(repr, unknown[:3]))}, which are "
            "not "
            f"among the model's classes {', '.join(map(repr, model.classes))}"
        )
    hits = [
        _same_label(p, t) for p, t in zip(result["predictions"], truth, strict=True)
    ]
    return {"accuracy": float(np.mean(hits))}


def _write_predictions(path: str, result: dict[str, Any]) -> None:
    import csv

    try:
        # Errors at write or close (/dev/full, /proc files) carry no file name.
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            classes = result.get("classes")
            writer.writerow(["prediction", *(f"p_{c}" for c in classes or [])])
            for i, label in enumerate(result["predictions"]):
                row = result["probabilities"][i] if classes else []
                writer.writerow([label, *row])
    except OSError as e:
        raise UsageError(
            f"--output {path}: could not write the predictions ({e.strerror or e})"
        ) from None


def _print_predictions(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from rich.table import Table

    console = _stdout_console()
    classes = result.get("classes")
    table = Table()
    table.add_column("row", justify="right")
    table.add_column("prediction")
    for c in classes or []:
        table.add_column(f"p({c})", justify="right")
    shown = min(10, len(result["predictions"]))
    for i in range(shown):
        probs = [f"{p:.4f}" for p in result["probabilities"][i]] if classes else []
        label = result["predictions"][i]
        table.add_row(str(i + 1), f"{label:.6g}" if not classes else str(label), *probs)
    console.print(table)
    if shown < len(result["predictions"]):
        console.print(f"(first {shown} of {len(result['predictions'])} rows)")
    if "accuracy" in result:
        console.print(f"accuracy {100 * result['accuracy']:.2f}% on {args.data}")
    if "rmse" in result:
        console.print(f"RMSE {result['rmse']:.4g} on {args.data}")
    if args.output:
        console.print(f"predictions written to {args.output}")
