"""The Code Review program of October 2018, as mlplab configuration.

The program: XOR with a constant third input standing in for a bias, a 3-4-1
sigmoid network without biases, weights uniform on [0, 1), the sum of squared
errors, EMA momentum ``v <- b v + (1 - b) g`` with b = 0.5 and rate 0.5, and
10,000 full-batch steps. Its backward pass applied the sigmoid's derivative to
the layers' outputs (``s'(s(z))``); ``original_setup(fixed=False)`` keeps that
mistake through the ``sigmoid_wrong_derivative`` activation, and
``fixed=True`` (the default of ``mlplab train``) uses the correct sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._types import Array
from .datasets import xor_data
from .network import MLPConfig
from .optimizers import SGD

__all__ = ["OriginalSetup", "original_setup"]


@dataclass(frozen=True)
class OriginalSetup:
    """Everything ``fit`` needs to run the original program."""

    config: MLPConfig
    optimizer: SGD
    loss: str = "sse"
    n_epochs: int = 10_000
    seed: int = 0
    x: Array = field(default_factory=lambda: xor_data()[0], compare=False)
    y: Array = field(default_factory=lambda: xor_data()[1], compare=False)


def original_setup(fixed: bool = True) -> OriginalSetup:
    """Return the original program's setup, its derivative corrected or not.

    Examples
    --------
    >>> original_setup(fixed=False).config.activation
    'sigmoid_wrong_derivative'
    """
    activation = "sigmoid" if fixed else "sigmoid_wrong_derivative"
    config = MLPConfig(
        layer_sizes=(3, 4, 1),
        activation=activation,
        output_activation=activation,
        use_bias=False,
        init="uniform",
    )
    optimizer = SGD(learning_rate=0.5, momentum=0.5, momentum_style="ema")
    return OriginalSetup(config, optimizer)
