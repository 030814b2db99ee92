"""PyTorch opens an mlplab model file: same predictions from a torch.nn.Sequential."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mlplab.network import MLPConfig, predict_raw
from mlplab.optimizers import Adam
from mlplab.serialization import save
from mlplab.training import fit

torch = pytest.importorskip("torch")


def torch_model(path):
    """The README's snippet: rebuild the network from the file alone."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(path)
    with safe_open(path, framework="pt") as f:
        network = json.loads(f.metadata()["mlplab"])["network"]
    act = {
        "identity": torch.nn.Identity,
        "sigmoid": torch.nn.Sigmoid,
        "tanh": torch.nn.Tanh,
        "relu": torch.nn.ReLU,
        "leaky_relu": torch.nn.LeakyReLU,
    }
    sizes = network["layer_sizes"]
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        linear = torch.nn.Linear(
            n_in, n_out, bias=network["use_bias"], dtype=torch.float64
        )
        with torch.no_grad():
            linear.weight.copy_(tensors[f"layers.{i}.weight"][0].T)  # member 0
            if network["use_bias"]:
                linear.bias.copy_(tensors[f"layers.{i}.bias"][0])
        last = i == len(sizes) - 2
        layers += [
            linear,
            act[network["output_activation" if last else "activation"]](),
        ]
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize(
    ("activation", "use_bias"),
    [("tanh", True), ("relu", True), ("leaky_relu", False), ("sigmoid", True)],
)
def test_torch_loads_our_file_and_predicts_the_same(
    tmp_path, rng, activation, use_bias
):
    x = rng.normal(size=(40, 4))
    y = np.eye(3)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]
    config = MLPConfig(
        (4, 8, 6, 3),
        activation=activation,
        output_activation="identity",
        use_bias=use_bias,
    )
    result = fit(
        config,
        x,
        y,
        loss="cross_entropy",
        optimizer=Adam(0.01),
        n_epochs=20,
        seeds=[1, 2],
        batch_size=8,
    )
    path = tmp_path / "model.safetensors"
    save(
        path,
        config,
        loss="cross_entropy",
        state=result.state,
        optimizer=Adam(0.01),
        history=result.history,
    )
    with torch.no_grad():
        ours = predict_raw(result.params, config, x)[0]
        theirs = torch_model(str(path))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12)
    assert not np.allclose(
        ours, predict_raw(result.params, config, x)[1]
    )  # member 1 differs
