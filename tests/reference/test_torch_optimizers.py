"""Agreement with torch.optim: 200 mini-batch steps from the same weights and data.

A 5-8-3 tanh network with softmax cross-entropy, float64, a fixed batch order,
learning rate 1e-2 (at much larger rates some trajectories are chaotic and
agreement would say nothing). PyTorch schedulers are stepped once per
optimizer step, which is what our schedules count. Weights must agree to an
absolute 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlplab.losses import CrossEntropy
from mlplab.network import (
    MLPConfig,
    backward,
    forward,
    init_params,
    param_arrays,
    with_arrays,
)
from mlplab.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, apply_updates
from mlplab.schedules import (
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    MultiStepDecay,
    StepDecay,
)
from mlplab.transforms import chain, clip_by_global_norm, clip_by_value

torch = pytest.importorskip("torch")

N_STEPS, BATCH_SIZE, LR = 200, 16, 1e-2
CONFIG = MLPConfig((5, 8, 3), activation="tanh", output_activation="identity")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Tiny matrices: torch's thread pool only adds overhead (10-40x on a busy
    # 2-core machine).
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def _data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(64, 5))
    labels = np.argmax(x[:, :3] + 0.5 * rng.normal(size=(64, 3)), axis=1)
    # a fixed batch order: a new permutation every pass, drawn once here
    order = np.concatenate([rng.permutation(64) for _ in range(N_STEPS // 4)])
    batches = order.reshape(N_STEPS, BATCH_SIZE)
    return x, labels, batches


def run_ours(optimizer):
    x, labels, batches = _data()
    y = np.eye(3)[labels]
    params = init_params(CONFIG, seeds=[3])
    arrays = param_arrays(params)
    state = optimizer.init(arrays)
    loss = CrossEntropy()
    for rows in batches:
        params = with_arrays(params, arrays)
        out, caches = forward(params, CONFIG, x[rows])
        grads = param_arrays(backward(params, CONFIG, caches, loss.grad(out, y[rows])))
        updates, state = optimizer.update(grads, state, arrays)
        arrays = apply_updates(arrays, updates)
    return arrays


def _torch_model():
    params = init_params(CONFIG, seeds=[3])
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    with torch.no_grad():
        for linear, layer in zip((model[0], model[2]), params, strict=True):
            linear.weight.copy_(torch.from_numpy(layer.w[0].T))  # (out, in)
            linear.bias.copy_(torch.from_numpy(layer.b[0]))
    return model


def run_torch(make_optimizer, make_scheduler=None, clip=None):
    x, labels, batches = _data()
    model = _torch_model()
    weights = [model[0].weight, model[2].weight]
    biases = [model[0].bias, model[2].bias]
    opt = make_optimizer(weights, biases)
    scheduler = make_scheduler(opt) if make_scheduler else None
    x_t, labels_t = torch.from_numpy(x), torch.from_numpy(labels)
    loss_fn = torch.nn.CrossEntropyLoss()
    n_clipped = 0
    for rows in batches:
        rows_t = torch.from_numpy(rows)
        opt.zero_grad()
        loss_fn(model(x_t[rows_t]), labels_t[rows_t]).backward()
        if clip is not None:
            n_clipped += clip(list(model.parameters()))
        opt.step()
        if scheduler is not None:
            scheduler.step()
    arrays = []
    for w, b in zip(weights, biases, strict=True):
        arrays += [w.detach().numpy().T[None], b.detach().numpy()[None]]
    return tuple(arrays), n_clipped


def groups(weight_decay):
    """Param groups: decay on weights only, as our default (decay_biases=False)."""
    return lambda w, b: [
        {"params": w, "weight_decay": weight_decay},
        {"params": b, "weight_decay": 0.0},
    ]


OPTIMIZER_CASES = {
    "adam": (Adam(LR), lambda w, b: torch.optim.Adam(w + b, lr=LR)),
    "amsgrad": (
        Adam(LR, amsgrad=True),
        lambda w, b: torch.optim.Adam(w + b, lr=LR, amsgrad=True),
    ),
    "adam-l2": (
        Adam(LR, weight_decay=0.1),
        lambda w, b: torch.optim.Adam(groups(0.1)(w, b), lr=LR),
    ),
    "adamw": (
        AdamW(LR, weight_decay=0.1),
        lambda w, b: torch.optim.AdamW(groups(0.1)(w, b), lr=LR),
    ),
    "adamw-amsgrad-biases": (
        AdamW(
            LR,
            beta1=0.8,
            beta2=0.99,
            amsgrad=True,
            weight_decay=0.05,
            decay_biases=True,
        ),
        lambda w, b: torch.optim.AdamW(
            w + b, lr=LR, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.05
        ),
    ),
    "rmsprop": (RMSprop(LR), lambda w, b: torch.optim.RMSprop(w + b, lr=LR)),
    "rmsprop-momentum": (
        RMSprop(LR, momentum=0.9),
        lambda w, b: torch.optim.RMSprop(w + b, lr=LR, momentum=0.9),
    ),
    "rmsprop-centered": (
        RMSprop(LR, centered=True),
        lambda w, b: torch.optim.RMSprop(w + b, lr=LR, centered=True),
    ),
    "rmsprop-centered-momentum-l2": (
        RMSprop(LR, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
        lambda w, b: torch.optim.RMSprop(
            groups(0.01)(w, b), lr=LR, alpha=0.9, momentum=0.5, centered=True
        ),
    ),
    "adagrad": (Adagrad(LR), lambda w, b: torch.optim.Adagrad(w + b, lr=LR)),
    "adagrad-initial": (
        Adagrad(LR, initial_accumulator_value=0.1),
        lambda w, b: torch.optim.Adagrad(w + b, lr=LR, initial_accumulator_value=0.1),
    ),
    "sgd-nesterov-l2": (
        SGD(LR, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda w, b: torch.optim.SGD(
            groups(0.01)(w, b), lr=LR, momentum=0.9, nesterov=True
        ),
    ),
    "sgd-dampened": (
        SGD(LR, momentum=0.9, momentum_style="dampened", dampening=0.3),
        lambda w, b: torch.optim.SGD(w + b, lr=LR, momentum=0.9, dampening=0.3),
    ),
}


def assert_weights_agree(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def assert_moved(arrays):
    start = param_arrays(init_params(CONFIG, seeds=[3]))
    moved = max(np.max(np.abs(a - s)) for a, s in zip(arrays, start, strict=True))
    assert moved > 1e-2  # the comparison is not between two barely moved nets


@pytest.mark.parametrize("case", sorted(OPTIMIZER_CASES))
def test_optimizer_agrees_with_torch(case):
    ours, make_torch = OPTIMIZER_CASES[case]
    arrays = run_ours(ours)
    assert_moved(arrays)
    assert_weights_agree(arrays, run_torch(make_torch)[0])


lr_scheduler = torch.optim.lr_scheduler

SCHEDULE_CASES = {
    "constant": (Constant(LR), lambda o: lr_scheduler.ConstantLR(o, factor=1.0)),
    "step": (
        StepDecay(LR, step_size=50, gamma=0.5),
        lambda o: lr_scheduler.StepLR(o, step_size=50, gamma=0.5),
    ),
    "multistep": (
        MultiStepDecay(LR, milestones=(60, 120), gamma=0.3),
        lambda o: lr_scheduler.MultiStepLR(o, milestones=[60, 120], gamma=0.3),
    ),
    "exponential": (
        ExponentialDecay(LR, gamma=0.99),
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.99),
    ),
    "invscaling": (
        InverseScaling(LR, power=0.5),
        lambda o: lr_scheduler.LambdaLR(o, lambda t: (t + 1) ** -0.5),
    ),
    "cosine": (
        CosineAnnealing(LR, t_max=N_STEPS),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=N_STEPS),
    ),
    "cosine-warmup": (
        CosineAnnealing(LR, t_max=N_STEPS, warmup=20, min_lr=1e-3),
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor=1 / 21, total_iters=20),
                lr_scheduler.CosineAnnealingLR(o, T_max=N_STEPS - 20, eta_min=1e-3),
            ],
            milestones=[20],
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEDULE_CASES))
def test_sgd_momentum_schedule_agrees_with_torch(case):
    schedule, make_scheduler = SCHEDULE_CASES[case]
    arrays = run_ours(SGD(schedule, momentum=0.9))
    assert_moved(arrays)
    theirs, _ = run_torch(
        lambda w, b: torch.optim.SGD(w + b, lr=LR, momentum=0.9), make_scheduler
    )
    assert_weights_agree(arrays, theirs)


def _clip_norm(parameters, max_norm=0.05):
    norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    return int(norm > max_norm)


def _clip_value(parameters, max_value=0.01):
    big = max(float(p.grad.abs().max()) for p in parameters)
    torch.nn.utils.clip_grad_value_(parameters, max_value)
    return int(big > max_value)


@pytest.mark.parametrize(
    ("ours", "make_torch", "clip"),
    [
        (
            chain(clip_by_global_norm(0.05), Adam(LR)),
            lambda w, b: torch.optim.Adam(w + b, lr=LR),
            _clip_norm,
        ),
        (
            chain(clip_by_global_norm(0.05), SGD(LR, momentum=0.9)),
            lambda w, b: torch.optim.SGD(w + b, lr=LR, momentum=0.9),
            _clip_norm,
        ),
        (
            chain(clip_by_value(0.01), SGD(LR, momentum=0.9)),
            lambda w, b: torch.optim.SGD(w + b, lr=LR, momentum=0.9),
            _clip_value,
        ),
    ],
    ids=["norm-adam", "norm-sgd", "value-sgd"],
)
def test_clipping_agrees_with_torch(ours, make_torch, clip):
    arrays = run_ours(ours)
    theirs, n_clipped = run_torch(make_torch, clip=clip)
    assert n_clipped > N_STEPS // 4  # clipping really acted
    assert_moved(arrays)
    assert_weights_agree(arrays, theirs)


def test_cosine_warmup_rates_equal_torch_sequential_lr():
    ours = CosineAnnealing(1.0, t_max=30, warmup=5, min_lr=0.1)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = lr_scheduler.SequentialLR(
        opt,
        [
            lr_scheduler.LinearLR(opt, start_factor=1 / 6, total_iters=5),
            lr_scheduler.CosineAnnealingLR(opt, T_max=25, eta_min=0.1),
        ],
        milestones=[5],
    )
    theirs = []
    for _ in range(31):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    assert math.isclose(theirs[5], 1.0)
    np.testing.assert_allclose([ours(t) for t in range(31)], theirs, rtol=1e-12)


@pytest.mark.parametrize(
    ("patience", "cooldown", "min_delta", "min_lr"),
    [(1, 0, 0.0, 0.0), (3, 0, 1e-3, 0.0), (2, 2, 0.0, 1e-3), (5, 1, 1e-2, 0.01)],
)
def test_reduce_on_plateau_agrees_with_torch(patience, cooldown, min_delta, min_lr):
    """The same validation losses lower the rate at the same epochs as torch's.

    Our rule is Keras's (reduce after ``patience`` stale epochs); PyTorch's
    reduces after ``patience + 1``, so torch runs with ``patience - 1``.
    Improvement is absolute (``threshold_mode="abs"``) in both; torch's
    ``eps`` (skip a reduction smaller than 1e-8) is its own extra rule, off here.
    """
    from mlplab.callbacks import ReduceLROnPlateau
    from mlplab.training import EpochView, History

    rng = np.random.default_rng(patience * 10 + cooldown)
    # a noisy decrease with long flat stretches, so that reductions happen
    steps = rng.choice([0.0, 0.0, 0.0, -0.02, 0.005], size=200) * rng.random(200)
    losses = 1.0 + np.cumsum(steps)
    ours = ReduceLROnPlateau(
        monitor="val_loss",
        factor=0.5,
        patience=patience,
        min_delta=min_delta,
        cooldown=cooldown,
        min_learning_rate=min_lr,
    )
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=0.1)
    theirs = lr_scheduler.ReduceLROnPlateau(
        opt,
        mode="min",
        factor=0.5,
        patience=patience - 1,
        threshold=min_delta,
        threshold_mode="abs",
        cooldown=cooldown,
        min_lr=min_lr,
        eps=0.0,
    )
    history = History({"val_loss": losses[:, None]})
    rate, ours_rates, torch_rates = 0.1, [], []
    for row in range(len(losses)):
        view = EpochView(
            row + 1,
            len(losses),
            history,
            np.ones(1, bool),
            row,
            None,
            SGD(learning_rate=rate),
            row == len(losses) - 1,
        )
        decision = ours(view)
        if decision.learning_rate is not None:
            rate = decision.learning_rate[0]
        ours_rates.append(rate)
        theirs.step(float(losses[row]))
        torch_rates.append(opt.param_groups[0]["lr"])
    assert int(ours.n_reductions[0]) >= 3  # the sequence does exercise it
    np.testing.assert_allclose(ours_rates, torch_rates, rtol=0, atol=1e-15)
