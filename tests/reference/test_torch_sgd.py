"""SGD in mlplab and in PyTorch from the same weights on the same data."""

import numpy as np
import pytest

from mlplab import SGD, MLPConfig, fit, init_params, param_arrays

torch = pytest.importorskip("torch")

VARIANTS = {
    "plain": ({}, {}),
    "classical": ({"momentum": 0.9}, {"momentum": 0.9}),
    "dampened": (
        {"momentum": 0.9, "momentum_style": "dampened", "dampening": 0.3},
        {"momentum": 0.9, "dampening": 0.3},
    ),
    "nesterov": (
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.9, "nesterov": True},
    ),
    "weight_decay": (
        {"momentum": 0.5, "weight_decay": 0.01, "decay_biases": True},
        {"momentum": 0.5, "weight_decay": 0.01},
    ),
}


def _torch_net(params, activation, use_bias):
    layers = []
    for i, layer in enumerate(params):
        w = layer.w[0]
        lin = torch.nn.Linear(
            w.shape[0], w.shape[1], bias=use_bias, dtype=torch.float64
        )
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            if use_bias:
                lin.bias.copy_(torch.from_numpy(layer.b[0].copy()))
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(activation())
    return torch.nn.Sequential(*layers)


def _torch_arrays(net, use_bias):
    out = []
    for m in net:
        if isinstance(m, torch.nn.Linear):
            out.append(m.weight.detach().numpy().T)
            if use_bias:
                out.append(m.bias.detach().numpy())
    return out


def _train_torch(net, x, y, loss_fn, lr, kwargs, n_steps):
    opt = torch.optim.SGD(net.parameters(), lr=lr, **kwargs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(n_steps):
        opt.zero_grad()
        loss_fn(net(xt), yt).backward()
        opt.step()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("lr", [0.1, 0.5])
def test_xor_sigmoid_network_matches_torch(variant, lr, xor):
    ours_kwargs, torch_kwargs = VARIANTS[variant]
    x, y = xor[0], xor[1][:, None]
    config = MLPConfig(
        (3, 4, 1), "sigmoid", "sigmoid", use_bias=True, init="glorot_uniform"
    )
    params = init_params(config, [4])
    net = _torch_net(params, torch.nn.Sigmoid, True)
    net.append(torch.nn.Sigmoid())
    _train_torch(net, x, y, torch.nn.MSELoss(reduction="sum"), lr, torch_kwargs, 200)
    ours = fit(
        config,
        x,
        y,
        loss="sse",
        optimizer=SGD(learning_rate=lr, **ours_kwargs),
        n_epochs=200,
        params=params,
        seeds=[4],
    )
    for a, b in zip(param_arrays(ours.params), _torch_arrays(net, True), strict=True):
        np.testing.assert_allclose(a[0], b, rtol=0, atol=1e-10)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("lr", [0.1, 0.5])
def test_softmax_network_matches_torch(variant, lr, rng):
    ours_kwargs, torch_kwargs = VARIANTS[variant]
    x = rng.normal(size=(32, 10))
    labels = rng.integers(0, 3, 32)
    config = MLPConfig((10, 16, 3), "tanh", "identity", init="glorot_normal")
    params = init_params(config, [9])
    params = tuple(type(p)(p.w, rng.normal(scale=0.1, size=p.b.shape)) for p in params)
    net = _torch_net(params, torch.nn.Tanh, True)
    opt = torch.optim.SGD(net.parameters(), lr=lr, **torch_kwargs)
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), lt).backward()
        opt.step()
    ours = fit(
        config,
        x,
        np.eye(3)[labels],
        loss="cross_entropy",
        optimizer=SGD(learning_rate=lr, **ours_kwargs),
        n_epochs=200,
        params=params,
        seeds=[9],
    )
    for a, b in zip(param_arrays(ours.params), _torch_arrays(net, True), strict=True):
        np.testing.assert_allclose(a[0], b, rtol=0, atol=1e-10)
