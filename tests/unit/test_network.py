import numpy as np
import pytest

from mlplab import (
    MLPConfig,
    forward,
    init_params,
    param_arrays,
    param_names,
    predict_raw,
)
from mlplab.network import with_arrays


def test_shapes_with_a_member_axis():
    config = MLPConfig((3, 5, 4, 2), "tanh", "identity")
    params = init_params(config, seeds=[0, 1, 2])
    assert [layer.w.shape for layer in params] == [(3, 3, 5), (3, 5, 4), (3, 4, 2)]
    assert [layer.b.shape for layer in params] == [(3, 5), (3, 4), (3, 2)]
    out, caches = forward(params, config, np.ones((7, 3)))
    assert out.shape == (3, 7, 2)
    assert len(caches) == 3
    per_member = predict_raw(params, config, np.ones((3, 7, 3)))
    np.testing.assert_array_equal(out, per_member)


def test_no_bias_and_names():
    config = MLPConfig((3, 4, 1), use_bias=False)
    params = init_params(config, seeds=[0])
    assert all(layer.b is None for layer in params)
    assert param_names(params) == ("layers.0.weight", "layers.1.weight")
    assert param_names(init_params(MLPConfig((2, 2, 1)), [0])) == (
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    )


def test_flat_arrays_round_trip():
    params = init_params(MLPConfig((3, 4, 2)), seeds=[0, 1])
    rebuilt = with_arrays(params, param_arrays(params))
    for a, b in zip(param_arrays(params), param_arrays(rebuilt), strict=True):
        assert a is b


def test_members_depend_only_on_their_own_seed():
    config = MLPConfig((3, 4, 1), init="he_normal")
    together = init_params(config, seeds=[5, 7, 9])
    alone = init_params(config, seeds=[7])
    for a, b in zip(param_arrays(together), param_arrays(alone), strict=True):
        np.testing.assert_array_equal(a[1], b[0])


def test_the_original_uniform_init_is_in_zero_one():
    w = init_params(MLPConfig((3, 400, 1), init="uniform"), seeds=[0])[0].w
    assert w.min() >= 0.0
    assert w.max() < 1.0
    assert 0.45 < w.mean() < 0.55


@pytest.mark.parametrize(
    ("init", "std"),
    [
        ("glorot_normal", np.sqrt(2 / 600)),
        ("he_normal", np.sqrt(2 / 200)),
        ("glorot_uniform", np.sqrt(6 / 600) / np.sqrt(3)),
        ("he_uniform", np.sqrt(6 / 200) / np.sqrt(3)),
        ("normal:0.01", 0.01),
    ],
)
def test_initialiser_scales(init, std):
    w = init_params(MLPConfig((200, 400, 1), init=init), seeds=[0])[0].w
    assert w.std() == pytest.approx(std, rel=0.02)


def test_float32_networks_stay_float32():
    config = MLPConfig((3, 4, 2), "tanh", "identity", dtype="float32")
    params = init_params(config, seeds=[0])
    out, _ = forward(params, config, np.ones((5, 3), np.float32))
    assert out.dtype == np.float32
    assert all(a.dtype == np.float32 for a in param_arrays(params))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer_sizes": (3,)}, "layer_sizes must be at least two positive integers"),
        (
            {"layer_sizes": (3, 0, 1)},
            "layer_sizes must be at least two positive integers",
        ),
        ({"activation": "swish"}, "unknown activation 'swish'"),
        ({"init": "uniform:1,0"}, "LOW < HIGH"),
        ({"init": "orthogonal"}, "unknown init 'orthogonal'"),
        ({"dtype": "float16"}, "dtype must be one of float32, float64; got 'float16'"),
    ],
)
def test_bad_configs_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLPConfig(**kwargs)


def test_a_softmax_over_one_output_is_refused():
    with pytest.raises(ValueError, match="'softmax' needs at least 2 outputs"):
        MLPConfig((3, 4, 1), output_activation="softmax")
    MLPConfig((3, 4, 2), output_activation="softmax")  # two are fine
