"""Learning-rate schedules: hand values, per-member rates, specs and errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mlplab.schedules import (
    SCHEDULES,
    Constant,
    CosineAnnealing,
    ExponentialDecay,
    InverseScaling,
    MultiStepDecay,
    StepDecay,
    learning_rate_at,
    parse_schedule,
)


@pytest.mark.parametrize(("schedule", "expected"), [
    (Constant(0.3), [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),
    (StepDecay(1.0, step_size=2, gamma=0.1), [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]),
    (MultiStepDecay(1.0, milestones=(1, 4), gamma=0.5), [1, 0.5, 0.5, 0.5, 0.25, 0.25]),
    (ExponentialDecay(2.0, gamma=0.5), [2.0, 1.0, 0.5, 0.25, 0.125, 0.0625]),
    (InverseScaling(1.0, power=1.0), [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6]),
    (InverseScaling(1.0, power=0.5), [1 / math.sqrt(t + 1) for t in range(6)]),
    (CosineAnnealing(1.0, t_max=4), [1.0, (1 + math.sqrt(0.5)) / 2, 0.5,
                                     (1 - math.sqrt(0.5)) / 2, 0.0, 0.0]),
    (CosineAnnealing(1.0, t_max=4, warmup=2, min_lr=0.2),
     [1 / 3, 2 / 3, 1.0, 0.6, 0.2, 0.2]),
])
def test_rates_by_hand(schedule, expected):
    rates = [schedule(t) for t in range(6)]
    np.testing.assert_allclose(rates, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_per_member_rate_equals_single_member_rates(name):
    make = SCHEDULES[name]
    extra = {"step": {"step_size": 3}, "multistep": {"milestones": (2, 5)},
             "cosine": {"t_max": 6, "warmup": 2}}.get(name, {})
    both = make((0.1, 0.4), **extra)
    for t in range(9):
        rates = both(t)
        assert rates.shape == (2,)
        singles = [make(0.1, **extra)(t), make(0.4, **extra)(t)]
        np.testing.assert_allclose(rates, singles, rtol=1e-15)


def test_learning_rate_at_passes_numbers_through():
    assert learning_rate_at(0.5, 10) == 0.5
    assert learning_rate_at(StepDecay(1.0, 1, 0.5), 2) == 0.25


@pytest.mark.parametrize(("spec", "expected"), [
    ("constant", Constant(0.1)),
    ("step:30", StepDecay(0.1, step_size=30, gamma=0.1)),
    ("step:30,0.5", StepDecay(0.1, step_size=30, gamma=0.5)),
    ("multistep:100+150,0.5", MultiStepDecay(0.1, milestones=(100, 150), gamma=0.5)),
    ("multistep:100;150", MultiStepDecay(0.1, milestones=(100, 150))),
    ("multistep:7", MultiStepDecay(0.1, milestones=(7,))),
    ("exponential:0.99", ExponentialDecay(0.1, gamma=0.99)),
    ("invscaling", InverseScaling(0.1, power=0.5)),
    ("invscaling:0.25", InverseScaling(0.1, power=0.25)),
    ("cosine:1000", CosineAnnealing(0.1, t_max=1000)),
    ("cosine:1000,50", CosineAnnealing(0.1, t_max=1000, warmup=50)),
    (" cosine:1000, 50, 0.001 ", CosineAnnealing(0.1, 1000, 50, 0.001)),
])
def test_parse_schedule(spec, expected):
    assert parse_schedule(spec, 0.1) == expected


def test_parse_schedule_keeps_per_member_rates():
    assert parse_schedule("exponential:0.9", (0.1, 0.2)).learning_rate == (0.1, 0.2)


@pytest.mark.parametrize(("spec", "message"), [
    ("linear", "unknown schedule 'linear'; expected one of constant, step, multistep"),
    ("step", "schedule 'step' does not match 'step:STEP_SIZE,GAMMA'"),
    ("step:1,2,3", "schedule 'step:1,2,3' does not match 'step:STEP_SIZE,GAMMA'"),
    ("constant:3", "schedule 'constant:3' does not match 'constant'"),
    ("step:ten", "schedule 'step:ten': STEP_SIZE must be an integer; got 'ten'"),
    ("exponential:x", "schedule 'exponential:x': GAMMA must be a number; got 'x'"),
    ("multistep:5,a+b", "GAMMA must be a number; got 'a+b'"),
    ("multistep:a+b", "MILESTONES must be integers joined by '+'; got 'a+b'"),
    ("multistep:50+20", "milestones must increase strictly; got (50, 20)"),
    ("step:0", "step_size must be >= 1; got 0"),
    ("cosine:10,10", "warmup must be < t_max (10); got 10"),
    ("cosine:0", "t_max must be >= 1; got 0"),
    ("exponential:-0.5", "gamma must be >= 0.0; got -0.5"),
    ("cosine:10,2,-1", "min_lr must be >= 0.0; got -1.0"),
])
def test_parse_schedule_errors(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_schedule(spec, 0.1)


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: Constant(-1.0), ValueError, "learning_rate must be >= 0.0; got -1.0"),
    (lambda: StepDecay(0.1, step_size=2.5), TypeError, "step_size must be an integer"),
    (lambda: MultiStepDecay(0.1, milestones=(0, 3)), ValueError,
     "milestone must be >= 1; got 0"),
    (lambda: CosineAnnealing(0.1, t_max=5, warmup=-1), ValueError,
     "warmup must be >= 0; got -1"),
    (lambda: InverseScaling(0.1, power=-1.0), ValueError, "power must be >= 0.0"),
])
def test_invalid_schedules(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()
